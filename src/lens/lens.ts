// The lens on the GPU: its translators' parameters (and, for training, their gradients and
// AdamW state), the frozen head, and the forward and backward passes of one batch as a
// sequence of ops (its buffers come from one table, bufferTable.ts):
//
//   x      = hidden[rows]                  gather (one kernel; slots sorted by group)
//   y      = x + W_g x + b_g               translator
//   z      = y / rms(y) ⊙ γ                frozen final RMSNorm
//   logits = U z                           frozen unembedding
//   loss   = CE(logits, q);  dlogits = (softmax − q) / B        q: the targets, or with the
//            KL loss the teacher softmax(U · norm(final hidden)), computed in the same pass
//   dz = dlogits · U;  dy = RMSNorm'(dz);  dW_g, db_g = Σ_g dy xᵀ, Σ_g dy
//   clip the present groups' gradients by their global norm, AdamW on the present groups
//
// A training step is one command buffer with no readback inside it. All buffers, and every
// kernel's bind groups (the gather's once per attached data set), are made once, sized for
// `maxBatch`; what changes per batch (row ids, group ranges, present groups, params) goes
// into the step tables, sent with one writeBuffer per step. Per-row losses stay on the GPU until the caller copies them out.
import type { Dataset } from '../data/dataset.ts';
import type { Head } from '../data/head.ts';
import { createBuffer, readF32, upload, writeBuffer } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import { StepTables, type Slot } from '../gpu/stepTables.ts';
import { AdamW, type AdamWConfig, type PresentGroup } from '../ops/adamw.ts';
import { CrossEntropy } from '../ops/crossEntropy.ts';
import { Gather } from '../ops/gather.ts';
import { blockStride, type GroupRange } from '../ops/groups.ts';
import { PositionUnembed, positionLayout, positionSlots, type PositionBatch, type PositionLayout, type PositionUnembedMode } from '../ops/positionUnembed.ts';
import { RmsNorm } from '../ops/rmsnorm.ts';
import { TopK } from '../ops/topk.ts';
import { Translator } from '../ops/translator.ts';
import { Unembed } from '../ops/unembed.ts';
import type { Batch } from './batch.ts';
import { lensBuffers, type BufferKey, type BufferSpec, type LensShape } from './bufferTable.ts';
import { fmtBytes, type HeadDtype } from '../shared/constants.ts';

/** The frozen final norm and unembedding, resident on the GPU. */
export interface HeadOnGpu {
  d: number;
  V: number;
  eps: number;
  dtype: HeadDtype;
  /** γ [d] f32. */
  gamma: GPUBuffer;
  /** U [V, d], f32 or f16 (two per u32). */
  U: GPUBuffer;
}

/**
 * A dataset resident on the GPU: hidden [N, d] f32 and K targets a row [N, K] i32 with their
 * weights [N, K] f32 (absent for one target a row: weight 1).
 */
export interface DataOnGpu {
  hidden: GPUBuffer;
  targets: GPUBuffer;
  weights?: GPUBuffer;
  /** The model's last hidden state [N, d], for the KL loss. */
  finalHidden?: GPUBuffer;
  /** Each row's position index (into the lens's positions), for position-specific unembedding. */
  positionIndex?: Int32Array;
  K: number;
  count: number;
}

/** Uploads the frozen head (the caller destroys gamma and U when done). */
export function uploadHead(gpu: Gpu, head: Head): HeadOnGpu {
  const { d, V, eps, dtype } = head;
  return { d, V, eps, dtype, gamma: upload(gpu, 'head gamma', head.gamma), U: upload(gpu, `head U (${dtype})`, head.U) };
}

/**
 * Uploads a dataset's hidden states and targets, once for the whole run: K targets a row
 * (its `multi` targets padded to K), or the one `target` when K is 1.
 */
