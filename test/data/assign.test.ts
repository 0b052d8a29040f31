// Targets from chains of thought (no GPU): the contract's chunk rule, first and all, empty
// chunks left out, and what `--targets` keeps of a data set's own targets.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { assignTargets, chunkBounds, chunkStats, parseAssignment, prepareTargets } from '../../src/data/assign.ts';
import type { Dataset } from '../../src/data/dataset.ts';
import { Rows } from '../../src/data/rows.ts';

const test = suite('assign');

test('chunk bounds: b_p = floor(T · Σ_{q<p} w_q + 0.5), b_0 = 0, b_P = T', () => {
  assert.equal(chunkBounds(12, [1, 1, 1, 1, 1, 1]), [0, 2, 4, 6, 8, 10, 12]);
  assert.equal(chunkBounds(5, [1, 1, 1, 1, 1, 1]), [0, 1, 2, 3, 3, 4, 5]); // 5/6·k + 0.5, floored
  assert.equal(chunkBounds(10, [1, 1, 2, 2, 1, 1]), [0, 1, 3, 5, 8, 9, 10]);
  assert.equal(chunkBounds(7, [0, 1, 2, 2, 1, 0]), [0, 0, 1, 4, 6, 7, 7]); // 7 · (1/6 + 2/6) + 0.5 = 4 exactly
  assert.equal(chunkBounds(0, [1, 1, 1]), [0, 0, 0, 0]);
});

/** b_p checked in exact integers: 2S·b_p ≤ 2T·S_p + S < 2S·(b_p + 1) (small enough to be exact as doubles). */
function checkExact(T: number, w: number[]): void {
  const b = chunkBounds(T, w);
  const S = w.reduce((a, x) => a + x, 0);
  assert.is(b.length, w.length + 1);
  assert.is(b[0], 0);
  assert.is(b[w.length], T);
  let Sp = 0;
  for (let p = 1; p < w.length; p++) {
    Sp += w[p - 1]!;
    const twice = 2 * T * Sp + S;
    assert.ok(2 * S * b[p]! <= twice && twice < 2 * S * (b[p]! + 1), `T ${T}, weights ${w}: b_${p} = ${b[p]}`);
  }
}

test('chunk bounds are exact for every T from 1 to 200 (ties round up)', () => {
  const rules = [[1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1], [1, 1, 2, 2, 1, 1], [0, 1, 3, 3, 1, 0]];
  for (const w of rules) for (let T = 1; T <= 200; T++) checkExact(T, w);
  // Ties that floats summing w_q / S round down: 5 × (1/6) is just below 5/6.
  assert.equal(chunkBounds(9, [1, 1, 1, 1, 1, 1]), [0, 2, 3, 5, 6, 8, 9]);
  assert.equal(chunkBounds(15, [1, 1, 1, 1, 1, 1]), [0, 3, 5, 8, 10, 13, 15]);
  assert.equal(chunkBounds(9, parseWeights('uniform', 6)), [0, 2, 3, 5, 6, 8, 9]);
});

test('decimal weights are read exactly, as typed', () => {
  // 0.1 + 0.2 is 0.30000000000000004 in floats; exactly, T = 5 puts b_2 at 5 · 0.3 + 0.5 = 2.
  assert.equal(chunkBounds(5, ['0.1', '0.2', '0.7']), [0, 1, 2, 5]);
  assert.equal(chunkBounds(5, [0.1, 0.2, 0.7]), [0, 1, 2, 5]);
  assert.equal(chunkBounds(10, ['1e-3', '0.001', '2E-3']), chunkBounds(10, [1, 1, 2]));
  assert.equal(chunkBounds(9, parseWeights('weights:0.5,0.5,0.5,.5,0.50,5e-1', 6)), [0, 2, 3, 5, 6, 8, 9]);
  for (const bad of ['weights:1,,2', 'weights:1,-1', 'weights:1,x', 'weights:0x10,1', 'weights:.,1', 'weights:Infinity,1']) {
    assert.throws(() => parseAssignment(bad), /non-negative decimal/);
  }
  assert.throws(() => parseAssignment('weights:0,0.0,0e5'), /positive sum/);
});

