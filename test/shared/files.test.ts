// Atomic writes and their failures in the user's words: a full disk (an injected writer that
// fails as a full disk does) and a missing folder end in one InputError naming the file, the
// cause and what is intact; the file as it was stays whole and no temporary file is left.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { InputError } from '../../src/shared/errors.ts';
import { writeAtomic, writeFileAtomic } from '../../src/shared/files.ts';
import { cli } from '../helpers/cli.ts';

const test = suite('atomic files');
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-files-'));

/** A writer that writes some bytes, then fails as a full disk does. */
const fullDisk = (fd: number) => {
  writeSync(fd, 'half of the new file');
  throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
};

test('a full disk: one line naming the file and the cause; the old file whole, no temporary left', () => {
  const path = join(tmp, 'lens.safetensors');
  writeFileSync(path, 'the old lens');
  const e = (() => {
    try {
      writeAtomic(path, fullDisk);
    } catch (err) {
      return err as Error;
    }
  })();
  assert.instance(e, InputError);
  assert.is(e!.message, `cannot write ${path}: no space left on the device: free some space, or write elsewhere (ENOSPC); ${path} as it was before is intact`);
  assert.is(readFileSync(path, 'utf8'), 'the old lens');
  assert.equal(readdirSync(tmp), ['lens.safetensors']);
});

test('a missing folder: says so, nothing written', () => {
  const path = join(tmp, 'no', 'such', 'report.md');
  assert.throws(() => writeFileAtomic(path, 'x'), (e: Error) => e instanceof InputError && e.message === `cannot write ${path}: its folder does not exist: create it first, or write elsewhere (ENOENT); nothing was written to ${path}`);
});

test('compare --save into a missing folder: one line, exit 1, no stack', () => {
  const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
  const run = join(tmp, 'run');
  const files = ['--train', join(DATA, 'train.safetensors'), '--test', join(DATA, 'test.safetensors'), '--head', join(DATA, 'head.safetensors')];
  assert.is(cli('train', ...files, '--batch-size', '24', '--epochs', '1', '--quiet', '--no-checkpoint', '--out', run).status, 0);
  const r = cli('compare', run, '--save', join(tmp, 'missing', 'c.md'));
  assert.is(r.status, 1, r.stdout);
  assert.match(r.stderr, /^lensgpu: cannot write .*missing\/c\.md: its folder does not exist: create it first, or write elsewhere \(ENOENT\); nothing was written to .*c\.md$/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
