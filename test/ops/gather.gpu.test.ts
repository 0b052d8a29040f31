// The gather kernel: a batch's rows of a data set in slot order, bit for bit, also from a
// source split into binding windows (rows at the windows' edges, repeated rows, a width that
// is no multiple of the workgroup, one slot).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { uniformF32, uniformInt } from '../../src/data/counterRng.ts';
import { Gather, gatherRef } from '../../src/ops/gather.ts';
import { runOne } from '../helpers/bound.ts';
import { buf, testGpu, u32 } from '../helpers/gpu.ts';

const test = suite('gather');

async function gatherCase(rows: number, width: number, rowIds: Uint32Array, maxBinding?: number) {
  const gpu = await testGpu();
  const op = await Gather.create(gpu, maxBinding);
  const src = uniformF32(31 + width, rows * width, 3);
  const b = { src: buf(gpu, 'src', src), dst: buf(gpu, 'dst', new Float32Array(rowIds.length * width).fill(-7)) };
  const sources = [{ src: b.src, dst: b.dst, width }];
  await runOne(gpu, `gather ${rows}×${width}`, (t) => op.bind(t, { rows, sources }, rowIds.length), { rows: rowIds, ranges: [] });
  const got = await u32(gpu, b.dst, rowIds.length * width);
  assert.equal(Array.from(got), Array.from(gatherRef(src, rowIds, width)));
}

test('100 rows of 50 words in 4 windows of 32 rows: edges, repeats, any order', async () => {
  const edges = [0, 31, 32, 63, 64, 95, 96, 99, 31, 0];
  const random = Array.from(uniformInt(5, 23, 100));
  // 200-byte rows start on 256-byte boundaries every 32 rows: windows of 32 within 6,400 bytes.
  await gatherCase(100, 50, Uint32Array.from([...edges, ...random]), 6400);
});

test('one slot; a source in one binding', () => gatherCase(9, 3, Uint32Array.from([8])));

test('2,048-word rows (the seed\'s hidden states), batch 33', () => gatherCase(40, 2048, Uint32Array.from(uniformInt(9, 33, 40))));

test.run();
