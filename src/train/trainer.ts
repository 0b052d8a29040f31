// The training loop (contract): epochs of AdamW steps over batches, validation after each
// epoch, early stopping on the validation loss, and the best epoch's lens kept.
//
// The train and test sets are uploaded once. A batch is a list of row indices; each step is
// one command buffer (gather, forward, backward, clip, AdamW) whose per-sample losses are
// copied into an epoch-long buffer on the GPU. The host reads back only those per-sample
// losses (every 16 steps, to catch a diverging run at once) and the validation ranks, never a
// parameter or activation inside the loop.
//
// Faults: a stop request (Ctrl-C, SIGTERM) ends the run after the current step with a
// checkpoint that resumes mid-epoch; a non-finite loss stops the run before anything diverged
// is written; a lost device is reported with the last checkpoint, which is always whole
// (files are written to a temporary name, synced, then renamed).
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { createBuffer, readF32, writeBuffer } from '../gpu/buffers.ts';
import { GpuError, type Gpu } from '../gpu/device.ts';
import { layersAndPositions, type Dataset } from '../data/dataset.ts';
import { DivergedError, InputError } from '../data/errors.ts';
import type { Head } from '../data/head.ts';
import { hash32 } from '../data/counterRng.ts';
import { makeBatch, rowRange } from '../lens/batch.ts';
import { defaultTranslatorUpdate, Lens, uploadData, uploadHead, type LensParams } from '../lens/lens.ts';
import { writeLensFile } from '../lens/lensFile.ts';
import { groupTable, parameterCount, type GroupTable, type PresetName } from '../lens/preset.ts';
import { blockStride } from '../ops/groups.ts';
import { positionIndexOf, positionLayout, unpackPositionBlocks, type PositionUnembedMode } from '../ops/positionUnembed.ts';
import { breakdown, percent, predictionStats, scoresJson, type Breakdown, type PredictionStats } from './metrics.ts';
import type { TokenText } from '../data/tokenizer.ts';
import { Evaluator, teacherArgmax, type SampleResults } from './evaluate.ts';
import { readCheckpoint, writeCheckpoint, type RunState } from './checkpoint.ts';
import { memoryBudget, memoryPlan, planLine, planProblem, planTotal, shrinkAdvice, type Alternative, type PlanInputs } from './plan.ts';
import { Progress } from './progress.ts';
import { checkRunFolder, METRICS_FILE, prepareRunFolder, previousTrainSeconds, RESULT_FILES } from './runFolder.ts';
import { writeReport } from '../report/write.ts';
import type { EpochRow, RunMetrics } from '../report/run.ts';
import { writeFileAtomic } from '../shared/files.ts';
import { fmtBytes } from '../shared/constants.ts';

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
  /** With several targets a sample: the first only, or all (recorded; applied at load time). */
  targets?: 'first' | 'all';
  /** Targets derived from chain-of-thought tokens (`uniform`, `weights:…`; applied at load time). */
  assign?: string;
  /** `kl`: train against the model's own prediction from final_hidden (default: cross-entropy). */
  loss?: 'kl';
  /** With the KL loss: final_hidden is already through the final norm. */
  finalNormed?: boolean;
  /** A position-specific unembedding trained with the translators: c_p (bias), ΔU_p and c_p (full). */
  positionUnembed?: PositionUnembedMode;
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

/** One epoch's row of metrics.json (as report/ reads it). */
export type EpochRecord = EpochRow;

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
  /** Replace a run already in `out` (its files are removed once the new run is sure to start). */
  overwrite?: boolean;
  /** The GPU memory the run may use, in GiB, where the device does not say (--gpu-memory). */
  gpuMemoryGiB?: number;
  /** Set by a signal handler: the run stops after the current step with a checkpoint. */
  stop?: { signal?: NodeJS.Signals };
  /** Samples left out at load time because --assign gave them no target. */
  dropped?: { train: number; test: number };
  /** Shows token ids as text in the report. */
  tokens?: TokenText;
  /** Called after each training step is submitted (tests inject faults here). */
  afterStep?: (epoch: number, step: number) => void;
}

