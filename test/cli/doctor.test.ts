// `lensgpu doctor`: the adapter, its features and the kernel variants they select, its limits,
// the memory a run may use and the PyTorch for the bench; with no adapter one line with the fix
// and exit status 1.
import { spawnSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cleanStderr, cliWith } from '../helpers/cli.ts';

const test = suite('doctor');
const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

test('says what this machine offers, one line a subject', () => {
  const r = cliWith({ XDG_CACHE_HOME: '/nonexistent-cache' }, 'doctor');
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.map((l) => l.split(':')[0].replace(/ for a (CPU driver|GPU)$/, '')), ['adapter', 'Dawn', 'features the kernels use', 'kernels built in (--tune off)', 'kernels tuned for this adapter', 'limits', 'memory', 'PyTorch for the bench']);
  assert.match(r.stdout, /^kernels built in \(--tune off\) for a (CPU driver|GPU): unembed \w+, translatorForward \w+, translatorBackward \w+, rmsnorm \w+, topk \w+; /m);
  assert.match(r.stdout, /^kernels tuned for this adapter: none yet \(.*cache \/nonexistent-cache\/lensgpu\/tuning\.json\)$/m);
  assert.match(r.stdout, /^features the kernels use: subgroups (yes \(sizes \d+–\d+\)|no), shader-f16 (yes|no), timestamp-query (yes|no)$/m);
  assert.match(r.stdout, /^limits: largest buffer [\d.]+ \w+, storage binding [\d.]+ \w+, /m);
});

test('no adapter: one line with the fix, exit status 1', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'doctor'], { encoding: 'utf8', env: { ...process.env, VK_DRIVER_FILES: '/nonexistent/icd.json', VK_ICD_FILENAMES: '' } });
  assert.is(r.status, 1, r.stdout + r.stderr);
  const ours = cleanStderr(r.stderr).split('\n').filter((l) => l.startsWith('lensgpu:'));
  assert.equal(ours, ['lensgpu: no WebGPU adapter found: install a Vulkan driver (or Mesa lavapipe: `make setup`)']);
  assert.is(r.stdout, '');
});

test.run();
