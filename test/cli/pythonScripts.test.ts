// `lensgpu dump` and `lensgpu export-tuned-lens` run the shipped Python scripts with the user's
// Python: without torch (or without that Python) one line says so, exit 1; with torch the
// script's own flags pass through.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cleanStderr } from '../helpers/cli.ts';
import { torchPython } from '../helpers/python.ts';

const test = suite('python scripts');
const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-py-'));

function lensgpu(python: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { encoding: 'utf8', env: { ...process.env, PYTHON: python } });
  return { status: r.status, stdout: r.stdout, stderr: cleanStderr(r.stderr) };
}

test('a Python without torch: one line naming the script, the Python and the fix', () => {
  const fake = join(tmp, 'python-without-torch');
  writeFileSync(fake, '#!/bin/sh\nexit 1\n');
  chmodSync(fake, 0o755);
  const r = lensgpu(fake, 'dump', '--model', 'm', '--prompts', 'p.jsonl', '--out', join(tmp, 'out'));
  assert.is(r.status, 1);
  assert.is(r.stderr, `lensgpu: lensgpu dump runs dump_hidden_states.py with ${fake}, and ${fake} has no torch: install PyTorch and transformers for it, or set PYTHON to a Python that has them`);
  const missing = lensgpu(join(tmp, 'no-such-python'), 'export-tuned-lens', 'lens.safetensors');
  assert.is(missing.status, 1);
  assert.match(missing.stderr, /^lensgpu: lensgpu export-tuned-lens runs export_tuned_lens\.py with .*no-such-python, and .*no-such-python cannot be run \(ENOENT\): install PyTorch for it/);
});

test("with torch, the script's own flags pass through", () => {
  if (!torchPython) return void console.log('  (skipped: no Python with torch here; PYTHON=… names one)');
  const r = lensgpu(torchPython, 'export-tuned-lens', '--help');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /--model-dir/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