export interface RunResult {
  params: number;
  bestEpoch: number;
  history: EpochRecord[];
  best: Breakdown | undefined;
  stoppedEarly: boolean;
  /** The signal that stopped the run before it finished (a checkpoint was written). */
  interrupted?: NodeJS.Signals;
}

/** Steps submitted between waits; their losses are then checked and shown. */
const STEPS_IN_FLIGHT = 16;

export async function trainLens(inputs: RunInputs): Promise<RunResult> {
  const { gpu, head, train, test, settings: s, out } = inputs;
  const print = inputs.print ?? ((line: string) => console.log(line));
  const { d, V } = head;
  if (s.batchSize < 1) throw new InputError(`--batch-size must be at least 1`);
  // The groups of the data as given: a group whose samples --assign left out keeps its
  // zero translator, so the lens's tensors do not depend on the assignment rule.
  const [given, givenTest] = [layersAndPositions(train), layersAndPositions(test)];
  const table = groupTable(s.preset, [...given.layers, ...givenTest.layers], [...given.positions, ...givenTest.positions], s.criticalLayers);
  const cover = { layers: table.layers, positions: table.positions };
  const G = table.groups.length;
  const groupOfTrain = groupsOf(train, table);
  const groupOfTest = groupsOf(test, table);
  const pu = s.positionUnembed ? { mode: s.positionUnembed, positions: table.positions.length } : undefined;
  const layout = pu && positionLayout(pu.mode, V, d, gpu.maxBinding);
  const positionSize = pu && layout ? pu.positions * layout.stride : 0;
  const params = parameterCount(G, d) + (s.positionUnembed ? table.positions.length * V * (s.positionUnembed === 'full' ? d + 1 : 1) : 0);
  // Targets a sample: 1, or the most any row of either set carries.
  const K = Math.max(train.multi?.K ?? 1, test.multi?.K ?? 1);
  const kl = s.loss === 'kl';
  for (const ds of [train, test]) {
    if (kl && !ds.finalHidden) throw new InputError(`${ds.source}: --loss kl needs 'final_hidden' [N, d], the model's last hidden state of each sample`);
    if (!kl && ds.targetsFromTeacher) throw new InputError(`${ds.source}: no 'target' or 'targets'; with only 'final_hidden', train with --loss kl`);
  }

  // Resume or start fresh; never overwrite another run's results unless asked to.
  let state: RunState = { epochsDone: 0, history: [], bestEpoch: 0, bestValLoss: Infinity, sinceBest: 0, stoppedEarly: false, untrained: undefined };
  const fingerprint = runFingerprint(inputs, table);
  const checkpointPath = join(out, 'checkpoint.safetensors');
  checkRunFolder(out, inputs);
  let restored: Awaited<ReturnType<typeof readCheckpoint>> | undefined;
  if (inputs.resume) {
    restored = readCheckpoint(checkpointPath, fingerprint, G * blockStride(d), train.count, test.count, positionSize);
    state = restored.state;
  }

  // Say what the run allocates, and refuse a run that cannot fit, before allocating anything.
  const evalBatch = Math.max(s.batchSize, Math.min(256, Math.floor(gpu.maxBinding / (V * 4))));
  if (evalBatch * V * 4 > gpu.maxBinding) {
    throw new InputError(`a batch of ${evalBatch} rows × V ${V} logits (${fmtBytes(evalBatch * V * 4)}) exceeds this device's binding limit of ${fmtBytes(gpu.maxBinding)}: use a smaller --batch-size (at most ${Math.floor(gpu.maxBinding / (V * 4))})`);
  }
  const planInputs: PlanInputs = { d, V, numGroups: G, headDtype: head.dtype, trainCount: train.count, testCount: test.count, maxBatch: evalBatch, K, teacher: kl, positionUnembed: pu, fusedUpdate: defaultTranslatorUpdate(gpu) === 'fused', maxBinding: gpu.maxBinding, align: gpu.limits.minStorageBufferOffsetAlignment };
  const plan = memoryPlan(planInputs);
  print(`lens: ${s.preset} preset, ${G} translators over ${table.layers.length} layers × ${table.positions.length} positions, d ${d}, V ${V}`);
  print(`trainable parameters: ${params.toLocaleString('en-US')}`);
  print(`samples: ${train.count.toLocaleString('en-US')} train, ${test.count.toLocaleString('en-US')} test; batch ${s.batchSize}`);
  print(planLine(plan, gpu.adapter.name));
  const alternatives = smallerRuns(planInputs, inputs, table);
  const problem = planProblem(plan, gpu.limits.maxBufferSize, memoryBudget(gpu.adapter, inputs.gpuMemoryGiB), alternatives);
  if (problem) throw new InputError(problem);

  prepareRunFolder(out, inputs);
  // Where the device's memory is not known, Dawn's out-of-memory error is the check.
  const { headGpu, trainGpu, testGpu, lens, trainLoss } = await gpu
    .checked('allocating the run', async () => {
      const headGpu = uploadHead(gpu, head);
      const trainGpu = uploadData(gpu, 'train', train, K, kl);
      const testGpu = uploadData(gpu, 'test', test, K, kl);
      if (pu) {
        trainGpu.positionIndex = positionIndexOf(table.positions, train.position);
        testGpu.positionIndex = positionIndexOf(table.positions, test.position);
      }
      const lens = await Lens.create(gpu, headGpu, {
        numGroups: G,
        maxBatch: evalBatch,
        K,
        firstTarget: s.targets === 'first',
        teacher: kl ? { normed: Boolean(s.finalNormed) } : undefined,
        positionUnembed: pu,
        adamw: { lr: s.lr, weightDecay: s.weightDecay, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxNorm: s.clip },
      });
      // The gathers from both data sets are bound now, with the lens's other kernel calls.
      lens.attach(trainGpu);
      lens.attach(testGpu);
      const trainLoss = createBuffer(gpu, 'epoch train losses', train.count * 4);
      return { headGpu, trainGpu, testGpu, lens, trainLoss };
    })
    .catch((e) => {
      if (e instanceof GpuError && /out.of.memory/i.test(e.message)) {
        throw new GpuError(`the GPU ran out of memory allocating this run's ${fmtBytes(planTotal(plan))}; ${shrinkAdvice(plan, alternatives)}`);
      }
      throw e;
    });
  const owned: { destroy(): void }[] = [headGpu.gamma, headGpu.U, trainGpu.hidden, trainGpu.targets, testGpu.hidden, testGpu.targets, trainLoss];
  for (const b of [trainGpu.weights, testGpu.weights, trainGpu.finalHidden, testGpu.finalHidden]) if (b) owned.push(b);

  try {
    /** The best epoch's per-sample validation results. */
    let best: SampleResults | undefined;
    const scoresOf = (r: SampleResults) => breakdown(r.loss, r.rank, test.layer, test.position, r.anyRank, cover);
    if (restored) {
      lens.setParams({ params: restored.params, positions: restored.position?.params });
      lens.loadTrainingState({ m: restored.m, v: restored.v, steps: restored.steps, position: restored.position });
      if (state.bestEpoch) best = { loss: restored.bestLoss, rank: restored.bestRank, anyRank: restored.bestAnyRank, top1: restored.bestTop1 };
      if (restored.partialLosses) writeBuffer(gpu, trainLoss, restored.partialLosses);
      const where = state.partial ? `epoch ${state.partial.epoch}, step ${state.partial.steps}` : `epoch ${state.epochsDone}`;
      const sofar = state.bestEpoch ? `best so far: epoch ${state.bestEpoch}, val loss ${state.bestValLoss.toFixed(4)}` : 'no epoch finished yet';
      print(`resuming after ${where} (${sofar})`);
    }
    /** Where the last checkpoint on disk leaves the run, for messages about faults. */
    const lastCheckpoint = () =>
      !s.checkpoint && !existsSync(checkpointPath)
        ? 'no checkpoint was written (--no-checkpoint)'
        : existsSync(checkpointPath)
          ? `the last checkpoint, ${checkpointPath} (${checkpointedAt}), is intact: continue with --resume`
          : 'no checkpoint had been written yet';
    let checkpointedAt = restored ? (state.partial ? `epoch ${state.partial.epoch}, step ${state.partial.steps}` : `after epoch ${state.epochsDone}`) : '';
    // `read`: the blocks an improving epoch already read for lens.safetensors (read once).
    const saveCheckpoint = async (partial?: { epoch: number; steps: number }, read?: LensParams) => {
      read ??= await lens.readParams();
      const training = await lens.readTrainingState();
      writeCheckpoint(checkpointPath, fingerprint, { ...state, partial }, {
        params: read.params,
        position: training.position && { ...training.position, params: read.positions! },
        m: training.m,
        v: training.v,
        steps: training.steps,
        bestLoss: best?.loss ?? new Float32Array(test.count),
        bestRank: best?.rank ?? new Uint32Array(test.count),
        bestAnyRank: best?.anyRank,
        bestTop1: best?.top1 ?? new Int32Array(test.count),
        partialLosses: partial ? await readF32(gpu, trainLoss, train.count) : undefined,
      });
      checkpointedAt = partial ? `epoch ${partial.epoch}, step ${partial.steps}` : `after epoch ${state.epochsDone}`;
    };

    // Without targets in the data, top-k is scored against the teacher's argmax.
    for (const [ds, data, groupOf] of [[train, trainGpu, groupOfTrain], [test, testGpu, groupOfTest]] as const) {
      if (ds.targetsFromTeacher) {
        const ids = await gpu.checked(`the teacher's argmax on ${ds.source}`, () => teacherArgmax(gpu, lens, data, groupOf, evalBatch));
        writeBuffer(gpu, data.targets, ids);
        ds.target.set(ids);
      }
    }
    const evaluator = new Evaluator(gpu, testGpu, groupOfTest, evalBatch);
    owned.push(evaluator);
    const steps = Math.ceil(train.count / s.batchSize);
    if (!state.untrained) {
      // Epoch 0: the untrained lens (identity translators), the baseline training improves on.
      const bar = new Progress('validation of the untrained lens', evaluator.batchCount, process.stderr, inputs.quiet, 'batches');
      const results = await gpu.checked('evaluation of the untrained lens', () => evaluator.run(lens, (done) => bar.update(done)));
      bar.end();
      const { loss, count: _count, ...accuracy } = scoresOf(results).overall;
      state.untrained = { val_loss: loss, ...accuracy };
    }
    printHeader(print, state);
    if (state.stoppedEarly || state.epochsDone >= s.epochs) print(`the run had already finished after epoch ${state.epochsDone}`);
    let interrupted: NodeJS.Signals | undefined;
    // Wall-clock time of the run's epochs, over every session (a resumed run adds to it).
    let trainSeconds = restored ? previousTrainSeconds(out) : 0;
    const stopRequested = () => (interrupted = inputs.stop?.signal);

    /** One epoch's AdamW steps; its per-sample losses, or undefined when a stop request ended it. */
    const trainEpoch = async (epoch: number): Promise<Float32Array | undefined> => {
      const order = s.shuffle ? shuffled(train.count, s.seed, epoch) : rowRange(0, train.count);
      const firstStep = state.partial?.epoch === epoch ? state.partial.steps : 0;
      state.partial = undefined;
      const progress = new Progress(`epoch ${epoch}/${s.epochs}`, steps, process.stderr, inputs.quiet);
      let checkedUpTo = firstStep * s.batchSize; // losses before this sample are known finite
      for (let step = firstStep; step < steps; step++) {
        const at = step * s.batchSize;
        const rows = order.subarray(at, Math.min(train.count, at + s.batchSize));
        const batch = makeBatch(rows, groupOfTrain);
        const enc = gpu.device.createCommandEncoder({ label: `train step ${step}` });
        lens.encodeTrainStep(enc, trainGpu, batch);
        enc.copyBufferToBuffer(lens.loss, 0, trainLoss, at * 4, rows.length * 4);
        gpu.device.queue.submit([enc.finish()]);
        inputs.afterStep?.(epoch, step);
        const stopping = Boolean(stopRequested());
        if ((step - firstStep) % STEPS_IN_FLIGHT === STEPS_IN_FLIGHT - 1 || step === steps - 1 || stopping) {
          // Bound the work in flight; check the new losses (a diverged run stops here, before
          // anything of it is written) and show their mean.
          await gpu.device.queue.onSubmittedWorkDone();
          gpu.throwIfLost('training');
          const end = at + rows.length;
          const recent = await readF32(gpu, trainLoss, end - checkedUpTo, checkedUpTo);
          const bad = recent.findIndex((v) => !Number.isFinite(v));
          if (bad >= 0) {
            const badStep = Math.floor((checkedUpTo + bad) / s.batchSize) + 1;
            throw new DivergedError(`epoch ${epoch}, step ${badStep}/${steps}: the training loss is ${recent[bad]} (try a lower --lr); ${lastCheckpoint()}`);
          }
          checkedUpTo = end;
          progress.update(step + 1, mean(recent.subarray(Math.max(0, recent.length - STEPS_IN_FLIGHT * s.batchSize))));
        }
        if (stopping) {
          progress.end();
          if (s.checkpoint) await saveCheckpoint({ epoch, steps: step + 1 });
          return undefined;
        }
      }
      progress.end();
      return readF32(gpu, trainLoss, train.count);
    };

    /** The validation of an epoch: per-sample results and the epoch's row of metrics. */
    const validate = async (epoch: number, trainLosses: Float32Array): Promise<{ results: SampleResults; record: EpochRecord }> => {
      const bar = new Progress(`validation ${epoch}/${s.epochs}`, evaluator.batchCount, process.stderr, inputs.quiet, 'batches');
      const results = await evaluator.run(lens, (done) => bar.update(done));
      bar.end();
      const scores = scoresOf(results).overall;
      if (!Number.isFinite(scores.loss)) {
        throw new DivergedError(`epoch ${epoch}: the validation loss is ${scores.loss} (try a lower --lr); ${lastCheckpoint()}`);
      }
      const { loss: valLoss, count: _count, ...accuracy } = scores;
      return { results, record: { epoch, train_loss: mean(trainLosses), val_loss: valLoss, ...accuracy } };
    };

    /** Early stopping: an improving epoch's lens is written; `patience` epochs without one stop the run. */
    const keepBest = async (epoch: number, record: EpochRecord, results: SampleResults): Promise<{ note: string; read?: LensParams }> => {
      state.history.push(record);
      state.epochsDone = epoch;
      if (record.val_loss < state.bestValLoss) {
        Object.assign(state, { bestValLoss: record.val_loss, bestEpoch: epoch, sinceBest: 0 });
        best = results;
        const read = await lens.readParams();
        const unembed = layout && unpackPositionBlocks(read.positions!, layout, table.positions);
        writeLensFile(join(out, 'lens.safetensors'), table, d, read.params, { best_epoch: String(epoch), val_loss: String(record.val_loss) }, unembed);
        return { note: 'best', read };
      }
      state.sinceBest++;
      if (state.sinceBest < s.patience) return { note: `no improvement (${state.sinceBest}/${s.patience})` };
      state.stoppedEarly = true;
      return { note: `no improvement (${state.sinceBest}/${s.patience}), early stop` };
    };

    // The loop: epochs of steps, a validation after each, the best epoch kept, early stop.
    for (let epoch = state.epochsDone + 1; epoch <= s.epochs && !state.stoppedEarly && !interrupted; epoch++) {
      const epochStarted = performance.now();
      await gpu.checked(`epoch ${epoch}`, async () => {
        const trainLosses = await trainEpoch(epoch);
        if (!trainLosses) return; // stopped mid-epoch, with a checkpoint
        const { results, record } = await validate(epoch, trainLosses);
        const { note, read } = await keepBest(epoch, record, results);
        printRow(print, record, note);
        trainSeconds += (performance.now() - epochStarted) / 1000;
        writeResults(out, inputs, table, params, state, scoresOf(best!), trainSeconds, predictionStats(best!.top1, test.target, test.position));
        if (s.checkpoint) await saveCheckpoint(undefined, read);
        stopRequested();
      }).catch((e) => {
        // A lost device fails whatever touches the GPU next; say what is safe on disk.
        if (e instanceof GpuError && gpu.lostReason !== undefined) throw new GpuError(`${e.message}; ${lastCheckpoint()}`);
        throw e;
      });
    }
    if (interrupted) {
      print(
        s.checkpoint
          ? `stopped by ${interrupted}; checkpoint (${checkpointedAt}) written to ${checkpointPath}: continue with --resume`
          : `stopped by ${interrupted}; no checkpoint (--no-checkpoint), the run cannot be resumed`,
      );
      return { params, bestEpoch: state.bestEpoch, history: state.history, best: undefined, stoppedEarly: false, interrupted };
    }
    if (!best) throw new InputError('no epoch was run (--epochs 0?)');
    const b = state.history[state.bestEpoch - 1]!;
    print(
      `best epoch ${state.bestEpoch}: val loss ${b.val_loss.toFixed(4)}, top-1/5/10 ${percent(b.top1)} / ${percent(b.top5)} / ${percent(b.top10)}` +
        `${state.stoppedEarly ? ` (stopped early after epoch ${state.epochsDone})` : ''}`,
    );
    if (state.untrained && b.val_loss > state.untrained.val_loss) {
      print(`warning: the best epoch's val loss ${b.val_loss.toFixed(4)} is worse than the untrained lens's ${state.untrained.val_loss.toFixed(4)}: training did not help (try a lower --lr or more training data)`);
    }
    print(`wrote ${RESULT_FILES.map((f) => join(out, f)).join(', ')}`);
    return { params, bestEpoch: state.bestEpoch, history: state.history, best: scoresOf(best), stoppedEarly: state.stoppedEarly };
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

/** metrics.json, config.json and the report (report.md, heatmap.svg, curves.svg). */
function writeResults(
  out: string,
  inputs: RunInputs,
  table: GroupTable,
  params: number,
  state: RunState,
  best: Breakdown,
  trainSeconds: number,
  predictions: PredictionStats[],
): void {
  const metrics: RunMetrics = {
    params,
    best_epoch: state.bestEpoch,
    epochs: state.history,
    untrained: state.untrained,
    per_layer: best.perLayer.map(scoresJson),
    per_position: best.perPosition.map(scoresJson),
    per_group: best.perGroup.map(scoresJson),
    train_seconds: trainSeconds,
    ...(inputs.dropped ? { dropped: inputs.dropped } : {}),
    predictions_per_position: predictions,
  };
  writeFileAtomic(join(out, METRICS_FILE), JSON.stringify(metrics, null, 2) + '\n');
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
  writeReport(out, { dir: out, name: basename(resolve(out)), metrics, config }, inputs.tokens);
}

/** Settings that shrink the run, for the message when it does not fit. */
function smallerRuns(p: PlanInputs, inputs: RunInputs, table: GroupTable): Alternative[] {
  const s = inputs.settings;
  const out: Alternative[] = [];
  if (p.headDtype === 'f32') out.push({ flag: '--head-dtype f16', inputs: { ...p, headDtype: 'f16' } });
  const P = table.positions.length;
  if (s.preset === 'full') out.push({ flag: '--preset lite', inputs: { ...p, numGroups: groupTable('lite', table.layers, table.positions, s.criticalLayers).groups.length } });
  if (s.preset !== 'baseline') out.push({ flag: '--preset baseline', inputs: { ...p, numGroups: table.layers.length } });
  const critical = s.criticalLayers.filter((l) => table.layers.includes(l));
  if (s.preset === 'lite' && critical.length > 1) {
    const fewer = critical.slice(Math.ceil(critical.length / 2));
    out.push({ flag: `--critical-layers ${fewer.join(',')}`, inputs: { ...p, numGroups: p.numGroups - (critical.length - fewer.length) * (P - 1) } });
  }
  if (p.positionUnembed?.mode === 'full') out.push({ flag: '--position-unembed bias', inputs: { ...p, positionUnembed: { ...p.positionUnembed, mode: 'bias' } } });
  // The lens is sized for the larger of the training batch and the evaluation's (≤ 256 rows).
  if (s.batchSize > 256) out.push({ flag: `--batch-size ${s.batchSize >> 1}`, inputs: { ...p, maxBatch: Math.max(s.batchSize >> 1, 256) } });
  return out;
}