export function uploadData(gpu: Gpu, name: string, ds: Dataset, K = 1, withFinalHidden = false): DataOnGpu {
  const hidden = upload(gpu, `${name} hidden`, ds.hidden);
  if (withFinalHidden && !ds.finalHidden) throw new RangeError(`${name}: no final_hidden to upload`);
  const finalHidden = withFinalHidden ? upload(gpu, `${name} final hidden`, ds.finalHidden!) : undefined;
  if (K === 1) {
    if (ds.multi && ds.multi.K > 1) throw new RangeError(`${name}: ${ds.multi.K} targets a row, the lens takes 1`);
    return { hidden, finalHidden, targets: upload(gpu, `${name} targets`, ds.target), K, count: ds.count };
  }
  const m = ds.multi ?? { K: 1, ids: ds.target, weights: new Float32Array(ds.count).fill(1) };
  if (m.K > K) throw new RangeError(`${name}: ${m.K} targets a row, the lens takes ${K}`);
  const ids = new Int32Array(ds.count * K).fill(-1);
  const weights = new Float32Array(ds.count * K);
  for (let r = 0; r < ds.count; r++) {
    ids.set(m.ids.subarray(r * m.K, (r + 1) * m.K), r * K);
    weights.set(m.weights.subarray(r * m.K, (r + 1) * m.K), r * K);
  }
  return { hidden, finalHidden, targets: upload(gpu, `${name} targets`, ids), weights: upload(gpu, `${name} target weights`, weights), K, count: ds.count };
}

export interface LensOptions {
  numGroups: number;
  maxBatch: number;
  /** Targets a row (1: one-hot cross-entropy). */
  K?: number;
  /**
   * The loss reads only each row's first target (`--targets first`); its other targets
   * serve the any-k metrics.
   */
  firstTarget?: boolean;
  /**
   * Train against the model's own prediction (KL): the teacher is softmax(U · norm(final
   * hidden)), or softmax(U · final hidden) when `normed` (already through the final norm).
   */
  teacher?: { normed: boolean };
  /** A vocabulary bias c_p per position (`bias`), and ΔU_p too (`full`), over `positions`. */
  positionUnembed?: { mode: PositionUnembedMode; positions: number };
  /** AdamW's settings for a training lens; without them, a lens for inference (forward only). */
  adamw?: AdamWConfig;
  /**
   * `fused` (the default where the adapter has subgroups): the translators' clip norm is the
   * ghost norm and AdamW rebuilds their gradient from dy and x (no gradient buffer);
   * `unfused`: the gradient is stored (translator backward), then summed and applied.
   */
  update?: TranslatorUpdate;
  /** Overrides the device's binding limit (tests use it to force binding windows). */
  maxBinding?: number;
}

export type TranslatorUpdate = 'fused' | 'unfused';

/** The translator update a training lens on this adapter uses by default. */
export function defaultTranslatorUpdate(gpu: Gpu): TranslatorUpdate {
  return gpu.hasSubgroups ? 'fused' : 'unfused';
}

/** What training keeps besides the parameters: AdamW moments and step counts (checkpoints). */
export interface TrainingState {
  m: Float32Array;
  v: Float32Array;
  /** AdamW step count of each group. */
  steps: Uint32Array;
  position?: { m: Float32Array; v: Float32Array; steps: Uint32Array };
}

/** A lens's parameter blocks: the translators' and, where it has one, the position unembedding's. */
export interface LensParams {
  params: Float32Array;
  positions?: Float32Array;
}

/** What the optimizer adds to a training lens. */
interface Optimizer {
  adamw: AdamW;
  /** AdamW step count of each group (PyTorch keeps one per parameter tensor; W and b agree). */
  steps: Uint32Array;
  positionSteps: Uint32Array | undefined;
}

export class Lens {
  readonly stride: number;
  /** The buffer table this lens was allocated from (bufferTable.ts). */
  readonly table: BufferSpec[];
  /** Per-slot CE loss of the last forward pass [maxBatch] f32. */
  readonly loss: GPUBuffer;
  /** Target rank and top-10 ids of the last evaluated batch: [maxBatch] and [maxBatch, 10] u32. */
  readonly rank: GPUBuffer;
  /** Best rank of each slot's positive-weight targets (any-k), [maxBatch] u32. */
  readonly anyRank: GPUBuffer;
  readonly topIds: GPUBuffer;
  /** Logits of the last forward pass [maxBatch, V], slot order. */
  readonly logits: GPUBuffer;

