// `eval`: a saved lens (written by train, or by PyTorch in the same layout) on a test set, with
// the same metrics and breakdowns as training reports: overall, per layer, per position and
// per (layer, position), as tables, JSON and a heatmap.
import type { Dataset } from '../data/dataset.ts';
import { InputError } from '../data/errors.ts';
import type { Head } from '../data/head.ts';
import { writeFileAtomic } from '../data/safetensors.ts';
import { basename } from 'node:path';
import { heatmapSvg } from '../report/heatmap.ts';
import type { Gpu } from '../gpu/device.ts';
import { Lens, uploadData, uploadHead } from '../lens/lens.ts';
import { readLensFile } from '../lens/lensFile.ts';
import { SEED_ADAMW } from '../ops/adamw.ts';
import { writeBuffer } from '../gpu/buffers.ts';
import { packPositionBlocks } from '../ops/positionUnembed.ts';
import { Evaluator, teacherArgmax } from './evaluate.ts';
import { breakdown, percent, predictionStats, scoresJson, type Scores } from './metrics.ts';
import { predictionsTable } from '../report/markdown.ts';
import type { TokenText } from '../data/tokenizer.ts';

export async function evaluateLensFile(
  gpu: Gpu,
  head: Head,
  lensPath: string,
  test: Dataset,
  batchSize: number,
  outputs: { json?: string; heatmap?: string },
  print: (line: string) => void,
  loss: { kl: boolean; finalNormed: boolean } = { kl: false, finalNormed: false },
  tokens?: TokenText,
  byLayer = false,
): Promise<void> {
  if (loss.kl && !test.finalHidden) throw new InputError(`${test.source}: --loss kl needs 'final_hidden' [N, d]`);
  if (!loss.kl && test.targetsFromTeacher) throw new InputError(`${test.source}: no 'target' or 'targets'; with only 'final_hidden', evaluate with --loss kl`);
  const lensFile = readLensFile(lensPath);
  if (lensFile.d !== head.d) throw new InputError(`${lensPath}: translators of width ${lensFile.d}, the head has d = ${head.d}`);
  const groupOf = Int32Array.from(test.layer, (l, i) => lensFile.table.groupOf(l, test.position[i]!));
  const missing = groupOf.indexOf(-1);
  if (missing >= 0) {
    throw new InputError(`${test.source}: sample ${missing} is at layer ${test.layer[missing]}, position ${test.position[missing]}, which ${lensPath} has no translator for`);
  }
  const batch = Math.min(batchSize, Math.max(1, Math.floor(gpu.maxBinding / (head.V * 4))));
  const headGpu = uploadHead(gpu, head);
  const K = test.multi?.K ?? 1;
  const pu = lensFile.unembed;
  let positionIndex: Int32Array | undefined;
  if (pu) {
    const index = new Map(pu.positions.map((p, q) => [p, q]));
    const at = test.position.findIndex((p) => !index.has(p));
    if (at >= 0) throw new InputError(`${test.source}: sample ${at} is at position ${test.position[at]}, which ${lensPath} has no unembedding for (it has ${pu.positions.join(',')})`);
    if (pu.V !== head.V) throw new InputError(`${lensPath}: its position unembedding has V = ${pu.V}, the head ${head.V}`);
    positionIndex = Int32Array.from(test.position, (p) => index.get(p)!);
  }
  const data = { ...uploadData(gpu, 'test', test, K, loss.kl), positionIndex };
  const lens = await Lens.create(gpu, headGpu, {
    numGroups: lensFile.table.groups.length,
    maxBatch: batch,
    K,
    teacher: loss.kl ? { normed: loss.finalNormed } : undefined,
    positionUnembed: pu && { mode: pu.mode, positions: pu.positions.length },
    adamw: SEED_ADAMW,
  });
  const evaluator = new Evaluator(gpu, data, groupOf, batch);
  try {
    lens.setParams(lensFile.blocks);
    if (pu) writeBuffer(gpu, lens.positionState!.params, packPositionBlocks(pu, lens.positionLayout!));
    if (test.targetsFromTeacher) {
      const ids = await gpu.checked("the teacher's argmax", () => teacherArgmax(gpu, lens, data, groupOf, batch));
      writeBuffer(gpu, data.targets, ids);
    }
    const r = await gpu.checked('evaluation', () => evaluator.run(lens));
    const b = breakdown(r.loss, r.rank, test.layer, test.position, r.anyRank);
    print(`${lensPath} (${lensFile.table.preset}, ${lensFile.table.groups.length} translators) on ${test.source}: ${test.count} samples`);
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
      print(`${String(l).padStart(6)} |${cells.map((c) => (c ? pct(c.top1) : '–'.padStart(7)).padStart(8)).join('')}`);
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
  } finally {
    evaluator.destroy();
    lens.destroy();
    for (const buf of [headGpu.gamma, headGpu.U, data.hidden, data.targets, data.weights, data.finalHidden]) buf?.destroy();
  }
}

const pct = (x: number) => percent(x).padStart(7);
const fmt = (s: Scores) =>
  `val loss ${s.loss.toFixed(4)}, top-1 ${pct(s.top1).trim()}, top-5 ${pct(s.top5).trim()}, top-10 ${pct(s.top10).trim()}` +
  (s.any1 === undefined ? '' : `, any-1 ${pct(s.any1).trim()}, any-5 ${pct(s.any5!).trim()}, any-10 ${pct(s.any10!).trim()}`);
const row = (s: Scores) => `${String(s.count).padStart(7)} | ${s.loss.toFixed(4).padStart(8)} | ${pct(s.top1)} | ${pct(s.top5)} | ${pct(s.top10)}`;
