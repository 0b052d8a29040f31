// The configurations a sweep trains (no GPU): every combination of its axes, or one axis at a
// time from the base, plus the layer subsets; folder names say what differs.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { sweepConfigs } from '../../src/train/sweep.ts';

const test = suite('sweep configurations');

const axes = {
  presets: ['lite' as const],
  assign: ['uniform', 'weights:1,1,2,2,1,1'],
  targets: ['first' as const, 'all' as const],
  loss: ['ce' as const, 'kl' as const],
  positionUnembed: ['none' as const, 'bias' as const],
};

test('every combination of the axes', () => {
  const configs = sweepConfigs(axes, []);
  assert.is(configs.length, 16);
  assert.is(new Set(configs.map((c) => c.name)).size, 16);
  assert.ok(configs.some((c) => c.name === 'lite-assign-weights-1-1-2-2-1-1-targets-all-kl-unembed-bias'));
});

test('one axis at a time from the first value of each, then the layer subsets', () => {
  const configs = sweepConfigs({ ...axes, presets: ['lite', 'baseline'] }, [[15]], true);
  assert.equal(configs.map((c) => c.name), [
    'lite-assign-uniform-targets-first',
    'baseline-assign-uniform-targets-first',
    'lite-assign-weights-1-1-2-2-1-1-targets-first',
    'lite-assign-uniform-targets-all',
    'lite-assign-uniform-targets-first-kl',
    'lite-assign-uniform-targets-first-unembed-bias',
    'lite-assign-uniform-targets-first-layers-15',
  ]);
  assert.equal(configs[4], { preset: 'lite', assign: 'uniform', targets: 'first', loss: 'kl', positionUnembed: 'none', name: 'lite-assign-uniform-targets-first-kl' });
});

test('the seed sweep: presets and layer 15 alone, names as before', () => {
  const configs = sweepConfigs({ presets: ['baseline', 'lite', 'full'], assign: [undefined], targets: [undefined], loss: ['ce'], positionUnembed: ['none'] }, [[15]]);
  assert.equal(configs.map((c) => c.name), ['baseline', 'lite', 'full', 'lite-layers-15']);
});

test.run();
