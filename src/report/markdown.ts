// report.md: a run in one page: what was trained on what, the per-epoch table, the best
// epoch's per-layer and per-position tables, and the pictures beside it.
import { bestEpoch, describeRun, duration, pct, type RunRecord } from './run.ts';
import type { TokenText } from '../data/tokenizer.ts';

/**
 * A markdown table from a header row and rows of cells. `align` has a letter per column,
 * l or r (default: the first column left, numbers right).
 */
export function mdTable(header: string[], rows: (string | number)[][], align = 'l' + 'r'.repeat(header.length - 1)): string {
  const line = (cells: (string | number)[]) => `| ${cells.map(String).join(' | ')} |`;
  return [line(header), `|${header.map((_, i) => (align[i] === 'r' ? '---:' : '---')).join('|')}|`, ...rows.map(line)].join('\n');
}

export function reportMarkdown(run: RunRecord, tokens?: TokenText): string {
  const { metrics: m, config: c } = run;
  const s = c.settings ?? {};
  const best = bestEpoch(m);
  const out: string[] = [`# Lens run ${run.name}`, ''];
  out.push(`${describeRun(run)}: ${c.groups ?? '?'} translators over ${c.layers?.length ?? '?'} layers × ${c.positions?.length ?? '?'} positions, ${m.params.toLocaleString('en-US')} trainable parameters.`);
  if (best) {
    out.push('');
    if (m.untrained && best.val_loss > m.untrained.val_loss) {
      out.push(`**Warning**: the best epoch's val loss ${best.val_loss.toFixed(4)} is worse than the untrained lens's ${m.untrained.val_loss.toFixed(4)}: training did not help (try a lower --lr or more training data).`, '');
    }
    out.push(`**Best epoch ${best.epoch}**: val loss ${best.val_loss.toFixed(4)}, top-1 / 5 / 10 ${pct(best.top1)} / ${pct(best.top5)} / ${pct(best.top10)}` + (m.untrained ? ` (untrained lens: ${m.untrained.val_loss.toFixed(4)}, ${pct(m.untrained.top1)} / ${pct(m.untrained.top5)} / ${pct(m.untrained.top10)})` : '') + '.');
  }
  out.push('');
  out.push('![top-1/5/10 by layer and position](heatmap.svg)');
  out.push('');
  out.push('![loss and accuracy per epoch](curves.svg)');
  out.push('');
  out.push('## Settings');
  out.push('');
  const rows: [string, unknown][] = [
    ['data', c.samples ? `${c.samples.train.toLocaleString('en-US')} train, ${c.samples.test.toLocaleString('en-US')} test samples` : undefined],
    ['head', c.head ? `d ${c.head.d}, V ${c.head.V}${c.head.dtype ? `, U ${c.head.dtype}` : ''}${c.head.source ? ` (${c.head.source})` : ''}` : undefined],
    // Settings by the flag that sets them (batchSize: --batch-size).
    ...Object.entries(s).map(([k, v]): [string, unknown] => [`\`--${k.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}\``, Array.isArray(v) ? v.join(',') : v]),
    ['adapter', c.adapter?.name],
    ['training time', duration(m.train_seconds)],
    ['command', c.command ? `\`${c.command}\`` : undefined],
  ];
  out.push(mdTable(['setting', 'value'], rows.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => [k, String(v)]), 'll'));
  out.push('');
  out.push('## Epochs');
  out.push('');
  const epochRows: (string | number)[][] = [];
  if (m.untrained) epochRows.push([0, '–', m.untrained.val_loss.toFixed(4), pct(m.untrained.top1), pct(m.untrained.top5), pct(m.untrained.top10), 'untrained']);
  const withAny = m.epochs.some((e) => e.any1 !== undefined);
  for (const e of m.epochs) {
    const any = withAny ? [pct(e.any1), pct(e.any5), pct(e.any10)] : [];
    epochRows.push([e.epoch, e.train_loss.toFixed(4), e.val_loss.toFixed(4), pct(e.top1), pct(e.top5), pct(e.top10), ...any, e.epoch === m.best_epoch ? '**best**' : '']);
  }
  if (withAny && m.untrained) epochRows[0]!.splice(6, 0, pct(m.untrained.any1), pct(m.untrained.any5), pct(m.untrained.any10));
  const anyHeader = withAny ? ['any-1', 'any-5', 'any-10'] : [];
  out.push(mdTable(['epoch', 'train loss', 'val loss', 'top-1', 'top-5', 'top-10', ...anyHeader, ''], epochRows, 'rrrrrr' + 'r'.repeat(anyHeader.length) + 'l'));
  if (m.dropped) out.push('', `--assign left ${m.dropped.train.toLocaleString('en-US')} train and ${m.dropped.test.toLocaleString('en-US')} test samples out (their chunk of the chain of thought was empty).`);
  // A layer or position without test samples (every one left out by --assign) shows as empty.
  const cells = (r: { count: number; val_loss: number; top1: number; top5: number; top10: number }) =>
    r.count === 0 ? [0, '–', '–', '–', '–'] : [r.count, r.val_loss.toFixed(4), pct(r.top1), pct(r.top5), pct(r.top10)];
  out.push('');
  out.push(`## By position (best epoch)`);
  out.push('');
  out.push(mdTable(['position', 'samples', 'val loss', 'top-1', 'top-5', 'top-10'], m.per_position.map((r) => [r.position, ...cells(r)])));
  out.push('');
  out.push(`## By layer (best epoch)`);
  out.push('');
  out.push(mdTable(['layer', 'samples', 'val loss', 'top-1', 'top-5', 'top-10'], m.per_layer.map((r) => [r.layer, ...cells(r)])));
  out.push('');
  if (m.predictions_per_position?.length) {
    out.push('## What each position predicts (best epoch)');
    out.push('');
    out.push(predictionsTable(m.predictions_per_position, tokens));
    out.push('');
  }
  out.push('Accuracies count a sample when fewer than k logits are strictly greater than its target\'s. The per-(layer, position) figures are in `metrics.json` (`per_group`) and `heatmap.svg`.');
  out.push('');
  return out.join('\n');
}

/** A token in a markdown cell: its text (spaces visible) and id, or the id alone. */
function tokenCell(id: number, tokens?: TokenText): string {
  if (!tokens || id < 0 || id >= tokens.size) return `#${id}`;
  return `\`${tokens.display(id).replace(/`/g, "'").replace(/\|/g, '\\|')}\` (${id})`;
}

/** Per position: the commonest top-1 predictions and the commonest wrong (target → predicted). */
export function predictionsTable(stats: NonNullable<RunRecord['metrics']['predictions_per_position']>, tokens?: TokenText, what = 'position'): string {
  const rows = stats.map((s) => [
    s.id,
    s.top.map((t) => `${tokenCell(t.token, tokens)} ×${t.count}`).join(', '),
    s.confusions.length ? s.confusions.map((c) => `${tokenCell(c.target, tokens)} → ${tokenCell(c.predicted, tokens)} ×${c.count}`).join(', ') : '–',
  ]);
  return mdTable([what, 'commonest top-1 predictions', 'commonest confusions (target → predicted)'], rows, 'lll');
}
