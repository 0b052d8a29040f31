// The npm package as a user gets it: `npm pack` (which builds dist/), the tarball installed
// into an empty folder, and the installed command run: --help, synth, a 1-epoch train, and
// `lensgpu dump` on the tiny model where a Python with torch is found.
// Dependencies come from npm's cache where it has them (--prefer-offline).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cleanStderr } from '../helpers/cli.ts';
import { torchPython } from '../helpers/python.ts';

const test = suite('npm package');
const ROOT = new URL('../../', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-package-'));
const app = join(tmp, 'app');

function npx(...args: string[]) {
  const r = spawnSync('npx', ['--no-install', 'lensgpu', ...args], { cwd: app, encoding: 'utf8', env: { ...process.env, npm_config_yes: 'false', ...(torchPython ? { PYTHON: torchPython } : {}) } });
  return { status: r.status, stdout: r.stdout, stderr: cleanStderr(r.stderr) };
}

test('npm pack: compiled JavaScript, the kernels, no tests or fixtures, under 1 MB', () => {
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [info] = JSON.parse(out.slice(out.indexOf('[')));
  const files: string[] = info.files.map((f: { path: string }) => f.path);
  assert.ok(files.includes('bin/lensgpu.js') && files.includes('dist/cli/main.js') && files.includes('kernels/cross_entropy.wgsl'), files.join(', '));
  // The researcher's path ships too: the dump and export scripts `lensgpu dump` and `lensgpu export-tuned-lens` run.
  assert.ok(files.includes('scripts/dump_hidden_states.py') && files.includes('scripts/export_tuned_lens.py'), files.join(', '));
  // `lensgpu view`'s pages' script, bundled by the build.
  assert.ok(files.includes('dist/view/assets/app.js'), files.join(', '));
  assert.not.ok(files.some((f) => /^(test|fixtures|bench|src)\//.test(f) || f.endsWith('.ts')), files.join(', '));
  assert.ok(info.size < 1 << 20, `the tarball is ${info.size} bytes`);
});

test('installed into an empty folder: --help, synth and a 1-epoch train run with no dev dependency', () => {
  const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'))!;
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), '{ "name": "app", "private": true }\n');
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(tmp, tarball)], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
  assert.not.ok(existsSync(join(app, 'node_modules', 'tsx')), 'tsx was installed');
  const help = npx('--help');
  assert.is(help.status, 0, help.stderr);
  assert.match(help.stdout, /Usage: lensgpu/);
  const synth = npx('synth', '--d', '32', '--vocab', '300', '--num-layers', '2', '--positions', '3', '--train-per-layer', '24', '--test-per-layer', '6', '--out', 'data');
  assert.is(synth.status, 0, synth.stderr);
  const train = npx('train', '--train', 'data/train.safetensors', '--test', 'data/test.safetensors', '--head', 'data/head.safetensors', '--epochs', '1', '--quiet', '--out', 'run');
  assert.is(train.status, 0, train.stderr);
  assert.match(train.stdout, /best epoch 1: val loss \d/);
  assert.ok(existsSync(join(app, 'run', 'lens.safetensors')));
});

test("the installed `lensgpu dump` on the README's tiny model writes the data, the head and the tokenizer", () => {
  if (!torchPython) return void console.log('  (skipped: no Python with torch here; PYTHON=… names one)');
  const r = npx('dump', '--model', join(ROOT, 'fixtures/tiny_causal_lm.py:make'), '--prompts', join(ROOT, 'docs/example/problems.jsonl'), '--out', 'tiny', '--last', '3', '--layers', '0,1,2');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote .*train\.safetensors \(\d+ samples\).*, tokenizer\.json/);
  for (const f of ['train.safetensors', 'test.safetensors', 'config.json', 'model.safetensors', 'tokenizer.json']) assert.ok(existsSync(join(app, 'tiny', f)), f);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
