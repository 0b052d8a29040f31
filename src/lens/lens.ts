// The lens on the GPU: its translators' parameters (and, for training, their gradients and
// AdamW state), the frozen head, and the forward and backward passes of one batch as a
// sequence of ops (its buffers come from one table, bufferTable.ts, sized by one shape, shape.ts):
//
//   x      = hidden[rows]                  gather (one kernel; slots sorted by group)
//   y      = x + W_g x + b_g               translator
//   z      = y / rms(y) ⊙ γ                frozen final RMSNorm
//   logits = U z (+ ΔU_p z + c_p)          frozen unembedding (and the position unembedding)
//   loss   = CE(logits, q);  dlogits = (softmax − q) / B        q: the targets, or with the
//            KL loss the teacher softmax(U · norm(final hidden)), computed in the same pass
//   dz = dlogits · U;  dy = RMSNorm'(dz);  dW_g, db_g = Σ_g dy xᵀ, Σ_g dy
//   clip the present groups' gradients by their global norm, AdamW on the present groups
//
// A training step is one command buffer with no readback inside it. All buffers, and every
// kernel's bind groups (the gather's once per data set given to create()), are made once, sized for
// the shape's largest batch (the backward's for its largest training batch); what changes per
// batch (row ids, or the rows themselves of a data set in host memory, group ranges, present
// groups, params) goes into the step tables, sent with one writeBuffer per step. Every call reads what
// it needs of a batch from the batch (its rows, group ranges and slots by position). The lens
// is the one owner of its buffers, step tables and optimizer: destroy() frees them all.
import { Owner, readF32, readParts, writeBuffer, writeParts } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import { StepTables, type Bound } from '../gpu/stepTables.ts';
import { AdamW, type PresentGroup, type SetBuffers } from '../ops/adamw.ts';
import { CrossEntropy } from '../ops/crossEntropy.ts';
import { Gather, type HostStaging } from '../ops/gather.ts';
import { PositionUnembed, positionParamSet, positionPresent, unpackPositionBlocks, type PositionParams } from '../ops/positionUnembed.ts';
import { RmsNorm } from '../ops/rmsnorm.ts';
import { TopK } from '../ops/topk.ts';
import { Translator } from '../ops/translator.ts';
import { Unembed } from '../ops/unembed.ts';
import { BugError, InputError, invariant } from '../shared/errors.ts';
import type { Batch } from './batch.ts';
import { lensBuffers, type BufferKey, type BufferSpec } from './bufferTable.ts';
import { DataOnHost, type HeadOnGpu, type RunData } from './onGpu.ts';
import type { LensShape } from './shape.ts';

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

/** The table's arrays that lie over several buffers where they exceed the device's largest (bufferTable.ts). */
const SPLIT_KEYS = ['params', 'grad', 'm', 'v', 'positionParams', 'positionGrad', 'positionM', 'positionV'] as const;
type SplitKey = (typeof SPLIT_KEYS)[number];
const isSplit = (key: BufferKey): key is SplitKey => (SPLIT_KEYS as readonly string[]).includes(key);

/** A lens's buffers by key: one buffer each, the split arrays' parts in order. */
type LensBuffers = Record<Exclude<BufferKey, SplitKey>, GPUBuffer> & Record<SplitKey, GPUBuffer[]>;

/** The ops a lens runs, made for its shape. */
interface Ops {
  translator: Translator;
  norm: RmsNorm;
  unembed: Unembed;
  crossEntropy: CrossEntropy;
  topk: TopK;
  gather: Gather;
  adamw: AdamW | undefined;
  position: PositionUnembed | undefined;
}

/** The kernel calls of a step, each bound once to the lens's buffers. */
interface BoundCalls {
  translatorForward: Bound<Batch>;
  normForward: Bound<Batch>;
  logits: Bound<Batch>;
  positionForward: Bound<Batch> | undefined;
  crossEntropy: Bound<Batch>;
  topk: Bound<Batch>;
  teacher: { norm: Bound<Batch> | undefined; logits: Bound<Batch>; topk: Bound<Batch> } | undefined;
  /** A training lens's backward and update. */
  training:
    | {
        unembedBackward: Bound<Batch>;
        positionBackward: Bound<Batch> | undefined;
        normBackward: Bound<Batch>;
        /** The stored gradient's kernel; a fused update rebuilds it from dy and x itself. */
        translatorBackward: Bound<Batch> | undefined;
        adamw: Bound<PresentGroup[][]>;
      }
    | undefined;
}

