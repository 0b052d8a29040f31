// The packed npm package as a user installs it: built, packed, unpacked beside the project's
// dependencies; its command trains from dist/ with the shipped kernels, and `lensgpu dump` runs
// the shipped script on the README's tiny model (where a Python with torch is found).
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { torchPython } from '../helpers/python.ts';

const test = suite('package');
const ROOT = new URL('../../', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-package-'));

/** The tarball `npm pack` makes of a copy of the project, built as `prepack` builds it. */
function pack(): string {
  const project = join(tmp, 'project');
  mkdirSync(project);
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'bin', 'src', 'kernels', 'scripts']) {
    cpSync(join(ROOT, f), join(project, f), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules'));
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: project });
  // --ignore-scripts: the build ran above, and no script may touch the shared node_modules.
  execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', tmp], { cwd: project });
  return join(tmp, readdirSync(tmp).find((f) => f.endsWith('.tgz'))!);
}

/** The unpacked package, with the project's dependencies where npm would install them. */
function install(tarball: string): string {
  execFileSync('tar', ['-xzf', tarball, '-C', tmp]);
  const pkg = join(tmp, 'package');
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
  return pkg;
}

const pkg = install(pack());
const lensgpu = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [join(pkg, 'bin/lensgpu.js'), ...args], { encoding: 'utf8', cwd: tmp, env: { ...process.env, ...env } });

test('the package holds the command, its build, the kernels and the scripts, and no sources', () => {
  for (const f of ['bin/lensgpu.js', 'dist/cli/main.js', 'kernels/common.wgsl', 'scripts/dump_hidden_states.py', 'scripts/export_tuned_lens.py', 'scripts/setup-vulkan.sh']) {
    assert.ok(existsSync(join(pkg, f)), f);
  }
  for (const f of ['src', 'test', 'fixtures', 'bench']) assert.not.ok(existsSync(join(pkg, f)), f);
});

test('the installed command trains the demo from dist/', () => {
  const r = lensgpu(['train', '--epochs', '1', '--quiet', '--out', join(tmp, 'run')]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /best epoch 1: val loss \d/);
  assert.ok(existsSync(join(tmp, 'run', 'lens.safetensors')));
});

test("`lensgpu dump` on the README's tiny model writes the data, the head and the tokenizer", () => {
  if (!torchPython) return void console.log('  (skipped: no Python with torch here; PYTHON=… names one)');
  const out = join(tmp, 'tiny');
  const r = lensgpu(['dump', '--model', join(ROOT, 'fixtures/tiny_causal_lm.py:make'), '--prompts', join(ROOT, 'docs/example/problems.jsonl'), '--out', out, '--last', '3', '--layers', '0,1,2'], { PYTHON: torchPython });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote .*train\.safetensors \(\d+ samples\).*, tokenizer\.json/);
  for (const f of ['train.safetensors', 'test.safetensors', 'config.json', 'model.safetensors', 'tokenizer.json']) assert.ok(existsSync(join(out, f)), f);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
