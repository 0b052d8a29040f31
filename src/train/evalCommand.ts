// `eval`: a saved lens (written by train, or by PyTorch in the same layout) on a test set, with
// the same metrics and breakdowns as training reports: overall, per layer, per position and
// per (layer, position), as tables, JSON and a heatmap.
import { layersAndPositions, type Dataset } from '../data/dataset.ts';
import { InputError } from '../shared/errors.ts';
import type { Head } from '../data/head.ts';
import { basename } from 'node:path';
import { heatmapSvg } from '../report/heatmap.ts';
import type { Gpu } from '../lens/device.ts';
import { Evaluator, teacherArgmax, type SampleResults } from '../lens/evaluate.ts';
import type { GroupTable } from '../lens/preset.ts';
import { savedLensOnGpu } from '../lens/savedLens.ts';
import { breakdown, percent, predictionStats, scoresJson, type Scores } from './metrics.ts';
import { predictionsTable } from '../report/markdown.ts';
import type { TokenText } from '../data/tokenizer.ts';
import { writeFileAtomic } from '../shared/files.ts';
import type { TuneMode } from '../shared/constants.ts';

export async function evaluateLensFile(
  gpu: Gpu,
  head: Head,
  lensPath: string,
  test: Dataset,
  batchSize: number,
  outputs: { json?: string; heatmap?: string },
  print: (line: string) => void,
  loss: { kl: boolean; finalNormed: boolean; firstTarget?: boolean; tune?: TuneMode } = { kl: false, finalNormed: false },
  tokens?: TokenText,
  byLayer = false,
): Promise<void> {
  const { results: r, table } = await evaluateSamples(gpu, head, lensPath, test, batchSize, print, loss);
  // Layers and positions of the data as given: those --assign emptied show as empty.
  const b = breakdown(r.loss, r.rank, test.layer, test.position, r.anyRank, layersAndPositions(test));
  print(`${lensPath} (${table.preset}, ${table.groups.length} translators) on ${test.source}: ${test.count} samples`);
  print(`overall: ${fmt(b.overall)}`);
  print('');
  print(' layer | samples | val loss |  top-1  |  top-5  |  top-10');
  for (const r of b.perLayer) print(`${String(r.layer).padStart(6)} | ${row(r)}`);
  print('');
  print(' position | samples | val loss |  top-1  |  top-5  |  top-10');
  for (const r of b.perPosition) print(`${String(r.position).padStart(9)} | ${row(r)}`);
  print('');
  print('top-1 by layer (rows) × position (columns):');
  const positions = b.perPosition.map((r) => r.position);
  print(`${'layer'.padStart(6)} |${positions.map((p) => String(p).padStart(8)).join('')}`);
  for (const l of b.perLayer.map((r) => r.layer)) {
    const cells = positions.map((p) => b.perGroup.find((c) => c.layer === l && c.position === p));
    print(`${String(l).padStart(6)} |${cells.map((c) => (c?.count ? pct(c.top1) : '–'.padStart(7)).padStart(8)).join('')}`);
  }
  const predictions = predictionStats(r.top1, test.target, test.position);
  print('');
  print(`what each position predicts${tokens ? '' : ' (token ids; --tokenizer shows text)'}:`);
  for (const line of predictionsTable(predictions, tokens).split('\n')) print(line);
  if (byLayer) {
    print('');
    print('what each layer predicts:');
    for (const line of predictionsTable(predictionStats(r.top1, test.target, test.layer), tokens, 'layer').split('\n')) print(line);
  }
  const jsonPath = outputs.json;
  if (outputs.heatmap) {
    const m = { params: 0, best_epoch: 0, epochs: [], per_layer: [], per_position: [], per_group: b.perGroup.map(scoresJson) };
    writeFileAtomic(outputs.heatmap, heatmapSvg(m, `Accuracy by layer and position: ${basename(lensPath)} on ${basename(test.source)}`));
    print(`wrote ${outputs.heatmap}`);
  }
  if (jsonPath) {
    const json = {
      lens: lensPath,
      test: test.source,
      overall: scoresJson(b.overall),
      per_layer: b.perLayer.map(scoresJson),
      per_position: b.perPosition.map(scoresJson),
      per_group: b.perGroup.map(scoresJson),
      predictions_per_position: predictions,
    };
    writeFileAtomic(jsonPath, JSON.stringify(json, null, 2) + '\n');
    print(`wrote ${jsonPath}`);
  }
}

/**
 * A saved lens's per-sample results on a test set (file order), through the inference lens in
 * batches of up to `batchSize` rows (as many as one binding of logits holds); with the KL loss
 * and no targets, top-k is scored against the teacher's argmax.
 */
export async function evaluateSamples(
  gpu: Gpu,
  head: Head,
  lensPath: string,
  test: Dataset,
  batchSize: number,
  print: (line: string) => void,
  loss: { kl: boolean; finalNormed: boolean; firstTarget?: boolean; tune?: TuneMode },
  progress?: (done: number, total: number) => void,
): Promise<{ results: SampleResults; table: GroupTable }> {
  if (loss.kl && !test.finalHidden) throw new InputError(`${test.source}: --loss kl needs 'final_hidden' [N, d]`);
  if (!loss.kl && test.targetsFromTeacher) throw new InputError(`${test.source}: no 'target' or 'targets'; with only 'final_hidden', evaluate with --loss kl`);
  const batch = Math.min(batchSize, Math.max(1, Math.floor(gpu.maxBinding / (head.V * 4))));
  const saved = await savedLensOnGpu(gpu, head, lensPath, test, {
    maxBatch: batch,
    targetsPerRow: test.multi?.targetsPerRow ?? 1,
    firstTarget: loss.firstTarget,
    print,
    teacher: loss.kl ? { normed: loss.finalNormed } : undefined,
    tune: loss.tune,
  });
  const { lens, data, index, table } = saved;
  const evaluator = new Evaluator(gpu, data, index, batch);
  try {
    if (test.targetsFromTeacher) await gpu.checked("the teacher's argmax", () => teacherArgmax(gpu, lens, data, index, batch));
    return { results: await gpu.checked('evaluation', () => evaluator.run(lens, progress)), table };
  } finally {
    evaluator.destroy();
    saved.destroy();
  }
}

const pct = (x: number) => percent(x).padStart(7);
const fmt = (s: Scores) =>
  `val loss ${s.loss.toFixed(4)}, top-1 ${pct(s.top1).trim()}, top-5 ${pct(s.top5).trim()}, top-10 ${pct(s.top10).trim()}` +
  (s.any1 === undefined ? '' : `, any-1 ${pct(s.any1).trim()}, any-5 ${pct(s.any5!).trim()}, any-10 ${pct(s.any10!).trim()}`);
const row = (s: Scores) =>
  s.count === 0
    ? `${'0'.padStart(7)} | ${'–'.padStart(8)} | ${'–'.padStart(7)} | ${'–'.padStart(7)} | ${'–'.padStart(7)}   (no samples)`
    : `${String(s.count).padStart(7)} | ${s.loss.toFixed(4).padStart(8)} | ${pct(s.top1)} | ${pct(s.top5)} | ${pct(s.top10)}`;
