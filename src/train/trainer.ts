// The training loop (contract): epochs of AdamW steps over batches, validation after each
// epoch, early stopping on the validation loss, and the best epoch's lens kept.
//
// The train and test sets are uploaded once. A batch is a list of row indices; each step is
// one command buffer (gather, forward, backward, clip, AdamW) whose per-sample losses are
// copied into an epoch-long buffer on the GPU. The host reads back only those per-sample
// losses and ranks, once per epoch, never a parameter or activation inside the loop.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createBuffer, fmtBytes, readF32, writeBuffer } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import type { Dataset } from '../data/dataset.ts';
import { InputError } from '../data/errors.ts';
import type { Head } from '../data/head.ts';
import { hash32 } from '../data/counterRng.ts';
import { writeFileAtomic } from '../data/safetensors.ts';
import { makeBatch, rowRange } from '../lens/batch.ts';
import { Lens, lensMemory, uploadData, uploadHead } from '../lens/lens.ts';
import { writeLensFile } from '../lens/lensFile.ts';
import { groupTable, parameterCount, type GroupTable, type PresetName } from '../lens/preset.ts';
import { blockStride } from '../ops/groups.ts';
import { breakdown, percent, scoresJson, type Breakdown } from './metrics.ts';
import { Evaluator } from './evaluate.ts';
import { readCheckpoint, writeCheckpoint, type RunState } from './checkpoint.ts';
import { Progress } from './progress.ts';

export interface TrainSettings {
  preset: PresetName;
  criticalLayers: number[];
  /** Keep only samples of these layers (train and test); all when undefined. */
  layers?: number[];
  epochs: number;
  patience: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  /** Max global gradient norm; 0 turns clipping off. */
  clip: number;
  seed: number;
  shuffle: boolean;
  /** Write checkpoint.safetensors after each epoch (for --resume). */
  checkpoint: boolean;
}

export const SEED_SETTINGS: Omit<TrainSettings, 'preset' | 'criticalLayers'> = {
  epochs: 50,
  patience: 5,
  batchSize: 32,
  lr: 1e-3,
  weightDecay: 1e-3,
  clip: 1.0,
  seed: 42,
  shuffle: true,
  checkpoint: true,
};

export interface EpochRecord {
  epoch: number;
  train_loss: number;
  val_loss: number;
  top1: number;
  top5: number;
  top10: number;
}

export interface RunInputs {
  gpu: Gpu;
  head: Head;
  train: Dataset;
  test: Dataset;
  settings: TrainSettings;
  out: string;
  resume: boolean;
  /** Recorded in config.json: where the inputs came from and their hashes. */
  provenance: Record<string, unknown>;
  /** Table rows and messages (stdout); progress goes to stderr. */
  print?: (line: string) => void;
  quiet?: boolean;
}

export interface RunResult {
  params: number;
  bestEpoch: number;
  history: EpochRecord[];
  best: Breakdown;
  stoppedEarly: boolean;
}

const BEST_METRICS = 'metrics.json';

