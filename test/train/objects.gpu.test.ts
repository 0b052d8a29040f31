// A step creates nothing: after the first epoch, training steps and validation batches make
// no GPU buffer and no bind group (a count, not a timing), write their tables with at most 2
// writeBuffer calls and record at most 4 buffer copies each. Covers the plain lite step, the KL loss, several targets a
// row and the full position-specific unembedding. And every buffer has an owner: after a run,
// an eval and a trajectory, none is left alive.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prepareTargets } from '../../src/data/assign.ts';
import { loadDataset, type Dataset } from '../../src/data/dataset.ts';
import type { Gpu } from '../../src/gpu/device.ts';
import { loadHeadFile } from '../../src/data/head.ts';
import { countObjects, type ObjectCounts } from '../../src/gpu/objectCounter.ts';
import { evaluateLensFile } from '../../src/train/evalCommand.ts';
import { SEED_SETTINGS, type TrainSettings } from '../../src/train/settings.ts';
import { trainLens, type RunInputs } from '../../src/train/trainer.ts';
import { trajectory } from '../../src/train/trajectory.ts';
import { openTestGpu, testGpu } from '../helpers/gpu.ts';
import { builtInChoices } from '../../src/lens/kernels.ts';

const test = suite('objects per step');
const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-objects-'));
const head = loadHeadFile(join(DATA, 'head.safetensors'), 'f32');

const cases: [string, string, Partial<TrainSettings>][] = [
  ['lite', '', {}],
  ['KL to the teacher', '_kl', { loss: 'kl' }],
  ['4 targets a row and a full position unembedding', '_ext', { targets: 'all', positionUnembed: 'full', preset: 'baseline' }],
];

/** A quiet lite run on the parity data into tmp/`name`, with `settings` over the seed's. */
function runInputs(gpu: Gpu, name: string, data: { train: Dataset; test: Dataset }, settings: Partial<TrainSettings>, afterStep?: RunInputs['afterStep']): RunInputs {
  return {
    gpu,
    head,
    ...data,
    out: join(tmp, name.replace(/\W+/g, '-')),
    resume: false,
    quiet: true,
    print: () => {},
    provenance: {},
    settings: { ...SEED_SETTINGS, preset: 'lite', criticalLayers: [6, 9, 14, 15], batchSize: 24, ...settings },
    afterStep,
  };
}

for (const [label, suffix, settings] of cases) {
  test(`${label}: epochs 2 and 3 create no buffer and no bind group`, async () => {
    const gpu = await testGpu();
    const { train, test: testSet } = prepareTargets(loadDataset(join(DATA, `train${suffix}.safetensors`)), loadDataset(join(DATA, `test${suffix}.safetensors`)), { targets: settings.targets });
    let counter: { counts: ObjectCounts; stop(): void } | undefined;
    let steps = 0;
    try {
      await trainLens(runInputs(gpu, label, { train, test: testSet }, { epochs: 3, patience: 5, checkpoint: false, ...settings }, (epoch) => {
        if (epoch >= 2) steps++;
        if (epoch === 2 && !counter) counter = countObjects(gpu);
      }));
    } finally {
      counter?.stop();
    }
    const c = counter!.counts;
    const batches = steps + 2 * Math.ceil(testSet.count / 256);
    assert.is(c.buffers, 0, `${c.buffers} buffers created`);
    assert.is(c.bindGroups, 0, `${c.bindGroups} bind groups created`);
    assert.ok(c.writeBuffers <= 2 * batches, `${c.writeBuffers} writeBuffer calls for ${batches} steps and batches`);
    // The gather is a kernel: what remains are the copies of each step's losses (and ranks).
    assert.ok(c.copies <= 4 * batches, `${c.copies} buffer copies for ${batches} steps and batches`);
  });
}

test('a whole run, an eval and a trajectory leave no live buffer once their lenses, data and evaluators are destroyed', async () => {
  const gpu = await testGpu();
  const { train, test: testSet } = prepareTargets(loadDataset(join(DATA, 'train_ext.safetensors')), loadDataset(join(DATA, 'test_ext.safetensors')), { targets: 'all' });
  const { counts, labels, stop } = countObjects(gpu);
  try {
    await trainLens(runInputs(gpu, 'live', { train, test: testSet }, { epochs: 2, targets: 'all', positionUnembed: 'full' }));
    const lens = join(tmp, 'live', 'lens.safetensors');
    await evaluateLensFile(gpu, head, lens, testSet, 64, {}, () => {}, { kl: false, finalNormed: false });
    await trajectory(gpu, head, testSet, testSet.example![0]!, lens);
    // The device's own pool of read-back staging buffers is the device's to free.
    gpu.releaseStaging();
  } finally {
    stop();
  }
  assert.ok(counts.buffers > 0);
  assert.is(counts.live, 0, `${counts.live} of ${counts.buffers} buffers still alive (${labels.length} made)`);
});

// The memory plan is what a run allocates: the most bytes of GPU buffers alive at once over a
// whole run (mapped read-back buffers aside) are the plan's total and, exactly, the few small
// buffers it leaves out: the step tables' params slots (a batch's rows from host memory in
// them are planned), AdamW's clip state and per-group norm partials.
const UNPLANNED = ['lens step tables', 'adamw clip state', 'adamw norm partials'];
for (const [label, suffix, settings, extra] of [
  ['lite, its data on the GPU', '', {}, {}],
  ['lite, its data in host memory, over buffers of 100,000 bytes', '', {}, { dataOn: 'host', maxBuffer: 100_000 }],
  ['4 targets a row and a full position unembedding, over buffers of 100,000 bytes', '_ext', { targets: 'all', positionUnembed: 'full', preset: 'baseline' }, { maxBuffer: 100_000 }],
] as const) {
  test(`the memory plan is what the run allocates (${label})`, async () => {
    const gpu = 'maxBuffer' in extra ? await openTestGpu({ maxBuffer: extra.maxBuffer }) : await testGpu();
    const { train, test: testSet } = prepareTargets(loadDataset(join(DATA, `train${suffix}.safetensors`)), loadDataset(join(DATA, `test${suffix}.safetensors`)), { targets: (settings as Partial<TrainSettings>).targets });
    const lines: string[] = [];
    const { counts, bytesByLabel, stop } = countObjects(gpu);
    let planned: number;
    try {
      const inputs = runInputs(gpu, `plan ${label}`, { train, test: testSet }, { epochs: 1, ...settings });
      const kernels = builtInChoices({ hasSubgroups: gpu.hasSubgroups, cpu: gpu.isCpuDriver });
      ({ plannedBytes: planned } = await trainLens({ ...inputs, kernels, print: (l) => lines.push(l), ...('dataOn' in extra ? { dataOn: extra.dataOn } : {}) }));
    } finally {
      stop();
      if (gpu !== (await testGpu())) gpu.destroy();
    }
    const staged = Number(/batch rows from host memory ([\d.]+) KiB/.exec(lines.join('\n'))?.[1] ?? 0) * 1024;
    const unplanned = UNPLANNED.reduce((n, l) => n + (bytesByLabel.get(l) ?? 0), 0) - staged;
    assert.ok(unplanned > 0 && unplanned < 64 * 1024, `${unplanned} bytes outside the plan`);
    assert.is(counts.peakBytes - planned, unplanned, `peak ${counts.peakBytes} bytes, planned ${planned}`);
    assert.is(counts.liveBytes, 0);
  });
}

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
