// The lens on the GPU: its translators' parameters and AdamW state, the frozen head, and the
// forward and backward passes of one batch as a sequence of ops:
//
//   x      = hidden[rows]                  gather (buffer copies; slots sorted by group)
//   y      = x + W_g x + b_g               translator
//   z      = y / rms(y) ⊙ γ                frozen final RMSNorm
//   logits = U z                           frozen unembedding
//   loss   = CE(logits, q);  dlogits = (softmax − q) / B        q: the targets, or with the
//            KL loss the teacher softmax(U · norm(final hidden)), computed in the same pass
//   dz = dlogits · U;  dy = RMSNorm'(dz);  dW_g, db_g = Σ_g dy xᵀ, Σ_g dy
//   clip the present groups' gradients by their global norm, AdamW on the present groups
//
// A training step is one command buffer with no readback inside it. All buffers, and every
// kernel's bind groups, are made once, sized for `maxBatch`; what changes per batch (row
// counts, group ranges, present groups, params) goes into the step tables, sent with one
// writeBuffer per step. Per-row losses stay on the GPU until the caller copies them out.
import type { Dataset } from '../data/dataset.ts';
import type { Head } from '../data/head.ts';
import { createBuffer, upload, writeBuffer } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import { StepTables } from '../gpu/stepTables.ts';
import { AdamW, type AdamWConfig, type PresentGroup } from '../ops/adamw.ts';
import { CrossEntropy } from '../ops/crossEntropy.ts';
import { blockStride, type GroupRange } from '../ops/groups.ts';
import { PositionUnembed, positionLayout, positionSlots, type PositionBatch, type PositionLayout, type PositionUnembedMode } from '../ops/positionUnembed.ts';
import { RmsNorm } from '../ops/rmsnorm.ts';
import { TopK, TOP_K } from '../ops/topk.ts';
import { Translator } from '../ops/translator.ts';
import { Unembed } from '../ops/unembed.ts';
import { contiguousRuns, type Batch } from './batch.ts';
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
  adamw: AdamWConfig;
  /** Overrides the device's binding limit (tests use it to force binding windows). */
  maxBinding?: number;
}

/** What a lens allocates on the GPU, by buffer, in bytes (printed before a run allocates it). */
export function lensMemory(d: number, V: number, numGroups: number, maxBatch: number): [string, number][] {
  const state = numGroups * blockStride(d) * 4;
  const splits = Math.max(1, Math.ceil(V / 1024)) + 2; // unembed_grad partial sums (+ window ends)
  return [
    ['translator parameters', state],
    ['gradients', state],
    ['AdamW moments (m, v)', 2 * state],
    ['batch activations (x, y, z, dz, dy)', 5 * maxBatch * d * 4],
    ['batch logits and dlogits', 2 * maxBatch * V * 4],
    ['unembedding partial sums', splits * maxBatch * d * 4],
  ];
}

export class Lens {
  readonly stride: number;
  /** Parameter blocks, gradients and AdamW moments: numGroups × blockStride(d) f32 each. */
  readonly params: GPUBuffer;
  readonly grad: GPUBuffer;
  readonly m: GPUBuffer;
  readonly v: GPUBuffer;
  /** AdamW step count of each group (PyTorch keeps one per parameter tensor; W and b agree). */
  readonly steps: Uint32Array;
  /** Per-slot CE loss of the last forward pass [maxBatch] f32. */
  readonly loss: GPUBuffer;
  /** Target rank and top-10 ids of the last evaluated batch: [maxBatch] and [maxBatch, 10] u32. */
  readonly rank: GPUBuffer;
  /** Best rank of each slot's positive-weight targets (any-k), [maxBatch] u32. */
  readonly anyRank: GPUBuffer;
  readonly topIds: GPUBuffer;

  private buffers: { destroy(): void }[];
  private x: GPUBuffer;
  private y: GPUBuffer;
  private z: GPUBuffer;
  private rstd: GPUBuffer;
  /** Logits of the last forward pass [maxBatch, V], slot order. */
  readonly logits: GPUBuffer;
  private dlogits: GPUBuffer;
  private dz: GPUBuffer;
  private dy: GPUBuffer;
  private slotTargets: GPUBuffer;
  /**
   * The position-specific unembedding's parameter blocks (one per position), gradients and
   * AdamW moments, and each position's step count.
   */
  readonly positionState: { params: GPUBuffer; grad: GPUBuffer; m: GPUBuffer; v: GPUBuffer; steps: Uint32Array } | undefined;
  /** The gathered batch's slots ordered by position, and each present position's range. */
  private slotPositions: PositionBatch | undefined;
  /** Per-step tables (row counts, ranges, present groups, params), one writeBuffer a step. */
  private tables: StepTables;
  /** Every kernel call of a step, bound once to this lens's buffers. */
  private run: BoundCalls;
  /** With the KL loss: the batch's final hidden states, normed, and the teacher's logits. */
  private teacherBufs: { x: GPUBuffer; z: GPUBuffer; rstd: GPUBuffer; logits: GPUBuffer } | undefined;
  /** Each slot's K targets' weights (1 for one target a row). */
  private slotWeights: GPUBuffer;

