// The view's pages as HTML, from what the server found (runs, their records, sample results,
// trajectories): the runs, one run, one (layer, position) cell's examples, one example's
// trajectory. Every state is in the URL (sort order, metric, filter, lens). The pictures are
// src/report's own SVGs, so the pages and the report files draw the same ones. Pure functions.
import { chunkBounds, parseAssignment, positionWeights } from '../data/assign.ts';
import { layersAndPositions } from '../data/dataset.ts';
import type { TokenText } from '../data/tokenizer.ts';
import { curvesSvg } from '../report/curves.ts';
import { positionsSvg } from '../report/positions.ts';
import { heatmapSvg, type Metric } from '../report/heatmap.ts';
import { bestEpoch, describeRun, duration, pct, type RunRecord } from '../report/run.ts';
import { esc } from '../report/svg.ts';
import { tokenLabel, trajectorySvg, type Trajectory } from '../report/trajectory.ts';
import type { RunData } from './runData.ts';
import type { CachedSamples } from './samples.ts';

/** Where a page's links and its script point: the server's routes, or an exported file's anchors. */
export interface Links {
  runs: string;
  run(id: string, query?: Record<string, string>): string;
  cell(id: string, layer: number, position: number, query?: Record<string, string>): string;
  /** An example's page; undefined where there is none (an exported file holds some examples only). */
  example(id: string, example: number, query?: Record<string, string>): string | undefined;
  /** The cell page of a run without layer and position (the heatmap's script adds them). */
  cellBase(id: string): string;
  script: string;
  /** Tables sort by links to the same page sorted (the server), or not at all (an exported file). */
  sortable: boolean;
}

