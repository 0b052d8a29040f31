// positions.svg: top-1 accuracy by position for several runs as grouped bars (one colour per
// run), the picture behind the seed's "position 0 reads 10 %, position 3 reads 25 %".
// Each bar carries data-run, data-position and data-value.
import type { RunRecord } from './run.ts';
import { el, esc, svgDocument, text, textWidth, ticks } from './svg.ts';

const COLORS = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#ff9da6', '#9d755d'];
const M = { left: 56, right: 20, top: 56, bottom: 70 };
const PLOT_H = 260;

export function positionsSvg(runs: RunRecord[], title: string): string {
  const positions = [...new Set(runs.flatMap((r) => r.metrics.per_position.map((p) => p.position)))].sort((a, b) => a - b);
  const barW = Math.max(8, Math.min(26, 140 / runs.length));
  const groupW = barW * runs.length + 18;
  const width = M.left + Math.max(positions.length * groupW, 360, textWidth(title, 15, true)) + M.right;
  const height = M.top + PLOT_H + M.bottom + 18 * Math.ceil(runs.length / 3);
  const values = runs.flatMap((r) => r.metrics.per_position.map((p) => p.top1));
  const hi = Math.min(1, Math.max(0.1, Math.ceil(Math.max(0, ...values) * 10 + 0.5) / 10));
  const Y = (v: number) => M.top + PLOT_H - (v / hi) * PLOT_H;
  const body: string[] = [text(M.left, 24, title, { 'font-size': 15, 'font-weight': 'bold' })];
  for (const t of ticks(0, 100 * hi, 5)) {
    body.push(el('line', { x1: M.left, x2: width - M.right, y1: Y(t / 100), y2: Y(t / 100), stroke: '#e5e5e5' }));
    body.push(text(M.left - 6, Y(t / 100) + 4, `${t} %`, { 'text-anchor': 'end', 'font-size': 10 }));
  }
  positions.forEach((p, j) => {
    const gx = M.left + j * groupW + 9;
    runs.forEach((run, i) => {
      const cell = run.metrics.per_position.find((x) => x.position === p);
      if (!cell || cell.count === 0) return;
      const x = gx + i * barW;
      body.push(
        el(
          'rect',
          { x, y: Y(cell.top1), width: barW - 1, height: Y(0) - Y(cell.top1), fill: COLORS[i % COLORS.length], class: 'bar', 'data-run': run.name, 'data-position': p, 'data-value': String(cell.top1) },
          el('title', {}, esc(`${run.name}, position ${p}: top-1 ${(100 * cell.top1).toFixed(1)} % of ${cell.count} samples`)),
        ),
      );
    });
    body.push(text(gx + (barW * runs.length) / 2, Y(0) + 16, `position ${p}`, { 'text-anchor': 'middle', 'font-size': 11 }));
  });
  body.push(el('line', { x1: M.left, x2: width - M.right, y1: Y(0), y2: Y(0), stroke: '#555555' }));
  runs.forEach((run, i) => {
    const lx = M.left + (i % 3) * 200;
    const ly = Y(0) + 42 + 18 * Math.floor(i / 3);
    body.push(el('rect', { x: lx, y: ly - 10, width: 12, height: 12, fill: COLORS[i % COLORS.length] }));
    body.push(text(lx + 18, ly, run.name, { 'font-size': 11 }));
  });
  return svgDocument(width, height, title, body);
}
