// Faults inside a run, injected at exact steps: a stop request mid-epoch (what Ctrl-C and
// SIGTERM do) must resume bit-identical to a run that never stopped; a diverging loss must
// stop the run naming the epoch and step without writing a lens; a lost device must leave
// the last checkpoint whole and say so.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadDataset } from '../../src/data/dataset.ts';
import { DivergedError } from '../../src/shared/errors.ts';
import { loadHeadFile } from '../../src/data/head.ts';
import { GpuError, type Gpu } from '../../src/gpu/device.ts';
import { blockStride } from '../../src/ops/groups.ts';
import { readCheckpoint } from '../../src/train/checkpoint.ts';
import { SEED_SETTINGS, type TrainSettings } from '../../src/train/settings.ts';
import { trainLens, type RunInputs } from '../../src/train/trainer.ts';
import { openTestGpu, testGpu } from '../helpers/gpu.ts';

const test = suite('faults');
const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-faults-'));
const head = loadHeadFile(join(DATA, 'head.safetensors'), 'f32');
const train = loadDataset(join(DATA, 'train.safetensors'));
const testSet = loadDataset(join(DATA, 'test.safetensors'));

function inputs(gpu: Gpu, out: string, settings: Partial<TrainSettings>, extra: Partial<RunInputs> = {}): RunInputs {
  return {
    gpu,
    head,
    train,
    test: testSet,
    out,
    resume: false,
    quiet: true,
    print: () => {},
    provenance: {},
    settings: { ...SEED_SETTINGS, preset: 'lite', criticalLayers: [6, 9, 14, 15], epochs: 3, batchSize: 24, ...settings },
    ...extra,
  };
}

const same = (a: string, b: string, file: string) =>
  assert.ok(readFileSync(join(a, file)).equals(readFileSync(join(b, file))), `${file} differs from the uninterrupted run's`);

// The stopped run may keep its data in host memory: it must still match the resident run.
for (const [label, settings, stopAt, dataOn] of [
  ['shuffled, stopped at epoch 2 step 5', { shuffle: true, seed: 11 }, [2, 4], 'gpu'],
  ['file order, stopped at epoch 1 step 1', { shuffle: false }, [1, 0], 'gpu'],
  ['file order, stopped at the last step of epoch 2', { shuffle: false }, [2, 31], 'gpu'],
  ['shuffled, stopped at epoch 2 step 5, its data in host memory (--data-on host)', { shuffle: true, seed: 11 }, [2, 4], 'host'],
] as const) {
  test(`a run stopped mid-epoch and resumed is bit-identical to one that never stopped (${label})`, async () => {
    const gpu = await testGpu();
    const whole = join(tmp, `whole-${label}`);
    const split = join(tmp, `split-${label}`);
    const w = await trainLens(inputs(gpu, whole, settings, { dataOn: 'gpu' }));
    assert.is(w.interrupted, undefined);

    const stop: { signal?: NodeJS.Signals } = {};
    const lines: string[] = [];
    const afterStep = (epoch: number, step: number) => {
      if (epoch === stopAt[0] && step === stopAt[1]) stop.signal = 'SIGTERM';
    };
    const first = await trainLens(inputs(gpu, split, settings, { stop, afterStep, dataOn, print: (l) => lines.push(l) }));
    assert.is(first.interrupted, 'SIGTERM');
    assert.is(first.history.length, stopAt[0] - 1, 'epochs finished before the stop');
    assert.match(lines.join('\n'), new RegExp(`stopped by SIGTERM; checkpoint \\(epoch ${stopAt[0]}, step ${stopAt[1] + 1}\\) written`));
    const resumedLines: string[] = [];
    const resumed = await trainLens(inputs(gpu, split, settings, { resume: true, dataOn, print: (l) => resumedLines.push(l) }));
    assert.is(lines.some((l) => l.startsWith('data sets: in host memory')), dataOn === 'host', 'the run says where its data is');
    assert.match(resumedLines.join('\n'), new RegExp(`resuming after epoch ${stopAt[0]}, step ${stopAt[1] + 1}`));
    assert.equal(resumed.history, w.history);
    for (const f of ['lens.safetensors', 'checkpoint.safetensors']) same(whole, split, f);
    const metrics = (d: string) => ({ ...JSON.parse(readFileSync(join(d, 'metrics.json'), 'utf8')), train_seconds: undefined });
    assert.equal(metrics(split), metrics(whole), 'metrics.json (but the time) differs');
  });
}

test('a diverging run stops at the first non-finite loss, naming epoch and step, and writes no lens', async () => {
  const gpu = await testGpu();
  const out = join(tmp, 'diverged');
  try {
    await trainLens(inputs(gpu, out, { lr: 1e38, shuffle: false }));
    assert.unreachable('the run should have stopped');
  } catch (e) {
    if (!(e instanceof DivergedError)) throw e;
    assert.match(e.message, /^epoch 1, step \d+\/32: the training loss is (NaN|Infinity|-Infinity) \(try a lower --lr\); no checkpoint had been written yet$/);
  }
  assert.not.ok(existsSync(join(out, 'lens.safetensors')), 'a diverged lens was written');
});

test('a lost device ends the run with a clear error and leaves the last checkpoint whole', async () => {
  const gpu = await openTestGpu();
  const out = join(tmp, 'lost');
  try {
    // What Dawn's device.lost does on a driver reset, at epoch 2, step 4.
    const afterStep = (epoch: number, step: number) => {
      if (epoch === 2 && step === 3) gpu.lostReason = 'simulated driver reset';
    };
    await trainLens(inputs(gpu, out, { shuffle: false }, { afterStep }));
    assert.unreachable('the run should have stopped');
  } catch (e) {
    if (!(e instanceof GpuError)) throw e;
    assert.match(e.message, /the GPU device was lost \(simulated driver reset\); the last checkpoint, .*checkpoint\.safetensors \(after epoch 1\), is intact: continue with --resume/);
  } finally {
    gpu.lostReason = undefined;
    gpu.destroy();
  }
  const G = 36;
  const c = readCheckpoint(join(out, 'checkpoint.safetensors'), readCheckpointFingerprint(join(out, 'checkpoint.safetensors')), G * blockStride(48), train.count, testSet.count);
  assert.is(c.state.epochsDone, 1);
  assert.is(c.state.partial, undefined);
});

/** The run fingerprint a checkpoint was written with (to read it back outside a run). */
function readCheckpointFingerprint(path: string): string {
  const buf = readFileSync(path);
  const header = JSON.parse(buf.subarray(8, 8 + Number(buf.readBigUInt64LE(0))).toString('utf8'));
  return header.__metadata__.run;
}

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
