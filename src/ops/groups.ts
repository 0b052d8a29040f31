// Batch bookkeeping shared by the grouped kernels: a batch's slots are sorted by group, and a
// present group is one contiguous range of slots; with a position-specific unembedding the
// batch also lists its slots by position. Also the parameter block layout.
import { BugError } from '../shared/errors.ts';

/** Slots [first, first + count) of the batch belong to `group`. */
export interface GroupRange {
  group: number;
  first: number;
  count: number;
}

/**
 * A batch as every bound kernel call reads it (lens/batch.ts makes one): the data row of each
 * slot (slots sorted by group), each present group's range of slots, and, for the position
 * unembedding, the slots ordered by position.
 */
export interface Batch {
  rows: Uint32Array;
  ranges: GroupRange[];
  positions?: PositionBatch;
}

/** A batch's slots ordered by position and each present position's range over them. */
export interface PositionBatch {
  slots: Uint32Array;
  ranges: GroupRange[];
}

/** The slots of a batch ordered by position (each slot's position index given), and each present position's range. */
export function positionSlots(slotPosition: Int32Array): PositionBatch {
  const order = Array.from(slotPosition.keys()).sort((a, b) => slotPosition[a]! - slotPosition[b]! || a - b);
  const ranges: GroupRange[] = [];
  order.forEach((slot, i) => {
    const q = slotPosition[slot]!;
    const last = ranges[ranges.length - 1];
    if (last && last.group === q) last.count++;
    else ranges.push({ group: q, first: i, count: 1 });
  });
  return { slots: Uint32Array.from(order), ranges };
}

/** f32 elements per group parameter block: W [d, d], b [d], padded to 64 (256-byte aligned). */
export function blockStride(d: number): number {
  return Math.ceil((d * d + d) / 64) * 64;
}

/** nn.Linear weights W [G, d, d] and biases b [G, d] laid out as G parameter blocks. */
export function packBlocks(W: Float32Array, b: Float32Array, G: number, d: number): Float32Array {
  const stride = blockStride(d);
  const out = new Float32Array(G * stride);
  for (let g = 0; g < G; g++) {
    out.set(W.subarray(g * d * d, (g + 1) * d * d), g * stride);
    out.set(b.subarray(g * d, (g + 1) * d), g * stride + d * d);
  }
  return out;
}

/** The inverse of packBlocks: W [G, d, d] and b [G, d] from G parameter blocks. */
export function unpackBlocks(blocks: Float32Array, G: number, d: number): { W: Float32Array; b: Float32Array } {
  const stride = blockStride(d);
  const W = new Float32Array(G * d * d);
  const b = new Float32Array(G * d);
  for (let g = 0; g < G; g++) {
    W.set(blocks.subarray(g * stride, g * stride + d * d), g * d * d);
    b.set(blocks.subarray(g * stride + d * d, g * stride + d * d + d), g * d);
  }
  return { W, b };
}

/** The ranges of equal, ascending group ids in `groupOfSlot` (which must be sorted). */
export function groupRanges(groupOfSlot: ArrayLike<number>): GroupRange[] {
  const ranges: GroupRange[] = [];
  for (let s = 0; s < groupOfSlot.length; s++) {
    const g = groupOfSlot[s]!;
    const last = ranges[ranges.length - 1];
    if (last && last.group === g) last.count++;
    else {
      if (last && g < last.group) throw new BugError('groupRanges: slots are not sorted by group');
      ranges.push({ group: g, first: s, count: 1 });
    }
  }
  return ranges;
}

/** Ranges cut into tiles of at most `size` slots (a tile never spans two groups). */
export function tiles(ranges: GroupRange[], size: number): GroupRange[] {
  const out: GroupRange[] = [];
  for (const r of ranges) {
    for (let at = 0; at < r.count; at += size) {
      out.push({ group: r.group, first: r.first + at, count: Math.min(size, r.count - at) });
    }
  }
  return out;
}

/** Packs ranges as the kernels' `vec4<u32>` records (group, first, count, 0). */
export function packRanges(ranges: GroupRange[]): Uint32Array {
  const out = new Uint32Array(Math.max(1, ranges.length) * 4);
  ranges.forEach((r, i) => out.set([r.group, r.first, r.count, 0], i * 4));
  return out;
}

/** The index range [lo, hi) of `items` (sorted by group) whose group lies in [g0, g1). */
export function inGroupWindow<T extends { group: number }>(items: T[], g0: number, g1: number): [number, number] {
  let lo = 0;
  while (lo < items.length && items[lo]!.group < g0) lo++;
  let hi = lo;
  while (hi < items.length && items[hi]!.group < g1) hi++;
  return [lo, hi];
}
