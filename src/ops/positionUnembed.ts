// The position-specific unembedding: logits = (U + ΔU_p) z + c_p for a slot at position p
// (`bias`: c_p only; `full`: ΔU_p too), its gradients dc_p and dΔU_p, and its share of dz.
// Parameters are one block per position: c_p [V] first (padded to 64), then ΔU_p [V, d] in
// the full mode, then padding so that a block splits into `subBlocks` equal pieces that each
// fit one storage binding (AdamW updates the pieces as separate groups). The blocks lie in one
// buffer or over several, whole positions in each (positionParts). Each kernel binds one
// position's c_p, or a window of ΔU_p's rows, never the whole set.
import { bindingWindows, bufferParts, partsOf, type BufferLimits, type Part, type Split, type Window } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import type { ParamSet, PresentGroup } from './adamw.ts';
import { bindGroup, dispatch, pipeline } from '../gpu/pipelines.ts';
import type { Bound, Slot, StepTables } from '../gpu/stepTables.ts';
import type { PositionUnembedMode } from '../shared/constants.ts';
import { invariant } from '../shared/errors.ts';

export type { PositionUnembedMode };
import { POSITION_SG_SLOTS, POSITION_TILE, UNEMBED_SUBGROUP_TILE } from './tiles.ts';
import type { Batch, GroupRange, PositionBatch } from './groups.ts';


export interface PositionLayout {
  mode: PositionUnembedMode;
  V: number;
  d: number;
  /** Where ΔU_p starts in a block (c_p [V] padded to 64 before it). */
  deltaOffset: number;
  /** f32 per position block. */
  stride: number;
  /** A block is `subBlocks` pieces of `subStride` f32, each within one binding. */
  subBlocks: number;
  subStride: number;
}

const pad64 = (n: number) => Math.ceil(n / 64) * 64;

/** The block layout of a position-specific unembedding on a device binding `maxBinding` bytes. */
export function positionLayout(mode: PositionUnembedMode, V: number, d: number, maxBinding = Infinity): PositionLayout {
  const deltaOffset = pad64(V);
  const raw = deltaOffset + (mode === 'full' ? V * d : 0);
  const subBlocks = Math.max(1, Math.ceil((raw * 4) / maxBinding));
  const subStride = pad64(Math.ceil(raw / subBlocks));
  return { mode, V, d, deltaOffset, stride: subStride * subBlocks, subBlocks, subStride };
}

/**
 * AdamW's parameter set of `positions` blocks of `layout`: each sub-block a group, a position's
 * sub-blocks in one buffer; `fused`: the full mode's gradient rebuilt from dlogits and z.
 */
export function positionParamSet(layout: PositionLayout, positions: number, fused: boolean): ParamSet {
  const { V, d, deltaOffset, subBlocks, subStride } = layout;
  return { stride: subStride, numGroups: positions * subBlocks, unit: subBlocks, fusedPosition: fused ? { V, d, deltaOffset, subBlocks } : undefined };
}

/**
 * AdamW's present groups of a batch's positions (`ranges`, from its slot list): every
 * sub-block of each present position, with the position's slots and the step count `step`
 * gives it (called once a position).
 */
export function positionPresent(layout: PositionLayout, ranges: GroupRange[], step: (r: GroupRange, i: number) => number): PresentGroup[] {
  const S = layout.subBlocks;
  return ranges.flatMap((r, i) => {
    const t = step(r, i);
    return Array.from({ length: S }, (_, k) => ({ group: r.group * S + k, step: t, first: r.first, count: r.count }));
  });
}

/** The buffers of `positions` blocks of `layout`: whole positions (all their sub-blocks) in each, sub-blocks as rows. */
export function positionParts(layout: PositionLayout, positions: number, maxBuffer: number): Part[] {
  return bufferParts(positions * layout.subBlocks, layout.subStride * 4, maxBuffer, layout.subBlocks);
}

/** The kernels; ΔU_q's products one pipeline a slot width (the tiled design: one). */
type Pipes = Record<'add' | 'biasGrad' | 'deltaGrad', GPUComputePipeline> & Record<'deltaLogits' | 'deltaDz', GPUComputePipeline[]>;

/**
 * ΔU_q z and dlogits ΔU_q: `tiled` (workgroup tiles, as matmul_nt) or `subgroup` (a row or
 * column of ΔU_q an invocation, the shared operand handed between lanes, as the subgroup
 * unembedding). The lens runs the design its unembedding runs.
 */
export type PositionVariant = 'subgroup' | 'tiled';

export class PositionUnembed {
  /** Windows over ΔU_p's V rows (relative to the delta start), each within one binding. */
  readonly deltaWindows: Window[];
  /** The buffers the blocks lie in (positionParts). */
  readonly parts: Part[];

