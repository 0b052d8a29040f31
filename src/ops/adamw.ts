// AdamW with PyTorch's semantics and clip_grad_norm_ over the groups present in a batch, for
// one or several parameter sets (translator blocks, position-unembedding blocks) whose
// gradients share one global norm, as clip_grad_norm_ over all of a model's parameters.
// The global norm is reduced on the GPU and the update reads its clip coefficient there, so a
// step encodes sumsq → clip → update with no readback. Step counts are kept per group on the
// host (each group's W and b are always updated together, so they share one count).
// A translator set may be fused: its gradient is never stored; its norm is the ghost norm from
// the batch's dy and x (translator_ghost_norm.wgsl), and its update rebuilds each gradient
// element (translator_sg.wgsl's gradient with ADAMW). A full position-unembedding set may be
// fused the same way, from the batch's dlogits and z (position_adamw.wgsl).
import { bindingWindows, createBuffer, windowBinding, type BufferLimits, type Split, type Window } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import { bindGroup, dispatch, pipeline } from '../gpu/pipelines.ts';
import type { Bound, Slot, StepTables } from '../gpu/stepTables.ts';
import { invariant } from '../shared/errors.ts';
import { ADAMW_CHUNK, POSITION_UPDATE_ROWS, TRANSLATOR_SUBGROUP_TILE } from './tiles.ts';
import { inGroupWindow, packRanges } from './groups.ts';

export interface AdamWConfig {
  lr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Max global gradient norm; 0 disables clipping. */
  maxNorm: number;
}

export const SEED_ADAMW: AdamWConfig = { lr: 1e-3, weightDecay: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxNorm: 1 };

/**
 * One present group and its step count after this step (1 on its first update); for a fused
 * translator set also its batch slots (first, count).
 */
export interface PresentGroup {
  group: number;
  step: number;
  first?: number;
  count?: number;
}

/**
 * Parameters in blocks of `stride` f32, one block per group (translators, positions, …).
 * `fusedTranslator`: translator blocks of width d whose gradient is rebuilt from dy and x.
 * `fusedPosition`: the full position unembedding's sub-blocks (group q · subBlocks + i, its
 * layout from positionLayout) whose gradient is rebuilt from dlogits and z.
 */
export interface ParamSet {
  stride: number;
  numGroups: number;
  /** Groups that share one buffer when the set lies in several (a position's sub-blocks); default 1. */
  unit?: number;
  fusedTranslator?: { d: number };
  fusedPosition?: { V: number; d: number; deltaOffset: number; subBlocks: number };
}

/**
 * A set's buffers: the stored gradient; for a fused translator set the batch's dy and x; for
 * a fused position set the batch's dlogits, z and its slot list by position (a step-tables slot).
 */
export type SetBuffers = { param: Split; m: Split; v: Split } & (
  | { grad: Split }
  | { dy: GPUBuffer; x: GPUBuffer }
  | { dlogits: GPUBuffer; z: GPUBuffer; slots: Slot }
);

/** Whether a set's gradient is rebuilt from the batch (fused): its present groups carry their slots. */
const isFused = (set: ParamSet) => Boolean(set.fusedTranslator ?? set.fusedPosition);

interface SetLayout extends ParamSet {
  chunks: number;
  windows: Window[];
}

/** A set's step-tables slots and, once sealed, its bind groups (one a window). */
interface SetSlots {
  present: Slot;
  ranges: Slot | undefined;
  sumsq: Slot[];
  update: Slot[];
  sumsqBindGroups: GPUBindGroup[];
  updateBindGroups: GPUBindGroup[];
}

/** A set's present groups in this step, sorted, and each window's index range over them. */
interface SetStep {
  set: SetLayout;
  at: SetSlots;
  sorted: PresentGroup[];
  slices: [number, number][];
}

export class AdamW {
  /** (norm, coef) of the last encoded step: read it back only when a caller wants the norm. */
  readonly clipState: GPUBuffer;
  private partial: GPUBuffer;
  private sets: SetLayout[];

  private constructor(
    private gpu: Gpu,
    sets: ParamSet[],
    readonly config: AdamWConfig,
    private sumsqPipe: GPUComputePipeline,
    private clipPipe: GPUComputePipeline,
    private updatePipe: GPUComputePipeline,
    private fusedPipes: { ghost: GPUComputePipeline; update: GPUComputePipeline } | undefined,
    /** `rows`: the update is update_rows (4 columns an invocation), else update (an element an invocation). */
    private positionPipes: { ghost: GPUComputePipeline; update: GPUComputePipeline; rows: boolean } | undefined,
    limits: BufferLimits,
  ) {
    const align = gpu.limits.minStorageBufferOffsetAlignment;
    this.sets = sets.map((set) => ({
      ...set,
      chunks: Math.ceil(set.stride / ADAMW_CHUNK),
      windows: bindingWindows(set.numGroups, set.stride * 4, limits.maxBinding, align, { maxBuffer: limits.maxBuffer, unit: set.unit }),
    }));
    this.clipState = createBuffer(gpu, 'adamw clip state', 8);
    this.partial = createBuffer(gpu, 'adamw norm partials', this.sets.reduce((n, set) => n + set.numGroups * set.chunks, 0) * 4);
  }