export async function trainLens(inputs: RunInputs): Promise<RunResult> {
  const { gpu, head, train, test, settings: s, out } = inputs;
  const print = inputs.print ?? ((line: string) => console.log(line));
  const { d, V } = head;
  if (s.batchSize < 1) throw new InputError(`--batch-size must be at least 1`);
  const table = groupTable(s.preset, [...train.layer, ...test.layer], [...train.position, ...test.position], s.criticalLayers);
  const G = table.groups.length;
  const groupOfTrain = groupsOf(train, table);
  const groupOfTest = groupsOf(test, table);
  const params = parameterCount(G, d);

  // Resume or start fresh; never overwrite another run's results.
  mkdirSync(out, { recursive: true });
  let state: RunState = { epochsDone: 0, history: [], bestEpoch: 0, bestValLoss: Infinity, sinceBest: 0, stoppedEarly: false, untrained: undefined };
  const fingerprint = runFingerprint(inputs, table);
  const checkpointPath = join(out, 'checkpoint.safetensors');
  let restored: Awaited<ReturnType<typeof readCheckpoint>> | undefined;
  if (inputs.resume) {
    if (!existsSync(checkpointPath)) throw new InputError(`${out}: no checkpoint.safetensors to resume from`);
    restored = readCheckpoint(checkpointPath, fingerprint, G * blockStride(d), test.count);
    state = restored.state;
  } else if (existsSync(join(out, 'lens.safetensors')) || existsSync(checkpointPath)) {
    throw new InputError(`${out} already holds a run: pass --resume to continue it, or choose another --out`);
  }

  // Say what the run allocates before allocating it.
  const evalBatch = Math.max(s.batchSize, Math.min(256, Math.floor(gpu.maxBinding / (V * 4))));
  const headBytes = V * d * (head.dtype === 'f16' ? 2 : 4) + d * 4;
  const plan: [string, number][] = [
    ['train set', train.count * (d + 2) * 4],
    ['test set', test.count * (d + 3) * 4],
    [`head (U ${head.dtype})`, headBytes],
    ...lensMemory(d, V, G, evalBatch),
  ];
  const total = plan.reduce((a, [, b]) => a + b, 0);
  print(`lens: ${s.preset} preset, ${G} translators over ${table.layers.length} layers × ${table.positions.length} positions, d ${d}, V ${V}`);
  print(`trainable parameters: ${params.toLocaleString('en-US')}`);
  print(`samples: ${train.count.toLocaleString('en-US')} train, ${test.count.toLocaleString('en-US')} test; batch ${s.batchSize}`);
  print(`GPU memory: ${fmtBytes(total)} on ${gpu.adapter.name} (${plan.map(([k, b]) => `${k} ${fmtBytes(b)}`).join(', ')})`);

  const headGpu = uploadHead(gpu, head);
  const trainGpu = uploadData(gpu, 'train', train);
  const testGpu = uploadData(gpu, 'test', test);
  const lens = await Lens.create(gpu, headGpu, {
    numGroups: G,
    maxBatch: evalBatch,
    adamw: { lr: s.lr, weightDecay: s.weightDecay, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxNorm: s.clip },
  });
  const trainLoss = createBuffer(gpu, 'epoch train losses', train.count * 4);
  const owned: { destroy(): void }[] = [headGpu.gamma, headGpu.U, trainGpu.hidden, trainGpu.targets, testGpu.hidden, testGpu.targets, trainLoss];

  try {
    let bestLoss: Float32Array | undefined;
    let bestRank: Uint32Array | undefined;
    if (restored) {
      lens.setParams(restored.params);
      writeBuffer(gpu, lens.m, restored.m);
      writeBuffer(gpu, lens.v, restored.v);
      lens.steps.set(restored.steps);
      bestLoss = restored.bestLoss;
      bestRank = restored.bestRank;
      print(`resuming after epoch ${state.epochsDone} (best so far: epoch ${state.bestEpoch}, val loss ${state.bestValLoss.toFixed(4)})`);
    }

    const evaluator = new Evaluator(gpu, testGpu, groupOfTest, evalBatch);
    owned.push(evaluator);
    const steps = Math.ceil(train.count / s.batchSize);
    if (!state.untrained) {
      // Epoch 0: the untrained lens (identity translators), the baseline training improves on.
      const bar = new Progress('validation of the untrained lens', evaluator.batchCount, process.stderr, inputs.quiet, 'batches');
      const { loss, rank } = await gpu.checked('evaluation of the untrained lens', () => evaluator.run(lens, (done) => bar.update(done)));
      bar.end();
      const o = breakdown(loss, rank, test.layer, test.position).overall;
      state.untrained = { val_loss: o.loss, top1: o.top1, top5: o.top5, top10: o.top10 };
    }
    printHeader(print, state);
    if (state.stoppedEarly || state.epochsDone >= s.epochs) print(`the run had already finished after epoch ${state.epochsDone}`);
    for (let epoch = state.epochsDone + 1; epoch <= s.epochs && !state.stoppedEarly; epoch++) {
      await gpu.checked(`epoch ${epoch}`, async () => {
        // ---- train ----
        const order = s.shuffle ? shuffled(train.count, s.seed, epoch) : rowRange(0, train.count);
        const progress = new Progress(`epoch ${epoch}/${s.epochs}`, steps, process.stderr, inputs.quiet);
        for (let step = 0; step < steps; step++) {
          const at = step * s.batchSize;
          const rows = order.subarray(at, Math.min(train.count, at + s.batchSize));
          const batch = makeBatch(rows, groupOfTrain);
          const enc = gpu.device.createCommandEncoder({ label: `train step ${step}` });
          lens.encodeTrainStep(enc, trainGpu, batch);
          enc.copyBufferToBuffer(lens.loss, 0, trainLoss, at * 4, rows.length * 4);
          gpu.device.queue.submit([enc.finish()]);
          if (step % 16 === 15 || step === steps - 1) {
            // Bound the work in flight; fetch the last steps' mean loss only when it is shown.
            await gpu.device.queue.onSubmittedWorkDone();
            gpu.throwIfLost('training');
            if (progress.due(step + 1)) {
              const from = Math.max(0, at + rows.length - 16 * s.batchSize);
              progress.update(step + 1, mean(await readF32(gpu, trainLoss, at + rows.length - from, from)));
            }
          }
        }
        progress.end();
        const trainLosses = await readF32(gpu, trainLoss, train.count);

        // ---- validate ----
        const bar = new Progress(`validation ${epoch}/${s.epochs}`, evaluator.batchCount, process.stderr, inputs.quiet, 'batches');
        const { loss, rank } = await evaluator.run(lens, (done) => bar.update(done));
        bar.end();
        const scores = breakdown(loss, rank, test.layer, test.position).overall;
        const record: EpochRecord = {
          epoch,
          train_loss: mean(trainLosses),
          val_loss: scores.loss,
          top1: scores.top1,
          top5: scores.top5,
          top10: scores.top10,
        };
        state.history.push(record);
        state.epochsDone = epoch;

        // ---- early stopping: keep the best epoch's lens ----
        const improved = record.val_loss < state.bestValLoss;
        const size = G * blockStride(d);
        const blocks = improved || s.checkpoint ? await readF32(gpu, lens.params, size) : undefined;
        let note: string;
        if (improved) {
          Object.assign(state, { bestValLoss: record.val_loss, bestEpoch: epoch, sinceBest: 0 });
          [bestLoss, bestRank] = [loss, rank];
          note = 'best';
          writeLensFile(join(out, 'lens.safetensors'), table, d, blocks!, { best_epoch: String(epoch), val_loss: String(record.val_loss) });
        } else {
          state.sinceBest++;
          note = `no improvement (${state.sinceBest}/${s.patience})`;
          if (state.sinceBest >= s.patience) {
            state.stoppedEarly = true;
            note += ', early stop';
          }
        }
        printRow(print, record, note);
        writeResults(out, inputs, table, params, state, breakdown(bestLoss!, bestRank!, test.layer, test.position));
        if (s.checkpoint) {
          writeCheckpoint(checkpointPath, fingerprint, state, {
            params: blocks!,
            m: await readF32(gpu, lens.m, size),
            v: await readF32(gpu, lens.v, size),
            steps: lens.steps,
            bestLoss: bestLoss!,
            bestRank: bestRank!,
          });
        }
      });
    }
    if (!bestLoss || !bestRank) throw new InputError('no epoch was run (--epochs 0?)');
    const best = breakdown(bestLoss, bestRank, test.layer, test.position);
    const b = state.history[state.bestEpoch - 1]!;
    print(
      `best epoch ${state.bestEpoch}: val loss ${b.val_loss.toFixed(4)}, top-1/5/10 ${percent(b.top1)} / ${percent(b.top5)} / ${percent(b.top10)}` +
        `${state.stoppedEarly ? ` (stopped early after epoch ${state.epochsDone})` : ''}`,
    );
    print(`wrote ${join(out, 'lens.safetensors')}, ${join(out, BEST_METRICS)}, ${join(out, 'config.json')}`);
    return { params, bestEpoch: state.bestEpoch, history: state.history, best, stoppedEarly: state.stoppedEarly };
  } finally {
    lens.destroy();
    for (const b of owned) b.destroy();
  }
}

