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

test('the seed run: every buffer counted, 4 copies of the 151 M parameters, each array over buffers of at most 256 MiB', () => {
  const plan = memoryPlan(seed);
  const item = (name: string) => plan.find((it) => it.name.startsWith(name))!;
  const block = Math.ceil((2048 * 2048 + 2048) / 64) * 64 * 4;
  const state = 36 * block;
  assert.is(item('translator parameters').bytes, state);
  assert.is(item('gradients').bytes, state);
  assert.is(item('AdamW').bytes, 2 * state);
  // 15 blocks of 16 MiB a buffer: 15 + 15 + 6.
  assert.equal([item('translator parameters').buffers, item('AdamW').buffers], [3, 6]);
  assert.is(item('AdamW').largest, 15 * block);
  assert.is(item('train set').bytes, 76_800 * 2050 * 4);
  // hidden over 3 buffers of ≤ 32,768 rows, its targets and its losses.
  assert.is(item('train set').buffers, 5);
  assert.is(item('train set').largest, 32_768 * 2048 * 4);
  assert.is(item('head').largest, 32000 * 2048 * 4);
  assert.is(memoryPlan(planOf({}, 'f16')).find((it) => it.name.startsWith('head'))!.largest, 32000 * 2048 * 2);
  assert.ok(plan.every((it) => it.largest <= 256 * MiB));
  assert.ok(planTotal(plan) > 3.3 * GiB && planTotal(plan) < 3.5 * GiB, `${planTotal(plan) / GiB} GiB`);
});

test("the split-K partial sums are sized for the training batch, not the evaluation's 256 rows", () => {
  const partial = (trainBatch?: number) => memoryPlan(planOf({ trainBatch })).find((it) => it.name === 'unembedding partial sums')!.bytes;
  // 32 splits of 1,024 vocabulary rows, [rows, d] f32 each.
  assert.equal([partial(), partial(32)], [32 * 256 * 2048 * 4, 32 * 32 * 2048 * 4]);
});

test('data in host memory: no data buffers, the kept per-sample results, and a batch of rows staged in the step tables', () => {
  const host = memoryPlan({ ...seed, dataOn: 'host' });
  const item = (plan: typeof host, name: string) => plan.find((it) => it.name === name);
  // The train set keeps its epoch losses, the test set its losses, ranks and top-10 ids.
  assert.is(item(host, 'train set')!.bytes, 76_800 * 4);
  assert.is(item(host, 'test set')!.bytes, 19_200 * 12 * 4);
  // 256 rows of ids, hidden states and targets.
  assert.is(item(host, 'batch rows from host memory')!.bytes, 256 * (1 + 2048 + 1) * 4);
  assert.is(item(memoryPlan(seed), 'batch rows from host memory'), undefined);
  const resident = planTotal(memoryPlan(seed));
  assert.is(resident - planTotal(host), 96_000 * 2049 * 4 - 256 * 2050 * 4);
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

test("a block larger than the device's largest buffer is named: arrays split, blocks do not", () => {
  const device = { ...WEBGPU_DEFAULTS, maxBuffer: 200 * MiB };
  const big = (d: number) => ({ lens: lensShape(device, { d, V: 32000, dtype: 'f32' }, { numGroups: 80, maxBatch: 32, adamw: SEED_ADAMW }), trainCount: 1000, testCount: 100 });
  // d 4,096: 64 MiB blocks, 3 a buffer; U in buffers of 12 × 1,024 rows, and γ.
  const fits = memoryPlan(big(4096));
  assert.is(planProblem(fits, 200 * MiB, undefined, []), undefined);
  assert.is(fits.find((it) => it.name === 'translator parameters')!.buffers, 27);
  assert.is(fits.find((it) => it.name.startsWith('head'))!.buffers, Math.ceil(32000 / (12 * 1024)) + 1);
  // d 8,192 (Llama-3.1-70B): one translator block is 256 MiB.
  const msg = planProblem(memoryPlan(big(8192)), 200 * MiB, undefined, [])!;
  assert.match(msg, /^the translator parameters need a 256\.\d MiB buffer, more than this device's largest \(200\.0 MiB\); use a device with larger buffers$/);
});

test('the budget: --gpu-memory, else system memory for a software adapter, else unknown', () => {
  const sw = { name: 'llvmpipe: Mesa 25', vendor: 'mesa', architecture: '', description: '' };
  const hw = { name: 'NVIDIA H100', vendor: 'nvidia', architecture: 'hopper', description: '' };
  assert.is(memoryBudget(hw, 80)!.bytes, 80 * GiB);
  assert.ok(memoryBudget(sw, undefined)!.source.includes('software adapter'));
  assert.is(memoryBudget(hw, undefined), undefined);
});

test.run();
