// --tune as a user meets it: `fresh` times the candidates, says so in one line, caches the
// choices and records them in config.json and the checkpoint; `auto` then reads the cache; a
// resumed run runs its checkpoint's kernels whatever the cache now says, bit-identical to the
// run never stopped; a bad LENSGPU_TUNE is one line.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SafetensorsFile } from '../../src/data/safetensors.ts';
import { cliWith } from '../helpers/cli.ts';

const test = suite('tune');
const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-tune-'));
const env = { XDG_CACHE_HOME: join(tmp, 'cache'), LENSGPU_TUNE: '' };
const cachePath = join(tmp, 'cache', 'lensgpu', 'tuning.json');
const files = ['--train', join(DATA, 'train.safetensors'), '--test', join(DATA, 'test.safetensors'), '--head', join(DATA, 'head.safetensors')];
const settings = ['--seed', '5', '--batch-size', '24', '--preset', 'baseline', '--quiet'];
const train = (...args: string[]) => cliWith(env, 'train', ...files, ...settings, ...args);
const kernelsOf = (run: string) => JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')).kernels;

test('--tune fresh: one line, the cache written, the choices in config.json and the checkpoint', () => {
  const run = join(tmp, 'fresh');
  const r = train('--epochs', '1', '--tune', 'fresh', '--out', run);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /tuned kernels for .*: \d families, \d+ candidates, [\d.]+ s: unembed \w+, translatorForward \w+/);
  const cache = JSON.parse(readFileSync(cachePath, 'utf8'));
  const entries = Object.values(cache.adapters).flatMap((a) => Object.values(a as object));
  assert.equal(entries.map((e) => e.choices), [kernelsOf(run)]);
  const checkpoint = SafetensorsFile.open(join(run, 'checkpoint.safetensors'));
  assert.equal(JSON.parse(checkpoint.metadata.kernels!), kernelsOf(run));
  checkpoint.close();
});

test('doctor lists the shapes tuned for this adapter', () => {
  const r = cliWith(env, 'doctor');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^kernels tuned for this adapter: 1 shape in .*tuning\.json$/m);
  assert.match(r.stdout, /^ {2}d \d+ V \d+ f32 groups \d+ rows 24 targets 1 train\S* \(\d{4}-\d\d-\d\d\): unembed /m);
});

test('--tune auto (the default) reads the cache: nothing timed', () => {
  const r = train('--epochs', '1', '--out', join(tmp, 'auto'));
  assert.is(r.status, 0, r.stderr);
  assert.not.match(r.stdout, /tuned kernels for/);
  assert.match(r.stdout, /kernels tuned for .* \(.*tuning\.json\): unembed /);
  assert.equal(kernelsOf(join(tmp, 'auto')), kernelsOf(join(tmp, 'fresh')));
});

test('--resume runs the checkpoint\'s kernels after the cache changed: bit-identical to the run never stopped', () => {
  const [whole, split] = [join(tmp, 'whole'), join(tmp, 'split')];
  assert.is(train('--epochs', '2', '--tune', 'off', '--out', whole).status, 0);
  assert.is(train('--epochs', '1', '--tune', 'off', '--out', split).status, 0);
  const builtIn = kernelsOf(split);
  // The cache now says the workgroup-memory kernels for this shape.
  const cache = JSON.parse(readFileSync(cachePath, 'utf8'));
  const other = { unembed: 'tiled', translatorForward: 'tiled', translatorBackward: 'tiled', rmsnorm: 'workgroup', topk: 'workgroup' };
  for (const a of Object.values(cache.adapters) as Record<string, { choices: object }>[]) for (const e of Object.values(a)) e.choices = other;
  writeFileSync(cachePath, JSON.stringify(cache));
  const control = join(tmp, 'control');
  assert.is(train('--epochs', '1', '--out', control).status, 0);
  assert.equal(kernelsOf(control), other, 'a new run takes the cache\'s choices');
  const r = cliWith(env, 'train', '--out', split, '--resume', '--epochs', '2');
  assert.is(r.status, 0, r.stderr);
  assert.not.match(r.stdout, /kernels tuned|tuned kernels/);
  assert.equal(kernelsOf(split), builtIn);
  assert.ok(readFileSync(join(whole, 'lens.safetensors')).equals(readFileSync(join(split, 'lens.safetensors'))), 'lens.safetensors differs');
});

test('a bad LENSGPU_TUNE: one line, exit 1', () => {
  const r = cliWith({ ...env, LENSGPU_TUNE: 'always' }, 'train', ...files, ...settings, '--epochs', '1', '--out', join(tmp, 'bad'));
  assert.is(r.status, 1);
  assert.is(r.stderr, 'lensgpu: LENSGPU_TUNE=always: one of auto, fresh, off');
  assert.not.ok(existsSync(join(tmp, 'bad')), 'the run folder was made before the refusal');
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