function groupsOf(ds: Dataset, table: GroupTable): Int32Array {
  return Int32Array.from(ds.layer, (l, i) => table.groupOf(l, ds.position[i]!));
}

/** A seeded permutation of 0..n−1 for one epoch (Fisher–Yates on a counter-based stream). */
export function shuffled(n: number, seed: number, epoch: number): Uint32Array {
  const order = rowRange(0, n);
  const key = hash32((hash32(seed >>> 0) ^ Math.imul(epoch, 0x9e3779b1)) >>> 0);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor((hash32((i ^ key) >>> 0) / 2 ** 32) * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

function mean(a: Float32Array): number {
  let s = 0;
  for (const v of a) s += v;
  return s / a.length;
}

function printHeader(print: (l: string) => void, state: RunState): void {
  print('');
  print('Epoch | Train Loss | Val Loss | Top-1   | Top-5   | Top-10  | Notes');
  print('------+------------+----------+---------+---------+---------+------');
  const u = state.untrained;
  if (u) printRow(print, { epoch: 0, train_loss: NaN, ...u }, 'untrained (identity translators)');
  for (const r of state.history) printRow(print, r, r.epoch === state.bestEpoch ? 'best (before resume)' : '');
}

function printRow(print: (l: string) => void, r: EpochRecord, note: string): void {
  print(
    `${String(r.epoch).padStart(5)} | ${(Number.isNaN(r.train_loss) ? '–' : r.train_loss.toFixed(4)).padStart(10)} | ${r.val_loss.toFixed(4).padStart(8)} | ` +
      `${percent(r.top1).padStart(7)} | ${percent(r.top5).padStart(7)} | ${percent(r.top10).padStart(7)} | ${note}`,
  );
}

/** The settings a resumed run must share with the run it continues (epochs may grow). */
function runFingerprint(inputs: RunInputs, table: GroupTable): string {
  const { epochs: _epochs, checkpoint: _checkpoint, ...rest } = inputs.settings;
  return JSON.stringify({
    settings: rest,
    groups: table.groups.length,
    layers: table.layers,
    positions: table.positions,
    head: { d: inputs.head.d, V: inputs.head.V, eps: inputs.head.eps, dtype: inputs.head.dtype },
    data: inputs.provenance.data ?? null,
  });
}

function writeResults(out: string, inputs: RunInputs, table: GroupTable, params: number, state: RunState, best: Breakdown): void {
  const metrics = {
    params,
    best_epoch: state.bestEpoch,
    epochs: state.history,
    untrained: state.untrained,
    per_layer: best.perLayer.map(scoresJson),
    per_position: best.perPosition.map(scoresJson),
    per_group: best.perGroup.map(scoresJson),
  };
  writeFileAtomic(join(out, BEST_METRICS), JSON.stringify(metrics, null, 2) + '\n');
  const config = {
    settings: inputs.settings,
    preset: table.preset,
    groups: table.groups.length,
    layers: table.layers,
    positions: table.positions,
    head: { source: inputs.head.source, d: inputs.head.d, V: inputs.head.V, eps: inputs.head.eps, dtype: inputs.head.dtype },
    samples: { train: inputs.train.count, test: inputs.test.count },
    adapter: inputs.gpu.adapter,
    ...inputs.provenance,
  };
  writeFileAtomic(join(out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
}