  private constructor(
    private gpu: Gpu,
    readonly layout: PositionLayout,
    /** Positions (blocks) in the parameter set. */
    readonly positions: number,
    private pipes: Pipes,
    limits: BufferLimits,
    readonly variant: PositionVariant,
  ) {
    this.deltaWindows = layout.mode === 'full' ? bindingWindows(layout.V, layout.d * 4, limits.maxBinding, gpu.limits.minStorageBufferOffsetAlignment) : [];
    this.parts = positionParts(layout, positions, limits.maxBuffer);
  }

  /** `limits` override the device's (tests use them to force windows and parts). */
  static async create(gpu: Gpu, mode: PositionUnembedMode, V: number, d: number, positions: number, limits: Partial<BufferLimits> = {}, variant: PositionVariant = 'tiled'): Promise<PositionUnembed> {
    if (variant === 'subgroup') gpu.requireSubgroups('the subgroup position unembedding');
    const flags = { ADD: false, BIAS_GRAD: false, DELTA_LOGITS: false, DELTA_DZ: false };
    const subgroups = variant === 'subgroup';
    const make = (entry: string, flag?: keyof typeof flags, width: number = UNEMBED_SUBGROUP_TILE.SLOTS) =>
      pipeline(gpu, 'position_unembed', entry, {
        ...POSITION_TILE, SG_SLOTS: width, WG: UNEMBED_SUBGROUP_TILE.WG, LANES: gpu.subgroupLanes, ...flags, ...(flag ? { [flag]: true } : {}),
        SUBGROUPS: subgroups && flag?.startsWith('DELTA') === true,
      });
    const widths = subgroups ? POSITION_SG_SLOTS : [UNEMBED_SUBGROUP_TILE.SLOTS];
    const [add, biasGrad, deltaGrad, deltaLogits, deltaDz] = await Promise.all([
      make('add_bias', 'ADD'),
      make('bias_grad', 'BIAS_GRAD'),
      make('delta_grad'),
      Promise.all(widths.map((w) => make('delta_logits', 'DELTA_LOGITS', w))),
      Promise.all(widths.map((w) => make('delta_dz', 'DELTA_DZ', w))),
    ]);
    const lim = gpu.bufferLimits(limits);
    return new PositionUnembed(gpu, positionLayout(mode, V, d, lim.maxBinding), positions, { add, biasGrad, deltaLogits, deltaDz, deltaGrad }, lim, variant);
  }

  /** The pipeline of ΔU_q's products for a position of `count` slots: the narrowest slot width that holds them. */
  private width(count: number): number {
    const i = POSITION_SG_SLOTS.findIndex((w) => w >= count);
    return this.variant === 'tiled' ? 0 : i < 0 ? POSITION_SG_SLOTS.length - 1 : i;
  }

  get stride(): number {
    return this.layout.stride;
  }

  /** Position q's buffer among the parts and the byte offset of its block in it. */
  private block(buf: Split, q: number): { buffer: GPUBuffer; offset: number } {
    const S = this.layout.subBlocks;
    const i = this.parts.findIndex((p) => q * S < p.first + p.count);
    return { buffer: partsOf(buf)[i]!, offset: (q - this.parts[i]!.first / S) * this.layout.stride * 4 };
  }

  private bias(buf: Split, q: number): GPUBufferBinding {
    return { ...this.block(buf, q), size: this.layout.V * 4 };
  }

  private delta(buf: Split, q: number, w: Window): GPUBufferBinding {
    const { buffer, offset } = this.block(buf, q);
    return { buffer, offset: offset + this.layout.deltaOffset * 4 + w.byteOffset, size: w.byteLength };
  }

  /**
   * Step-tables slots for a batch of up to `maxRows` slots: the slot list, and per position
   * the params of its bias kernels and of each ΔU_p window (the kernels share one struct).
   */
  private batchSlots(tables: StepTables, maxRows: number) {
    const slots = tables.reserve(maxRows * 4);
    const bias = Array.from({ length: this.positions }, () => tables.reserve(32));
    const delta = Array.from({ length: this.positions }, () => this.deltaWindows.map(() => tables.reserve(32)));
    const { V, d } = this.layout;
    return {
      slots,
      bias,
      delta,
      /** Writes a batch's slot list and its present positions' params; the batch's positions. */
      write: (batch: Batch): PositionBatch => {
        const at = batch.positions;
        invariant(at, 'position unembedding: the batch has no slots by position');
        invariant(at.slots.length <= maxRows, `position unembedding: ${at.slots.length} slots, bound for ${maxRows}`);
        tables.write(slots, at.slots);
        for (const r of at.ranges) {
          invariant(r.group < this.positions, `position unembedding: position index ${r.group}, bound for ${this.positions}`);
          const range = { V, d, first: r.first, count: r.count };
          tables.writeParams(bias[r.group]!, this.pipes.add, { ...range, vBase: 0, vCount: V });
          this.deltaWindows.forEach((w, i) => tables.writeParams(delta[r.group]![i]!, this.pipes.add, { ...range, vBase: w.first, vCount: w.count }));
        }
        return at;
      },
    };
  }

