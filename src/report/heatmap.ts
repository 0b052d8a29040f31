// heatmap.svg: the best lens's top-1, top-5 and top-10 accuracy by layer (rows) × position
// (columns) (any-k, or the val loss, where asked), one panel each, the accuracy panels on one
// colour scale, every cell labelled with its value and sample count; a cell without test
// samples is grey. Hovering a cell shows its sample count and loss.
// Each cell carries data-layer, data-position and data-value (the fraction) for tools and tests.
import type { RunMetrics } from './run.ts';
import { el, esc, inkOn, svgDocument, text, textWidth, viridis } from './svg.ts';

export type Metric = 'top1' | 'top5' | 'top10' | 'any1' | 'any10' | 'loss';
const LABEL: Record<Metric, string> = { top1: 'top-1', top5: 'top-5', top10: 'top-10', any1: 'any-1', any10: 'any-10', loss: 'val loss' };

const CELL_W = 46;
const CELL_H = 30; // the value, and under it the sample count
const LEFT = 64; // room for the layer labels
const TOP = 84; // title, panel titles and position labels
const GAP = 44; // between panels
const BAR_H = 10;

/** The panels: top-1/5/10, and any-1/10 where samples have several targets. */
export function heatmapSvg(m: RunMetrics, title: string, metrics?: Metric[]): string {
  metrics ??= m.per_group.some((c) => c.any1 !== undefined) ? ['top1', 'top5', 'top10', 'any1', 'any10'] : ['top1', 'top5', 'top10'];
  const layers = [...new Set(m.per_group.map((c) => c.layer))].sort((a, b) => a - b);
  const positions = [...new Set(m.per_group.map((c) => c.position))].sort((a, b) => a - b);
  const cell = new Map(m.per_group.map((c) => [`${c.layer},${c.position}`, c]));
  const panelW = positions.length * CELL_W;
  const gridH = layers.length * CELL_H;
  // Wide enough for the title however small the grid (3 layers, 1 position).
  const width = Math.max(LEFT + metrics.length * panelW + (metrics.length - 1) * GAP + 20, LEFT + textWidth(title, 15, true) + 20);
  const height = TOP + gridH + 70;
  const body: string[] = [text(LEFT, 22, title, { 'font-size': 15, 'font-weight': 'bold' })];

  const panels = scales(m, metrics);
  metrics.forEach((metric, k) => {
    const x0 = LEFT + k * (panelW + GAP);
    const sc = panels[k]!;
    body.push(text(x0 + panelW / 2, TOP - 28, sc.title, { 'text-anchor': 'middle', 'font-size': 13, 'font-weight': 'bold' }));
    positions.forEach((p, j) => body.push(text(x0 + j * CELL_W + CELL_W / 2, TOP - 8, `pos ${p}`, { 'text-anchor': 'middle', 'font-size': 11 })));
    layers.forEach((l, i) => {
      const y = TOP + i * CELL_H;
      if (k === 0) body.push(text(LEFT - 8, y + CELL_H / 2 + 4, `layer ${l}`, { 'text-anchor': 'end', 'font-size': 11 }));
      positions.forEach((p, j) => {
        const c = cell.get(`${l},${p}`);
        const x = x0 + j * CELL_W;
        if (!c || c.count === 0) {
          body.push(el('rect', { x, y, width: CELL_W, height: CELL_H, fill: '#d9d9d9', stroke: '#ffffff' }, el('title', {}, esc(`layer ${l}, position ${p}: no test samples`))));
          body.push(text(x + CELL_W / 2, y + CELL_H / 2 + 4, '–', { 'text-anchor': 'middle', 'font-size': 11, fill: '#555555' }));
          return;
        }
        const v = sc.value(c);
        const t = sc.shade(v);
        const hover = `layer ${l}, position ${p}: ${metric === 'loss' ? '' : `${LABEL[metric]} ${(100 * v).toFixed(1)} % of `}${c.count} samples, val loss ${c.val_loss.toFixed(4)}`;
        body.push(
          el(
            'g',
            { class: 'cell', 'data-metric': metric, 'data-layer': l, 'data-position': p, 'data-value': String(v) },
            el('rect', { x, y, width: CELL_W, height: CELL_H, fill: viridis(t), stroke: '#ffffff' }),
            text(x + CELL_W / 2, y + 13, sc.label(v), { 'text-anchor': 'middle', 'font-size': 11, fill: inkOn(t) }),
            text(x + CELL_W / 2, y + 25, `n=${c.count}`, { 'text-anchor': 'middle', 'font-size': 8, fill: inkOn(t), class: 'count' }),
            el('title', {}, esc(hover)),
          ),
        );
      });
    });
    // The colour scale under the panel, dark to bright, in 20 steps.
    const yBar = TOP + gridH + 16;
    for (let s = 0; s < 20; s++) {
      body.push(el('rect', { x: x0 + (s * panelW) / 20, y: yBar, width: panelW / 20 + 0.5, height: BAR_H, fill: viridis((s + 0.5) / 20) }));
    }
    body.push(el('rect', { x: x0, y: yBar, width: panelW, height: BAR_H, fill: 'none', stroke: '#888888' }));
    body.push(text(x0, yBar + BAR_H + 14, sc.ends[0], { 'font-size': 10 }));
    body.push(text(x0 + panelW, yBar + BAR_H + 14, sc.ends[1], { 'font-size': 10, 'text-anchor': 'end' }));
  });
  return svgDocument(width, height, title, body);
}

/** How a panel colours and labels its cells. */
interface Scale {
  title: string;
  value: (c: RunMetrics['per_group'][number]) => number;
  /** 0 (dark) … 1 (bright: better). */
  shade: (v: number) => number;
  label: (v: number) => string;
  /** The colour bar's ends: dark, bright. */
  ends: [string, string];
}

/**
 * The accuracy panels share one scale, from 0 to the largest value shown (rounded up to 10 %):
 * a colour means the same accuracy in top-1 as in top-10. The loss runs from its largest
 * (dark) to its smallest (bright).
 */
function scales(m: RunMetrics, metrics: Metric[]): Scale[] {
  const cells = m.per_group.filter((c) => c.count > 0);
  const accuracies = metrics.filter((k): k is Exclude<Metric, 'loss'> => k !== 'loss');
  const max = Math.max(0.1, Math.ceil(Math.max(0, ...cells.flatMap((c) => accuracies.map((k) => c[k] ?? 0))) * 10) / 10);
  const losses = cells.map((c) => c.val_loss);
  const [lo, hi] = [Math.min(...losses), Math.max(...losses)];
  return metrics.map((k) =>
    k === 'loss'
      ? { title: 'val loss (bright: lower)', value: (c) => c.val_loss, shade: (v) => (hi > lo ? (hi - v) / (hi - lo) : 1), label: (v) => v.toFixed(2), ends: [hi.toFixed(2), lo.toFixed(2)] }
      : { title: `${LABEL[k]} accuracy (%)`, value: (c) => c[k] ?? 0, shade: (v) => v / max, label: (v) => (100 * v).toFixed(1), ends: ['0 %', `${Math.round(100 * max)} %`] },
  );
}
