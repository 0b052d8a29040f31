// `compare`: runs side by side as markdown, like the seed's "Comparison with Baseline": the
// best epoch's accuracy and loss, parameters, best epoch and training time of each run, and
// its differences against the first run; then top-1 by position, with the same differences.
import { mdTable } from './markdown.ts';
import { bestEpoch, describeRun, duration, pct, type RunRecord } from './run.ts';

/** "+1.4 pp" (percentage points) or "−0.0213": a signed difference, or "" for the reference. */
function delta(x: number | undefined, ref: number | undefined, kind: 'pp' | 'loss'): string {
  if (x === undefined || ref === undefined || !Number.isFinite(x) || !Number.isFinite(ref)) return '';
  const d = kind === 'pp' ? 100 * (x - ref) : x - ref;
  const text = kind === 'pp' ? `${Math.abs(d).toFixed(1)} pp` : Math.abs(d).toFixed(4);
  return ` (${d > 0 ? '+' : d < 0 ? '−' : '±'}${text})`;
}

export function compareMarkdown(runs: RunRecord[], title = 'Comparison'): string {
  const ref = runs[0]!;
  const refBest = bestEpoch(ref.metrics);
  const out: string[] = [`## ${title}`, '', `Best epoch of each run; differences against **${ref.name}** in brackets (pp: percentage points).`, ''];
  const withAny = runs.some((r) => bestEpoch(r.metrics)?.any1 !== undefined);
  const rows = runs.map((run, i) => {
    const b = bestEpoch(run.metrics);
    const d = (x: number | undefined, r: number | undefined, kind: 'pp' | 'loss') => (i === 0 ? '' : delta(x, r, kind));
    return [
      i === 0 ? `**${run.name}**` : run.name,
      describeRun(run),
      run.metrics.params.toLocaleString('en-US') + (i === 0 || !ref.metrics.params ? '' : ` (×${(run.metrics.params / ref.metrics.params).toFixed(2)})`),
      b ? String(b.epoch) : '–',
      b ? b.val_loss.toFixed(4) + d(b.val_loss, refBest?.val_loss, 'loss') : '–',
      pct(b?.top1) + d(b?.top1, refBest?.top1, 'pp'),
      pct(b?.top5) + d(b?.top5, refBest?.top5, 'pp'),
      pct(b?.top10) + d(b?.top10, refBest?.top10, 'pp'),
      ...(withAny ? [pct(b?.any1) + d(b?.any1, refBest?.any1, 'pp'), pct(b?.any10) + d(b?.any10, refBest?.any10, 'pp')] : []),
      duration(run.metrics.train_seconds),
    ];
  });
  const anyHeader = withAny ? ['any-1', 'any-10'] : [];
  out.push(mdTable(['run', 'configuration', 'parameters', 'best epoch', 'val loss', 'top-1', 'top-5', 'top-10', ...anyHeader, 'training time'], rows, 'llrrrrrrr' + 'r'.repeat(anyHeader.length)));
  if (withAny) out.push('', 'any-k: a sample counts when any of its targets ranks below k (runs with several targets a sample).');

  const positions = [...new Set(runs.flatMap((r) => r.metrics.per_position.map((p) => p.position)))].sort((a, b) => a - b);
  const at = (run: RunRecord, p: number) => run.metrics.per_position.find((x) => x.position === p && x.count > 0);
  out.push('');
  out.push('### Top-1 by position');
  out.push('');
  out.push(
    mdTable(
      ['position', ...runs.map((r) => r.name)],
      positions.map((p) => [p, ...runs.map((run, i) => pct(at(run, p)?.top1) + (i === 0 ? '' : delta(at(run, p)?.top1, at(ref, p)?.top1, 'pp')))]),
    ),
  );
  const kl = runs.filter((r) => r.config.settings?.loss === 'kl').map((r) => r.name);
  if (kl.length && kl.length < runs.length) {
    out.push('');
    out.push(`Note: the val loss of ${kl.join(', ')} is the KL divergence to the model's own prediction, not comparable with the others' cross-entropy.`);
  }
  const tests = new Set(runs.map((r) => r.config.samples?.test));
  if (tests.size > 1) {
    out.push('');
    out.push(`Note: the runs are evaluated on different test samples (${runs.map((r) => `${r.name}: ${r.config.samples?.test ?? '?'}`).join(', ')}), e.g. when some keep only some layers.`);
  }
  out.push('');
  return out.join('\n');
}
