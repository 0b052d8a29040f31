// Checksummed checkpoints and lenses: bit flips in a checkpoint's data or header are refused on
// --resume with one line naming what is intact; a damaged lens is refused by eval; an intact
// file verifies, and a file another tool wrote (no checksum) is read as before.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SafetensorsFile, writeSafetensors } from '../../src/data/safetensors.ts';
import { cli } from '../helpers/cli.ts';

const test = suite('checksums');
const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-crc-'));
const files = ['--train', join(DATA, 'train.safetensors'), '--test', join(DATA, 'test.safetensors'), '--head', join(DATA, 'head.safetensors')];
const run = join(tmp, 'run');

/** A copy of the run folder with `edit` applied to one of its files' bytes. */
function damaged(name: string, file: string, edit: (bytes: Buffer) => void): string {
  const dir = join(tmp, name);
  cpSync(run, dir, { recursive: true });
  const bytes = readFileSync(join(dir, file));
  edit(bytes);
  writeFileSync(join(dir, file), bytes);
  return dir;
}

const dataStart = (bytes: Buffer) => 8 + Number(bytes.readBigUInt64LE(0));

test('a run writes checksummed files that verify', () => {
  const r = cli('train', ...files, '--batch-size', '24', '--epochs', '1', '--quiet', '--out', run);
  assert.is(r.status, 0, r.stderr);
  for (const f of ['checkpoint.safetensors', 'lens.safetensors']) {
    const file = SafetensorsFile.open(join(run, f));
    assert.is(file.verify(), 'ok', f);
    file.close();
  }
});

test("bit flips in a checkpoint's data are refused on --resume, naming the intact lens", () => {
  const dir = damaged('data-flips', 'checkpoint.safetensors', (b) => {
    const at = dataStart(b) + Math.floor((b.length - dataStart(b)) / 2);
    for (let i = 0; i < 585; i++) b[at + i * 7]! ^= 1 << i % 8;
  });
  const r = cli('train', ...files, '--batch-size', '24', '--epochs', '2', '--quiet', '--out', dir, '--resume');
  assert.is(r.status, 1, r.stdout);
  assert.match(r.stderr, /^lensgpu: .*checkpoint\.safetensors: damaged \(its CRC-32 does not match its contents\), so the run cannot be resumed from it; .*lens\.safetensors is intact \(best epoch 1\); start the run again with --overwrite, or keep that lens$/);
  assert.is(r.stderr.split('\n').length, 1, r.stderr);
});

test("a changed value in a checkpoint's header (still valid JSON) is refused too", () => {
  const dir = damaged('header-flip', 'checkpoint.safetensors', (b) => {
    const header = b.subarray(8, dataStart(b));
    const at = header.indexOf('epochsDone\\":1');
    assert.ok(at > 0, 'the state in the header');
    header[at + 'epochsDone\\":'.length] = '3'.charCodeAt(0);
  });
  const r = cli('train', ...files, '--batch-size', '24', '--epochs', '2', '--quiet', '--out', dir, '--resume');
  assert.is(r.status, 1, r.stdout);
  assert.match(r.stderr, /checkpoint\.safetensors: damaged \(its CRC-32 does not match its contents\)/);
});

test('eval refuses a damaged lens and reads an intact one', () => {
  const dir = damaged('lens-flip', 'lens.safetensors', (b) => (b[b.length - 5]! ^= 0x10));
  const evalOf = (lens: string) => cli('eval', '--lens', lens, '--data', join(DATA, 'test.safetensors'), '--head', join(DATA, 'head.safetensors'));
  const bad = evalOf(join(dir, 'lens.safetensors'));
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /^lensgpu: .*lens\.safetensors: damaged \(its CRC-32 does not match its contents\); train again, or use an intact copy$/);
  assert.is(evalOf(join(run, 'lens.safetensors')).status, 0);
});

test('a file without a checksum (written by another tool) reads as before; our writer adds one beside the metadata', () => {
  const lens = join(DATA, 'lens_lite_pytorch.safetensors');
  const file = SafetensorsFile.open(lens);
  assert.is(file.verify(), 'absent');
  file.close();
  mkdirSync(join(tmp, 'own'));
  const path = join(tmp, 'own', 'x.safetensors');
  writeSafetensors(path, [{ name: 't', dtype: 'F32', shape: [3], data: Float32Array.from([1, 2, 3]) }], { note: 'kept' });
  const own = SafetensorsFile.open(path);
  assert.is(own.verify(), 'ok');
  assert.is(own.metadata.note, 'kept');
  assert.match(own.metadata.crc32!, /^[0-9a-f]{8}$/);
  own.close();
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