export class Lens {
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

  private buf: Partial<LensBuffers>;
  private owner: Owner;
  /** Per-step tables (row counts, ranges, present groups, params), one writeBuffer a step. */
  private tables: StepTables;
  private calls: BoundCalls;
  /** AdamW step count of each group (PyTorch keeps one per parameter tensor; W and b agree), and of each position. */
  private stepCounts: { groups: Uint32Array; positions: Uint32Array | undefined } | undefined;
  /** The gather of each data set attached to this lens, bound once per data set. */
  private gathers = new WeakMap<RunData, Bound<Batch>>();
  /** Where the batches of host-resident data sets are written (made at the first one's attach). */
  private staging: HostStaging | undefined;

  private constructor(
    private gpu: Gpu,
    readonly head: HeadOnGpu,
    readonly shape: LensShape,
    private ops: Ops,
    data: RunData[],
  ) {
    this.owner = new Owner(gpu);
    this.table = lensBuffers(shape);
    this.buf = Object.fromEntries(
      this.table.map((spec) => {
        const parts = this.owner.parts(`lens ${spec.key}`, spec.parts);
        invariant(isSplit(spec.key) || parts.length === 1, `lens ${spec.key}: one buffer expected`);
        return [spec.key, isSplit(spec.key) ? parts : parts[0]!];
      }),
    );
    const b = this.buf as LensBuffers;
    [this.loss, this.rank, this.anyRank, this.topIds, this.logits] = [b.loss, b.rank, b.anyRank, b.topIds, b.logits];
    if (shape.targetsPerRow === 1) writeBuffer(gpu, b.weights, new Float32Array(shape.maxBatch).fill(1));
    if (ops.adamw) {
      this.owner.own(ops.adamw);
      this.stepCounts = { groups: new Uint32Array(shape.numGroups), positions: shape.position && new Uint32Array(shape.position.positions) };
    }
    this.tables = this.owner.own(new StepTables(gpu, 'lens step tables'));
    this.calls = this.bindCalls(b);
    for (const d of data) this.attach(d);
    this.tables.seal();
  }

  /**
   * A training lens where the shape has AdamW settings, else one for inference (no gradients,
   * no AdamW state), with the gather from each of `data` bound (the data sets it will run on).
   */
  static async create(gpu: Gpu, head: HeadOnGpu, shape: LensShape, data: RunData[]): Promise<Lens> {
    const { d, V, numGroups, targetsPerRow, position: pu, adamw, kernels: k } = shape;
    const limits = { maxBinding: shape.maxBinding, maxBuffer: shape.maxBuffer };
    const sets = [
      { stride: shape.stride, numGroups, fusedTranslator: shape.fusedUpdate ? { d } : undefined },
      ...(pu ? [positionParamSet(pu.layout, pu.positions, pu.fusedUpdate)] : []),
    ];
    const target = shape.teacher ? { kind: 'teacher' as const } : { kind: 'sparse' as const, targetsPerRow, first: shape.firstTarget };
    const [translator, norm, unembed, crossEntropy, topk, gather, opt, position] = await Promise.all([
      Translator.create(gpu, d, numGroups, { ...limits, forward: k.translatorForward, backward: k.translatorBackward }),
      RmsNorm.create(gpu, d, head.eps, k.rmsnorm),
      Unembed.create(gpu, V, d, head.dtype, limits, k.unembed),
      CrossEntropy.create(gpu, V, target),
      TopK.create(gpu, V, targetsPerRow, k.topk),
      Gather.create(gpu, limits),
      adamw ? AdamW.create(gpu, sets, adamw, limits) : undefined,
      pu ? PositionUnembed.create(gpu, pu.mode, V, d, pu.positions, limits, k.unembed === 'subgroup' ? 'subgroup' : 'tiled') : undefined,
    ]);
    return new Lens(gpu, head, shape, { translator, norm, unembed, crossEntropy, topk, gather, adamw: opt, position }, data);
  }

