// Targets from chains of thought (no GPU): the contract's chunk rule, first and all, empty
// chunks left out, and what `--targets` keeps of a data set's own targets.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { assignTargets, chunkBounds, chunkStats, parseAssignment, prepareTargets } from '../../src/data/assign.ts';
import type { Dataset } from '../../src/data/dataset.ts';

const test = suite('assign');

test('chunk bounds: b_p = floor(T · Σ_{q<p} w_q + 0.5), b_0 = 0, b_P = T', () => {
  assert.equal(chunkBounds(12, [1, 1, 1, 1, 1, 1]), [0, 2, 4, 6, 8, 10, 12]);
  assert.equal(chunkBounds(5, [1, 1, 1, 1, 1, 1]), [0, 1, 2, 3, 3, 4, 5]); // 5/6·k + 0.5, floored
  assert.equal(chunkBounds(10, [1, 1, 2, 2, 1, 1]), [0, 1, 3, 5, 8, 9, 10]);
  assert.equal(chunkBounds(7, [0, 1, 2, 2, 1, 0]), [0, 0, 1, 4, 6, 7, 7]); // 7 · (1/6 + 2/6) + 0.5 = 4 exactly
  assert.equal(chunkBounds(0, [1, 1, 1]), [0, 0, 0, 0]);
});

/** Two problems (ids 10, 11) × 3 positions; problem 10 has 7 tokens, problem 11 has 2. */
function tiny(): Dataset {
  const example = Int32Array.from([10, 10, 10, 11, 11, 11]);
  return {
    source: 'tiny',
    count: 6,
    d: 2,
    hidden: Float32Array.from({ length: 12 }, (_, i) => i),
    layer: new Int32Array(6),
    position: Int32Array.from([0, 1, 2, 0, 1, 2]),
    target: Int32Array.from([9, 9, 9, 9, 9, 9]),
    example,
    cot: { T: 8, tokens: Int32Array.from([100, 101, 102, 103, 104, 105, 106, -1, 200, 201, -1, -1, -1, -1, -1, -1]), example: Int32Array.from([11, 10]).reverse() },
  };
}

test('uniform, all: every token of each chunk, equally weighted; empty chunks leave samples out', () => {
  const ds = tiny();
  ds.cot!.example = Int32Array.from([10, 11]);
  const { data, dropped } = assignTargets(ds, parseAssignment('uniform'), 'all', 3);
  // problem 10: 7 tokens → bounds 0, 2, 5, 7; problem 11: 2 tokens → 0, 1, 1, 2 (position 1 empty)
  assert.is(dropped, 1);
  assert.equal(Array.from(data.position), [0, 1, 2, 0, 2]);
  assert.equal(Array.from(data.target), [100, 102, 105, 200, 201]);
  assert.is(data.multi!.K, 3);
  assert.equal(Array.from(data.multi!.ids), [100, 101, -1, 102, 103, 104, 105, 106, -1, 200, -1, -1, 201, -1, -1]);
  assert.equal(Array.from(data.multi!.weights).map((w) => +w.toFixed(4)), [0.5, 0.5, 0, 0.3333, 0.3333, 0.3333, 0.5, 0.5, 0, 1, 0, 0, 1, 0, 0]);
  assert.equal(Array.from(data.hidden.subarray(6, 10)), [6, 7, 10, 11]); // rows 3 and 5 keep their hidden states
});

test('weights, first: the chunk’s first token; a zero weight empties its position', () => {
  const ds = tiny();
  ds.cot!.example = Int32Array.from([10, 11]);
  const { data, dropped } = assignTargets(ds, parseAssignment('weights:0,1,1'), 'first', 3);
  // problem 10: 0, 0, 4, 7 (position 0 empty); problem 11: 0, 0, 1, 2
  assert.is(dropped, 2);
  assert.equal(Array.from(data.target), [100, 104, 200, 201]);
  assert.is(data.multi, undefined);
  assert.equal(chunkStats(ds, parseAssignment('weights:0,1,1'), 3).map((c) => [c.min, c.max, c.empty]), [[0, 0, 2], [1, 4, 0], [1, 3, 0]]);
});

test("--targets first drops a data set's extra targets; all keeps them", () => {
  const ds: Dataset = { ...tiny(), cot: undefined, multi: { K: 2, ids: Int32Array.from([1, 2, 3, -1, 4, 5, 6, 7, 8, -1, 9, 9]), weights: new Float32Array(12).fill(0.5) } };
  assert.is(prepareTargets(ds, ds, { targets: 'first' }).train.multi, undefined);
  const all = prepareTargets(ds, ds, {});
  assert.is(all.mode, 'all');
  assert.is(all.train.multi!.K, 2);
  assert.throws(() => prepareTargets({ ...ds, multi: undefined }, { ...ds, multi: undefined }, { targets: 'all' }), /--targets all: the data has one target a sample/);
});

test.run();
