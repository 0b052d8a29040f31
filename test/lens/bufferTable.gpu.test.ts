// One table of a lens's buffers: what the Lens allocates is what the memory plan says, and a
// lens for inference (eval, trajectory) allocates no gradients and no AdamW state.
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadDataset } from '../../src/data/dataset.ts';
import { loadHeadFile } from '../../src/data/head.ts';
import { countObjects } from '../../src/gpu/objectCounter.ts';
import { Lens } from '../../src/lens/lens.ts';
import { HeadOnGpu } from '../../src/lens/onGpu.ts';
import { memoryPlan } from '../../src/lens/plan.ts';
import { savedLensOnGpu } from '../../src/lens/savedLens.ts';
import { deviceTraits, lensShape } from '../../src/lens/shape.ts';
import { SEED_ADAMW } from '../../src/ops/adamw.ts';
import { cli } from '../helpers/cli.ts';
import { testGpu } from '../helpers/gpu.ts';

const test = suite('buffer table');
const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
const head = loadHeadFile(join(DATA, 'head.safetensors'), 'f32');

test('a lens allocates its table, and the memory plan sums the same table', async () => {
  const gpu = await testGpu();
  const headGpu = new HeadOnGpu(gpu, head);
  const runs = [{ adamw: SEED_ADAMW, update: 'unfused' as const }, { adamw: SEED_ADAMW, update: 'fused' as const }, { adamw: undefined, update: undefined }];
  for (const { adamw, update } of runs) {
    const options = { numGroups: 36, maxBatch: 40, targetsPerRow: 4, teacher: { normed: false }, positionUnembed: { mode: 'full' as const, positions: 6 }, adamw, update };
    const shape = lensShape(deviceTraits(gpu), head, options);
    const { counts, labels, stop } = countObjects(gpu);
    const lens = await Lens.create(gpu, headGpu, shape, []);
    stop();
    const plan = memoryPlan({ lens: shape, trainCount: 0, testCount: 0 });
    const lensPart = plan.filter((it) => !/^(data|head)/.test(it.name)).reduce((n, it) => n + it.bytes, 0);
    assert.is(lens.bytes, lensPart, 'the plan counts what the lens allocates');
    for (const spec of lens.table) assert.ok(labels.some((l) => l === `lens ${spec.key}` || l.startsWith(`lens ${spec.key} 1/`)), `lens ${spec.key} allocated`);
    const roles = new Set(lens.table.map((spec) => spec.role));
    assert.is(roles.has('optimizer state'), Boolean(adamw));
    // With the fused update neither the translators' nor the full position unembedding's gradient is stored.
    assert.is(roles.has('gradients'), update === 'unfused');
    assert.is(labels.includes('lens grad'), update === 'unfused', 'a translator gradient buffer only for the unfused update');
    assert.is(labels.includes('lens positionGrad'), update === 'unfused', 'a ΔU_p gradient buffer only for the unfused update');
    if (!adamw) {
      assert.not.ok(labels.some((l) => /adamw|lens (grad|m|v|dz|dy|partial|position(Grad|M|V))$/.test(l)), labels.join(', '));
      assert.throws(() => lens.steps, /a lens for inference has no AdamW step counts/);
    }
    assert.ok(counts.buffers >= lens.table.length);
    lens.destroy();
  }
  headGpu.destroy();
});

test('eval and trajectory set up a lens for inference: no optimizer state, and the memory line says so', async () => {
  const gpu = await testGpu();
  const ds = loadDataset(join(DATA, 'test.safetensors'));
  const { labels, stop } = countObjects(gpu);
  const lines: string[] = [];
  const saved = await savedLensOnGpu(gpu, head, join(DATA, 'lens_lite_pytorch.safetensors'), ds, { maxBatch: 64, print: (l) => lines.push(l) });
  stop();
  saved.destroy();
  assert.not.ok(labels.some((l) => /adamw|lens (grad|m|v)$/.test(l)), labels.join(', '));
  assert.match(lines[0]!, /^GPU memory: .*translator parameters/);
  assert.not.match(lines[0]!, /AdamW|gradients/);
  const r = cli('eval', '--lens', join(DATA, 'lens_lite_pytorch.safetensors'), '--data', join(DATA, 'test.safetensors'), '--head', join(DATA, 'head.safetensors'));
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^GPU memory: [\d.]+ \w+ on .*\(data .*translator parameters .*\)\n/);
  assert.not.match(r.stdout, /AdamW/);
});

test.run();