  private constructor(
    private gpu: Gpu,
    readonly head: HeadOnGpu,
    readonly numGroups: number,
    readonly maxBatch: number,
    /** Targets a row. */
    readonly K: number,
    readonly teacher: { normed: boolean } | undefined,
    translator: Translator,
    norm: RmsNorm,
    private unembed: Unembed,
    crossEntropy: CrossEntropy,
    topk: TopK,
    private adamw: AdamW,
    private positionUnembed: PositionUnembed | undefined,
    positions: number,
  ) {
    const { d, V } = head;
    this.stride = blockStride(d);
    const state = numGroups * this.stride * 4;
    const rowBytes = maxBatch * d * 4;
    const make = (label: string, bytes: number) => createBuffer(gpu, `lens ${label}`, bytes);
    this.buffers = [
      (this.params = make('parameters', state)),
      (this.grad = make('gradients', state)),
      (this.m = make('adamw m', state)),
      (this.v = make('adamw v', state)),
      (this.x = make('x', rowBytes)),
      (this.y = make('y', rowBytes)),
      (this.z = make('z', rowBytes)),
      (this.rstd = make('rstd', maxBatch * 4)),
      (this.logits = make('logits', maxBatch * V * 4)),
      (this.dlogits = make('dlogits', maxBatch * V * 4)),
      (this.dz = make('dz', rowBytes)),
      (this.dy = make('dy', rowBytes)),
      (this.slotTargets = make('targets', maxBatch * K * 4)),
      (this.slotWeights = make('target weights', maxBatch * K * 4)),
      (this.loss = make('loss', maxBatch * 4)),
      (this.rank = make('target rank', maxBatch * 4)),
      (this.anyRank = make('best target rank', maxBatch * 4)),
      (this.topIds = make('top ids', maxBatch * TOP_K * 4)),
    ];
    this.steps = new Uint32Array(numGroups);
    if (K === 1) writeBuffer(gpu, this.slotWeights, new Float32Array(maxBatch).fill(1));
    if (positionUnembed) {
      const bytes = positions * positionUnembed.layout.stride * 4;
      const [params, grad, m, v] = ['parameters', 'gradients', 'adamw m', 'adamw v'].map((k) => make(`position unembedding ${k}`, bytes)) as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
      this.buffers.push(params, grad, m, v);
      this.positionState = { params, grad, m, v, steps: new Uint32Array(positions) };
    }
    if (teacher) {
      this.teacherBufs = {
        x: make('final hidden', rowBytes),
        z: make('final hidden normed', rowBytes),
        rstd: make('final hidden rstd', maxBatch * 4),
        logits: make('teacher logits', maxBatch * V * 4),
      };
      this.buffers.push(...Object.values(this.teacherBufs));
    }
    const partial = make('unembedding partial sums', unembed.partialBytes(maxBatch));
    this.buffers.push(partial);

    // Every kernel call of a step, bound once: bind groups now, per-step values in the tables.
    const tables = (this.tables = new StepTables(gpu, 'lens step tables'));
    const gamma = this.head.gamma;
    const U = this.head.U;
    const t = this.teacherBufs;
    const ps = this.positionState;
    const targets = { targets: this.slotTargets, weights: this.slotWeights };
    this.run = {
      translatorForward: translator.bindForward(tables, { x: this.x, params: this.params, y: this.y }, maxBatch),
      translatorBackward: translator.bindBackward(tables, { dy: this.dy, x: this.x, grad: this.grad }, maxBatch),
      normForward: norm.bindForward({ y: this.y, gamma, z: this.z, rstd: this.rstd }),
      normBackward: norm.bindBackward({ y: this.y, gamma, rstd: this.rstd, dz: this.dz, dy: this.dy }),
      logits: unembed.bindLogits(tables, { z: this.z, U, logits: this.logits }, maxBatch),
      unembedBackward: unembed.bindBackward(tables, { dlogits: this.dlogits, U, dz: this.dz, partial }, maxBatch),
      crossEntropy: crossEntropy.bind(tables, { logits: this.logits, ...targets, teacher: t?.logits, loss: this.loss, dlogits: this.dlogits }),
      topk: topk.bind({ logits: this.logits, ...targets, rank: this.rank, anyRank: this.anyRank, ids: this.topIds }, V),
      teacher: t && {
        norm: norm.bindForward({ y: t.x, gamma, z: t.z, rstd: t.rstd }),
        logits: unembed.bindLogits(tables, { z: teacher!.normed ? t.x : t.z, U, logits: t.logits }, maxBatch),
        topk: topk.bind({ logits: t.logits, ...targets, rank: this.rank, anyRank: this.anyRank, ids: this.topIds }, V),
      },
      position: positionUnembed &&
        ps && {
          forward: positionUnembed.bindForward(tables, { params: ps.params, z: this.z, logits: this.logits }, positions, maxBatch),
          backward: positionUnembed.bindBackward(tables, { params: ps.params, grad: ps.grad, z: this.z, dlogits: this.dlogits, dz: this.dz }, positions, maxBatch),
        },
      adamw: adamw.bind(tables, [
        { param: this.params, grad: this.grad, m: this.m, v: this.v },
        ...(ps ? [{ param: ps.params, grad: ps.grad, m: ps.m, v: ps.v }] : []),
      ]),
    };
    tables.seal();
    this.buffers.push(tables);
  }

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
    const sets = [{ stride: blockStride(d), numGroups }, ...(pu && layout ? [{ stride: layout.subStride, numGroups: pu.positions * layout.subBlocks }] : [])];
    const [translator, norm, unembed, crossEntropy, topk, opt, positionUnembed] = await Promise.all([
      Translator.create(gpu, d, numGroups, maxBinding),
      RmsNorm.create(gpu, d, eps),
      Unembed.create(gpu, V, d, dtype, maxBinding),
      CrossEntropy.create(gpu, options.teacher ? { kind: 'teacher' } : { kind: 'sparse', K, first: options.firstTarget }),
      TopK.create(gpu, K),
      AdamW.createSets(gpu, sets, adamw, maxBinding),
      pu ? PositionUnembed.create(gpu, pu.mode, V, d, maxBinding) : undefined,
    ]);
    return new Lens(gpu, head, numGroups, maxBatch, K, options.teacher, translator, norm, unembed, crossEntropy, topk, opt, positionUnembed, pu?.positions ?? 0);
  }

  /** The position-specific unembedding's block layout, where the lens has one. */
  get positionLayout(): PositionLayout | undefined {
    return this.positionUnembed?.layout;
  }

  /** The global gradient norm and clip coefficient of the last update: (norm, coef) f32. */
  get clipState(): GPUBuffer {
    return this.adamw.clipState;
  }

  /** Replaces the parameter blocks (e.g. from a checkpoint); moments and steps are untouched. */
  setParams(blocks: Float32Array): void {
    if (blocks.length !== this.numGroups * this.stride) {
      throw new RangeError(`setParams: ${blocks.length} floats given, ${this.numGroups * this.stride} expected`);
    }
    writeBuffer(this.gpu, this.params, blocks);
  }

  /** Copies the batch's hidden states, targets and weights from the dataset into slot order. */
  encodeGather(enc: GPUCommandEncoder, data: DataOnGpu, batch: Batch): void {
    this.checkBatch(batch);
    if (data.K !== this.K) throw new RangeError(`the data has ${data.K} targets a row, the lens takes ${this.K}`);
    const rowBytes = this.head.d * 4;
    const targetBytes = this.K * 4;
    for (const [slot, row, count] of contiguousRuns(batch.rows)) {
      if (row + count > data.count) throw new RangeError(`batch row ${row + count - 1} is outside the dataset (${data.count} rows)`);
      enc.copyBufferToBuffer(data.hidden, row * rowBytes, this.x, slot * rowBytes, count * rowBytes);
      enc.copyBufferToBuffer(data.targets, row * targetBytes, this.slotTargets, slot * targetBytes, count * targetBytes);
      if (data.weights) enc.copyBufferToBuffer(data.weights, row * targetBytes, this.slotWeights, slot * targetBytes, count * targetBytes);
      if (this.teacherBufs) {
        if (!data.finalHidden) throw new RangeError('the KL loss needs the data set\'s final hidden states on the GPU');
        enc.copyBufferToBuffer(data.finalHidden, row * rowBytes, this.teacherBufs.x, slot * rowBytes, count * rowBytes);
      }
    }
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
    this.run.position?.forward(pass, this.slotPositions!);
    if (this.run.teacher) this.teacherLogits(pass, B);
    this.run.crossEntropy(pass, B, this.head.V, B);
  }

  private backward(pass: GPUComputePassEncoder, batch: Batch): void {
    const B = this.checkBatch(batch);
    this.run.unembedBackward(pass, B);
    // dz holds U's part: the positions' ΔU_p add theirs before the norm's backward reads it.
    this.run.position?.backward(pass, this.slotPositions!);
    this.run.normBackward(pass, B);
    this.run.translatorBackward(pass, batch.ranges);
  }

  /** Clip and AdamW over the present groups; advances their step counts. */
  private update(pass: GPUComputePassEncoder, batch: Batch): void {
    const present: PresentGroup[][] = [batch.ranges.map((r) => ({ group: r.group, step: ++this.steps[r.group]! }))];
    const ps = this.positionState;
    if (ps) {
      // Positions absent from the batch have no gradient and are not updated, like groups.
      const S = this.positionUnembed!.layout.subBlocks;
      present.push(
        this.slotPositions!.ranges.flatMap((r) => {
          const step = ++ps.steps[r.group]!;
          return Array.from({ length: S }, (_, i) => ({ group: r.group * S + i, step }));
        }),
      );
    }
    this.run.adamw(pass, present);
  }

  /** y, z, logits; then the per-slot loss and dlogits = (softmax − q) / B. */
  encodeForward(pass: GPUComputePassEncoder, batch: Batch): void {
    this.forward(pass, batch);
    this.tables.flush();
  }

  /** The gradient blocks of the groups present in the batch (others are left as they are). */
  encodeBackward(pass: GPUComputePassEncoder, batch: Batch): void {
    this.backward(pass, batch);
    this.tables.flush();
  }

  /**
   * One training step: gather, forward, backward, clip and update, in one command buffer;
   * its tables go out in one writeBuffer (submit it before encoding the next step).
   */
  encodeTrainStep(enc: GPUCommandEncoder, data: DataOnGpu, batch: Batch): void {
    this.encodeGather(enc, data, batch);
    const pass = enc.beginComputePass({ label: 'lens train step' });
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
    this.encodeGather(enc, data, batch);
    const pass = enc.beginComputePass({ label: 'lens teacher argmax' });
    this.teacherLogits(pass, B);
    this.run.teacher.topk(pass, B);
    pass.end();
    this.tables.flush();
  }

  /** Forward pass, loss and top-k of one evaluation batch (no gradient, no update); submit it before the next. */
  encodeEvalStep(enc: GPUCommandEncoder, data: DataOnGpu, batch: Batch): void {
    this.encodeGather(enc, data, batch);
    const pass = enc.beginComputePass({ label: 'lens eval step' });
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
    for (const b of this.buffers) b.destroy();
    this.unembed.destroy();
    this.adamw.destroy();
  }
}

