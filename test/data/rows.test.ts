// Hidden states in host memory, held in chunks of whole rows (no GPU): rows, byte runs across
// chunk edges, a subset of rows, and one flat array, against the same values in one array.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rows } from '../../src/data/rows.ts';

const test = suite('rows in chunks');
const [count, width] = [23, 5];
const values = Uint16Array.from({ length: count * width }, (_, i) => i);
// 30 bytes: 3 rows of 10 bytes a chunk, 8 chunks (the last of 2 rows).
const rows = Rows.build(count, width, 2, (first, n) => values.slice(first * width, (first + n) * width), 30);
const bytes = (a: ArrayBufferView) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

test('chunks of whole rows; each row where one array has it', () => {
  assert.is(rows.chunks.length, 8);
  assert.is(rows.rowsPerChunk, 3);
  for (const r of [0, 2, 3, 21, 22]) assert.equal(Array.from(rows.row(r)), Array.from(values.subarray(r * width, (r + 1) * width)), `row ${r}`);
  assert.equal(bytes(rows.bytes(4)), bytes(values.subarray(20, 25)));
});

test('byte runs of a range of rows, one a chunk, across chunk edges', () => {
  for (const [first, n, runs] of [[0, 23, 8], [2, 2, 2], [3, 3, 1], [4, 1, 1], [20, 3, 2]] as const) {
    const got = rows.runs(first, n);
    assert.is(got.length, runs, `rows ${first}+${n}`);
    assert.equal(got.flatMap(bytes), bytes(values.subarray(first * width, (first + n) * width)), `rows ${first}+${n}`);
  }
});

test('a subset of rows, in the order given, and one flat array', () => {
  const keep = [22, 0, 5, 5, 13];
  const picked = rows.pick(keep);
  assert.is(picked.count, 5);
  assert.is(picked.rowsPerChunk, 3);
  assert.equal(Array.from(picked.flat()), keep.flatMap((r) => Array.from(values.subarray(r * width, (r + 1) * width))));
  assert.equal(Array.from(rows.flat()), Array.from(values));
  assert.is(Rows.of(values, width).flat(), values);
});

test.run();
