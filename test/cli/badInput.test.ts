// Every kind of bad input the trainer meets, as a table: each case gets one line on stderr
// that names the file, tensor or flag, exit status 1, no stack trace, and nothing written to
// its output folder. The bad files are the parity data set with one thing broken.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SafetensorsFile, writeSafetensors, type TensorOut } from '../../src/data/safetensors.ts';
import { cli } from '../helpers/cli.ts';

const test = suite('bad input');
const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-bad-'));
const good = { train: join(DATA, 'train.safetensors'), test: join(DATA, 'test.safetensors'), head: join(DATA, 'head.safetensors') };

/** The tensors of a parity file, to be edited and written back as a broken copy. */
function tensorsOf(path: string): TensorOut[] {
  const f = SafetensorsFile.open(path);
  try {
    return [...f.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype as TensorOut['dtype'], shape: t.shape, data: f.bytes(t.name) }));
  } finally {
    f.close();
  }
}

function variant(name: string, from: string, edit: (ts: TensorOut[]) => TensorOut[], metadata: Record<string, string> = {}): string {
  const path = join(tmp, `${name}.safetensors`);
  writeSafetensors(path, edit(tensorsOf(from)), metadata);
  return path;
}

/** A file with a hand-written header (and `dataBytes` zero bytes of data after it). */
function rawFile(name: string, header: string, dataBytes = 0, headerLength?: number): string {
  const json = Buffer.from(header);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerLength ?? json.length));
  const path = join(tmp, `${name}.safetensors`);
  writeFileSync(path, Buffer.concat([len, json, Buffer.alloc(dataBytes)]));
  return path;
}

/** Replaces tensor `name` (keeping the others). */
const withTensor = (t: TensorOut) => (ts: TensorOut[]) => ts.map((x) => (x.name === t.name ? t : x));
/** Edits tensor `name`'s bytes as a typed array view. */
function editValues<T extends Float32Array | BigInt64Array | Int32Array>(name: string, View: new (b: ArrayBuffer) => T, edit: (a: T) => void) {
  return (ts: TensorOut[]) =>
    ts.map((t) => {
      if (t.name !== name) return t;
      const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).slice();
      edit(new View(bytes.buffer));
      return { ...t, data: bytes };
    });
}

const truncated = join(tmp, 'truncated.safetensors');
cpSync(good.train, truncated);
truncateSync(truncated, readFileSync(good.train).length - 100);