/** The kernel calls of a step, each bound to the lens's buffers (see Lens.run). */
interface BoundCalls {
  translatorForward: (pass: GPUComputePassEncoder, ranges: GroupRange[]) => void;
  translatorBackward: (pass: GPUComputePassEncoder, ranges: GroupRange[]) => void;
  normForward: (pass: GPUComputePassEncoder, rows: number) => void;
  normBackward: (pass: GPUComputePassEncoder, rows: number) => void;
  logits: (pass: GPUComputePassEncoder, rows: number) => void;
  unembedBackward: (pass: GPUComputePassEncoder, rows: number) => void;
  crossEntropy: (pass: GPUComputePassEncoder, rows: number, V: number, count: number) => void;
  topk: (pass: GPUComputePassEncoder, rows: number) => void;
  teacher: { norm: (pass: GPUComputePassEncoder, rows: number) => void; logits: (pass: GPUComputePassEncoder, rows: number) => void; topk: (pass: GPUComputePassEncoder, rows: number) => void } | undefined;
  position: { forward: (pass: GPUComputePassEncoder, batch: PositionBatch) => void; backward: (pass: GPUComputePassEncoder, batch: PositionBatch) => void } | undefined;
  adamw: (pass: GPUComputePassEncoder, present: PresentGroup[][]) => void;
}
