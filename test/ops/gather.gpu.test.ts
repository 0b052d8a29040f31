// The gather kernel: a batch's rows of a data set in slot order, bit for bit, also from a
// source split into binding windows and over several buffers (rows at the edges, repeated
// rows, a width that is no multiple of the workgroup, one slot), and bf16 / f16 rows widened
// to f32 exactly (odd widths: rows that start mid-word; f16 subnormals); and rows of data in
// host memory, staged through the step tables, alike.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { uniformF32, uniformInt } from '../../src/data/counterRng.ts';
import { bufferParts, createBuffer, writeRuns, type BufferLimits } from '../../src/gpu/buffers.ts';
import { Rows } from '../../src/data/rows.ts';
import { Gather, gatherRef, sourceRowBytes, type HalfDtype } from '../../src/ops/gather.ts';
import { runBound, runOne } from '../helpers/bound.ts';
import { buf, bufParts, testGpu, u32 } from '../helpers/gpu.ts';
import { halfToF32 } from '../helpers/half.ts';

const test = suite('gather');

/** Random finite 16-bit floats: bf16 from f32 values, f16 from any bits but inf and NaN (subnormals included). */
function halves(half: HalfDtype, n: number, seed: number): Uint16Array {
  if (half === 'bf16') return Uint16Array.from(new Uint32Array(uniformF32(seed, n, 3).buffer), (bits) => bits >>> 16);
  return Uint16Array.from(uniformInt(seed, n, 0xf800), (b) => (b < 0x7c00 ? b : b - 0x7c00 + 0x8000));
}

async function gatherCase(rows: number, width: number, rowIds: Uint32Array, limits: Partial<BufferLimits> = {}, half?: HalfDtype) {
  const gpu = await testGpu();
  const op = await Gather.create(gpu, limits);
  const src = half ? halves(half, rows * width, 31 + width) : uniformF32(31 + width, rows * width, 3);
  const parts = bufferParts(rows, sourceRowBytes(width, half), gpu.bufferLimits(limits).maxBuffer);
  const b = { src: bufParts(gpu, 'src', src, parts), dst: buf(gpu, 'dst', new Float32Array(rowIds.length * width).fill(-7)) };
  const sources = [{ src: b.src, dst: b.dst, width, half }];
  await runOne(gpu, `gather ${rows}×${width}`, (t) => op.bind(t, { rows, sources }, rowIds.length), { rows: rowIds, ranges: [] });
  const got = await u32(gpu, b.dst, rowIds.length * width);
  const words = half ? halfToF32(half, src as Uint16Array) : (src as Float32Array);
  assert.equal(Array.from(got), Array.from(gatherRef(words, rowIds, width)));
  return parts.length;
}

test('100 rows of 50 words in 4 windows of 32 rows: edges, repeats, any order', async () => {
  const edges = [0, 31, 32, 63, 64, 95, 96, 99, 31, 0];
  const random = Array.from(uniformInt(5, 23, 100));
  // 200-byte rows start on 256-byte boundaries every 32 rows: windows of 32 within 6,400 bytes.
  await gatherCase(100, 50, Uint32Array.from([...edges, ...random]), { maxBinding: 6400 });
});

test('100 rows of 50 words over 3 buffers of 40 rows', async () => {
  const rows = Uint32Array.from([0, 39, 40, 79, 80, 99, 40, 0, ...uniformInt(6, 20, 100)]);
  assert.is(await gatherCase(100, 50, rows, { maxBuffer: 40 * 200 }), 3);
});

for (const half of ['bf16', 'f16'] as const) {
  test(`${half} rows widened to f32: 300 rows of 51 values (102 bytes) over 2 buffers in 3 windows`, async () => {
    // Rows start on 256-byte boundaries every 128 rows: windows of 128 rows in buffers of 200.
    const rows = Uint32Array.from([0, 127, 128, 199, 200, 255, 256, 299, 1, 201, ...uniformInt(7, 30, 300)]);
    assert.is(await gatherCase(300, 51, rows, { maxBinding: 128 * 102, maxBuffer: 200 * 102 }, half), 2);
  });
  test(`${half} rows of 2,048 values, batch 33, odd row count in one buffer`, async () => {
    await gatherCase(41, 2048, Uint32Array.from(uniformInt(10, 33, 41)), {}, half);
  });
}