  /** logits [rows, V] += ΔU_p z (full) + c_p for the slots of each present position, bound once. */
  bindForward(tables: StepTables, buf: PositionForwardBuffers, maxRows: number): Bound<Batch> {
    const at = this.batchSlots(tables, maxRows);
    const add: GPUBindGroup[] = [];
    const deltaLogits: GPUBindGroup[][][] = []; // [position][slot width][window]
    tables.whenSealed(() => {
      for (let q = 0; q < this.positions; q++) {
        add[q] = bindGroup(this.gpu, this.pipes.add, [tables.binding(at.bias[q]!), tables.binding(at.slots), this.bias(buf.params, q), buf.logits]);
        deltaLogits[q] = this.pipes.deltaLogits.map((pipe) =>
          this.deltaWindows.map((w, i) => bindGroup(this.gpu, pipe, [tables.binding(at.delta[q]![i]!), tables.binding(at.slots), buf.z, this.delta(buf.params, q, w), buf.logits])),
        );
      }
    });
    return {
      encode: (pass, batch) => {
        for (const r of at.write(batch).ranges) {
          dispatch(this.gpu, pass, this.pipes.add, add[r.group]!, Math.ceil(this.layout.V / 256), r.count);
          const k = this.width(r.count);
          const [pipe, groups] = [this.pipes.deltaLogits[k]!, deltaLogits[r.group]![k]!];
          this.deltaWindows.forEach((w, i) => {
            if (this.variant === 'subgroup') dispatch(this.gpu, pass, pipe, groups[i]!, Math.ceil(w.count / UNEMBED_SUBGROUP_TILE.WG));
            else dispatch(this.gpu, pass, pipe, groups[i]!, Math.ceil(r.count / POSITION_TILE.SLOTS), Math.ceil(w.count / POSITION_TILE.COLS));
          });
        }
      },
    };
  }

  /**
   * The present positions' gradient blocks ← (dc_p, dΔU_p) (others are left as they are),
   * and in the full mode dz [rows, d] += ΔU_pᵀ dlogits (dz must hold U's part already); bound once.
   * Without `grad` (the full mode's fused update) only dz: AdamW rebuilds the gradient from
   * dlogits, z and the slot list by position, which `slots` names for it.
   */
  bindBackward(tables: StepTables, buf: PositionBackwardBuffers, maxRows: number): Bound<Batch> & { slots: Slot } {
    invariant(buf.grad || this.layout.mode === 'full', 'position unembedding: the bias mode stores its gradient');
    const at = this.batchSlots(tables, maxRows);
    const grad = buf.grad;
    const biasGrad: GPUBindGroup[] = [];
    const deltaDz: GPUBindGroup[][][] = []; // [position][slot width][window]
    const deltaGrad: GPUBindGroup[][] = [];
    tables.whenSealed(() => {
      for (let q = 0; q < this.positions; q++) {
        deltaDz[q] = this.pipes.deltaDz.map((pipe) =>
          this.deltaWindows.map((w, i) => bindGroup(this.gpu, pipe, [tables.binding(at.delta[q]![i]!), tables.binding(at.slots), buf.dlogits, this.delta(buf.params, q, w), buf.dz])),
        );
        if (!grad) continue;
        biasGrad[q] = bindGroup(this.gpu, this.pipes.biasGrad, [tables.binding(at.bias[q]!), tables.binding(at.slots), buf.dlogits, this.bias(grad, q)]);
        deltaGrad[q] = this.deltaWindows.map((w, i) =>
          bindGroup(this.gpu, this.pipes.deltaGrad, [tables.binding(at.delta[q]![i]!), tables.binding(at.slots), buf.dlogits, buf.z, this.delta(grad, q, w)]),
        );
      }
    });
    const { V, d } = this.layout;
    return {
      slots: at.slots,
      encode: (pass, batch) => {
        for (const r of at.write(batch).ranges) {
          if (grad) dispatch(this.gpu, pass, this.pipes.biasGrad, biasGrad[r.group]!, Math.ceil(V / 256));
          const k = this.width(r.count);
          const [pipe, groups] = [this.pipes.deltaDz[k]!, deltaDz[r.group]![k]!];
          this.deltaWindows.forEach((w, i) => {
            if (this.variant === 'subgroup') dispatch(this.gpu, pass, pipe, groups[i]!, Math.ceil(d / UNEMBED_SUBGROUP_TILE.WG));
            else dispatch(this.gpu, pass, pipe, groups[i]!, Math.ceil(r.count / POSITION_TILE.SLOTS), Math.ceil(d / POSITION_TILE.COLS));
            if (grad) dispatch(this.gpu, pass, this.pipes.deltaGrad, deltaGrad[r.group]![i]!, Math.ceil(d / POSITION_TILE.COLS), Math.ceil(w.count / POSITION_TILE.COLS));
          });
        }
      },
    };
  }
}

