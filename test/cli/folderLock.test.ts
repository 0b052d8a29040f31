// One writer per run folder: two trains started together on one --out (one refused with a line
// naming the holder, the other's run whole), a lock whose process is gone taken over with a
// note, and the lock gone once a run ends.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FolderLock, LOCK_FILE } from '../../src/train/runFolder.ts';
import { cli, cliAsync } from '../helpers/cli.ts';

const test = suite('run folder lock');
const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-lock-'));
const train = [
  'train',
  ...['--train', join(DATA, 'train.safetensors'), '--test', join(DATA, 'test.safetensors'), '--head', join(DATA, 'head.safetensors')],
  ...['--batch-size', '24', '--epochs', '1', '--quiet'],
];

test('two trains on one --out at once: one runs, the other is refused naming the holder', async () => {
  const out = join(tmp, 'both');
  const [a, b] = [cliAsync(...train, '--out', out), cliAsync(...train, '--out', out)];
  const results = await Promise.all([a.done, b.done]);
  const statuses = results.map((r) => r.status).sort();
  assert.equal(statuses, [0, 1], results.map((r) => r.stderr).join('\n'));
  const refused = results.find((r) => r.status === 1)!;
  assert.match(refused.stderr, /^lensgpu: .*both is being written by another lensgpu \(pid \d+ on .+, since .+\): wait for it to finish, or choose another --out$/m);
  assert.ok(existsSync(join(out, 'lens.safetensors')) && existsSync(join(out, 'metrics.json')), 'the run that held the lock finished');
  assert.not.ok(existsSync(join(out, LOCK_FILE)), 'the lock is released');
});

test('a lock left by a process that is gone is taken over, with a note', () => {
  const out = join(tmp, 'stale');
  mkdirSync(out);
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeFileSync(join(out, LOCK_FILE), JSON.stringify({ pid: Number(gone.stdout), host: hostname(), started: '2026-01-01T00:00:00.000Z' }));
  const r = cli(...train, '--out', out);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`taking over the lock of a lensgpu that is gone \\(pid ${gone.stdout}, since 2026-01-01`));
  assert.not.ok(existsSync(join(out, LOCK_FILE)));
});

test('a live holder on this host is refused; a lock of our own is released, a folder it made and left empty removed', () => {
  const out = join(tmp, 'held');
  const lock = FolderLock.acquire(out);
  assert.equal(JSON.parse(readFileSync(join(out, LOCK_FILE), 'utf8')).pid, process.pid);
  assert.throws(() => FolderLock.acquire(out), /is being written by another lensgpu \(pid \d+/);
  lock.release();
  assert.not.ok(existsSync(out), 'the empty folder the lock made is gone');
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
