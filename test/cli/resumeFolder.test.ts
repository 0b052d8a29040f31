// `train --out RUN --resume` from the folder alone: the run's settings and data come from its
// config.json (or its checkpoint, for a run stopped before config.json was written), the result
// is bit-identical to the uninterrupted run, and a flag given with another value than the run's
// is refused naming both.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cli } from '../helpers/cli.ts';

const test = suite('resume from the folder');
const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-resume-'));
const files = ['--train', join(DATA, 'train.safetensors'), '--test', join(DATA, 'test.safetensors'), '--head', join(DATA, 'head.safetensors')];
const settings = ['--seed', '5', '--batch-size', '24', '--lr', '0.002', '--preset', 'baseline', '--quiet'];

test('--resume with only --epochs continues the run as it was: bit-identical to the uninterrupted run', () => {
  const [whole, split] = [join(tmp, 'whole'), join(tmp, 'split')];
  assert.is(cli('train', ...files, ...settings, '--epochs', '2', '--out', whole).status, 0);
  assert.is(cli('train', ...files, ...settings, '--epochs', '1', '--out', split).status, 0);
  const r = cli('train', '--out', split, '--resume', '--epochs', '2');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /resuming after epoch 1/);
  assert.ok(readFileSync(join(whole, 'lens.safetensors')).equals(readFileSync(join(split, 'lens.safetensors'))), 'lens.safetensors differs');
  const metrics = (d: string) => ({ ...JSON.parse(readFileSync(join(d, 'metrics.json'), 'utf8')), train_seconds: undefined });
  assert.equal(metrics(split), metrics(whole));
});

test('without config.json (stopped in its first epoch) the checkpoint gives the settings and data', () => {
  const bare = join(tmp, 'bare');
  assert.is(cli('train', ...files, ...settings, '--epochs', '1', '--out', bare).status, 0);
  rmSync(join(bare, 'config.json'));
  const lr = cli('train', '--out', bare, '--resume', '--epochs', '3', '--lr', '0.01');
  assert.match(lr.stderr, /--lr 0\.01 differs from the run's 0\.002 \(.*checkpoint\.safetensors\)/);
  const r = cli('train', '--out', bare, '--resume', '--epochs', '2');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /resuming after epoch 1/);
  assert.ok(readFileSync(join(tmp, 'whole', 'lens.safetensors')).equals(readFileSync(join(bare, 'lens.safetensors'))), 'lens.safetensors differs');
});

test('a flag with another value than the run\'s is refused, naming both', () => {
  const r = cli('train', '--out', join(tmp, 'split'), '--resume', '--epochs', '3', '--lr', '0.01');
  assert.is(r.status, 1, r.stdout);
  assert.match(r.stderr, /^lensgpu: --lr 0\.01 differs from the run's 0\.002 \(.*config\.json\): on --resume only --epochs may change; leave --lr out to continue the run as it was$/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
