// curves.svg: per epoch, the train and validation loss (left) and the validation top-1/5/10
// accuracy (right), with epoch 0 the untrained lens and the best epoch marked by a dashed line
// in both panels. Each point carries data-series, data-epoch and data-value for tools and tests.
import type { RunMetrics } from './run.ts';
import { el, esc, svgDocument, text, ticks } from './svg.ts';

const PANEL_W = 380;
const PANEL_H = 240;
const M = { left: 58, right: 20, top: 72, bottom: 74 };
const GAP = 70;

interface Series {
  name: string;
  color: string;
  dash?: string;
  points: [number, number][];
}

export function curvesSvg(m: RunMetrics, title: string): string {
  const u = m.untrained;
  const e = m.epochs;
  const loss: Series[] = [
    { name: 'train loss', color: '#1f77b4', points: e.map((r) => [r.epoch, r.train_loss]) },
    { name: 'val loss', color: '#d62728', points: [...(u ? [[0, u.val_loss] as [number, number]] : []), ...e.map((r): [number, number] => [r.epoch, r.val_loss])] },
  ];
  const acc: Series[] = (['top1', 'top5', 'top10'] as const).map((k, i) => ({
    name: `val ${k.replace('top', 'top-')}`,
    color: ['#2ca02c', '#9467bd', '#ff7f0e'][i]!,
    points: [...(u ? [[0, 100 * u[k]] as [number, number]] : []), ...e.map((r): [number, number] => [r.epoch, 100 * r[k]])],
  }));
  const lastEpoch = Math.max(1, ...e.map((r) => r.epoch));
  const width = M.left + 2 * PANEL_W + GAP + M.right;
  const height = M.top + PANEL_H + M.bottom;
  const body = [
    text(M.left, 24, title, { 'font-size': 15, 'font-weight': 'bold' }),
    ...panel(M.left, 'loss (cross-entropy)', loss, lastEpoch, m.best_epoch, false),
    ...panel(M.left + PANEL_W + GAP, 'validation accuracy (%)', acc, lastEpoch, m.best_epoch, true),
  ];
  return svgDocument(width, height, title, body);
}

function panel(x0: number, label: string, series: Series[], lastEpoch: number, best: number, percent: boolean): string[] {
  const ys = series.flatMap((s) => s.points.map(([, y]) => y)).filter(Number.isFinite);
  let lo = percent ? 0 : Math.min(...ys);
  let hi = percent ? Math.min(100, Math.max(...ys) * 1.1 + 1) : Math.max(...ys);
  if (!ys.length) [lo, hi] = [0, 1];
  if (!(hi > lo)) hi = lo + 1;
  const pad = percent ? 0 : (hi - lo) * 0.06;
  [lo, hi] = [Math.max(0, lo - pad), hi + pad];
  const y0 = M.top;
  const X = (epoch: number) => x0 + (epoch / lastEpoch) * PANEL_W;
  const Y = (v: number) => y0 + PANEL_H - ((v - lo) / (hi - lo)) * PANEL_H;
  const out: string[] = [text(x0 + PANEL_W / 2, y0 - 12, label, { 'text-anchor': 'middle', 'font-size': 13, 'font-weight': 'bold' })];

  for (const t of ticks(lo, hi, 5)) {
    out.push(el('line', { x1: x0, x2: x0 + PANEL_W, y1: Y(t), y2: Y(t), stroke: '#e5e5e5' }));
    out.push(text(x0 - 6, Y(t) + 4, percent ? String(t) : t.toFixed(t < 10 ? 2 : 1).replace(/\.?0+$/, '') || '0', { 'text-anchor': 'end', 'font-size': 10 }));
  }
  for (const t of ticks(0, lastEpoch, Math.min(lastEpoch, 10)).filter(Number.isInteger)) {
    out.push(el('line', { x1: X(t), x2: X(t), y1: y0 + PANEL_H, y2: y0 + PANEL_H + 4, stroke: '#555555' }));
    out.push(text(X(t), y0 + PANEL_H + 16, String(t), { 'text-anchor': 'middle', 'font-size': 10 }));
  }
  out.push(el('rect', { x: x0, y: y0, width: PANEL_W, height: PANEL_H, fill: 'none', stroke: '#555555' }));
  out.push(text(x0 + PANEL_W / 2, y0 + PANEL_H + 32, 'epoch (0: untrained lens)', { 'text-anchor': 'middle', 'font-size': 11 }));
  if (best > 0) {
    out.push(el('line', { x1: X(best), x2: X(best), y1: y0, y2: y0 + PANEL_H, stroke: '#333333', 'stroke-dasharray': '4 3', class: 'best-epoch', 'data-epoch': best }));
    out.push(text(X(best) + (X(best) > x0 + PANEL_W - 80 ? -4 : 4), y0 + 12, `best epoch ${best}`, { 'font-size': 10, 'text-anchor': X(best) > x0 + PANEL_W - 80 ? 'end' : 'start', fill: '#333333' }));
  }
  series.forEach((s, i) => {
    const pts = s.points.filter(([, y]) => Number.isFinite(y));
    if (pts.length > 1) {
      out.push(el('polyline', { points: pts.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' '), fill: 'none', stroke: s.color, 'stroke-width': 2, 'stroke-dasharray': s.dash }));
    }
    for (const [x, y] of pts) {
      out.push(
        el(
          'circle',
          { cx: X(x), cy: Y(y), r: 3, fill: s.color, class: 'point', 'data-series': s.name, 'data-epoch': x, 'data-value': String(percent ? y / 100 : y) },
          el('title', {}, esc(`epoch ${x}: ${s.name} ${percent ? `${y.toFixed(1)} %` : y.toFixed(4)}`)),
        ),
      );
    }
    // Legend under the panel.
    const lx = x0 + i * (PANEL_W / series.length);
    const ly = y0 + PANEL_H + 52;
    out.push(el('line', { x1: lx, x2: lx + 18, y1: ly - 4, y2: ly - 4, stroke: s.color, 'stroke-width': 3 }));
    out.push(text(lx + 22, ly, s.name, { 'font-size': 11 }));
  });
  return out;
}