function parseWeights(rule: string, P: number) {
  const a = parseAssignment(rule);
  return a.kind === 'uniform' ? new Array(P).fill(1) : a.weights;
}

/** Two problems (ids 10, 11) × 3 positions; problem 10 has 7 tokens, problem 11 has 2. */
function tiny(): Dataset {
  const example = Int32Array.from([10, 10, 10, 11, 11, 11]);
  return {
    source: 'tiny',
    count: 6,
    d: 2,
    hidden: Rows.of(Float32Array.from({ length: 12 }, (_, i) => i), 2),
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
  assert.is(data.multi!.targetsPerRow, 3);
  assert.equal(Array.from(data.multi!.ids), [100, 101, -1, 102, 103, 104, 105, 106, -1, 200, -1, -1, 201, -1, -1]);
  assert.equal(Array.from(data.multi!.weights).map((w) => +w.toFixed(4)), [0.5, 0.5, 0, 0.3333, 0.3333, 0.3333, 0.5, 0.5, 0, 1, 0, 0, 1, 0, 0]);
  assert.equal(Array.from(data.hidden.flat().subarray(6, 10)), [6, 7, 10, 11]); // rows 3 and 5 keep their hidden states
});

test('weights, first: the chunk’s first token; a zero weight empties its position', () => {
  const ds = tiny();
  ds.cot!.example = Int32Array.from([10, 11]);
  const { data, dropped } = assignTargets(ds, parseAssignment('weights:0,1,1'), 'first', 3);
  // problem 10: 0, 0, 4, 7 (position 0 empty); problem 11: 0, 0, 1, 2
  assert.is(dropped, 2);
  assert.equal(Array.from(data.target), [100, 104, 200, 201]);
  // The chunks stay whole for any-k; the loss reads the first (the lens's `firstTarget`).
  assert.is(data.multi!.targetsPerRow, 4);
  assert.equal(Array.from(data.multi!.ids.subarray(0, 4)), [100, 101, 102, 103]);
  assert.equal(chunkStats(ds, parseAssignment('weights:0,1,1'), 3).map((c) => [c.min, c.max, c.empty]), [[0, 0, 2], [1, 4, 0], [1, 3, 0]]);
});

test("--targets first keeps a data set's extra targets (for any-k) and says so; all keeps them too", () => {
  const ds: Dataset = { ...tiny(), cot: undefined, multi: { targetsPerRow: 2, ids: Int32Array.from([1, 2, 3, -1, 4, 5, 6, 7, 8, -1, 9, 9]), weights: new Float32Array(12).fill(0.5) } };
  const first = prepareTargets(ds, ds, { targets: 'first' });
  assert.is(first.mode, 'first');
  assert.is(first.train.multi!.targetsPerRow, 2);
  const all = prepareTargets(ds, ds, {});
  assert.is(all.mode, 'all');
  assert.is(all.train.multi!.targetsPerRow, 2);
  assert.throws(() => prepareTargets({ ...ds, multi: undefined }, { ...ds, multi: undefined }, { targets: 'all' }), /--targets all: the data has one target a sample/);
});

test('--assign with --targets first: chunks longer than the kernels take keep their first token, and any-k is not reported', () => {
  const ds = tiny();
  ds.cot = { T: 200, tokens: Int32Array.from({ length: 400 }, (_, i) => (i < 200 ? 1000 + i : i < 203 ? 2000 + i : -1)), example: Int32Array.from([10, 11]) };
  const first = prepareTargets(ds, ds, { assign: 'uniform', targets: 'first' });
  assert.is(first.train.multi, undefined);
  assert.equal(Array.from(first.train.target.subarray(0, 3)), [1000, 1067, 1133]);
  assert.match(first.note!, /any-1\/5\/10 not reported: a chunk of 67 tokens/);
  assert.throws(() => prepareTargets(ds, ds, { assign: 'uniform', targets: 'all' }), /chunk of 67 tokens; at most 64/);
});

test.run();