test('bf16 rows of 51 values held in chunks of 7 rows, uploaded over 2 buffers: chunk edges mid-word, read as from one array', async () => {
  const gpu = await testGpu();
  const [rows, width] = [300, 51];
  const values = halves('bf16', rows * width, 12);
  const chunked = Rows.build(rows, width, 2, (first, n) => values.slice(first * width, (first + n) * width), 7 * 102);
  const limits = { maxBinding: 128 * 102, maxBuffer: 200 * 102 };
  const parts = bufferParts(rows, 102, limits.maxBuffer);
  const src = parts.map((p, i) => createBuffer(gpu, `chunked ${i}`, p.byteLength));
  parts.forEach((p, i) => writeRuns(gpu, src[i]!, chunked.runs(p.first, p.count)));
  const rowIds = Uint32Array.from([0, 6, 7, 199, 200, 203, 206, 299, ...uniformInt(13, 30, rows)]);
  const dst = buf(gpu, 'dst', new Float32Array(rowIds.length * width));
  const op = await Gather.create(gpu, limits);
  await runOne(gpu, 'gather chunked', (t) => op.bind(t, { rows, sources: [{ src, dst, width, half: 'bf16' }] }, rowIds.length), { rows: rowIds, ranges: [] });
  assert.equal(Array.from(await u32(gpu, dst, rowIds.length * width)), Array.from(gatherRef(halfToF32('bf16', values), rowIds, width)));
});

// Host-resident data: each call writes its batch's rows into the step tables' staging, which
// two data sets share; a smaller batch after a larger one must not read the rows left behind.
for (const half of [undefined, 'bf16', 'f16'] as const) {
  test(`rows in host memory (${half ?? 'f32'}, 51 values a row): two data sets, batches of 33 then 5 through one staging`, async () => {
    const gpu = await testGpu();
    const op = await Gather.create(gpu);
    const [width, maxRows] = [51, 40];
    const sets = [60, 45].map((rows, k) => ({ rows, src: half ? halves(half, rows * width, 40 + k) : uniformF32(40 + k, rows * width, 3) }));
    const dst = buf(gpu, 'dst', new Float32Array(maxRows * width).fill(-7));
    const rowBytes = sourceRowBytes(width, half);
    const host = (a: Float32Array | Uint16Array) => (row: number) => new Uint8Array(a.buffer, a.byteOffset + row * rowBytes, rowBytes);
    for (const [k, rowIds] of [[0, Uint32Array.from(uniformInt(11, 33, 60))], [1, Uint32Array.from([44, 0, 44, 7, 1])]] as const) {
      const { src } = sets[k]!;
      await runBound(gpu, `host gather ${k}`, (t) => {
        const staging = Gather.stage(t, [width], maxRows);
        const calls = sets.map((set) => op.bindHost(t, { rows: set.rows, sources: [{ src: host(set.src), dst, width, half }] }, staging, maxRows));
        return (pass) => calls[k]!.encode(pass, { rows: rowIds, ranges: [] });
      });
      const got = await u32(gpu, dst, rowIds.length * width);
      const words = half ? halfToF32(half, src as Uint16Array) : (src as Float32Array);
      assert.equal(Array.from(got), Array.from(gatherRef(words, rowIds, width)), `data set ${k}`);
    }
  });
}

test('one slot; a source in one binding', async () => void (await gatherCase(9, 3, Uint32Array.from([8]))));

test('2,048-word rows (the seed\'s hidden states), batch 33', async () => void (await gatherCase(40, 2048, Uint32Array.from(uniformInt(9, 33, 40)))));

test.run();