  private buf: Partial<Record<BufferKey, GPUBuffer>>;
  private owned: { destroy(): void }[];
  private optimizer: Optimizer | undefined;
  /** The gathered batch's slots ordered by position, and each present position's range. */
  private slotPositions: PositionBatch | undefined;
  /** Per-step tables (row counts, ranges, present groups, params), one writeBuffer a step. */
  private tables: StepTables;
  /** Every kernel call of a step, bound once to this lens's buffers. */
  private run: BoundCalls;
  /** The batch's row ids (slot → data row), for the gather. */
  private rowIds: Slot;
  /** The gather of each data set attached to this lens, bound once per data set. */
  private gathers = new WeakMap<DataOnGpu, (pass: GPUComputePassEncoder, slots: number) => void>();
  private gather: Gather;

  private constructor(
    private gpu: Gpu,
    readonly head: HeadOnGpu,
    readonly numGroups: number,
    readonly maxBatch: number,
    /** Targets a row. */
    readonly K: number,
    readonly teacher: { normed: boolean } | undefined,
    ops: { translator: Translator; norm: RmsNorm; unembed: Unembed; crossEntropy: CrossEntropy; topk: TopK; gather: Gather; adamw: AdamW | undefined },
    private positionUnembed: PositionUnembed | undefined,
    shape: LensShape,
  ) {
    const { V } = head;
    this.stride = blockStride(head.d);
    this.table = lensBuffers(shape);
    this.buf = Object.fromEntries(this.table.map((spec) => [spec.key, createBuffer(gpu, `lens ${spec.key}`, spec.bytes)]));
    const b = this.buf as Record<BufferKey, GPUBuffer>;
    this.owned = Object.values(this.buf) as GPUBuffer[];
    [this.loss, this.rank, this.anyRank, this.topIds, this.logits] = [b.loss, b.rank, b.anyRank, b.topIds, b.logits];
    if (K === 1) writeBuffer(gpu, b.weights, new Float32Array(maxBatch).fill(1));
    const positions = shape.position?.positions ?? 0;
    this.optimizer = ops.adamw && { adamw: ops.adamw, steps: new Uint32Array(numGroups), positionSteps: positionUnembed && new Uint32Array(positions) };

    // Every kernel call of a step, bound once: bind groups now, per-step values in the tables.
    const tables = (this.tables = new StepTables(gpu, 'lens step tables'));
    this.rowIds = tables.reserve(maxBatch * 4);
    this.gather = ops.gather;
    const { translator, norm, unembed, crossEntropy, topk, adamw } = ops;
    const { gamma, U } = head;
    const targets = { targets: b.targets, weights: b.weights };
    const fused = Boolean(shape.fusedUpdate);
    const training = adamw && {
      translatorBackward: fused ? undefined : translator.bindBackward(tables, { dy: b.dy, x: b.x, grad: b.grad }, maxBatch),
      normBackward: norm.bindBackward({ y: b.y, gamma, rstd: b.rstd, dz: b.dz, dy: b.dy }),
      unembedBackward: unembed.bindBackward(tables, { dlogits: b.dlogits, U, dz: b.dz, partial: b.partial }, maxBatch),
      positionBackward:
        positionUnembed &&
        positionUnembed.bindBackward(tables, { params: b.positionParams, grad: b.positionGrad, z: b.z, dlogits: b.dlogits, dz: b.dz }, positions, maxBatch),
      adamw: adamw.bind(tables, [
        fused ? { param: b.params, dy: b.dy, x: b.x, m: b.m, v: b.v } : { param: b.params, grad: b.grad, m: b.m, v: b.v },
        ...(positionUnembed ? [{ param: b.positionParams, grad: b.positionGrad, m: b.positionM, v: b.positionV }] : []),
      ]),
    };
    this.run = {
      translatorForward: translator.bindForward(tables, { x: b.x, params: b.params, y: b.y }, maxBatch),
      normForward: norm.bindForward({ y: b.y, gamma, z: b.z, rstd: b.rstd }),
      logits: unembed.bindLogits(tables, { z: b.z, U, logits: b.logits }, maxBatch),
      crossEntropy: crossEntropy.bind(tables, { logits: b.logits, ...targets, teacher: b.teacherLogits, loss: b.loss, dlogits: b.dlogits }),
      topk: topk.bind({ logits: b.logits, ...targets, rank: b.rank, anyRank: b.anyRank, ids: b.topIds }, V),
      teacher: teacher && {
        norm: norm.bindForward({ y: b.teacherX, gamma, z: b.teacherZ, rstd: b.teacherRstd }),
        logits: unembed.bindLogits(tables, { z: teacher.normed ? b.teacherX : b.teacherZ, U, logits: b.teacherLogits }, maxBatch),
        topk: topk.bind({ logits: b.teacherLogits, ...targets, rank: b.rank, anyRank: b.anyRank, ids: b.topIds }, V),
      },
      positionForward: positionUnembed && positionUnembed.bindForward(tables, { params: b.positionParams, z: b.z, logits: b.logits }, positions, maxBatch),
      training,
    };
    tables.seal();
    this.owned.push(tables, unembed);
    if (adamw) this.owned.push(adamw);
  }

