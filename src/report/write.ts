// Writes a run's report beside its metrics: report.md, heatmap.svg and curves.svg.
import { join } from 'node:path';
import { curvesSvg } from './curves.ts';
import { heatmapSvg } from './heatmap.ts';
import { reportMarkdown } from './markdown.ts';
import { describeRun, type RunRecord } from './run.ts';
import type { TokenText } from '../data/tokenizer.ts';
import { writeFileAtomic } from '../shared/files.ts';

export const REPORT_FILES = ['report.md', 'heatmap.svg', 'curves.svg'];

export function writeReport(dir: string, run: RunRecord, tokens?: TokenText): void {
  const what = `${run.name} (${describeRun(run)})`;
  const best = run.metrics.best_epoch;
  writeFileAtomic(join(dir, 'heatmap.svg'), heatmapSvg(run.metrics, `Validation accuracy by layer and position: ${what}, best epoch ${best}`));
  writeFileAtomic(join(dir, 'curves.svg'), curvesSvg(run.metrics, `Training curves: ${what}`));
  writeFileAtomic(join(dir, 'report.md'), reportMarkdown(run, tokens));
}
