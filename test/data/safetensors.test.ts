// safetensors reading (files written by PyTorch-side code) and writing, data and head
// validation, Hugging Face model folders. No GPU.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checkAgainstHead, loadDataset, selectLayers } from '../../src/data/dataset.ts';
import { loadHeadFile, loadHeadFromModelDir } from '../../src/data/head.ts';
import { SafetensorsFile, writeSafetensors, type TensorOut } from '../../src/data/safetensors.ts';
import { fixture } from '../helpers/fixtures.ts';
import { f16ToF32 } from '../../src/shared/f16.ts';

const test = suite('safetensors and data files');
const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-data-'));

function raw(name: string, header: unknown, body: Uint8Array = new Uint8Array(0)): string {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const path = join(tmp, name);
  writeFileSync(path, Buffer.concat([len, json, body]));
  return path;
}

function dataFile(name: string, overrides: Partial<Record<string, TensorOut>> = {}): string {
  const N = 4;
  const d = 3;
  const tensors: Record<string, TensorOut> = {
    hidden: { name: 'hidden', dtype: 'F32', shape: [N, d], data: new Float32Array(N * d).fill(0.5) },
    layer: { name: 'layer', dtype: 'I32', shape: [N], data: new Int32Array([0, 0, 1, 1]) },
    position: { name: 'position', dtype: 'I32', shape: [N], data: new Int32Array([0, 1, 0, 1]) },
    target: { name: 'target', dtype: 'I64', shape: [N], data: new BigInt64Array([1n, 2n, 3n, 4n]) as unknown as ArrayBufferView },
  };
  for (const [k, v] of Object.entries(overrides)) {
    if (v) tensors[k] = v;
    else delete tensors[k];
  }
  const path = join(tmp, name);
  writeSafetensors(path, Object.values(tensors));
  return path;
}

test('reads F32, F16, BF16, I32 and I64 as PyTorch wrote them', () => {
  const fx = fixture('parity_dtypes');
  const file = SafetensorsFile.open(join(DATA, 'dtypes.safetensors'));
  assert.equal([...file.readF32('f16')], [...fx.f32('f16')]);
  assert.equal([...file.readF32('bf16')], [...fx.f32('bf16')]);
  assert.equal([...file.readInt('i32')], [-3, -2, -1, 0, 1, 2]);
  assert.equal([...file.readInt('i64')], [-3000, -2000, -1000, 0, 1000, 2000]);
  assert.equal([...file.readF16Bits('f16')].map(f16ToF32), [...fx.f32('f16')]);
  assert.is(file.metadata.note, 'reader test');
  assert.throws(() => file.readInt('f32'), /F32; I32 or I64 expected/);
  assert.throws(() => file.get('nope'), /no tensor 'nope'/);
  file.close();
});

test('rejects broken files with a message naming the problem', () => {
  writeFileSync(join(tmp, 'tiny.st'), Buffer.from([1, 2, 3]));
  assert.throws(() => SafetensorsFile.open(join(tmp, 'tiny.st')), /shorter than its 8-byte header/);
  const bigLen = Buffer.alloc(16);
  bigLen.writeBigUInt64LE(1000n);
  writeFileSync(join(tmp, 'len.st'), bigLen);
  assert.throws(() => SafetensorsFile.open(join(tmp, 'len.st')), /header length 1000 does not fit/);
  const notJson = Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{{{{')]);
  writeFileSync(join(tmp, 'json.st'), notJson);
  assert.throws(() => SafetensorsFile.open(join(tmp, 'json.st')), /not JSON/);
  assert.throws(() => SafetensorsFile.open(raw('dtype.st', { a: { dtype: 'Q8', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1))), /unknown dtype/);
  assert.throws(() => SafetensorsFile.open(raw('size.st', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, new Uint8Array(8))), /holds 4 bytes, its F32 shape \[2\] needs 8/);
  assert.throws(() => SafetensorsFile.open(raw('past.st', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(4))), /past the end/);
  assert.throws(
    () => SafetensorsFile.open(raw('overlap.st', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8))),
    /overlap/,
  );
  assert.throws(() => SafetensorsFile.open(join(tmp, 'missing.st')), /cannot open \(ENOENT\)/);
});

test('writes atomically and reads back what it wrote', () => {
  const path = join(tmp, 'round.safetensors');
  const W = Float32Array.from({ length: 6 }, (_, i) => i / 3);
  writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [2, 3], data: W }], { k: 'v' });
  const f = SafetensorsFile.open(path);
  assert.equal([...f.readF32('w')], [...W]);
  assert.equal(f.get('w').shape, [2, 3]);
  assert.is(f.metadata.k, 'v');
  f.close();
  assert.ok(!readdirSync(tmp).some((n) => n.includes('.tmp-')), 'no temporary file left behind');
  assert.throws(() => writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [7], data: W }]), /24 bytes for F32 \[7\]/);
  const again = SafetensorsFile.open(path); // the earlier file is intact
  assert.equal([...again.readF32('w')], [...W]);
  again.close();
});