export interface PageOptions {
  /** The page reloads when this URL answers other than `version`. */
  poll?: { url: string; version: string };
}

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:0 16px 48px;color:#1a1a1a}
header{display:flex;gap:12px;align-items:baseline;border-bottom:1px solid #ddd;margin-bottom:16px;padding:10px 0}
header a{color:#555;text-decoration:none} header b{font-size:16px}
h1{font-size:20px;margin:12px 0 4px} h2{font-size:16px;margin:24px 0 8px}
table{border-collapse:collapse;margin:8px 0} th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th{background:#f6f6f6;position:sticky;top:0} td.l,th.l{text-align:left} th a{color:inherit}
.note{color:#555} .error{color:#a40000} .pill{display:inline-block;padding:0 6px;border-radius:8px;background:#eef;margin-right:4px}
.toggles a{margin-right:10px} .toggles a.on{font-weight:bold;text-decoration:none;color:#000}
svg{max-width:100%;height:auto} [data-cell-href] .cell{cursor:pointer} code{background:#f4f4f4;padding:0 3px}
`;

/** A page: its title, its trail of links (the last one the page itself), its HTML, and what it polls. */
export interface PageContent {
  title: string;
  crumbs: [string, string | undefined][];
  body: string[];
  poll?: PageOptions['poll'];
}

const content = (title: string, crumbs: PageContent['crumbs'], body: string[], o: PageOptions = {}): PageContent => ({ title, crumbs, body, ...o });

const HEAD = (title: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)} · lensgpu view</title><style>${STYLE}</style></head>`;

const nav = (crumbs: PageContent['crumbs']) =>
  `<header><span>lensgpu view</span> ${crumbs.map(([label, href]) => (href ? `<a href="${esc(href)}">${esc(label)}</a>` : `<b>${esc(label)}</b>`)).join(' › ')}</header>`;

/** A page as the server sends it. */
export function renderPage(p: PageContent, links: Links): string {
  const poll = p.poll ? ` data-poll="${esc(p.poll.url)}" data-version="${esc(p.poll.version)}"` : '';
  return `${HEAD(p.title)}<body${poll}>\n${nav(p.crumbs)}\n${p.body.join('\n')}\n${links.script}</body></html>`;
}

/** Several pages in one document, one section each (id `anchor`), the one the URL's #anchor names shown. */
export function renderSections(title: string, pages: { anchor: string; page: PageContent }[], links: Links): string {
  const sections = pages.map(({ anchor, page: p }) => `<section id="${esc(anchor)}" data-page>${nav(p.crumbs)}\n${p.body.join('\n')}</section>`);
  return `${HEAD(title)}<body>\n${sections.join('\n')}\n${links.script}</body></html>`;
}

/** A table with a header row; `align` one letter a column (l or r); cells are HTML. */
export function table(header: string[], rows: string[][], align = '', id?: string): string {
  const cls = (j: number) => (align[j] === 'l' ? ' class="l"' : '');
  return `<table${id ? ` id="${id}"` : ''}><thead><tr>${header.map((h, j) => `<th${cls(j)}>${h}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c, j) => `<td${cls(j)}>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** A token as text (with its id), or as its id without a tokenizer. */
function token(id: number, tokens?: TokenText): string {
  return tokens ? `<code>${esc(tokenLabel(id, tokens, 24))}</code> <span class="note">${id}</span>` : `#${id}`;
}

// ---- the runs ----

export interface RunRow {
  id: string;
  record?: RunRecord;
  error?: string;
  /** Still training (its lock is held, or no epoch is done yet). */
  training: boolean;
}

const SORTS: Record<string, (r: RunRecord) => number | string> = {
  run: (r) => r.name,
  params: (r) => r.metrics.params,
  best: (r) => r.metrics.best_epoch,
  loss: (r) => bestEpoch(r.metrics)?.val_loss ?? Infinity,
  top1: (r) => -(bestEpoch(r.metrics)?.top1 ?? -1),
  top5: (r) => -(bestEpoch(r.metrics)?.top5 ?? -1),
  top10: (r) => -(bestEpoch(r.metrics)?.top10 ?? -1),
  time: (r) => r.metrics.train_seconds ?? Infinity,
};

export function runsPage(rows: RunRow[], sort: string | undefined, links: Links): PageContent {
  const by = sort && SORTS[sort];
  const sorted = by ? [...rows].sort((a, b) => (a.record && b.record ? compare(by(a.record), by(b.record)) : a.record ? -1 : b.record ? 1 : 0)) : rows;
  const head = (key: string, label: string) => `<a href="${esc(links.runs)}?sort=${key}" title="sort by ${label}">${label}</a>${sort === key ? ' ▾' : ''}`;
  const body = sorted.map((r) => {
    const check = `<input type="checkbox" name="runs" value="${esc(r.id)}" aria-label="overlay ${esc(r.id)}">`;
    const name = `<a href="${esc(links.run(r.id))}">${esc(r.id)}</a>${r.training ? ' <span class="pill">training</span>' : ''}`;
    if (!r.record) return [check, name, `<span class="error">${esc(r.error ?? 'not readable')}</span>`, '', '', '', '', '', '', ''];
    const m = r.record.metrics;
    return [check, name, esc(describeRun(r.record)), m.params.toLocaleString('en-US'), ...bestCells(r.record), duration(m.train_seconds)];
  });
  const header = ['', head('run', 'run'), 'configuration', head('params', 'parameters'), head('best', 'best epoch'), head('loss', 'val loss'), head('top1', 'top-1'), head('top5', 'top-5'), head('top10', 'top-10'), head('time', 'training time')];
  return content('runs', [['runs', undefined]], [
    `<h1>Runs</h1><p class="note">The best epoch of each run. Tick runs and compare them by position.</p>`,
    `<form method="get" action="${esc(links.runs)}compare">`,
    table(header, body, 'llll', 'runs'),
    `<button type="submit">compare the ticked runs</button></form>`,
  ]);
}

const compare = (a: number | string, b: number | string) => (a < b ? -1 : a > b ? 1 : 0);

/** A run's best epoch as table cells: epoch, val loss, top-1, top-5, top-10. */
function bestCells(run: RunRecord): string[] {
  const b = bestEpoch(run.metrics);
  return [b ? String(b.epoch) : '–', b ? b.val_loss.toFixed(4) : '–', pct(b?.top1), pct(b?.top5), pct(b?.top10)];
}

// ---- one run ----

const METRICS: { key: 'all' | Metric; label: string }[] = [
  { key: 'all', label: 'top-1/5/10' },
  { key: 'top1', label: 'top-1' },
  { key: 'top5', label: 'top-5' },
  { key: 'top10', label: 'top-10' },
  { key: 'any1', label: 'any-1' },
  { key: 'any10', label: 'any-10' },
  { key: 'loss', label: 'val loss' },
];

export function runPage(id: string, run: RunRecord, metric: string, tokens: TokenText | undefined, links: Links, o: PageOptions): PageContent {
  const m = run.metrics;
  const anyK = m.per_group.some((c) => c.any1 !== undefined);
  const shown = METRICS.filter((x) => anyK || !x.key.startsWith('any'));
  const chosen = shown.find((x) => x.key === metric) ?? shown[0]!;
  const toggles = shown.map((x) => `<a href="${esc(links.run(id, x.key === 'all' ? {} : { metric: x.key }))}"${x === chosen ? ' class="on"' : ''}>${x.label}</a>`).join('');
  const b = bestEpoch(m);
  const predictions = (m.predictions_per_position ?? []).map((p) => [
    String(p.id),
    p.top.map((t) => `${token(t.token, tokens)} ×${t.count}`).join(', '),
    p.confusions.length ? p.confusions.map((c) => `${token(c.target, tokens)} → ${token(c.predicted, tokens)} ×${c.count}`).join(', ') : '–',
  ]);
  const settings = Object.entries(run.config.settings ?? {}).map(([k, v]) => [esc(k), esc(JSON.stringify(v))]);
  return content(id, [['runs', links.runs], [id, undefined]], [
    `<h1>${esc(id)}</h1><p class="note">${esc(describeRun(run))}; ${m.params.toLocaleString('en-US')} parameters; ${b ? `best epoch ${b.epoch}: val loss ${b.val_loss.toFixed(4)}, top-1 ${pct(b.top1)}` : 'no epoch finished yet'}; ${m.epochs.length} epochs, ${duration(m.train_seconds)}</p>`,
    curvesSvg(m, `${id}: loss and accuracy per epoch`),
    `<h2>Accuracy by layer and position</h2><p class="toggles">${toggles}</p><p class="note">Click a cell for its examples.</p>`,
    `<div data-cell-href="${esc(links.cellBase(id))}">${heatmapSvg(m, `${id}: best epoch by layer and position`, chosen.key === 'all' ? undefined : [chosen.key])}</div>`,
    ...(predictions.length ? [`<h2>What each position predicts</h2>`, table(['position', 'commonest top-1 predictions', 'commonest confusions (target → predicted)'], predictions, 'lll')] : []),
    `<h2>Settings</h2>`,
    table(['setting', 'value'], settings, 'll'),
  ], o);
}

// ---- one (layer, position) cell ----

/** The cell's rows of the test set (file order), with their results. */
export interface CellRows {
  layer: number;
  position: number;
  rows: { row: number; example?: number; target: number; top1: number; rank: number; loss: number }[];
}

const CELL_SORTS = ['loss', 'rank', 'example'] as const;

export function cellPage(id: string, cell: CellRows, sort: string | undefined, q: string, tokens: TokenText | undefined, links: Links): PageContent {
  const key = CELL_SORTS.find((k) => k === sort);
  const rows = key ? [...cell.rows].sort((a, b) => (key === 'example' ? (a.example ?? a.row) - (b.example ?? b.row) : b[key] - a[key])) : cell.rows;
  const { layer, position } = cell;
  const head = (k: (typeof CELL_SORTS)[number], label: string) =>
    links.sortable ? `<a href="${esc(links.cell(id, layer, position, { sort: k, ...(q ? { q } : {}) }))}">${label}</a>${key === k ? ' ▾' : ''}` : label;
  const body = rows.map((r) => {
    const href = r.example === undefined ? undefined : links.example(id, r.example);
    return [
      r.example === undefined ? String(r.row) : href ? `<a href="${esc(href)}">${r.example}</a>` : String(r.example),
      token(r.target, tokens),
      token(r.top1, tokens),
      String(r.rank),
      r.loss.toFixed(4),
    ];
  });
  const correct = cell.rows.filter((r) => r.rank === 0).length;
  return content(`${id} layer ${layer} position ${position}`, [['runs', links.runs], [id, links.run(id)], [`layer ${layer}, position ${position}`, undefined]], [
    `<h1>Layer ${layer}, position ${position}</h1><p class="note">${cell.rows.length} test samples, ${correct} with the target as top-1 (rank 0). ` +
      `Showing <span data-filter-count>${cell.rows.length}</span>.</p>`,
    `<p><input data-filter="samples-${layer}-${position}" placeholder="filter by token text" value="${esc(q)}" aria-label="filter"></p>`,
    table([head('example', 'example'), 'target', 'top-1 prediction', head('rank', 'target rank'), head('loss', 'loss')], body, 'lll', `samples-${layer}-${position}`),
  ]);
}

/** The rows of a run's test set at (layer, position), with their results. */
export function cellRows(test: { layer: Int32Array; position: Int32Array; target: Int32Array; example?: Int32Array }, s: CachedSamples, layer: number, position: number): CellRows {
  const rows: CellRows['rows'] = [];
  test.layer.forEach((l, i) => {
    if (l === layer && test.position[i] === position) rows.push({ row: i, example: test.example?.[i], target: test.target[i]!, top1: s.top1[i]!, rank: s.rank[i]!, loss: s.loss[i]! });
  });
  return { layer, position, rows };
}

// ---- one example ----

export interface LensChoice {
  /** The `lens` query value: `run`, `none` (the logit lens) or another run's id. */
  key: string;
  label: string;
}

export function examplePage(id: string, t: Trajectory, lens: string, choices: LensChoice[], cot: string | undefined, tokens: TokenText | undefined, links: Links): PageContent {
  const toggles = choices.map((c) => `<a href="${esc(links.example(id, t.example, c.key === 'run' ? {} : { lens: c.key }) ?? '')}"${c.key === lens ? ' class="on"' : ''}>${esc(c.label)}</a>`).join('');
  const label = choices.find((c) => c.key === lens)?.label ?? lens;
  return content(`${id} example ${t.example}`, [['runs', links.runs], [id, links.run(id)], [`example ${t.example}`, undefined]], [
    `<h1>Example ${t.example}</h1><p class="toggles">lens: ${toggles}</p>`,
    trajectorySvg(t, `example ${t.example} through ${label}`, tokens),
    ...(cot ? [`<h2>Chain of thought</h2>`, cot] : []),
  ]);
}

/** A problem's chain-of-thought tokens: each chunk (`bounds`) under the position it is assigned to, or all in one row. */
export function cotHtml(tokens: number[], bounds: number[], assigned: boolean, text: TokenText | undefined): string {
  const chunk = (p: number) => tokens.slice(bounds[p], bounds[p + 1]).map((t) => token(t, text)).join(' ') || '<span class="note">(empty)</span>';
  const rows = bounds.slice(0, -1).map((_, p) => [assigned ? String(p) : 'all', chunk(p)]);
  return table([assigned ? 'position (--assign)' : 'tokens', 'chain of thought'], rows, 'll');
}

/** The example's chain of thought, where the data has one: with --assign, each chunk under the position it was assigned to. */
export function cotOf(data: RunData, run: RunRecord, example: number, tokens: TokenText | undefined): string | undefined {
  const cot = data.test.cot;
  const at = cot ? Array.from(cot.example).indexOf(example) : -1;
  if (!cot || at < 0) return undefined;
  const row = Array.from(cot.tokens.subarray(at * cot.T, (at + 1) * cot.T)).filter((t) => t >= 0);
  const assign = run.config.settings?.assign;
  // The data's positions as given (an assignment's emptied chunks included), as training split over them.
  const positions = layersAndPositions(data.test).positions.at(-1)! + 1;
  return cotHtml(row, assign ? chunkBounds(row.length, positionWeights(parseAssignment(assign), positions)) : [0, row.length], Boolean(assign), tokens);
}

export function comparePage(runs: { id: string; run: RunRecord }[], links: Links): PageContent {
  const rows = runs.map(({ id, run }) => [`<a href="${esc(links.run(id))}">${esc(id)}</a>`, esc(describeRun(run)), ...bestCells(run)]);
  return content('compare', [['runs', links.runs], ['compare', undefined]], [
    `<h1>Compare ${runs.length} runs</h1>`,
    table(['run', 'configuration', 'best epoch', 'val loss', 'top-1', 'top-5', 'top-10'], rows, 'll'),
    positionsSvg(runs.map((r) => ({ ...r.run, name: r.id })), 'Top-1 accuracy by position (best epoch of each run)'),
  ]);
}

export function errorPage(status: number, message: string, links: Links): PageContent {
  return content(`error ${status}`, [['runs', links.runs], [`error ${status}`, undefined]], [`<h1>${status}</h1><p class="error">${esc(message)}</p>`]);
}

export function progressPage(id: string, what: string, done: number, total: number, links: Links, poll: PageOptions['poll']): PageContent {
  return content(id, [['runs', links.runs], [id, links.run(id)], [what, undefined]], [
    `<h1>${esc(what)}</h1><p>Evaluating the run's best lens on its test set: batch <b data-progress>${done}</b> of ${total}. The page fills in when it is done.</p>`,
  ], { poll });
}
