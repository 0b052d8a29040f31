// A batch as the grouped kernels want it: its samples reordered so that each group's samples
// are contiguous (a stable counting sort by group), and the resulting group ranges.
import type { GroupRange } from '../ops/groups.ts';

export interface Batch {
  /** Dataset row of each slot, slots sorted by group; within a group, in the order given. */
  rows: Uint32Array;
  /** Group of each slot (ascending). */
  groups: Int32Array;
  /** The present groups and their slots. */
  ranges: GroupRange[];
}

/** Sorts the dataset rows `sampleRows` by their group (`groupOfRow`, all ≥ 0) into a Batch. */
export function makeBatch(sampleRows: ArrayLike<number>, groupOfRow: ArrayLike<number>): Batch {
  const n = sampleRows.length;
  const byGroup = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const row = sampleRows[i]!;
    const g = groupOfRow[row]!;
    if (!(g >= 0)) throw new Error(`makeBatch: row ${row} has no group`);
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
  return { rows, groups, ranges };
}

/** Dataset rows lo, lo + 1, …, hi − 1 (file order). */
export function rowRange(lo: number, hi: number): Uint32Array {
  return Uint32Array.from({ length: hi - lo }, (_, i) => lo + i);
}
