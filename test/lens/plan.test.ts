// The memory plan: what a run allocates, and the advice when it does not fit. No GPU.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { memoryBudget, memoryPlan, planProblem, planTotal, type PlanInputs } from '../../src/lens/plan.ts';
import { lensShape, WEBGPU_DEFAULTS, type LensOptions } from '../../src/lens/shape.ts';
import { SEED_ADAMW } from '../../src/ops/adamw.ts';
import type { HeadDtype } from '../../src/shared/constants.ts';

const test = suite('memory plan');
const MiB = 2 ** 20;
const GiB = 2 ** 30;
// The seed's run: lite at d 2,048, V 32,000, 16 layers × 6 positions, 4,800 + 1,200 samples a layer.
const seedOptions: LensOptions = { numGroups: 36, maxBatch: 256, adamw: SEED_ADAMW };
/** A training run's plan at d 2,048, V 32,000 with WebGPU's default limits (no subgroups: the unfused update). */
const planOf = (change: Partial<LensOptions> = {}, dtype: HeadDtype = 'f32', samples = { trainCount: 76_800, testCount: 19_200 }): PlanInputs => ({
  lens: lensShape(WEBGPU_DEFAULTS, { d: 2048, V: 32000, dtype }, { ...seedOptions, ...change }),
  ...samples,
});
const seed = planOf();

test('the seed run: every buffer counted, 4 copies of the 151 M parameters', () => {
  const plan = memoryPlan(seed);
  const item = (name: string) => plan.find((it) => it.name.startsWith(name))!;
  const state = 36 * Math.ceil((2048 * 2048 + 2048) / 64) * 64 * 4;
  assert.is(item('translator parameters').bytes, state);
  assert.is(item('gradients').bytes, state);
  assert.is(item('AdamW').bytes, 2 * state);
  assert.is(item('AdamW').largest, state);
  assert.is(item('train set').bytes, 76_800 * 2050 * 4);
  assert.is(item('train set').largest, 76_800 * 2048 * 4);
  assert.is(item('head').largest, 32000 * 2048 * 4);
  assert.is(memoryPlan(planOf({}, 'f16')).find((it) => it.name.startsWith('head'))!.largest, 32000 * 2048 * 2);
  assert.ok(planTotal(plan) > 3.3 * GiB && planTotal(plan) < 3.5 * GiB, `${planTotal(plan) / GiB} GiB`);
});

test('a run over the budget names the settings that would fit, or what each saves', () => {
  const fullSeed = planOf({ numGroups: 96 });
  const alternatives = [
    { flag: '--head-dtype f16', inputs: planOf({ numGroups: 96 }, 'f16') },
    { flag: '--preset lite', inputs: seed },
  ];
  const total = planTotal(memoryPlan(fullSeed));
  const budget = { bytes: total - 1, source: '--gpu-memory X' };
  const msg = planProblem(memoryPlan(fullSeed), 4 * GiB, budget, alternatives)!;
  assert.match(msg, /^this run needs 7\.\d+ GiB on the GPU, more than --gpu-memory X allows/);
  assert.match(msg, /it would fit with --head-dtype f16 \(6\.\d+ GiB\), or --preset lite \(3\.\d+ GiB\)$/);
  const tight = planProblem(memoryPlan(fullSeed), 4 * GiB, { bytes: GiB, source: 'Y' }, alternatives)!;
  assert.match(tight, /smaller runs: --head-dtype f16 saves 125\.0 MiB, --preset lite saves 3\.75 GiB/);
  assert.is(planProblem(memoryPlan(seed), 4 * GiB, { bytes: 8 * GiB, source: 'Z' }, alternatives), undefined);
});

test('a full position unembedding too big for the budget suggests the bias alone', () => {
  const full = planOf({ positionUnembed: { mode: 'full', positions: 6 } });
  const plan = memoryPlan(full);
  const item = plan.find((it) => it.name.startsWith('position unembedding'))!;
  assert.ok(Math.abs(item.bytes - 4 * 6 * (32000 * 2049) * 4) < 6 * 4 * 64 * 4, `${item.bytes}`); // ≈ 6.3 GB: parameters, gradients, m, v
  const msg = planProblem(plan, 4 * GiB, { bytes: 8 * GiB, source: 'X' }, [{ flag: '--position-unembed bias', inputs: planOf({ positionUnembed: { mode: 'bias', positions: 6 } }) }])!;
  assert.match(msg, /^this run needs 9\.\d+ GiB .*; it would fit with --position-unembed bias \(3\.\d+ GiB\)$/);
});

test("a buffer past the device's largest is named, with a way out where one exists", () => {
  const smallSamples = { trainCount: 1000, testCount: 100 };
  const small = planOf({ numGroups: 4 }, 'f32', smallSamples); // 4 × 16 MiB of parameters
  const alternatives = [{ flag: '--head-dtype f16', inputs: planOf({ numGroups: 4 }, 'f16', smallSamples) }];
  const msg = planProblem(memoryPlan(small), 200 * MiB, undefined, alternatives)!;
  assert.match(msg, /^the head \(U f32\) needs a 250\.0 MiB buffer, more than this device's largest \(200\.0 MiB\); it would fit with --head-dtype f16/);
  const data = planProblem(memoryPlan(seed), 256 * MiB, undefined, [{ flag: '--head-dtype f16', inputs: planOf({}, 'f16') }])!;
  assert.match(data, /^the train set needs a 600\.0 MiB buffer, .*; keep fewer samples \(--layers\) or use a device with larger buffers$/);
});

test('the budget: --gpu-memory, else system memory for a software adapter, else unknown', () => {
  const sw = { name: 'llvmpipe: Mesa 25', vendor: 'mesa', architecture: '', description: '' };
  const hw = { name: 'NVIDIA H100', vendor: 'nvidia', architecture: 'hopper', description: '' };
  assert.is(memoryBudget(hw, 80)!.bytes, 80 * GiB);
  assert.ok(memoryBudget(sw, undefined)!.source.includes('software adapter'));
  assert.is(memoryBudget(hw, undefined), undefined);
});

test.run();