  /** A training lens with `options.adamw`, else one for inference (no gradients, no AdamW state). */
  static async create(gpu: Gpu, head: HeadOnGpu, options: LensOptions): Promise<Lens> {
    const { d, V, eps, dtype } = head;
    const { numGroups, maxBatch, adamw } = options;
    const K = options.K ?? 1;
    const maxBinding = options.maxBinding ?? gpu.maxBinding;
    if (maxBatch * V * 4 > maxBinding) {
      throw new RangeError(
        `a batch of ${maxBatch} rows × ${V} logits (${fmtBytes(maxBatch * V * 4)}) exceeds this device's ` +
          `binding limit of ${fmtBytes(maxBinding)}: use a smaller batch`,
      );
    }
    const pu = options.positionUnembed;
    // AdamW sees a position's block as `subBlocks` groups, each within one binding.
    const layout = pu && positionLayout(pu.mode, V, d, maxBinding);
    const fusedUpdate = Boolean(adamw) && (options.update ?? defaultTranslatorUpdate(gpu)) === 'fused';
    const sets = [
      { stride: blockStride(d), numGroups, fusedTranslator: fusedUpdate ? { d } : undefined },
      ...(pu && layout ? [{ stride: layout.subStride, numGroups: pu.positions * layout.subBlocks }] : []),
    ];
    const [translator, norm, unembed, crossEntropy, topk, gather, opt, positionUnembed] = await Promise.all([
      Translator.create(gpu, d, numGroups, maxBinding),
      RmsNorm.create(gpu, d, eps),
      Unembed.create(gpu, V, d, dtype, maxBinding),
      CrossEntropy.create(gpu, options.teacher ? { kind: 'teacher' } : { kind: 'sparse', K, first: options.firstTarget }),
      TopK.create(gpu, K),
      Gather.create(gpu),
      adamw ? AdamW.createSets(gpu, sets, adamw, maxBinding) : undefined,
      pu ? PositionUnembed.create(gpu, pu.mode, V, d, maxBinding) : undefined,
    ]);
    const shape: LensShape = {
      d, V, headDtype: dtype, numGroups, maxBatch, K, teacher: Boolean(options.teacher), position: pu, training: Boolean(adamw), fusedUpdate,
      maxBinding, align: gpu.limits.minStorageBufferOffsetAlignment,
    };
    return new Lens(gpu, head, numGroups, maxBatch, K, options.teacher, { translator, norm, unembed, crossEntropy, topk, gather, adamw: opt }, positionUnembed, shape);
  }

