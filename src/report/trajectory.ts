// A prediction trajectory as a picture, a markdown table or JSON: for one problem, a grid of
// layer (rows) × position (columns) whose cells show the lens's most probable token and its
// probability, coloured by that probability (or by the entropy), with the target's rank. A
// cell's hover text lists the 5 best tokens. Each cell carries data-layer, data-position,
// data-token and data-p for tools and tests. Tokens are shown as text with a tokenizer, as
// ids without one.
import type { TokenText } from '../data/tokenizer.ts';
import { mdTable } from './markdown.ts';
import { el, esc, inkOn, svgDocument, text, textWidth, viridis } from './svg.ts';

export interface TrajectoryCell {
  layer: number;
  position: number;
  /** The 5 most probable tokens, best first, with their probabilities. */
  top: { id: number; p: number }[];
  /** Entropy of the prediction, in nats. */
  entropy: number;
  /** The row's target, its probability and rank (logits strictly greater), where it has one. */
  target?: { id: number; p: number; rank: number };
}

export interface Trajectory {
  example: number;
  lens: string;
  V: number;
  cells: TrajectoryCell[];
}

export type TrajectoryColor = 'prob' | 'entropy';

const CELL_W = 92;
const CELL_H = 34;
const LEFT = 64;
const TOP = 78;

/** A token for a cell: its text with spaces visible, shortened; its id without a tokenizer. */
export function tokenLabel(id: number, tokens: TokenText | undefined, max = 12): string {
  if (!tokens) return `#${id}`;
  const s = tokens.display(id);
  return [...s].length > max ? `${[...s].slice(0, max - 1).join('')}…` : s;
}

const pct = (p: number) => `${(100 * p).toFixed(p >= 0.1 ? 0 : 1)} %`;

export function trajectorySvg(t: Trajectory, title: string, tokens?: TokenText, color: TrajectoryColor = 'prob'): string {
  const layers = [...new Set(t.cells.map((c) => c.layer))].sort((a, b) => a - b);
  const positions = [...new Set(t.cells.map((c) => c.position))].sort((a, b) => a - b);
  const at = new Map(t.cells.map((c) => [`${c.layer},${c.position}`, c]));
  const maxEntropy = Math.log(t.V);
  // Probabilities are coloured on 0 … the grid's largest, so that a diffuse lens still shows contrast.
  const maxP = Math.max(1e-9, ...t.cells.map((c) => c.top[0]!.p));
  const subtitle = `top-1 token and its probability; colour: ${color === 'prob' ? 'probability' : 'entropy (dark: certain)'}; r: the target's rank`;
  // Wide enough for the title and subtitle however few the positions.
  const width = Math.max(LEFT + positions.length * CELL_W + 20, LEFT + Math.max(textWidth(title, 15, true), textWidth(subtitle, 11)) + 20);
  const height = TOP + layers.length * CELL_H + 56;
  const body: string[] = [text(LEFT, 22, title, { 'font-size': 15, 'font-weight': 'bold' }), text(LEFT, 42, subtitle, { 'font-size': 11, fill: '#444444' })];
  positions.forEach((p, j) => body.push(text(LEFT + j * CELL_W + CELL_W / 2, TOP - 8, `pos ${p}`, { 'text-anchor': 'middle', 'font-size': 11 })));
  layers.forEach((l, i) => {
    const y = TOP + i * CELL_H;
    body.push(text(LEFT - 8, y + CELL_H / 2 + 4, `layer ${l}`, { 'text-anchor': 'end', 'font-size': 11 }));
    positions.forEach((p, j) => {
      const x = LEFT + j * CELL_W;
      const c = at.get(`${l},${p}`);
      if (!c) {
        body.push(el('rect', { x, y, width: CELL_W, height: CELL_H, fill: '#d9d9d9', stroke: '#ffffff' }));
        return;
      }
      const best = c.top[0]!;
      const shade = color === 'prob' ? best.p / maxP : 1 - c.entropy / maxEntropy;
      body.push(
        el(
          'g',
          { class: 'cell', 'data-layer': l, 'data-position': p, 'data-token': best.id, 'data-p': String(best.p) },
          el('rect', { x, y, width: CELL_W, height: CELL_H, fill: viridis(shade), stroke: '#ffffff' }),
          text(x + CELL_W / 2, y + 14, tokenLabel(best.id, tokens), { 'text-anchor': 'middle', 'font-size': 11, fill: inkOn(shade), class: 'token' }),
          text(x + CELL_W / 2, y + 28, `${pct(best.p)}${c.target ? `  r${c.target.rank}` : ''}`, { 'text-anchor': 'middle', 'font-size': 10, fill: inkOn(shade) }),
          el('title', {}, esc(hover(c, tokens))),
        ),
      );
    });
  });
  const yBar = TOP + layers.length * CELL_H + 16;
  const barW = positions.length * CELL_W;
  for (let s = 0; s < 20; s++) body.push(el('rect', { x: LEFT + (s * barW) / 20, y: yBar, width: barW / 20 + 0.5, height: 10, fill: viridis((s + 0.5) / 20) }));
  body.push(text(LEFT, yBar + 24, color === 'prob' ? '0 %' : `entropy ${maxEntropy.toFixed(1)} nats`, { 'font-size': 10 }));
  body.push(text(LEFT + barW, yBar + 24, color === 'prob' ? pct(maxP) : '0 nats', { 'font-size': 10, 'text-anchor': 'end' }));
  return svgDocument(width, height, title, body);
}

function hover(c: TrajectoryCell, tokens?: TokenText): string {
  const lines = [`layer ${c.layer}, position ${c.position}: entropy ${c.entropy.toFixed(2)} nats`];
  c.top.forEach((e, i) => lines.push(`${i + 1}. ${tokenLabel(e.id, tokens, 40)} (${e.id}) ${pct(e.p)}`));
  if (c.target) lines.push(`target ${tokenLabel(c.target.id, tokens, 40)} (${c.target.id}): rank ${c.target.rank}, ${pct(c.target.p)}`);
  return lines.join('\n');
}

export function trajectoryMarkdown(t: Trajectory, title: string, tokens?: TokenText): string {
  const layers = [...new Set(t.cells.map((c) => c.layer))].sort((a, b) => a - b);
  const positions = [...new Set(t.cells.map((c) => c.position))].sort((a, b) => a - b);
  const at = new Map(t.cells.map((c) => [`${c.layer},${c.position}`, c]));
  const cell = (c: TrajectoryCell | undefined) => {
    if (!c) return '–';
    const label = tokenLabel(c.top[0]!.id, tokens, 16).replace(/\|/g, '\\|');
    return `\`${label}\` ${pct(c.top[0]!.p)}${c.target ? ` (r${c.target.rank})` : ''}`;
  };
  return [
    `## ${title}`,
    '',
    'Top-1 token and its probability; (rN): the target\'s rank.',
    '',
    mdTable(['layer', ...positions.map((p) => `pos ${p}`)], layers.map((l) => [l, ...positions.map((p) => cell(at.get(`${l},${p}`)))]), 'l' + 'l'.repeat(positions.length)),
    '',
  ].join('\n');
}
