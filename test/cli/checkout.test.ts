// The command in a checkout as a newcomer meets it: `lensgpu --version`, and bin/lensgpu.js
// running the TypeScript sources (through tsx) where no dist/ was built.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cli } from '../helpers/cli.ts';

const test = suite('checkout');
const ROOT = new URL('../../', import.meta.url).pathname;
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;

test('--version prints the package version', () => {
  const r = cli('--version');
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), VERSION);
});

test('bin/lensgpu.js without dist/ runs the sources', () => {
  // A checkout's layout without dist/: the command, the sources, the kernels, the dependencies.
  const dir = mkdtempSync(join(tmpdir(), 'lensgpu-checkout-'));
  try {
    mkdirSync(join(dir, 'bin'));
    cpSync(join(ROOT, 'bin/lensgpu.js'), join(dir, 'bin/lensgpu.js'));
    cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    for (const d of ['src', 'kernels', 'node_modules']) symlinkSync(join(ROOT, d), join(dir, d));
    const r = spawnSync(process.execPath, [join(dir, 'bin/lensgpu.js'), '--version'], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout.trim(), VERSION);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