  /** Bytes of this lens's buffer table (the step tables and AdamW's small buffers besides). */
  get bytes(): number {
    return this.table.reduce((n, spec) => n + spec.bytes, 0);
  }

  /** The position-specific unembedding's block layout, where the lens has one. */
  get positionLayout(): PositionLayout | undefined {
    return this.positionUnembed?.layout;
  }

  /** A buffer of the table; a training buffer of an inference lens is an error. */
  private need(key: BufferKey): GPUBuffer {
    const b = this.buf[key];
    if (!b) {
      throw new RangeError(
        `this lens has no ${key} buffer (a lens for inference has no gradients or AdamW state; ` +
          `with the fused update the translators' gradient is never stored)`,
      );
    }
    return b;
  }

  /** A table buffer's length in f32. */
  private floats(key: BufferKey): number {
    return this.table.find((spec) => spec.key === key)!.bytes / 4;
  }

  /** The translators' parameter blocks, numGroups × blockStride(d) f32. */
  get params(): GPUBuffer {
    return this.need('params');
  }

  /** Their gradients (a training lens with the unfused update). */
  get grad(): GPUBuffer {
    return this.need('grad');
  }

  /** Each group's AdamW step count (a training lens). */
  get steps(): Uint32Array {
    if (!this.optimizer) throw new RangeError('a lens for inference has no AdamW step counts');
    return this.optimizer.steps;
  }

  /** The global gradient norm and clip coefficient of the last update: (norm, coef) f32. */
  get clipState(): GPUBuffer {
    if (!this.optimizer) throw new RangeError('a lens for inference has no clip state');
    return this.optimizer.adamw.clipState;
  }

  /** Replaces the parameter blocks (translators, and the position unembedding's where given). */
  setParams(p: LensParams | Float32Array): void {
    const { params, positions } = p instanceof Float32Array ? { params: p, positions: undefined } : p;
    if (params.length !== this.numGroups * this.stride) {
      throw new RangeError(`setParams: ${params.length} floats given, ${this.numGroups * this.stride} expected`);
    }
    writeBuffer(this.gpu, this.need('params'), params);
    if (positions) writeBuffer(this.gpu, this.need('positionParams'), positions);
  }

  /** The parameter blocks, read back (for lens.safetensors and checkpoints). */
  async readParams(): Promise<LensParams> {
    const pb = this.buf.positionParams;
    return {
      params: await readF32(this.gpu, this.need('params'), this.numGroups * this.stride),
      positions: pb && (await readF32(this.gpu, pb, this.floats('positionParams'))),
    };
  }

  /** AdamW's moments and step counts, read back for a checkpoint (a training lens). */
  async readTrainingState(): Promise<TrainingState> {
    const o = this.optimizer;
    if (!o) throw new RangeError('a lens for inference has no training state');
    const size = this.numGroups * this.stride;
    const pm = this.buf.positionM;
    return {
      m: await readF32(this.gpu, this.need('m'), size),
      v: await readF32(this.gpu, this.need('v'), size),
      steps: o.steps.slice(),
      position: pm && {
        m: await readF32(this.gpu, pm, this.floats('positionM')),
        v: await readF32(this.gpu, this.need('positionV'), this.floats('positionV')),
        steps: o.positionSteps!.slice(),
      },
    };
  }

  /** Restores AdamW's moments and step counts from a checkpoint (a training lens). */
  loadTrainingState(state: TrainingState): void {
    const o = this.optimizer;
    if (!o) throw new RangeError('a lens for inference has no training state');
    writeBuffer(this.gpu, this.need('m'), state.m);
    writeBuffer(this.gpu, this.need('v'), state.v);
    o.steps.set(state.steps);
    if (state.position && o.positionSteps) {
      writeBuffer(this.gpu, this.need('positionM'), state.position.m);
      writeBuffer(this.gpu, this.need('positionV'), state.position.v);
      o.positionSteps.set(state.position.steps);
    }
  }