  /** Every kernel call of a step, bound once: bind groups at seal(), per-step values in the tables. */
  private bindCalls(b: LensBuffers): BoundCalls {
    const { tables, shape, ops } = this;
    const { gamma, U } = this.head;
    const rows = shape.maxBatch;
    const targets = { targets: b.targets, weights: b.weights };
    const topk = (logits: GPUBuffer) => ops.topk.bind(tables, { logits, ...targets, rank: b.rank, anyRank: b.anyRank, ids: b.topIds }, rows);
    const teacher = shape.teacher;
    return {
      translatorForward: ops.translator.bindForward(tables, { x: b.x, params: b.params, y: b.y }, rows),
      normForward: ops.norm.bindForward(tables, { y: b.y, gamma, z: b.z, rstd: b.rstd }, rows),
      logits: ops.unembed.bindForward(tables, { z: b.z, U, logits: b.logits }, rows),
      positionForward: ops.position?.bindForward(tables, { params: b.positionParams, z: b.z, logits: b.logits }, rows),
      crossEntropy: ops.crossEntropy.bind(tables, { logits: b.logits, ...targets, teacher: b.teacherLogits, loss: b.loss, dlogits: b.dlogits }, rows),
      topk: topk(b.logits),
      teacher: teacher && {
        norm: teacher.normed ? undefined : ops.norm.bindForward(tables, { y: b.teacherX, gamma, z: b.teacherZ, rstd: b.teacherRstd }, rows),
        logits: ops.unembed.bindForward(tables, { z: teacher.normed ? b.teacherX : b.teacherZ, U, logits: b.teacherLogits }, rows),
        topk: topk(b.teacherLogits),
      },
      training: ops.adamw && this.bindTraining(b, ops.adamw),
    };
  }

  private bindTraining(b: LensBuffers, adamw: AdamW): NonNullable<BoundCalls['training']> {
    const { tables, shape, ops } = this;
    // Sized for the training batch: evaluation batches (up to maxBatch) run no backward.
    const rows = shape.trainBatch;
    const translatorSet: SetBuffers = shape.fusedUpdate ? { param: b.params, dy: b.dy, x: b.x, m: b.m, v: b.v } : { param: b.params, grad: b.grad, m: b.m, v: b.v };
    const positionBackward = ops.position?.bindBackward(tables, { params: b.positionParams, grad: b.positionGrad, z: b.z, dlogits: b.dlogits, dz: b.dz }, rows);
    const positionSet: SetBuffers[] = [];
    if (positionBackward) {
      const moments = { param: b.positionParams, m: b.positionM, v: b.positionV };
      positionSet.push(shape.position!.fusedUpdate ? { ...moments, dlogits: b.dlogits, z: b.z, slots: positionBackward.slots } : { ...moments, grad: b.positionGrad });
    }
    return {
      unembedBackward: ops.unembed.bindBackward(tables, { dlogits: b.dlogits, U: this.head.U, dz: b.dz, partial: b.partial }, rows),
      positionBackward,
      normBackward: ops.norm.bindBackward(tables, { y: b.y, gamma: this.head.gamma, rstd: b.rstd, dz: b.dz, dy: b.dy }, rows),
      translatorBackward: shape.fusedUpdate ? undefined : ops.translator.bindBackward(tables, { dy: b.dy, x: b.x, grad: b.grad }, rows),
      adamw: adamw.bind(tables, [translatorSet, ...positionSet]),
    };
  }

  /** Bytes of this lens's buffer table (the step tables and AdamW's small buffers besides). */
  get bytes(): number {
    return this.table.reduce((n, spec) => n + spec.bytes, 0);
  }

  /** A split array of the table; a training array of an inference lens is an error. */
  private need(key: SplitKey): GPUBuffer[] {
    const b = this.buf[key];
    if (!b) {
      throw new BugError(
        `this lens has no ${key} buffer (a lens for inference has no gradients or AdamW state; ` +
          `with the fused update the translators' gradient is never stored)`,
      );
    }
    return b;
  }

  private spec(key: BufferKey): BufferSpec {
    return this.table.find((spec) => spec.key === key)!;
  }

  /** A split array's f32, read back from its parts. */
  private async read(key: SplitKey): Promise<Float32Array> {
    return new Float32Array(await readParts(this.gpu, this.need(key), this.spec(key).parts));
  }

  /** Writes a split array's f32 (all of it) over its parts. */
  private write(key: SplitKey, data: Float32Array): void {
    const floats = this.spec(key).bytes / 4;
    invariant(data.length === floats, `lens ${key}: ${data.length} floats given, ${floats} expected`);
    writeParts(this.gpu, this.need(key), this.spec(key).parts, data);
  }

  /** The translators' gradient blocks (a training lens with the unfused update), read back. */
  readGrad(): Promise<Float32Array> {
    return this.read('grad');
  }

