// Settings that do not apply say so: lite on data without its critical layers says it trains
// as baseline does; eval --layers evaluates only those layers; help shows defaults as users type
// them and lists the data, preset and --out first.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cli } from '../helpers/cli.ts';

const test = suite('settings that apply');
const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-applies-'));
const files = ['--train', join(DATA, 'train.safetensors'), '--test', join(DATA, 'test.safetensors'), '--head', join(DATA, 'head.safetensors')];

test('lite without its critical layers in the data says it trains as baseline', () => {
  const r = cli('train', ...files, '--layers', '0,1', '--batch-size', '24', '--epochs', '1', '--quiet', '--no-checkpoint', '--out', join(tmp, 'few'));
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^lite: none of its critical layers \(6,9,14,15\) has samples here, so it trains one translator a layer, as baseline does/m);
  assert.match(r.stdout, /^lens: lite preset, 2 translators over 2 layers/m);
});

test('eval --layers evaluates only those layers', () => {
  const r = cli('eval', '--lens', join(DATA, 'lens_lite_pytorch.safetensors'), '--data', join(DATA, 'test.safetensors'), '--head', join(DATA, 'head.safetensors'), '--layers', '3,9');
  assert.is(r.status, 0, r.stderr);
  const table = r.stdout.slice(r.stdout.indexOf(' layer | samples'), r.stdout.indexOf(' position | samples'));
  assert.equal(table.split('\n').slice(1).filter(Boolean).map((l) => Number(l.split('|')[0])), [3, 9], table);
});

test('help: the data, the preset and --out first; defaults as typed', () => {
  const r = cli('train', '--help');
  const flags = [...r.stdout.matchAll(/^ {2}(--[\w-]+)/gm)].map((m) => m[1]);
  assert.equal(flags.slice(0, 5), ['--train', '--test', '--preset', '--layers', '--out']);
  assert.match(r.stdout, /default: 6,9,14,15\)/);
  assert.not.match(r.stdout, /default: \[/);
  assert.not.match(cli('sweep', '--help').stdout, /default: \[/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