  /**
   * Binds the gather from a data set into this lens's batch buffers (hidden states, targets,
   * weights, final hidden states), once per data set; a step then only writes its row ids.
   */
  attach(data: DataOnGpu): void {
    if (this.gathers.has(data)) return;
    if (data.K !== this.K) throw new RangeError(`the data has ${data.K} targets a row, the lens takes ${this.K}`);
    if (this.teacher && !data.finalHidden) throw new RangeError('the KL loss needs the data set\'s final hidden states on the GPU');
    const b = this.buf as Record<BufferKey, GPUBuffer>;
    const d = this.head.d;
    const runs = [
      this.gather.bind(this.tables, this.rowIds, data.hidden, b.x, data.count, d),
      this.gather.bind(this.tables, this.rowIds, data.targets, b.targets, data.count, this.K),
      ...(data.weights ? [this.gather.bind(this.tables, this.rowIds, data.weights, b.weights, data.count, this.K)] : []),
      ...(this.teacher ? [this.gather.bind(this.tables, this.rowIds, data.finalHidden!, b.teacherX, data.count, d)] : []),
    ];
    this.gathers.set(data, (pass, slots) => runs.forEach((run) => run(pass, slots)));
  }

  /** Gathers the batch's hidden states, targets and weights from the data set into slot order. */
  encodeGather(enc: GPUCommandEncoder, data: DataOnGpu, batch: Batch): void {
    const pass = enc.beginComputePass({ label: 'lens gather' });
    this.gatherInto(pass, data, batch);
    pass.end();
  }

  /** The gather as the first dispatches of a step's pass (later dispatches see its writes). */
  private gatherInto(pass: GPUComputePassEncoder, data: DataOnGpu, batch: Batch): void {
    const B = this.checkBatch(batch);
    const outside = batch.rows.find((row) => row >= data.count);
    if (outside !== undefined) throw new RangeError(`batch row ${outside} is outside the dataset (${data.count} rows)`);
    this.attach(data);
    this.tables.write(this.rowIds, batch.rows);
    this.gathers.get(data)!(pass, B);
    if (this.positionUnembed) {
      if (!data.positionIndex) throw new RangeError('the position-specific unembedding needs each row\'s position index');
      this.slotPositions = positionSlots(Int32Array.from(batch.rows, (row) => data.positionIndex![row]!));
    }
  }

  /** The teacher's logits U · norm(final hidden) (or U · final hidden, already normed). */
  private teacherLogits(pass: GPUComputePassEncoder, B: number): void {
    const t = this.run.teacher!;
    if (!this.teacher!.normed) t.norm(pass, B);
    t.logits(pass, B);
  }

  private forward(pass: GPUComputePassEncoder, batch: Batch): void {
    const B = this.checkBatch(batch);
    this.run.translatorForward(pass, batch.ranges);
    this.run.normForward(pass, B);
    this.run.logits(pass, B);
    this.run.positionForward?.(pass, this.slotPositions!);
    if (this.run.teacher) this.teacherLogits(pass, B);
    this.run.crossEntropy(pass, B, this.head.V, B);
  }

  private get training(): NonNullable<BoundCalls['training']> {
    if (!this.run.training) throw new RangeError('a lens for inference cannot train (create it with adamw settings)');
    return this.run.training;
  }

  private backward(pass: GPUComputePassEncoder, batch: Batch): void {
    const B = this.checkBatch(batch);
    const t = this.training;
    t.unembedBackward(pass, B);
    // dz holds U's part: the positions' ΔU_p add theirs before the norm's backward reads it.
    t.positionBackward?.(pass, this.slotPositions!);
    t.normBackward(pass, B);
    // A fused update rebuilds the translators' gradient from dy and x itself.
    t.translatorBackward?.(pass, batch.ranges);
  }

