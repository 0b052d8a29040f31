// Data in NumPy's formats (no GPU): the parity test set as np.savez, np.savez_compressed
// (hidden as float64) and np.save into a folder wrote it reads to exactly the safetensors
// file's arrays; malformed arrays are refused with one line that names the file and why.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadDataset, sha256File } from '../../src/data/dataset.ts';

const test = suite('numpy data');
const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-numpy-'));

const reference = loadDataset(join(DATA, 'test.safetensors'));

for (const name of ['test.npz', 'test_compressed.npz', 'test_npy']) {
  // Hidden states read in chunks of 10,000 bytes (52 rows of d 48) too: the same values.
  test(`${name} reads as test.safetensors, also in chunks of rows`, () => {
    const ds = loadDataset(join(DATA, name));
    const chunked = loadDataset(join(DATA, name), 10_000);
    assert.is(chunked.hidden.chunks.length, Math.ceil(reference.count / 52));
    assert.equal(Array.from(chunked.hidden.flat()), Array.from(reference.hidden.flat()));
    assert.is(ds.count, reference.count);
    assert.is(ds.d, reference.d);
    const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    assert.ok(bytes(ds.hidden.flat()).equals(bytes(reference.hidden.flat())), `${name}: hidden differs`);
    for (const key of ['layer', 'position', 'target'] as const) assert.ok(bytes(ds[key]).equals(bytes(reference[key])), `${name}: ${key} differs`);
  });
}

test('a folder of .npy files hashes by names and contents (recorded as the run\'s data)', async () => {
  const a = await sha256File(join(DATA, 'test_npy'));
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.is.not(a, await sha256File(join(DATA, 'test.npz')));
});

/** An .npy (version 1) with this header dict and data. */
function npy(header: string, data: Uint8Array): Buffer {
  let h = `${header} `;
  while ((10 + h.length + 1) % 64) h += ' ';
  h += '\n';
  const pre = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(pre);
  pre.writeUInt16LE(h.length, 8);
  return Buffer.concat([pre, Buffer.from(h, 'latin1'), data]);
}

/** A folder like test_npy with hidden.npy replaced. */
function folderWith(name: string, hidden: Buffer): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const n = reference.count;
  writeFileSync(join(dir, 'hidden.npy'), hidden);
  writeFileSync(join(dir, 'layer.npy'), npy(`{'descr': '<i4', 'fortran_order': False, 'shape': (${n},), }`, new Uint8Array(reference.layer.buffer.slice(0))));
  writeFileSync(join(dir, 'position.npy'), npy(`{'descr': '<i4', 'fortran_order': False, 'shape': (${n},), }`, new Uint8Array(reference.position.buffer.slice(0))));
  writeFileSync(join(dir, 'target.npy'), npy(`{'descr': '<i4', 'fortran_order': False, 'shape': (${n},), }`, new Uint8Array(reference.target.buffer.slice(0))));
  return dir;
}

test('malformed arrays: one line naming the file and what is wrong', () => {
  const n = reference.count;
  const d = reference.d;
  const data = new Uint8Array(reference.hidden.flat().buffer.slice(0));
  const cases: [string, Buffer, RegExp][] = [
    ['big-endian', npy(`{'descr': '>f4', 'fortran_order': False, 'shape': (${n}, ${d}), }`, data), /hidden\.npy: not a valid \.npy array \(dtype '>f4'.*astype/],
    ['fortran', npy(`{'descr': '<f4', 'fortran_order': True, 'shape': (${n}, ${d}), }`, data), /'hidden' is stored in Fortran order; save np\.ascontiguousarray/],
    ['short', npy(`{'descr': '<f4', 'fortran_order': False, 'shape': (${n}, ${d}), }`, data.subarray(0, 100)), /hidden\.npy: holds 100 bytes of data, its F32 shape \[192,48\] needs 36864/],
    ['no-magic', Buffer.from('not an array at all'), /hidden\.npy: not a valid \.npy array \(no \\x93NUMPY magic\)/],
    ['strings', npy(`{'descr': '<U5', 'fortran_order': False, 'shape': (${n}, ${d}), }`, data), /dtype '<U5'/],
  ];
  for (const [name, hidden, message] of cases) {
    const dir = folderWith(name, hidden);
    assert.throws(() => loadDataset(dir), (e: Error) => message.test(e.message) && !e.message.includes('\n'), name);
  }
  const empty = join(tmp, 'empty');
  mkdirSync(empty);
  assert.throws(() => loadDataset(empty), /empty: a folder without \.npy files/);
  writeFileSync(join(tmp, 'broken.npz'), 'PK\x03\x04 not really a zip');
  assert.throws(() => loadDataset(join(tmp, 'broken.npz')), /broken\.npz: not a valid \.npz file \(no zip directory\)/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
