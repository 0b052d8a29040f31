// Hidden states kept as bf16 or f16, 2 bytes a value on the host and the GPU (the gather
// widens them): a run on them is bit for bit the run on the same values given as f32, also
// with its arrays split over small buffers, and the plan counts half the bytes for them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadDataset, type Dataset } from '../../src/data/dataset.ts';
import { loadHeadFile } from '../../src/data/head.ts';
import { writeSafetensors } from '../../src/data/safetensors.ts';
import { Gpu } from '../../src/gpu/device.ts';
import { readLensFile } from '../../src/lens/lensFile.ts';
import type { HalfDtype } from '../../src/shared/constants.ts';
import { f16Bits } from '../../src/shared/f16.ts';
import { SEED_SETTINGS, type TrainSettings } from '../../src/train/settings.ts';
import { trainLens } from '../../src/train/trainer.ts';
import { openTestGpu, testGpu } from '../helpers/gpu.ts';
import { halfToF32 } from '../helpers/half.ts';
import { Rows } from '../../src/data/rows.ts';

const test = suite('bf16 and f16 data');
const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
const head = loadHeadFile(join(DATA, 'head.safetensors'), 'f32');
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-half-'));

/** f32 values rounded to bf16 (nearest, ties to even) or f16 bits. */
function toHalf(half: HalfDtype, a: Float32Array): Uint16Array {
  if (half === 'f16') return Uint16Array.from(a, f16Bits);
  const bits = new Uint32Array(a.buffer, a.byteOffset, a.length);
  return Uint16Array.from(bits, (b) => (b + 0x7fff + ((b >>> 16) & 1)) >>> 16);
}

/** The data set with its hidden (and final hidden) states as 16-bit bits, and the same values as f32. */
function halfAndWide(ds: Dataset, half: HalfDtype): [Dataset, Dataset] {
  const bits = toHalf(half, ds.hidden.flat() as Float32Array);
  const final = ds.finalHidden && toHalf(half, ds.finalHidden.flat() as Float32Array);
  const rows = (a: Float32Array | Uint16Array) => Rows.of(a, ds.d);
  const halfSet = { ...ds, hidden: rows(bits), hiddenHalf: half, ...(final ? { finalHidden: rows(final), finalHiddenHalf: half } : {}) };
  const wide = { ...ds, hidden: rows(halfToF32(half, bits)), ...(final ? { finalHidden: rows(halfToF32(half, final)) } : {}) };
  return [halfSet, wide];
}

async function run(gpu: Gpu, train: Dataset, testSet: Dataset, change: Partial<TrainSettings>, dataOn: 'gpu' | 'host' = 'gpu') {
  const out = mkdtempSync(join(tmp, 'run-'));
  const lines: string[] = [];
  const settings = { ...SEED_SETTINGS, preset: 'lite' as const, criticalLayers: [6, 9, 14, 15], epochs: 2, checkpoint: false, shuffle: true, batchSize: 20, ...change };
  const result = await trainLens({ gpu, head, train, test: testSet, out, resume: false, quiet: true, dataOn, print: (l) => lines.push(l), provenance: {}, settings });
  const lens = readLensFile(join(out, 'lens.safetensors'));
  return { history: result.history, blocks: Buffer.from(lens.blocks.buffer), unembed: lens.unembed, plan: lines.find((l) => l.startsWith('GPU memory:'))! };
}

const trainBytes = (plan: string) => /train set ([\d.]+) KiB/.exec(plan)?.[1];

for (const half of ['bf16', 'f16'] as const) {
  test(`${half} hidden states: the run is the run on their f32 values, with half the train set's bytes`, async () => {
    const gpu = await testGpu();
    const [train, wideTrain] = halfAndWide(loadDataset(join(DATA, 'train.safetensors')), half);
    const [testSet, wideTest] = halfAndWide(loadDataset(join(DATA, 'test.safetensors')), half);
    const a = await run(gpu, train, testSet, {});
    const b = await run(gpu, wideTrain, wideTest, {});
    assert.equal(a.history, b.history);
    assert.ok(a.blocks.equals(b.blocks), 'translator blocks');
    // 768 samples: hidden 768 × 48 × 2 bytes instead of × 4, their targets and losses unchanged.
    assert.is(Number(trainBytes(b.plan)) - Number(trainBytes(a.plan)), (768 * 48 * 2) / 1024);
  });
}