  private get counts(): NonNullable<Lens['stepCounts']> {
    invariant(this.stepCounts, 'a lens for inference has no AdamW step counts or training state');
    return this.stepCounts;
  }

  /** Each group's AdamW step count (a training lens). */
  get steps(): Uint32Array {
    return this.counts.groups;
  }

  /** The global gradient norm and clip coefficient of the last update: (norm, coef) f32. */
  get clipState(): GPUBuffer {
    invariant(this.ops.adamw, 'a lens for inference has no clip state');
    return this.ops.adamw.clipState;
  }

  /** Replaces the parameter blocks (translators, and the position unembedding's where given). */
  setParams(p: LensParams | Float32Array): void {
    const { params, positions } = p instanceof Float32Array ? { params: p, positions: undefined } : p;
    this.write('params', params);
    if (positions) this.write('positionParams', positions);
  }

  /** The parameter blocks, read back (for lens.safetensors and checkpoints). */
  async readParams(): Promise<LensParams> {
    return { params: await this.read('params'), positions: this.buf.positionParams && (await this.read('positionParams')) };
  }

  /** The position unembedding of read-back blocks as named tensors over `positions` (block order), where the lens has one. */
  positionTensors(read: LensParams, positions: number[]): PositionParams | undefined {
    const pu = this.shape.position;
    return pu && unpackPositionBlocks(read.positions!, pu.layout, positions);
  }

  /** AdamW's moments and step counts, read back for a checkpoint (a training lens). */
  async readTrainingState(): Promise<TrainingState> {
    const counts = this.counts;
    return {
      m: await this.read('m'),
      v: await this.read('v'),
      steps: counts.groups.slice(),
      position: this.buf.positionM && { m: await this.read('positionM'), v: await this.read('positionV'), steps: counts.positions!.slice() },
    };
  }

  /** Restores AdamW's moments and step counts from a checkpoint (a training lens). */
  loadTrainingState(state: TrainingState): void {
    const counts = this.counts;
    this.write('m', state.m);
    this.write('v', state.v);
    counts.groups.set(state.steps);
    if (state.position && counts.positions) {
      this.write('positionM', state.position.m);
      this.write('positionV', state.position.v);
      counts.positions.set(state.position.steps);
    }
  }

  /**
   * Binds the gather from a data set into this lens's batch buffers (hidden states, targets,
   * weights, final hidden states), once per data set, before the tables are sealed; a step
   * then only writes its row ids (or, for a data set in host memory, its rows).
   */
  private attach(data: RunData): void {
    const { targetsPerRow: K, teacher } = this.shape;
    const { d } = this.head;
    invariant(data.targetsPerRow === K, `the data has ${data.targetsPerRow} targets a row, the lens takes ${K}`);
    if (teacher && !data.finalHidden) throw new InputError("the KL loss needs the data set's final hidden states");
    const b = this.buf as LensBuffers;
    const sourcesOf = <S>(a: { hidden: S; targets: S; weights: S | undefined; finalHidden: S | undefined }) => [
      { src: a.hidden, dst: b.x, width: d, half: data.hiddenHalf },
      { src: a.targets, dst: b.targets, width: K },
      ...(a.weights ? [{ src: a.weights, dst: b.weights, width: K }] : []),
      ...(teacher ? [{ src: a.finalHidden!, dst: b.teacherX, width: d, half: data.finalHiddenHalf }] : []),
    ];
    const { tables, ops } = this;
    const rows = this.shape.maxBatch;
    if (data instanceof DataOnHost) {
      const sources = sourcesOf(data);
      // One staging for every host data set: a step writes only its own batch's rows.
      this.staging ??= Gather.stage(tables, sources.map((s) => s.width), rows);
      this.gathers.set(data, ops.gather.bindHost(tables, { rows: data.count, sources }, this.staging, rows));
    } else {
      this.gathers.set(data, ops.gather.bind(tables, { rows: data.count, sources: sourcesOf(data) }, rows));
    }
  }

  /** Gathers the batch's hidden states, targets and weights from the data set into slot order. */
  encodeGather(enc: GPUCommandEncoder, data: RunData, batch: Batch): void {
    const pass = enc.beginComputePass({ label: 'lens gather' });
    this.gatherInto(pass, data, batch);
    pass.end();
  }