  /**
   * AdamW over parameter sets whose gradients are clipped by one global norm; each set in one
   * buffer or over bufferParts' buffers (`limits` override the device's, as tests do).
   */
  static async create(gpu: Gpu, sets: ParamSet[], config: AdamWConfig, limits: Partial<BufferLimits> = {}): Promise<AdamW> {
    const fused = sets.some((set) => set.fusedTranslator);
    if (fused) gpu.requireSubgroups('the fused translator update');
    const positions = sets.flatMap((set) => (set.fusedPosition ? [set.fusedPosition] : []));
    const position = positions.length > 0;
    // Rows of 4-column vectors where d allows it, else element by element.
    const rows = positions.every((f) => f.d % 4 === 0);
    const positionDefines = { CHUNK: ADAMW_CHUNK, ROWS: POSITION_UPDATE_ROWS };
    const [s, c, u, ghost, fusedUpdate, positionGhost, positionUpdate] = await Promise.all([
      pipeline(gpu, 'adamw', 'sumsq', { CHUNK: ADAMW_CHUNK, SUMSQ: true, CLIP: false, UPDATE: false }),
      pipeline(gpu, 'adamw', 'clip', { CHUNK: ADAMW_CHUNK, SUMSQ: false, CLIP: true, UPDATE: false }),
      pipeline(gpu, 'adamw', 'update', { CHUNK: ADAMW_CHUNK, SUMSQ: false, CLIP: false, UPDATE: true }),
      fused ? pipeline(gpu, 'translator_ghost_norm', 'ghost_norm') : undefined,
      fused ? pipeline(gpu, 'translator_sg', 'gradient', { ...TRANSLATOR_SUBGROUP_TILE, LANES: gpu.subgroupLanes, FORWARD: false, ADAMW: true }) : undefined,
      position ? pipeline(gpu, 'position_adamw', 'ghost_norm', { ...positionDefines, GHOST: true, VEC4: false }) : undefined,
      position ? pipeline(gpu, 'position_adamw', rows ? 'update_rows' : 'update', { ...positionDefines, GHOST: false, VEC4: rows }) : undefined,
    ]);
    const pair = (g?: GPUComputePipeline, up?: GPUComputePipeline) => (g && up ? { ghost: g, update: up } : undefined);
    const positionPipes = positionGhost && positionUpdate ? { ghost: positionGhost, update: positionUpdate, rows } : undefined;
    return new AdamW(gpu, sets, config, s, c, u, pair(ghost, fusedUpdate), positionPipes, gpu.bufferLimits(limits));
  }

  /**
   * Clip + AdamW bound to each set's buffers (bufs[i] for set i): each set's present-group
   * table and every window's params live in step-tables slots, the bind groups are made once.
   * Its input is each set's present groups with their step counts (present[i] for set i): one
   * global norm over all of them, then the updates.
   */
  bind(tables: StepTables, bufs: SetBuffers[]): Bound<PresentGroup[][]> {
    invariant(bufs.length === this.sets.length, `adamw: ${bufs.length} parameter sets given, ${this.sets.length} expected`);
    this.sets.forEach((set, k) => {
      invariant(Boolean(set.fusedTranslator) === 'dy' in bufs[k]!, `adamw: set ${k} ${set.fusedTranslator ? 'is fused: give it dy and x' : 'takes no dy and x'}`);
      invariant(Boolean(set.fusedPosition) === 'dlogits' in bufs[k]!, `adamw: set ${k} ${set.fusedPosition ? 'is fused: give it dlogits, z and slots' : 'takes no dlogits'}`);
    });
    const at: SetSlots[] = this.sets.map((set) => ({
      present: tables.reserve(set.numGroups * 16),
      ranges: isFused(set) ? tables.reserve(set.numGroups * 16) : undefined,
      sumsq: set.windows.map(() => tables.reserve(48)),
      update: set.windows.map(() => tables.reserve(64)),
      sumsqBindGroups: [],
      updateBindGroups: [],
    }));
    const clipSlot = tables.reserve(16);
    let clip: GPUBindGroup;
    tables.whenSealed(() => {
      this.sets.forEach((set, k) => this.bindSet(tables, set, bufs[k]!, at[k]!));
      clip = bindGroup(this.gpu, this.clipPipe, [tables.binding(clipSlot), this.partial, this.clipState]);
    });
    return {
      encode: (pass, present) => {
        invariant(present.length === this.sets.length, `adamw: ${present.length} parameter sets given, ${this.sets.length} expected`);
        if (present.every((p) => p.length === 0)) return;
        const steps = this.sets.map((set, k) => this.writePresent(tables, set, at[k]!, present[k]!));
        const partials = this.encodeNorms(pass, tables, steps);
        tables.writeParams(clipSlot, this.clipPipe, { count: partials, maxNorm: this.config.maxNorm });
        dispatch(this.gpu, pass, this.clipPipe, clip, 1);
        this.encodeUpdates(pass, tables, steps);
      },
    };
  }