const N = 768;
const d = 48;
type Case = [name: string, args: string[], expected: RegExp];
const train = (path: string): string[] => ['--train', path, '--test', good.test, '--head', good.head];
const head = (path: string): string[] => ['--train', good.train, '--test', good.test, '--head', path];
// A Hugging Face model's weights given as --head.
const hfWeights = variant('model', good.head, (ts) => ts.map((t) => ({ ...t, name: t.name === 'norm.weight' ? 'model.norm.weight' : t.name })));
const cases: Case[] = [
  ['a model.safetensors as --head', head(hfWeights), /model\.safetensors: a Hugging Face model's weights, not a head file \(norm\.weight, lm_head\.weight\): give its folder as --model-dir /],
  ['a missing --model-dir', ['--train', good.train, '--test', good.test, '--model-dir', join(tmp, 'no-model')], /--model-dir .*no-model: no such folder/],
  ['a file as --model-dir', ['--train', good.train, '--test', good.test, '--model-dir', good.head], /--model-dir .*head\.safetensors: a file, not a folder \(a head file is given with --head\)/],
  ['missing file', train(join(tmp, 'missing.safetensors')), /missing\.safetensors: cannot open \(ENOENT\)/],
  ['a folder without .npy files as data', train(tmp), /: a folder without \.npy files \(data is a safetensors file, an \.npz, or a folder of NAME\.npy\)/],
  ['header not JSON', train(rawFile('notjson', '{"hidden": [1, 2')), /notjson\.safetensors: not a valid safetensors file \(its header is not JSON\)/],
  ['header length past the end', train(rawFile('hlen', '{}', 0, 1 << 20)), /hlen\.safetensors: .*header length 1048576 does not fit/],
  [
    'offsets past the end',
    train(rawFile('offsets', JSON.stringify({ hidden: { dtype: 'F32', shape: [4, 2], data_offsets: [0, 32] } }), 16)),
    /offsets\.safetensors: .*tensor 'hidden' runs past the end of the file/,
  ],
  ['truncated data', train(truncated), /truncated\.safetensors: .*runs past the end of the file/],
  [
    'overlapping offsets',
    train(rawFile('overlap', JSON.stringify({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }), 24)),
    /overlap\.safetensors: .*tensors 'a' and 'b' overlap/,
  ],
  ['unknown dtype', train(rawFile('dtype', JSON.stringify({ hidden: { dtype: 'F8', shape: [2], data_offsets: [0, 2] } }), 2)), /dtype\.safetensors: .*unknown dtype "F8"/],
  ['missing tensor', train(variant('notarget', good.train, (ts) => ts.filter((t) => t.name !== 'target'))), /notarget\.safetensors: no tensor 'target'/],
  [
    'wrong dtype: float targets',
    train(variant('floattarget', good.train, withTensor({ name: 'target', dtype: 'F32', shape: [N], data: new Float32Array(N) }))),
    /floattarget\.safetensors: tensor 'target' is F32; I32 or I64 expected/,
  ],
  [
    'wrong dtype: integer hidden states',
    train(variant('inthidden', good.train, withTensor({ name: 'hidden', dtype: 'I32', shape: [N, d], data: new Int32Array(N * d) }))),
    /inthidden\.safetensors: tensor 'hidden' is I32; F32, F16, BF16 or F64 expected/,
  ],
  [
    'lengths differ',
    train(variant('shortlayer', good.train, withTensor({ name: 'layer', dtype: 'I32', shape: [N - 1], data: new Int32Array(N - 1) }))),
    /shortlayer\.safetensors: 'layer' is \[767\], expected \[768\] to match 'hidden'/,
  ],
  [
    'hidden size differs from the head',
    head(variant('head50', good.head, (ts) => ts.map((t) => (t.name === 'norm.weight' ? { ...t, shape: [50], data: new Float32Array(50) } : t.name === 'lm_head.weight' ? { ...t, shape: [509, 50], data: new Float32Array(509 * 50) } : t)))),
    /train\.safetensors: hidden size 48 does not match the head's 50/,
  ],
  ['target outside the vocabulary', train(variant('bigtarget', good.train, editValues('target', BigInt64Array, (a) => (a[5] = 509n)))), /bigtarget\.safetensors: target\[5\] = 509 is outside the vocabulary \(V = 509\)/],
  ['negative layer id', train(variant('neglayer', good.train, editValues('layer', BigInt64Array, (a) => (a[7] = -1n)))), /neglayer\.safetensors: layer\[7\] = -1 is negative/],
  ['too large a layer id', train(variant('biglayer', good.train, editValues('layer', BigInt64Array, (a) => (a[3] = 70000n)))), /biglayer\.safetensors: layer\[3\] = 70000 is too large for a layer id/],
  ['negative position id', train(variant('negpos', good.train, editValues('position', Int32Array, (a) => (a[2] = -4)))), /negpos\.safetensors: position\[2\] = -4 is negative/],
  ['too large a position id', train(variant('bigpos', good.train, editValues('position', Int32Array, (a) => (a[9] = 1 << 20)))), /bigpos\.safetensors: position\[9\] = 1048576 is too large/],
  ['NaN in the hidden states', train(variant('nan', good.train, editValues('hidden', Float32Array, (a) => (a[3 * d + 4] = NaN)))), /nan\.safetensors: hidden\[3, 4\] is NaN \(values must be finite\)/],
  ['Inf in the head', head(variant('infhead', good.head, editValues('lm_head.weight', Float32Array, (a) => (a[100] = Infinity)), { norm_eps: '1e-5' })), /infhead\.safetensors: lm_head\.weight has a non-finite value at element 100/],
  ['batch size 0', [...train(good.train), '--batch-size', '0'], /option '--batch-size <n>' argument '0' is invalid\. expected an integer ≥ 1/],
  ['negative batch size', [...train(good.train), '--batch-size', '-3'], /--batch-size.*expected an integer ≥ 1/],
  ['lr 0', [...train(good.train), '--lr', '0'], /option '--lr <x>' argument '0' is invalid\. expected a positive number/],
  ['lr not a number', [...train(good.train), '--lr', 'fast'], /--lr.*expected a positive number, got 'fast'/],
  ['unknown preset', [...train(good.train), '--preset', 'huge'], /--preset.*'huge' is invalid.*baseline, lite, full/],
  ['critical layers absent from the data', [...train(good.train), '--critical-layers', '6,20'], /--critical-layers: layer 20 has no samples in .*train\.safetensors/],
  ['layers absent from the data', [...train(good.train), '--layers', '99'], /no samples of layer\(s\) 99/],
  ['a head file that is a data file', head(good.train), /train\.safetensors: no tensor 'norm\.weight'/],
  ['--resume and --overwrite together', [...train(good.train), '--resume', '--overwrite'], /--resume continues the run in --out, --overwrite replaces it/],
  ['too little GPU memory', [...train(good.train), '--gpu-memory', '0.001'], /this run needs .* on the GPU, more than --gpu-memory 0\.001 allows \(1\.0 MiB\)/],
];

// The extension tensors (several targets, final hidden states, problem ids, chains of thought).
const ext = { train: join(DATA, 'train_ext.safetensors'), test: join(DATA, 'test_ext.safetensors') };
const extTrain = (path: string): string[] => ['--train', path, '--test', ext.test, '--head', good.head];
const K = 4;
const extCases: Case[] = [
  ['targets of the wrong rank', extTrain(variant('t1d', ext.train, withTensor({ name: 'targets', dtype: 'I32', shape: [N], data: new Int32Array(N) }))), /t1d\.safetensors: 'targets' is \[768\], expected \[768, K\]/],
  ['a target id below −1', extTrain(variant('tneg', ext.train, editValues('targets', BigInt64Array, (a) => (a[4 * 9 + 2] = -2n)))), /tneg\.safetensors: targets\[9, 2\] = -2 \(ids are ≥ 0, or −1 for padding\)/],
  ['a target id outside the vocabulary', extTrain(variant('tbig', ext.train, editValues('targets', BigInt64Array, (a) => (a[4 * 12 + 1] = 600n)))), /tbig\.safetensors: a targets entry of row 12 is 600, outside the vocabulary \(V = 509\)/],
  ['more than 64 targets a row', extTrain(variant('t65', ext.train, (ts) => ts.filter((t) => t.name !== 'target_weights').map((t) => (t.name === 'targets' ? { ...t, dtype: 'I32', shape: [N, 65], data: new Int32Array(N * 65).fill(3) } : t)))), /t65\.safetensors: 'targets' has 65 targets a row; at most 64/],
  ['weights of another shape', extTrain(variant('wshape', ext.train, withTensor({ name: 'target_weights', dtype: 'F32', shape: [N, 3], data: new Float32Array(N * 3) }))), /wshape\.safetensors: 'target_weights' is \[768,3\], expected \[768, 4\] like 'targets'/],
  ['a negative weight', extTrain(variant('wneg', ext.train, editValues('target_weights', Float32Array, (a) => (a[K * 3] = -1)))), /wneg\.safetensors: target_weights\[3, 0\] = -1 \(weights are finite and ≥ 0\)/],
  ['a NaN weight', extTrain(variant('wnan', ext.train, editValues('target_weights', Float32Array, (a) => (a[K * 5 + 1] = NaN)))), /wnan\.safetensors: target_weights\[5, 1\] = NaN/],
  ['a row without a positive weight', extTrain(variant('wzero', ext.train, editValues('target_weights', Float32Array, (a) => a.fill(0, K * 8, K * 9)))), /wzero\.safetensors: row 8 of 'targets' has no target with a positive weight/],
  ['final_hidden of another shape', extTrain(variant('fshape', ext.train, (ts) => [...ts, { name: 'final_hidden', dtype: 'F32', shape: [N, 47], data: new Float32Array(N * 47) }])), /fshape\.safetensors: 'final_hidden' is \[768,47\], expected \[768, 48\] like 'hidden'/],
  ['Inf in final_hidden', extTrain(variant('finf', ext.train, (ts) => [...ts, { name: 'final_hidden', dtype: 'F32', shape: [N, d], data: new Float32Array(N * d).fill(Infinity, 100, 101) }])), /finf\.safetensors: final_hidden\[2, 4\] is Infinity/],
  ['a negative example id', extTrain(variant('eneg', ext.train, editValues('example', BigInt64Array, (a) => (a[30] = -5n)))), /eneg\.safetensors: example\[30\] = -5 is negative/],
  ['example of another length', extTrain(variant('elen', ext.train, withTensor({ name: 'example', dtype: 'I32', shape: [N - 2], data: new Int32Array(N - 2) }))), /elen\.safetensors: 'example' is \[766\], expected \[768\]/],
  ['a problem listed twice in cot_example', extTrain(variant('cdup', ext.train, editValues('cot_example', BigInt64Array, (a) => (a[1] = a[0]!)))), /cdup\.safetensors: cot_example\[1\] = 0 repeats cot_example\[0\]/],
  ['a cot token outside the vocabulary', extTrain(variant('cbig', ext.train, editValues('cot', Int32Array, (a) => (a[0] = 509)))), /cbig\.safetensors: cot\[0, 0\] = 509 is outside the vocabulary/],
  ['cot of the wrong rank', extTrain(variant('c1d', ext.train, withTensor({ name: 'cot', dtype: 'I32', shape: [8], data: new Int32Array(8) }))), /c1d\.safetensors: 'cot' is \[8\], expected \[E, T\]/],
  ['--assign without a chain of thought', [...train(good.train), '--assign', 'uniform'], /train\.safetensors: --assign needs the tensors 'cot' and 'cot_example'/],
  ['--assign with a weight list of the wrong length', [...extTrain(ext.train), '--assign', 'weights:1,2,3'], /--assign: 3 weights given, but the data has 6 positions \(0 … 5\)/],
  ['--assign of unknown form', [...extTrain(ext.train), '--assign', 'linear'], /--assign: expected 'uniform' or 'weights:w0,w1,…', got 'linear'/],
  ['--assign with negative weights', [...extTrain(ext.train), '--assign', 'weights:1,-1,1,1,1,1'], /--assign: weights must be non-negative decimal numbers like 0, 1 or 2\.5, got '-1'/],
  ["a sample whose problem has no cot row", [...extTrain(variant('nocot', ext.train, editValues('example', BigInt64Array, (a) => (a[50] = 77n)))), '--assign', 'uniform'], /nocot\.safetensors: example\[50\] = 77 has no row in 'cot_example'/],
  ['train and test sharing problems', ['--train', ext.train, '--test', variant('shared', ext.test, editValues('example', BigInt64Array, (a) => (a[3] = 2n))), '--head', good.head], /shared\.safetensors: example\[3\] = 2 is also a training problem/],
  ['--targets all on one target a sample', [...train(good.train), '--targets', 'all'], /--targets all: the data has one target a sample/],
  ['--loss kl without final_hidden', [...train(good.train), '--loss', 'kl'], /train\.safetensors: --loss kl needs 'final_hidden' \[N, d\]/],
  ['no target, and not --loss kl', ['--train', join(DATA, 'train_kl.safetensors'), '--test', join(DATA, 'test_kl.safetensors'), '--head', good.head], /train_kl\.safetensors: no 'target' or 'targets'; with only 'final_hidden', train with --loss kl/],
  ['--final-normed without --loss kl', [...extTrain(ext.train), '--final-normed'], /--final-normed is about final_hidden, which only --loss kl uses/],
  ['an unknown loss', [...train(good.train), '--loss', 'mse'], /--loss.*'mse' is invalid.*ce, kl/],
];

test('each bad input: one line naming what is wrong, exit status 1, nothing written', () => {
  [...cases, ...extCases].forEach(([name, args, expected], i) => {
    const out = join(tmp, `out-${i}`);
    const extra = args.includes('--out') ? [] : ['--out', out];
    const r = cli('train', ...args, ...extra, '--quiet');
    assert.is(r.status, 1, `${name}: exit status ${r.status}\n${r.stderr}`);
    const lines = r.stderr.split('\n').filter((l) => l && !l.startsWith('(add --help'));
    assert.is(lines.length, 1, `${name}: expected one line, got:\n${r.stderr}`);
    assert.match(lines[0]!, expected, `${name}: ${lines[0]}`);
    assert.not.match(r.stderr, /\n\s+at /, `${name}: a stack trace`);
    assert.not.ok(existsSync(out), `${name}: ${out} was created`);
  });
});

test("a folder that is not a run's (a model folder) is refused as --out, with or without --overwrite, and left byte for byte", () => {
  const out = join(tmp, 'model');
  mkdirSync(out);
  const files = { 'config.json': '{"num_hidden_layers": 16, "hidden_size": 48}\n', 'model.safetensors': 'weights', 'tokenizer.json': '{}' };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(out, name), text);
  for (const extra of [[], ['--overwrite']]) {
    const r = cli('train', ...train(good.train), '--out', out, '--quiet', '--epochs', '1', ...extra);
    assert.is(r.status, 1, r.stdout);
    assert.match(r.stderr, /^lensgpu: .*model holds files that are not a lensgpu run's \(config\.json, model\.safetensors, tokenizer\.json\): choose another --out \(nothing there was changed\)$/);
    for (const [name, text] of Object.entries(files)) assert.is(readFileSync(join(out, name), 'utf8'), text, name);
    assert.equal(readdirSync(out).sort(), Object.keys(files).sort());
  }
});

test('an output folder that holds a run is refused and left as it was, unless --overwrite', () => {
  const out = join(tmp, 'taken');
  mkdirSync(out);
  writeFileSync(join(out, 'metrics.json'), '{"kept": true, "epochs": []}\n');
  const r = cli('train', ...train(good.train), '--out', out, '--quiet', '--epochs', '1');
  assert.is(r.status, 1);
  assert.match(r.stderr, /taken already holds a run: pass --resume to continue it, --overwrite to replace it/);
  assert.is(readFileSync(join(out, 'metrics.json'), 'utf8'), '{"kept": true, "epochs": []}\n');
  const o = cli('train', ...train(good.train), '--out', out, '--quiet', '--epochs', '1', '--overwrite');
  assert.is(o.status, 0, o.stderr);
  assert.is(JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')).epochs.length, 1);
});

test('--debug shows the stack trace', () => {
  const r = cli('--debug', 'train', ...train(join(tmp, 'missing.safetensors')), '--out', join(tmp, 'dbg'));
  assert.is(r.status, 1);
  assert.match(r.stderr, /InputError: .*missing\.safetensors: cannot open/);
  assert.match(r.stderr, /\n\s+at /);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