  /** Clip and AdamW over the present groups; advances their step counts. */
  private update(pass: GPUComputePassEncoder, batch: Batch): void {
    const t = this.training;
    const { steps, positionSteps } = this.optimizer!;
    const present: PresentGroup[][] = [batch.ranges.map((r) => ({ group: r.group, step: ++steps[r.group]!, first: r.first, count: r.count }))];
    if (positionSteps) {
      // Positions absent from the batch have no gradient and are not updated, like groups.
      const S = this.positionUnembed!.layout.subBlocks;
      present.push(
        this.slotPositions!.ranges.flatMap((r) => {
          const step = ++positionSteps[r.group]!;
          return Array.from({ length: S }, (_, i) => ({ group: r.group * S + i, step }));
        }),
      );
    }
    t.adamw(pass, present);
  }

  /** y, z, logits; then the per-slot loss and dlogits = (softmax − q) / B. */
  encodeForward(pass: GPUComputePassEncoder, batch: Batch): void {
    this.forward(pass, batch);
    this.tables.flush();
  }

  /**
   * The gradient blocks of the groups present in the batch (others are left as they are); with
   * a fused update only dy and dz (the translators' gradient is never stored).
   */
  encodeBackward(pass: GPUComputePassEncoder, batch: Batch): void {
    this.backward(pass, batch);
    this.tables.flush();
  }

  /**
   * One training step: gather, forward, backward, clip and update, in one command buffer;
   * its tables go out in one writeBuffer (submit it before encoding the next step).
   */
  encodeTrainStep(enc: GPUCommandEncoder, data: DataOnGpu, batch: Batch): void {
    const pass = enc.beginComputePass({ label: 'lens train step' });
    this.gatherInto(pass, data, batch);
    this.forward(pass, batch);
    this.backward(pass, batch);
    this.update(pass, batch);
    pass.end();
    this.tables.flush();
  }

  /**
   * The teacher's 10 best tokens of each slot (topIds, its argmax first): the targets top-k
   * is scored against where the data has none.
   */
  encodeTeacherTop(enc: GPUCommandEncoder, data: DataOnGpu, batch: Batch): void {
    const B = this.checkBatch(batch);
    if (!this.run.teacher) throw new RangeError('encodeTeacherTop needs a lens with a teacher (the KL loss)');
    const pass = enc.beginComputePass({ label: 'lens teacher argmax' });
    this.gatherInto(pass, data, batch);
    this.teacherLogits(pass, B);
    this.run.teacher.topk(pass, B);
    pass.end();
    this.tables.flush();
  }

  /** Forward pass, loss and top-k of one evaluation batch (no gradient, no update); submit it before the next. */
  encodeEvalStep(enc: GPUCommandEncoder, data: DataOnGpu, batch: Batch): void {
    const pass = enc.beginComputePass({ label: 'lens eval step' });
    this.gatherInto(pass, data, batch);
    this.forward(pass, batch);
    this.run.topk(pass, this.checkBatch(batch));
    pass.end();
    this.tables.flush();
  }

  private checkBatch(batch: Batch): number {
    const B = batch.rows.length;
    if (B === 0 || B > this.maxBatch) throw new RangeError(`batch of ${B} rows (this lens takes 1 to ${this.maxBatch})`);
    return B;
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
  }
}

/** The kernel calls of a step, each bound to the lens's buffers (see Lens.run). */
type Rows = (pass: GPUComputePassEncoder, rows: number) => void;
interface BoundCalls {
  translatorForward: (pass: GPUComputePassEncoder, ranges: GroupRange[]) => void;
  normForward: Rows;
  logits: Rows;
  crossEntropy: (pass: GPUComputePassEncoder, rows: number, V: number, count: number) => void;
  topk: Rows;
  teacher: { norm: Rows; logits: Rows; topk: Rows } | undefined;
  positionForward: ((pass: GPUComputePassEncoder, batch: PositionBatch) => void) | undefined;
  /** A training lens's backward and update. */
  training:
    | {
        translatorBackward: ((pass: GPUComputePassEncoder, ranges: GroupRange[]) => void) | undefined;
        normBackward: Rows;
        unembedBackward: Rows;
        positionBackward: ((pass: GPUComputePassEncoder, batch: PositionBatch) => void) | undefined;
        adamw: (pass: GPUComputePassEncoder, present: PresentGroup[][]) => void;
      }
    | undefined;
}