  /** A set's bind groups, window by window: its norm's partial sums and its update. */
  private bindSet(tables: StepTables, set: SetLayout, buf: SetBuffers, at: SetSlots): void {
    const present = tables.binding(at.present);
    if (!('grad' in buf)) {
      // A fused set: the ghost norm and the update read the batch's inputs after the present-group ranges.
      const [inputs, { ghost, update }] = 'dy' in buf ? [[buf.dy, buf.x], this.fusedPipes!] : [[tables.binding(buf.slots), buf.dlogits, buf.z], this.positionPipes!];
      const ranges = tables.binding(at.ranges!);
      at.sumsqBindGroups = set.windows.map((_, i) => bindGroup(this.gpu, ghost, [tables.binding(at.sumsq[i]!), ranges, ...inputs, this.partial]));
      at.updateBindGroups = set.windows.map((w, i) =>
        bindGroup(this.gpu, update, [tables.binding(at.update[i]!), ranges, ...inputs, present, this.clipState, windowBinding(buf.param, w), windowBinding(buf.m, w), windowBinding(buf.v, w)]),
      );
      return;
    }
    at.sumsqBindGroups = set.windows.map((w, i) => bindGroup(this.gpu, this.sumsqPipe, [tables.binding(at.sumsq[i]!), windowBinding(buf.grad, w), present, this.partial]));
    at.updateBindGroups = set.windows.map((w, i) =>
      bindGroup(this.gpu, this.updatePipe, [tables.binding(at.update[i]!), windowBinding(buf.grad, w), present, this.clipState, windowBinding(buf.param, w), windowBinding(buf.m, w), windowBinding(buf.v, w)]),
    );
  }

  /** Writes a set's present groups (sorted, with their bias corrections) and, fused, their slots. */
  private writePresent(tables: StepTables, set: SetLayout, at: SetSlots, present: PresentGroup[]): SetStep {
    const { lr, beta1, beta2 } = this.config;
    const sorted = [...present].sort((a, b) => a.group - b.group);
    // Per group, as torch.optim.AdamW computes them in Python floats.
    const table = new ArrayBuffer(sorted.length * 16);
    const view = new DataView(table);
    sorted.forEach((p, i) => {
      view.setUint32(i * 16, p.group, true);
      view.setFloat32(i * 16 + 4, lr / (1 - beta1 ** p.step), true);
      view.setFloat32(i * 16 + 8, Math.sqrt(1 - beta2 ** p.step), true);
    });
    tables.write(at.present, table);
    if (isFused(set)) {
      tables.write(at.ranges!, packRanges(sorted.map((p) => {
        invariant(p.first !== undefined && p.count !== undefined, `adamw: present group ${p.group} of a fused set has no slots`);
        return { group: p.group, first: p.first, count: p.count };
      })));
    }
    return { set, at, sorted, slices: set.windows.map((w) => inGroupWindow(sorted, w.first, w.first + w.count)) };
  }

  /**
   * Each set's partial sums of squares (a present group's ghost norm, or its chunks' sums),
   * following the previous set's, so the clip sums one contiguous run of exactly this step's
   * partials; returns their count.
   */
  private encodeNorms(pass: GPUComputePassEncoder, tables: StepTables, steps: SetStep[]): number {
    let partials = 0;
    for (const { set, at, sorted, slices } of steps) {
      set.windows.forEach((w, i) => {
        const [lo, hi] = slices[i]!;
        if (hi <= lo) return;
        if (set.fusedTranslator) {
          const ghost = this.fusedPipes!.ghost;
          tables.writeParams(at.sumsq[i]!, ghost, { d: set.fusedTranslator.d, rangeBase: lo, partialBase: partials + lo });
          dispatch(this.gpu, pass, ghost, at.sumsqBindGroups[i]!, hi - lo);
          return;
        }
        if (set.fusedPosition) {
          const ghost = this.positionPipes!.ghost;
          const { V, d, subBlocks } = set.fusedPosition;
          tables.writeParams(at.sumsq[i]!, ghost, { V, d, subBlocks, rangeBase: lo, partialBase: partials + lo });
          dispatch(this.gpu, pass, ghost, at.sumsqBindGroups[i]!, hi - lo);
          return;
        }
        tables.writeParams(at.sumsq[i]!, this.sumsqPipe, { groupStride: set.stride, groupBase: w.first, rangeBase: lo, chunks: set.chunks, partialBase: partials });
        dispatch(this.gpu, pass, this.sumsqPipe, at.sumsqBindGroups[i]!, set.chunks, hi - lo);
      });
      partials += sorted.length * (isFused(set) ? 1 : set.chunks);
    }
    return partials;
  }