  /** The gather as the first dispatches of a step's pass (later dispatches see its writes). */
  private gatherInto(pass: GPUComputePassEncoder, data: RunData, batch: Batch): void {
    this.checkBatch(batch);
    const gather = this.gathers.get(data);
    invariant(gather, 'a lens runs on the data sets it was created with (Lens.create binds their gathers)');
    gather.encode(pass, batch);
  }

  /** The teacher's logits U · norm(final hidden) (or U · final hidden, already normed). */
  private teacherLogits(pass: GPUComputePassEncoder, batch: Batch): void {
    const t = this.calls.teacher!;
    t.norm?.encode(pass, batch);
    t.logits.encode(pass, batch);
  }

  private forward(pass: GPUComputePassEncoder, batch: Batch): void {
    this.checkBatch(batch);
    const c = this.calls;
    c.translatorForward.encode(pass, batch);
    c.normForward.encode(pass, batch);
    c.logits.encode(pass, batch);
    c.positionForward?.encode(pass, batch);
    if (c.teacher) this.teacherLogits(pass, batch);
    c.crossEntropy.encode(pass, batch);
  }

  private get training(): NonNullable<BoundCalls['training']> {
    invariant(this.calls.training, 'a lens for inference cannot train (create it with adamw settings)');
    return this.calls.training;
  }

  private backward(pass: GPUComputePassEncoder, batch: Batch): void {
    this.checkBatch(batch);
    const t = this.training;
    invariant(batch.rows.length <= this.shape.trainBatch, `a training batch of ${batch.rows.length} rows (this lens trains on at most ${this.shape.trainBatch})`);
    t.unembedBackward.encode(pass, batch);
    // dz holds U's part: the positions' ΔU_p add theirs before the norm's backward reads it.
    t.positionBackward?.encode(pass, batch);
    t.normBackward.encode(pass, batch);
    t.translatorBackward?.encode(pass, batch);
  }

  /** Clip and AdamW over the present groups; advances their step counts. */
  private update(pass: GPUComputePassEncoder, batch: Batch): void {
    const { groups, positions } = this.counts;
    const present: PresentGroup[][] = [batch.ranges.map((r) => ({ group: r.group, step: ++groups[r.group]!, first: r.first, count: r.count }))];
    if (positions) {
      // Positions absent from the batch have no gradient and are not updated, like groups.
      invariant(batch.positions, 'a lens with a position unembedding needs batches with slots by position');
      present.push(positionPresent(this.shape.position!.layout, batch.positions.ranges, (r) => ++positions[r.group]!));
    }
    this.training.adamw.encode(pass, present);
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
  encodeTrainStep(enc: GPUCommandEncoder, data: RunData, batch: Batch): void {
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
  encodeTeacherTop(enc: GPUCommandEncoder, data: RunData, batch: Batch): void {
    invariant(this.calls.teacher, 'encodeTeacherTop needs a lens with a teacher (the KL loss)');
    const pass = enc.beginComputePass({ label: 'lens teacher argmax' });
    this.gatherInto(pass, data, batch);
    this.teacherLogits(pass, batch);
    this.calls.teacher.topk.encode(pass, batch);
    pass.end();
    this.tables.flush();
  }

  /** Forward pass, loss and top-k of one evaluation batch (no gradient, no update); submit it before the next. */
  encodeEvalStep(enc: GPUCommandEncoder, data: RunData, batch: Batch): void {
    const pass = enc.beginComputePass({ label: 'lens eval step' });
    this.gatherInto(pass, data, batch);
    this.forward(pass, batch);
    this.calls.topk.encode(pass, batch);
    pass.end();
    this.tables.flush();
  }

  /** The logits of one batch [rows, V] in slot order, computed and read back. */
  async logitsOf(data: RunData, batch: Batch): Promise<Float32Array> {
    return this.gpu.checked('lens logits', async () => {
      const enc = this.gpu.device.createCommandEncoder({ label: 'lens logits' });
      this.encodeEvalStep(enc, data, batch);
      await this.gpu.submitAndWait('lens logits', [enc.finish()]);
      return readF32(this.gpu, this.logits, batch.rows.length * this.head.V);
    });
  }

  private checkBatch(batch: Batch): void {
    const B = batch.rows.length;
    invariant(B > 0 && B <= this.shape.maxBatch, `batch of ${B} rows (this lens takes 1 to ${this.shape.maxBatch})`);
  }

  destroy(): void {
    this.owner.destroy();
  }
}
