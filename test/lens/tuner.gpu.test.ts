// The tuner and its cache: the choice is the fastest of the timings (an injected timer), a
// candidate far slower than the best stops after one timing, `off` times nothing, the cache
// answers for the same adapter and shape only, and a corrupt cache is ignored, said and rewritten.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { uniformF32 } from '../../src/data/counterRng.ts';
import { builtInChoices, candidatesOf } from '../../src/lens/kernels.ts';
import { HeadOnGpu } from '../../src/lens/onGpu.ts';
import { SEED_ADAMW } from '../../src/ops/adamw.ts';
import { deviceTraits, lensShape } from '../../src/lens/shape.ts';
import { tunedFamilies, tuneKernels, type TrialTimer } from '../../src/lens/tuner.ts';
import { kernelChoices, shapeKey, type ChoiceRequest } from '../../src/lens/tuning.ts';
import { testGpu } from '../helpers/gpu.ts';

const test = suite('tuner');
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-tuner-'));
const gpu = await testGpu();
const device = deviceTraits(gpu);
const [d, V] = [50, 509];
const head = new HeadOnGpu(gpu, { d, V, eps: 1e-5, dtype: 'f32', gamma: uniformF32(1, d, 0.1, 1), U: uniformF32(2, V * d, 0.02) });
const adamw = SEED_ADAMW;
const shape = lensShape(device, head, { numGroups: 7, maxBatch: 40, adamw, update: 'unfused' });

/** A timer whose times come from `table` by label (1 s for the others), counting its calls. */
function fakeTimer(table: Record<string, number>): TrialTimer & { calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  return {
    calls,
    async time(label, encode) {
      calls[label] = (calls[label] ?? 0) + 1;
      await gpu.checked(label, async () => {
        const enc = gpu.device.createCommandEncoder();
        const pass = enc.beginComputePass();
        encode(pass);
        pass.end();
        await gpu.submitAndWait(label, [enc.finish()]);
      });
      return table[label] ?? 1;
    },
  };
}

test('each family gets the candidate of least time; one 3× slower than the best is timed once after its warm-up', async () => {
  const all = candidatesOf(device);
  const families = tunedFamilies(device, shape);
  assert.ok(families.includes('translatorBackward') && families.includes('unembed'), `families ${families}`);
  // Every family's last candidate is fastest; its first is fast too, its middle ones 10× slower.
  const table: Record<string, number> = {};
  for (const f of families) all[f].forEach((c, i) => (table[`${f} ${c}`] = i === all[f].length - 1 ? 0.001 : i === 0 ? 0.002 : 0.02));
  const timer = fakeTimer(table);
  const t = await tuneKernels(gpu, device, head, shape, 40, timer);
  for (const f of families) {
    assert.is(t.choices[f], all[f].at(-1), f);
    all[f].forEach((c, i) => assert.is(timer.calls[`${f} ${c}`], i === 0 || i === all[f].length - 1 ? 4 : 2, `${f} ${c}: warm-up and ${i === 0 || i === all[f].length - 1 ? 'three timings' : 'one'}`));
  }
  assert.is(t.candidates, families.reduce((n, f) => n + all[f].length, 0));
});

test('a fused training lens does not time the translator backward (its gradient is never stored)', () => {
  const fused = lensShape(device, head, { numGroups: 7, maxBatch: 40, adamw, update: 'fused' });
  if (!fused.fusedUpdate) return;
  assert.not.ok(tunedFamilies(device, fused).includes('translatorBackward'));
});

function request(over: Partial<ChoiceRequest> & { timer: TrialTimer }): ChoiceRequest & { lines: string[]; warnings: string[] } {
  const lines: string[] = [];
  const warnings: string[] = [];
  return { gpu, device, head, shape, rows: 40, mode: 'auto', print: (l) => lines.push(l), warn: (l) => warnings.push(l), cachePath: join(tmp, 'tuning.json'), lines, warnings, ...over };
}

test('--tune off: the built-in choices, nothing timed, no cache written', async () => {
  const timer = fakeTimer({});
  const r = request({ timer, mode: 'off', cachePath: join(tmp, 'off.json') });
  assert.equal(await kernelChoices(r), builtInChoices(device));
  assert.equal(timer.calls, {});
});

test('the cache: a miss tunes and writes it; a hit times nothing; another shape or adapter misses', async () => {
  const path = join(tmp, 'tuning.json');
  const slowFirst = fakeTimer({ 'unembed subgroup': 5, 'topk subgroup': 5, 'rmsnorm subgroup': 5 });
  const first = await kernelChoices(request({ timer: slowFirst, cachePath: path }));
  if (device.hasSubgroups) assert.is(first.unembed, 'tiled');
  const file = JSON.parse(readFileSync(path, 'utf8'));
  const [adapter] = Object.keys(file.adapters);
  assert.equal(file.adapters[adapter][shapeKey(shape, 40)].choices, first);
  const again = fakeTimer({});
  const hit = request({ timer: again, cachePath: path });
  assert.equal(await kernelChoices(hit), first);
  assert.equal(again.calls, {}, 'a cache hit timed candidates');
  assert.match(hit.lines[0]!, /kernels tuned for .* on \d{4}-\d\d-\d\d \(.*tuning\.json\): unembed /);
  const otherShape = fakeTimer({});
  await kernelChoices(request({ timer: otherShape, rows: 33, cachePath: path }));
  assert.ok(Object.keys(otherShape.calls).length > 0, 'another batch size is another shape');
  // The same shape under another adapter's key: moved there, the entry is not this adapter's.
  file.adapters = { [adapter.replace('"vendor":', '"vendor":"other-').replace('"other-"', '"other-')]: file.adapters[adapter] };
  writeFileSync(path, JSON.stringify(file));
  const otherAdapter = fakeTimer({});
  await kernelChoices(request({ timer: otherAdapter, cachePath: path }));
  assert.ok(Object.keys(otherAdapter.calls).length > 0, 'another adapter missed');
  assert.is(Object.keys(JSON.parse(readFileSync(path, 'utf8')).adapters).length, 2);
});

test('a corrupt or foreign cache: one warning, tuned, rewritten whole', async () => {
  for (const [name, text, why] of [
    ['corrupt.json', '{"format": "lensgpu-tuning", "vers', /unreadable/],
    ['foreign.json', '{"format": "something else"}', /not a tuning cache of this version/],
    ['bad-choice.json', null, /kernel unembed "warp-shuffle" is not one this device runs/],
  ] as const) {
    const path = join(tmp, name);
    if (text === null) {
      // A cache whose entry names a kernel this device lacks: ignored, tuned again.
      await kernelChoices(request({ timer: fakeTimer({}), cachePath: path }));
      const file = JSON.parse(readFileSync(path, 'utf8'));
      for (const a of Object.values(file.adapters) as Record<string, { choices: Record<string, string> }>[]) a[shapeKey(shape, 40)]!.choices.unembed = 'warp-shuffle';
      writeFileSync(path, JSON.stringify(file));
    } else writeFileSync(path, text);
    const timer = fakeTimer({});
    const r = request({ timer, cachePath: path });
    await kernelChoices(r);
    assert.is(r.warnings.length, 1, name);
    assert.match(r.warnings[0]!, why);
    assert.ok(Object.keys(timer.calls).length > 0, `${name}: not tuned`);
    assert.is(JSON.parse(readFileSync(path, 'utf8')).format, 'lensgpu-tuning');
  }
});

test.after(() => {
  head.destroy();
  rmSync(tmp, { recursive: true, force: true });
});
test.run();