test('data files are validated before use', () => {
  const ds = loadDataset(dataFile('ok.safetensors'));
  assert.is(ds.count, 4);
  assert.is(ds.d, 3);
  assert.equal([...ds.target], [1, 2, 3, 4]);
  assert.throws(() => checkAgainstHead(ds, 3, 4), /target\[3\] = 4 is outside the vocabulary \(V = 4\)/);
  assert.throws(() => checkAgainstHead(ds, 5, 10), /hidden size 3 does not match the head's 5/);
  assert.is(selectLayers(ds, [1]).count, 2);
  assert.equal([...selectLayers(ds, [1]).position], [0, 1]);
  assert.throws(() => selectLayers(ds, [7]), /no samples of layer\(s\) 7 \(layers present: 0,1\)/);

  const nan = new Float32Array(12).fill(1);
  nan[7] = NaN;
  assert.throws(() => loadDataset(dataFile('nan.safetensors', { hidden: { name: 'hidden', dtype: 'F32', shape: [4, 3], data: nan } })), /hidden\[2, 1\] is NaN/);
  assert.throws(
    () => loadDataset(dataFile('neg.safetensors', { layer: { name: 'layer', dtype: 'I32', shape: [4], data: new Int32Array([0, -1, 0, 0]) } })),
    /layer\[1\] = -1 is negative/,
  );
  assert.throws(
    () => loadDataset(dataFile('short.safetensors', { position: { name: 'position', dtype: 'I32', shape: [3], data: new Int32Array(3) } })),
    /'position' is \[3\], expected \[4\]/,
  );
  assert.throws(() => loadDataset(dataFile('notarget.safetensors', { target: undefined })), /no tensor 'target'/);
});

test('head files and Hugging Face model folders (single file, sharded, tied)', () => {
  const head = loadHeadFile(join(DATA, 'head.safetensors'), 'f32');
  assert.is(head.d, 48);
  assert.is(head.V, 509);
  assert.is(head.eps, 1e-5);
  const half = loadHeadFile(join(DATA, 'head.safetensors'), 'f16');
  assert.ok(half.U instanceof Uint16Array);
  assert.ok(Math.abs(f16ToF32(half.U[5]!) - (head.U as Float32Array)[5]!) < 1e-3);

  const d = 4;
  const V = 6;
  const gamma = new Float32Array(d).fill(2);
  const emb = Float32Array.from({ length: V * d }, (_, i) => i);
  const mk = (name: string) => mkdtempSync(join(tmp, `${name}-`));
  // tied: lm_head missing, embed_tokens used
  const tied = mk('tied');
  writeFileSync(join(tied, 'config.json'), JSON.stringify({ hidden_size: d, vocab_size: V, rms_norm_eps: 1e-6, tie_word_embeddings: true }));
  writeSafetensors(join(tied, 'model.safetensors'), [
    { name: 'model.norm.weight', dtype: 'F32', shape: [d], data: gamma },
    { name: 'model.embed_tokens.weight', dtype: 'F32', shape: [V, d], data: emb },
  ]);
  const h1 = loadHeadFromModelDir(tied, 'f32');
  assert.is(h1.eps, 1e-6);
  assert.is(h1.V, V);
  assert.equal([...(h1.U as Float32Array)], [...emb]);
  // sharded, untied
  const sharded = mk('sharded');
  writeFileSync(join(sharded, 'config.json'), JSON.stringify({ hidden_size: d, vocab_size: V, rms_norm_eps: 1e-5 }));
  writeSafetensors(join(sharded, 'model-00001-of-00002.safetensors'), [{ name: 'model.norm.weight', dtype: 'F32', shape: [d], data: gamma }]);
  writeSafetensors(join(sharded, 'model-00002-of-00002.safetensors'), [{ name: 'lm_head.weight', dtype: 'F32', shape: [V, d], data: emb.map((x) => -x) }]);
  writeFileSync(
    join(sharded, 'model.safetensors.index.json'),
    JSON.stringify({ weight_map: { 'model.norm.weight': 'model-00001-of-00002.safetensors', 'lm_head.weight': 'model-00002-of-00002.safetensors' } }),
  );
  const h2 = loadHeadFromModelDir(sharded, 'f32');
  assert.is((h2.U as Float32Array)[5], -5);
  assert.equal([...h2.gamma], [...gamma]);
  // config disagrees with the tensors
  writeFileSync(join(sharded, 'config.json'), JSON.stringify({ hidden_size: d, vocab_size: V + 1 }));
  assert.throws(() => loadHeadFromModelDir(sharded, 'f32'), /vocab_size 7 but lm_head.weight has 6 rows/);
  assert.throws(() => loadHeadFromModelDir(tmp, 'f32'), /no config.json/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