test('bf16 final hidden states (--loss kl, --position-unembed full), split over buffers of 30,000 bytes, and in host memory', async () => {
  // 3 translator blocks a buffer, one position's block, 312 rows of bf16 states (U and a position block are larger: one each).
  const small = await openTestGpu({ maxBuffer: 30_000 });
  try {
    const [train, wideTrain] = halfAndWide(loadDataset(join(DATA, 'train_kl.safetensors')), 'bf16');
    const [testSet, wideTest] = halfAndWide(loadDataset(join(DATA, 'test_kl.safetensors')), 'bf16');
    const kl = { loss: 'kl' as const, positionUnembed: 'full' as const, preset: 'baseline' as const };
    const a = await run(small, train, testSet, kl);
    const b = await run(await testGpu(), wideTrain, wideTest, kl);
    const c = await run(small, train, testSet, kl, 'host');
    assert.match(a.plan, /train set [\d.]+ KiB in 8 buffers/);
    for (const [label, other] of [['split', a], ['host', c]] as const) {
      assert.equal(other.history, b.history, `${label}: epochs`);
      assert.ok(other.blocks.equals(b.blocks), `${label}: translator blocks`);
      assert.equal(other.unembed, b.unembed, `${label}: position unembedding`);
    }
  } finally {
    small.destroy();
  }
});

test('hidden states held in chunks of 10,000 bytes (bf16: 104 rows a chunk), on the GPU and in host memory: the run from one array', async () => {
  const gpu = await testGpu();
  const load = (name: string) => halfAndWide(loadDataset(join(DATA, name)), 'bf16')[0];
  const [train, testSet] = [load('train.safetensors'), load('test.safetensors')];
  const rechunk = (ds: Dataset): Dataset => ({ ...ds, hidden: Rows.build(ds.count, ds.d, 2, (first, n) => ds.hidden.flat().slice(first * ds.d, (first + n) * ds.d), 10_000) });
  const [chunkedTrain, chunkedTest] = [rechunk(train), rechunk(testSet)];
  assert.is(chunkedTrain.hidden.chunks.length, Math.ceil(768 / 104));
  const one = await run(gpu, train, testSet, {});
  for (const dataOn of ['gpu', 'host'] as const) {
    const chunked = await run(gpu, chunkedTrain, chunkedTest, {}, dataOn);
    assert.equal(chunked.history, one.history, `${dataOn}: epochs`);
    assert.ok(chunked.blocks.equals(one.blocks), `${dataOn}: translator blocks`);
  }
});

test('a bf16 data file is loaded as its bits (2 bytes a value), and inf in it is refused', () => {
  const ds = loadDataset(join(DATA, 'test.safetensors'));
  const bits = toHalf('bf16', ds.hidden.flat() as Float32Array);
  const tensors = (hidden: Uint16Array) => [
    { name: 'hidden', dtype: 'BF16' as const, shape: [ds.count, ds.d], data: hidden },
    { name: 'layer', dtype: 'I32' as const, shape: [ds.count], data: ds.layer },
    { name: 'position', dtype: 'I32' as const, shape: [ds.count], data: ds.position },
    { name: 'target', dtype: 'I32' as const, shape: [ds.count], data: ds.target },
  ];
  writeSafetensors(join(tmp, 'bf16.safetensors'), tensors(bits));
  const loaded = loadDataset(join(tmp, 'bf16.safetensors'));
  assert.is(loaded.hiddenHalf, 'bf16');
  assert.ok(loaded.hidden.chunks[0] instanceof Uint16Array);
  assert.equal(Array.from(loaded.hidden.flat()), Array.from(bits));
  // In chunks of 10,000 bytes (104 rows) too; an inf is named by its row in the whole set.
  assert.equal(Array.from(loadDataset(join(tmp, 'bf16.safetensors'), 10_000).hidden.flat()), Array.from(bits));
  const bad = bits.slice();
  bad[150 * ds.d + 7] = 0x7f80;
  writeSafetensors(join(tmp, 'inf.safetensors'), tensors(bad));
  for (const chunkBytes of [undefined, 10_000]) {
    assert.throws(() => loadDataset(join(tmp, 'inf.safetensors'), chunkBytes), /hidden\[150, 7\] is inf or NaN \(values must be finite\)/);
  }
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
