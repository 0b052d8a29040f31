// Host-side pieces of training: the shuffle, metrics, synthetic data. No GPU.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { assignTargets, parseAssignment } from '../../src/data/assign.ts';
import { COT_SPLIT, synthData, synthHead } from '../../src/data/synth.ts';
import { breakdown } from '../../src/train/metrics.ts';
import { shuffled } from '../../src/train/trainer.ts';

const test = suite('training on the host');

test('the per-epoch shuffle is a seeded permutation that differs between epochs', () => {
  const a = shuffled(1000, 42, 1);
  assert.equal([...a].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
  assert.equal([...shuffled(1000, 42, 1)], [...a]);
  assert.not.equal([...shuffled(1000, 42, 2)], [...a]);
  assert.not.equal([...shuffled(1000, 43, 1)], [...a]);
});

test('metrics: top-k counts ranks strictly below k; breakdowns sum to the whole', () => {
  const loss = [1, 2, 3, 4];
  const rank = [0, 1, 5, 9];
  const b = breakdown(loss, rank, Int32Array.from([3, 3, 5, 5]), Int32Array.from([0, 1, 0, 1]));
  assert.equal(b.overall, { count: 4, loss: 2.5, top1: 0.25, top5: 0.5, top10: 1 });
  assert.equal(b.perLayer.map((r) => [r.layer, r.count, r.loss]), [[3, 2, 1.5], [5, 2, 3.5]]);
  assert.equal(b.perPosition.map((r) => [r.position, r.top5]), [[0, 0.5], [1, 0.5]]);
  assert.equal(b.perGroup.map((r) => [r.layer, r.position, r.top10]), [[3, 0, 1], [3, 1, 1], [5, 0, 1], [5, 1, 1]]);
});

test('synthetic data: seeded, every (layer, position) covered, targets shared across layers', () => {
  const shape = { layers: 3, positions: 2, d: 8, V: 50, trainPerLayer: 4, testPerLayer: 2, seed: 5 };
  const head = synthHead(shape);
  const { train, test: held } = synthData(shape, head);
  assert.is(train.count, 12);
  assert.is(held.count, 6);
  assert.equal([...train.layer], [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
  assert.equal([...train.position], [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
  // problem e, position p has one target at every layer
  assert.equal([...train.target.subarray(0, 4)], [...train.target.subarray(4, 8)]);
  assert.ok(train.hidden.flat().every(Number.isFinite));
  const again = synthData(shape, synthHead(shape));
  assert.equal([...again.train.hidden.flat()], [...train.hidden.flat()]);
  assert.not.equal([...held.hidden.row(0)], [...train.hidden.row(0)]);
});

test('synthetic chains of thought: the planted split recovers every target, the uniform one mostly not', () => {
  const shape = { layers: 2, positions: 6, d: 8, V: 500, trainPerLayer: 60, testPerLayer: 12, seed: 3 };
  const { train } = synthData(shape, synthHead(shape));
  const planted = assignTargets(train, parseAssignment(`weights:${COT_SPLIT.join(',')}`), 'first', 6);
  assert.is(planted.dropped, 0);
  assert.equal([...planted.data.target], [...train.target]);
  const uniform = assignTargets(train, parseAssignment('uniform'), 'first', 6);
  const same = uniform.data.target.filter((t, i) => t === train.target[i]).length;
  assert.ok(same < 0.7 * train.count, `${same} of ${train.count} uniform targets equal the planted ones`);
  assert.ok(same > 0.2 * train.count, 'positions 0 and 1 mostly agree');
  assert.equal([...train.finalHidden!.row(0)], [...train.finalHidden!.row(6 * 10)]); // layer 0 and 1 share y*
});

test.run();