  /** Each set's clipped AdamW update (fused: each gradient element rebuilt from dy and x). */
  private encodeUpdates(pass: GPUComputePassEncoder, tables: StepTables, steps: SetStep[]): void {
    const { lr, weightDecay, beta1, beta2, eps } = this.config;
    const moments = { decay: 1 - lr * weightDecay, beta1, oneMinusBeta1: 1 - beta1, beta2, oneMinusBeta2: 1 - beta2, eps };
    for (const { set, at, slices } of steps) {
      set.windows.forEach((w, i) => {
        const [lo, hi] = slices[i]!;
        if (hi <= lo) return;
        if (set.fusedTranslator) {
          const { d } = set.fusedTranslator;
          const fused = this.fusedPipes!.update;
          tables.writeParams(at.update[i]!, fused, { d, groupStride: set.stride, groupBase: w.first, rangeBase: lo, ...moments });
          dispatch(this.gpu, pass, fused, at.updateBindGroups[i]!, Math.ceil(d / TRANSLATOR_SUBGROUP_TILE.WG), Math.ceil(d / TRANSLATOR_SUBGROUP_TILE.ROWS), hi - lo);
          return;
        }
        if (set.fusedPosition) {
          const { update, rows } = this.positionPipes!;
          const bands = positionBands(set.fusedPosition, set.stride);
          tables.writeParams(at.update[i]!, update, { ...set.fusedPosition, subStride: set.stride, groupBase: w.first, rangeBase: lo, bands, ...moments });
          // update_rows: 256 invocations of 4 columns a workgroup across d.
          if (rows) dispatch(this.gpu, pass, update, at.updateBindGroups[i]!, bands + 1, hi - lo, Math.ceil(set.fusedPosition.d / (256 * 4)));
          else dispatch(this.gpu, pass, update, at.updateBindGroups[i]!, set.chunks, hi - lo);
          return;
        }
        tables.writeParams(at.update[i]!, this.updatePipe, { groupStride: set.stride, groupBase: w.first, rangeBase: lo, ...moments });
        dispatch(this.gpu, pass, this.updatePipe, at.updateBindGroups[i]!, set.chunks, hi - lo);
      });
    }
  }

  destroy(): void {
    this.clipState.destroy();
    this.partial.destroy();
  }
}

/** update_rows' bands of POSITION_UPDATE_ROWS rows of ΔU_q: enough for the most rows a sub-block of `subStride` meets. */
function positionBands({ V, d }: { V: number; d: number }, subStride: number): number {
  return Math.ceil(Math.min(V, Math.ceil(subStride / d) + 1) / POSITION_UPDATE_ROWS);
}

// ---- Plain TypeScript reference: clip_grad_norm_ then torch.optim.AdamW, in float32 steps ----

export function adamwRef(
  state: { param: Float32Array; grad: Float32Array; m: Float32Array; v: Float32Array },
  stride: number,
  present: PresentGroup[],
  c: AdamWConfig,
): { norm: number } {
  const f = Math.fround;
  let sq = 0;
  for (const p of present) for (let i = 0; i < stride; i++) sq += state.grad[p.group * stride + i]! ** 2;
  const norm = f(Math.sqrt(sq));
  const coef = c.maxNorm > 0 ? Math.min(f(c.maxNorm / f(norm + 1e-6)), 1) : 1;
  for (const p of present) {
    const stepSize = f(c.lr / (1 - c.beta1 ** p.step));
    const bc2 = f(Math.sqrt(1 - c.beta2 ** p.step));
    for (let i = p.group * stride; i < (p.group + 1) * stride; i++) {
      const g = f(state.grad[i]! * coef);
      const m = f(f(state.m[i]! * f(c.beta1)) + f(f(1 - c.beta1) * g));
      const v = f(f(state.v[i]! * f(c.beta2)) + f(f(f(1 - c.beta2) * g) * g));
      state.m[i] = m;
      state.v[i] = v;
      const denom = f(f(Math.sqrt(v) / bc2) + f(c.eps));
      state.param[i] = f(f(state.param[i]! * f(1 - c.lr * c.weightDecay)) - f(stepSize * f(m / denom)));
    }
  }
  return { norm };
}
