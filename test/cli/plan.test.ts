// `lensgpu plan`: the memory plan from shapes or a model folder, before any data. Its total is
// what a run with the same shapes plans (the same buffer table), the seed's lite run fits here,
// and a run too large for the device's buffers exits 1 naming what would fit.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadDataset } from '../../src/data/dataset.ts';
import { cli } from '../helpers/cli.ts';

const test = suite('plan');
const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-plan-'));

test("the seed's lite run: buffer by buffer, its total, and that it fits", () => {
  const r = cli('plan', '--d', '2048', '--vocab', '32000', '--layers', '16');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^plan: d 2048, V 32000, 16 layers × 6 positions, lite preset \(36 translators\), 96,000 samples \(76,800 train, 19,200 test\), batch 32$/m);
  assert.match(r.stdout, /^trainable parameters: 151,068,672$/m);
  assert.match(r.stdout, /^ {2}translator parameters +576\.3 MiB {3}1 buffer, largest 576\.3 MiB$/m);
  assert.match(r.stdout, /^total: [\d.]+ GiB on /m);
});

test('from a model folder, the same plan as from its shapes', () => {
  writeFileSync(join(tmp, 'config.json'), JSON.stringify({ hidden_size: 2048, vocab_size: 32000, num_hidden_layers: 16 }));
  const a = cli('plan', '--model-dir', tmp, '--preset', 'baseline');
  const b = cli('plan', '--d', '2048', '--vocab', '32000', '--layers', '16', '--preset', 'baseline');
  assert.is(a.status, 0, a.stderr);
  assert.is(a.stdout, b.stdout);
});

test("its total is what train plans for the same shapes (the parity data's 16 layers, d 48, V 509)", () => {
  const [train, testSet] = [loadDataset(join(DATA, 'train.safetensors')), loadDataset(join(DATA, 'test.safetensors'))];
  const perLayer = (train.count + testSet.count) / 16;
  const planned = cli('plan', '--d', '48', '--vocab', '509', '--layers', '16', '--samples', String(perLayer), '--batch-size', '24');
  assert.is(planned.status, 0, planned.stderr);
  assert.is(train.count, 16 * Math.round(perLayer * 0.8), 'the parity data splits 4 : 1');
  const run = cli('train', '--train', join(DATA, 'train.safetensors'), '--test', join(DATA, 'test.safetensors'), '--head', join(DATA, 'head.safetensors'), '--batch-size', '24', '--epochs', '1', '--quiet', '--no-checkpoint', '--out', join(tmp, 'run'));
  assert.is(run.status, 0, run.stderr);
  const total = (text: string, re: RegExp) => re.exec(text)?.[1];
  assert.is(total(planned.stdout, /^total: (\S+ \w+) on/m), total(run.stdout, /^GPU memory: (\S+ \w+) on/m));
});

test("a full lens of LLaMA-3-8B's shapes lies over several buffers; the total is checked, and what one kernel binds at once", () => {
  const args = ['plan', '--d', '4096', '--vocab', '128256', '--layers', '32', '--preset', 'full'];
  const big = cli(...args, '--gpu-memory', '141');
  // 192 translators × 64 MiB: 12 GiB in buffers of at most this device's largest.
  assert.match(big.stdout, /^ {2}translator parameters +12\.00 GiB {3}[3-9] buffers, largest [\d.]+ GiB$/m);
  // The split-K partial sums of a training batch (126 splits × 32 rows × d) fit one 128 MiB binding.
  assert.match(big.stdout, /^ {2}unembedding partial sums +63\.0 MiB {3}1 buffer/m);
  assert.is(big.status, 0, big.stderr);
  assert.match(big.stdout, /^fits: [\d.]+ GiB of 141\.00 GiB \(--gpu-memory 141\)$/m);
  const small = cli(...args, '--gpu-memory', '24');
  assert.is(small.status, 1);
  assert.match(small.stderr, /^lensgpu: this run needs [\d.]+ GiB on the GPU, more than --gpu-memory 24 allows/);
});

test('--data-on: auto keeps the data in host memory where only that fits, gpu refuses and names it, host says so', () => {
  const seed = ['plan', '--d', '2048', '--vocab', '32000', '--layers', '16', '--gpu-memory', '2.5'];
  // Lite at the seed's shape: 2.75 GiB with its f32 data on the GPU, 2.01 GiB without.
  const auto = cli(...seed);
  assert.is(auto.status, 0, auto.stderr);
  assert.match(auto.stdout, /^data sets: in host memory, each step writes its batch's rows \(with them on the GPU, this run needs 2\.75 GiB on the GPU, more than --gpu-memory 2\.5 allows \(2\.50 GiB\)\)$/m);
  assert.match(auto.stdout, /^ {2}batch rows from host memory +2\.0 MiB {3}1 buffer/m);
  assert.match(auto.stdout, /^fits: 2\.01 GiB of 2\.50 GiB/m);
  const gpu = cli(...seed, '--data-on', 'gpu');
  assert.is(gpu.status, 1);
  assert.match(gpu.stderr, /^lensgpu: this run needs 2\.75 GiB on the GPU, more than --gpu-memory 2\.5 allows \(2\.50 GiB\); it would fit with --data-on host \(2\.01 GiB\), or --preset baseline/);
  const host = cli('plan', '--d', '2048', '--vocab', '32000', '--layers', '16', '--data-on', 'host');
  assert.match(host.stdout, /^data sets: in host memory, each step writes its batch's rows \(--data-on host\)$/m);
  assert.match(cli(...seed, '--data-on', 'disk').stderr, /--data-on.*disk.*(gpu|choices)/);
});

test('bf16 data: the plan counts 2 bytes a hidden value', () => {
  const shapes = ['plan', '--d', '2048', '--vocab', '32000', '--layers', '16'];
  const [f32, bf16] = [cli(...shapes), cli(...shapes, '--data-dtype', 'bf16')];
  const train = (text: string) => /^ {2}train set +([\d.]+) MiB/m.exec(text)?.[1];
  assert.match(bf16.stdout, /76,800 train, 19,200 test, bf16 hidden states\)/);
  // 76,800 samples × 2,048 values: 600 MiB as f32, 300 MiB as bf16 (plus 600 KiB of targets and losses).
  assert.equal([train(f32.stdout), train(bf16.stdout)], ['600.6', '300.6']);
});

test('bad shapes: one line', () => {
  const r = cli('plan', '--d', '2048');
  assert.is(r.status, 1);
  assert.match(r.stderr, /^lensgpu: plan needs --model-dir DIR, or --d, --vocab and --layers$/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
