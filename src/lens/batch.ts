// A batch as the grouped kernels want it: its samples reordered so that each group's samples
// are contiguous (a stable counting sort by group), the resulting group ranges and, for a
// position-specific unembedding, its slots ordered by position. Every lens call reads all it
// needs of a batch from the batch itself.
import { positionSlots, type Batch as KernelBatch, type GroupRange } from '../ops/groups.ts';
import { BugError } from '../shared/errors.ts';

export interface Batch extends KernelBatch {
  /** Dataset row of each slot, slots sorted by group; within a group, in the order given. */
  rows: Uint32Array;
  /** Group of each slot (ascending). */
  groups: Int32Array;
  /** The present groups and their slots. */
  ranges: GroupRange[];
}

/**
 * What a batch needs to know of each data row: its translator group (all ≥ 0 for rows that
 * are batched) and, with a position-specific unembedding, its position index.
 */
export interface RowIndex {
  group: Int32Array;
  position?: Int32Array;
}

/** Sorts the dataset rows `sampleRows` by their group into a Batch (with slots by position where the index has positions). */
export function makeBatch(sampleRows: ArrayLike<number>, index: RowIndex): Batch {
  const n = sampleRows.length;
  const byGroup = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const row = sampleRows[i]!;
    const g = index.group[row]!;
    if (!(g >= 0)) throw new BugError(`makeBatch: row ${row} has no group`);
    let list = byGroup.get(g);
    if (!list) byGroup.set(g, (list = []));
    list.push(row);
  }
  const rows = new Uint32Array(n);
  const groups = new Int32Array(n);
  const ranges: GroupRange[] = [];
  let at = 0;
  for (const g of [...byGroup.keys()].sort((a, b) => a - b)) {
    const list = byGroup.get(g)!;
    ranges.push({ group: g, first: at, count: list.length });
    for (const row of list) {
      rows[at] = row;
      groups[at++] = g;
    }
  }
  const position = index.position;
  return { rows, groups, ranges, positions: position && positionSlots(Int32Array.from(rows, (row) => position[row]!)) };
}

/** Dataset rows lo, lo + 1, …, hi − 1 (file order). */
export function rowRange(lo: number, hi: number): Uint32Array {
  return Uint32Array.from({ length: hi - lo }, (_, i) => lo + i);
}

/** Each row's index into `positions` (the position unembedding's block order), −1 where it has none. */
export function positionIndexOf(positions: readonly number[], rowPositions: Int32Array): Int32Array {
  const index = new Map(positions.map((p, q) => [p, q]));
  return Int32Array.from(rowPositions, (p) => index.get(p) ?? -1);
}
