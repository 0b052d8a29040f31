// A batch's slot positions for tests of the position unembedding.
import * as assert from 'uvu/assert';

/**
 * The position of each of a batch's slots, `counts[q]` at position q (0: absent), interleaved
 * (slot i takes the (7·i mod B)-th of them in position order) so that the slot list by position
 * reorders the batch.
 */
export function interleavedPositions(counts: number[]): Int32Array {
  const queue = counts.flatMap((c, q) => Array<number>(c).fill(q));
  assert.ok(queue.length % 7 !== 0, `a batch of ${queue.length} slots: 7·i mod B is no permutation`);
  return Int32Array.from(queue.map((_, i) => queue[(i * 7) % queue.length]!));
}