/** params: the positions' blocks (one buffer, or positionParts' buffers); z [rows, d]; logits [rows, V]. */
export interface PositionForwardBuffers {
  params: Split;
  z: GPUBuffer;
  logits: GPUBuffer;
}

/** params, grad: the positions' blocks (no grad: the fused update); z, dz [rows, d]; dlogits [rows, V]. */
export interface PositionBackwardBuffers {
  params: Split;
  grad?: Split;
  z: GPUBuffer;
  dlogits: GPUBuffer;
  dz: GPUBuffer;
}

/** A position-specific unembedding as dense tensors: c [positions, V], ΔU [positions, V, d]. */
export interface PositionParams {
  mode: PositionUnembedMode;
  V: number;
  /** The position ids, in block order. */
  positions: number[];
  c: Float32Array;
  delta?: Float32Array;
}

/** Dense c and ΔU into blocks of `layout` (padding zero). */
export function packPositionBlocks(pp: PositionParams, layout: PositionLayout): Float32Array {
  const { V, d, stride, deltaOffset } = layout;
  const out = new Float32Array(pp.positions.length * stride);
  pp.positions.forEach((_, q) => {
    out.set(pp.c.subarray(q * V, (q + 1) * V), q * stride);
    if (pp.delta) out.set(pp.delta.subarray(q * V * d, (q + 1) * V * d), q * stride + deltaOffset);
  });
  return out;
}

/** Blocks of `layout` back into dense c and ΔU. */
export function unpackPositionBlocks(blocks: Float32Array, layout: PositionLayout, positions: number[]): PositionParams {
  const { V, d, stride, deltaOffset, mode } = layout;
  const c = new Float32Array(positions.length * V);
  const delta = mode === 'full' ? new Float32Array(positions.length * V * d) : undefined;
  positions.forEach((_, q) => {
    c.set(blocks.subarray(q * stride, q * stride + V), q * V);
    delta?.set(blocks.subarray(q * stride + deltaOffset, q * stride + deltaOffset + V * d), q * V * d);
  });
  return { mode, V, positions, c, delta };
}

// ---- Plain TypeScript references (float64 accumulation) ----

/** logits + c_p (+ ΔU_p z in the full mode); c [positions, V], delta [positions, V, d]. */
export function positionForwardRef(
  logits: Float32Array,
  z: Float32Array,
  slotPosition: Int32Array,
  V: number,
  d: number,
  c: Float32Array,
  delta?: Float32Array,
): Float32Array {
  const out = new Float32Array(logits.length);
  slotPosition.forEach((q, s) => {
    for (let v = 0; v < V; v++) {
      let acc = 0;
      if (delta) for (let k = 0; k < d; k++) acc += delta[(q * V + v) * d + k]! * z[s * d + k]!;
      out[s * V + v] = logits[s * V + v]! + acc + c[q * V + v]!;
    }
  });
  return out;
}

/** dc [positions, V], dΔU [positions, V, d] and ΔU_pᵀ dlogits [rows, d] (float64). */
export function positionBackwardRef(dlogits: Float32Array, z: Float32Array, slotPosition: Int32Array, positions: number, V: number, d: number, delta?: Float32Array) {
  const dc = new Float64Array(positions * V);
  const dDelta = new Float64Array(delta ? positions * V * d : 0);
  const dz = new Float64Array(slotPosition.length * d);
  slotPosition.forEach((q, s) => {
    for (let v = 0; v < V; v++) {
      const g = dlogits[s * V + v]!;
      dc[q * V + v] += g;
      if (!delta) continue;
      for (let k = 0; k < d; k++) {
        dDelta[(q * V + v) * d + k] += g * z[s * d + k]!;
        dz[s * d + k] += g * delta[(q * V + v) * d + k]!;
      }
    }
  });
  return { dc, dDelta, dz };
}
