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
import { layersAndPositions, type Dataset } from '../data/dataset.ts';
import { DivergedError, InputError } from '../shared/errors.ts';
import type { Head } from '../data/head.ts';
import { hash32 } from '../data/counterRng.ts';
import type { TokenText } from '../data/tokenizer.ts';
import { makeBatch, positionIndexOf, rowRange, type RowIndex } from '../lens/batch.ts';
import { GpuError, Owner, type Gpu } from '../lens/device.ts';
import { EpochLosses, Evaluator, teacherArgmax, type SampleResults } from '../lens/evaluate.ts';
import { Lens, type LensParams } from '../lens/lens.ts';
import { writeLensFile } from '../lens/lensFile.ts';
import { HeadOnGpu, placeData, type RunData } from '../lens/onGpu.ts';
import { memoryBudget, planLine, planTotal, shrinkAdvice } from '../lens/plan.ts';
import { groupTable, type GroupTable } from '../lens/preset.ts';
import { builtInChoices, checkedChoices, type KernelChoices } from '../lens/kernels.ts';
import { deviceTraits, type LensShape } from '../lens/shape.ts';
import { kernelChoices } from '../lens/tuning.ts';
import { planOf, smallerRuns, type PlanRequest, type RunLayout } from './planning.ts';
import type { TrainSettings } from './settings.ts';
import { breakdown, percent, predictionStats, scoresJson, type Breakdown, type PredictionStats } from './metrics.ts';
import { readCheckpoint, writeCheckpoint, type RunState } from './checkpoint.ts';
import { Progress } from './progress.ts';
import { checkRunFolder, FolderLock, METRICS_FILE, prepareRunFolder, previousTrainSeconds, RESULT_FILES } from './runFolder.ts';
import { writeReport } from '../report/write.ts';
import type { EpochRow, RunMetrics } from '../report/run.ts';
import { writeFileAtomic } from '../shared/files.ts';
import { fmtBytes, type DataPlace, type TuneMode } from '../shared/constants.ts';

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
  /** Where the data sets are kept (--data-on; default auto: on the GPU where the plan fits with them there). */
  dataOn?: DataPlace;
  /** Set by a signal handler: the run stops after the current step with a checkpoint. */
  stop?: { signal?: NodeJS.Signals };
  /** Samples left out at load time because --assign gave them no target. */
  dropped?: { train: number; test: number };
  /** Shows token ids as text in the report. */
  tokens?: TokenText;
  /** Called after each training step is submitted (tests inject faults here). */
  afterStep?: (epoch: number, step: number) => void;
  /** How the kernels are chosen (default $LENSGPU_TUNE, else auto); a resumed run runs its checkpoint's. */
  tune?: TuneMode;
  /** The kernels to run instead of choosing by `tune` (tests pin another device kind's built-in ones). */
  kernels?: KernelChoices;
}

export interface RunResult {
  params: number;
  /** The memory plan's total: the bytes the run said it would allocate on the GPU. */
  plannedBytes: number;
  bestEpoch: number;
  history: EpochRow[];
  best: Breakdown | undefined;
  stoppedEarly: boolean;
  /** The signal that stopped the run before it finished (a checkpoint was written). */
  interrupted?: NodeJS.Signals;
}

/** The kernels given, else by --tune, timed at the training batch. */
async function chooseKernels(inputs: RunInputs, head: HeadOnGpu, shape: LensShape): Promise<KernelChoices> {
  if (inputs.kernels) return checkedChoices(inputs.kernels, deviceTraits(inputs.gpu), 'the kernels given');
  return kernelChoices({ gpu: inputs.gpu, device: deviceTraits(inputs.gpu), head, shape, rows: inputs.settings.batchSize, mode: inputs.tune, print: printerOf(inputs) });
}

/** A checkpoint's kernels, checked against this device; the built-in ones for a checkpoint that records none. */
function recordedKernels(gpu: Gpu, kernels: unknown, out: string): KernelChoices {
  const device = deviceTraits(gpu);
  return kernels === undefined ? builtInChoices(device) : checkedChoices(kernels, device, `${join(out, 'checkpoint.safetensors')} (its kernels)`);
}

/** Steps submitted between waits; their losses are then checked and shown. */
const STEPS_IN_FLIGHT = 16;

/** The training loop as the seed writes it: epochs of steps, a validation after each, the best epoch kept, early stop. */
export async function trainLens(inputs: RunInputs): Promise<RunResult> {
  // One writer a run folder, from before it is checked until the run's last file is written.
  const lock = FolderLock.acquire(inputs.out);
  try {
    const run = await Run.setup(inputs);
    try {
      for (let epoch = run.state.epochsDone + 1; run.continues(epoch); epoch++) {
        const started = performance.now();
        await run.guarded(`epoch ${epoch}`, async () => {
          const trainLosses = await run.epoch(epoch);
          if (!trainLosses) return; // stopped mid-epoch, with a checkpoint
          const { results, record } = await run.validate(epoch, trainLosses);
          await run.keepBest(epoch, record, results, started);
        });
      }
      return run.finish();
    } finally {
      run.destroy();
    }
  } finally {
    lock.release();
  }
}

/** What a run decides before it touches the GPU: its groups, its lens's shape and its memory plan. */
interface RunPlan extends RunLayout {
  table: GroupTable;
  /** Each train and test row's translator (and position index, with a position unembedding). */
  trainIndex: RowIndex;
  testIndex: RowIndex;
}

/** The GPU objects of a run: head, data, lens, the epoch's losses and the evaluator, and their owner. */
interface RunOnGpu {
  owner: Owner;
  head: HeadOnGpu;
  train: RunData;
  test: RunData;
  lens: Lens;
  losses: EpochLosses;
  evaluator: Evaluator;
}

/** One training run: set up (plan, upload, restore), its epochs, validations and early stop, then its summary. */
class Run {
  /** The best epoch's per-sample validation results. */
  private best: SampleResults | undefined;
  private checkpointedAt = '';
  private interrupted: NodeJS.Signals | undefined;
  /** Wall-clock time of the run's epochs, over every session (a resumed run adds to it). */
  private trainSeconds = 0;
  private readonly s: TrainSettings;
  private readonly print: (line: string) => void;
  private readonly checkpointPath: string;

  private constructor(
    private readonly inputs: RunInputs,
    private readonly p: RunPlan,
    readonly state: RunState,
    private readonly fingerprint: string,
    private readonly gpu: RunOnGpu,
  ) {
    this.s = inputs.settings;
    this.print = printerOf(inputs);
    this.checkpointPath = join(inputs.out, 'checkpoint.safetensors');
  }

  /** Plans the run and says what it allocates, refuses one that cannot fit, then uploads, restores a checkpoint and validates the untrained lens. */
  static async setup(inputs: RunInputs): Promise<Run> {
    const p = planRun(inputs);
    const fingerprint = runFingerprint(inputs, p.table);
    checkRunFolder(inputs.out, inputs);
    const restored = inputs.resume ? readCheckpoint(join(inputs.out, 'checkpoint.safetensors'), fingerprint, p.shape.numGroups * p.shape.stride, inputs.train.count, inputs.test.count, positionFloats(p.shape)) : undefined;
    describePlan(inputs, p);
    prepareRunFolder(inputs.out, inputs);
    const onGpu = await allocate(inputs, p, restored && recordedKernels(inputs.gpu, restored.kernels, inputs.out));
    const state: RunState = restored?.state ?? { epochsDone: 0, history: [], bestEpoch: 0, bestValLoss: Infinity, sinceBest: 0, stoppedEarly: false, untrained: undefined };
    const run = new Run(inputs, p, state, fingerprint, onGpu);
    try {
      if (restored) run.restore(restored);
      await run.targetsFromTeacher();
      await run.baseline();
      printHeader(run.print, state);
      if (state.stoppedEarly || state.epochsDone >= inputs.settings.epochs) run.print(`the run had already finished after epoch ${state.epochsDone}`);
    } catch (e) {
      run.destroy();
      throw e;
    }
    return run;
  }

  /** Puts a checkpoint's parameters, moments, best results and partial epoch back. */
  private restore(restored: ReturnType<typeof readCheckpoint>): void {
    const { lens, losses } = this.gpu;
    const state = this.state;
    lens.setParams({ params: restored.params, positions: restored.position?.params });
    lens.loadTrainingState({ m: restored.m, v: restored.v, steps: restored.steps, position: restored.position });
    if (state.bestEpoch) this.best = { loss: restored.bestLoss, rank: restored.bestRank, anyRank: restored.bestAnyRank, top1: restored.bestTop1 };
    if (restored.partialLosses) losses.restore(restored.partialLosses);
    this.trainSeconds = previousTrainSeconds(this.inputs.out);
    this.checkpointedAt = state.partial ? `epoch ${state.partial.epoch}, step ${state.partial.steps}` : `after epoch ${state.epochsDone}`;
    const where = state.partial ? `epoch ${state.partial.epoch}, step ${state.partial.steps}` : `epoch ${state.epochsDone}`;
    const sofar = state.bestEpoch ? `best so far: epoch ${state.bestEpoch}, val loss ${state.bestValLoss.toFixed(4)}` : 'no epoch finished yet';
    this.print(`resuming after ${where} (${sofar})`);
  }

  /** Without targets in the data, top-k is scored against the teacher's argmax. */
  private async targetsFromTeacher(): Promise<void> {
    const { train, test } = this.inputs;
    const sets = [[train, this.gpu.train, this.p.trainIndex], [test, this.gpu.test, this.p.testIndex]] as const;
    for (const [ds, data, index] of sets) {
      if (!ds.targetsFromTeacher) continue;
      const ids = await this.inputs.gpu.checked(`the teacher's argmax on ${ds.source}`, () => teacherArgmax(this.inputs.gpu, this.gpu.lens, data, index, this.p.shape.maxBatch));
      ds.target.set(ids);
    }
  }

  /** Epoch 0: the untrained lens (identity translators), the baseline training improves on. */
  private async baseline(): Promise<void> {
    if (this.state.untrained) return;
    const { evaluator, lens } = this.gpu;
    const bar = new Progress('validation of the untrained lens', evaluator.batchCount, process.stderr, this.inputs.quiet, 'batches');
    const results = await this.inputs.gpu.checked('evaluation of the untrained lens', () => evaluator.run(lens, (done) => bar.update(done)));
    bar.end();
    const { loss, count: _count, ...accuracy } = this.scoresOf(results).overall;
    this.state.untrained = { val_loss: loss, ...accuracy };
  }

  private scoresOf(r: SampleResults): Breakdown {
    const { test } = this.inputs;
    return breakdown(r.loss, r.rank, test.layer, test.position, r.anyRank, { layers: this.p.table.layers, positions: this.p.table.positions });
  }

  /** Whether epoch `epoch` runs: within --epochs, not stopped early, not interrupted. */
  continues(epoch: number): boolean {
    return epoch <= this.s.epochs && !this.state.stoppedEarly && !this.interrupted;
  }

  /** Runs `work` under the device's error scopes; a lost device says what is safe on disk. */
  async guarded(what: string, work: () => Promise<void>): Promise<void> {
    const gpu = this.inputs.gpu;
    await gpu.checked(what, work).catch((e) => {
      if (e instanceof GpuError && gpu.lostReason !== undefined) throw new GpuError(`${e.message}; ${this.lastCheckpoint()}`);
      throw e;
    });
  }

  private stopRequested(): NodeJS.Signals | undefined {
    return (this.interrupted = this.inputs.stop?.signal);
  }

  /** One epoch's AdamW steps; its per-sample losses, or undefined when a stop request ended it (with a checkpoint). */
  async epoch(epoch: number): Promise<Float32Array | undefined> {
    const { train } = this.inputs;
    const s = this.s;
    const steps = Math.ceil(train.count / s.batchSize);
    const order = s.shuffle ? shuffled(train.count, s.seed, epoch) : rowRange(0, train.count);
    const firstStep = this.state.partial?.epoch === epoch ? this.state.partial.steps : 0;
    this.state.partial = undefined;
    const progress = new Progress(`epoch ${epoch}/${s.epochs}`, steps, process.stderr, this.inputs.quiet);
    let checkedUpTo = firstStep * s.batchSize; // losses before this sample are known finite
    for (let step = firstStep; step < steps; step++) {
      const at = step * s.batchSize;
      const rows = order.subarray(at, Math.min(train.count, at + s.batchSize));
      this.gpu.losses.step(this.gpu.lens, this.gpu.train, makeBatch(rows, this.p.trainIndex), at);
      this.inputs.afterStep?.(epoch, step);
      const stopping = Boolean(this.stopRequested());
      if ((step - firstStep) % STEPS_IN_FLIGHT === STEPS_IN_FLIGHT - 1 || step === steps - 1 || stopping) {
        const end = at + rows.length;
        const recent = await this.checkLosses(epoch, checkedUpTo, end, steps);
        checkedUpTo = end;
        progress.update(step + 1, mean(recent.subarray(Math.max(0, recent.length - STEPS_IN_FLIGHT * s.batchSize))));
      }
      if (stopping) {
        progress.end();
        if (s.checkpoint) await this.saveCheckpoint({ epoch, steps: step + 1 });
        return undefined;
      }
    }
    progress.end();
    return this.gpu.losses.read();
  }

  /**
   * Bounds the work in flight and checks the new losses [from, to): a diverged run stops here,
   * before anything of it is written. Returns them.
   */
  private async checkLosses(epoch: number, from: number, to: number, steps: number): Promise<Float32Array> {
    const recent = await this.gpu.losses.read(from, to);
    const bad = recent.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      const badStep = Math.floor((from + bad) / this.s.batchSize) + 1;
      throw new DivergedError(`epoch ${epoch}, step ${badStep}/${steps}: the training loss is ${recent[bad]} (try a lower --lr); ${this.lastCheckpoint()}`);
    }
    return recent;
  }

  /** The validation of an epoch: per-sample results and the epoch's row of metrics. */
  async validate(epoch: number, trainLosses: Float32Array): Promise<{ results: SampleResults; record: EpochRow }> {
    const { evaluator, lens } = this.gpu;
    const bar = new Progress(`validation ${epoch}/${this.s.epochs}`, evaluator.batchCount, process.stderr, this.inputs.quiet, 'batches');
    const results = await evaluator.run(lens, (done) => bar.update(done));
    bar.end();
    const scores = this.scoresOf(results).overall;
    if (!Number.isFinite(scores.loss)) {
      throw new DivergedError(`epoch ${epoch}: the validation loss is ${scores.loss} (try a lower --lr); ${this.lastCheckpoint()}`);
    }
    const { loss: valLoss, count: _count, ...accuracy } = scores;
    return { results, record: { epoch, train_loss: mean(trainLosses), val_loss: valLoss, ...accuracy } };
  }

  /**
   * Early stopping: an improving epoch's lens is written; `patience` epochs without one stop
   * the run. Then the epoch's row, the results, the report and the checkpoint.
   */
  async keepBest(epoch: number, record: EpochRow, results: SampleResults, started: number): Promise<void> {
    const state = this.state;
    state.history.push(record);
    state.epochsDone = epoch;
    let note: string;
    let read: LensParams | undefined;
    if (record.val_loss < state.bestValLoss) {
      Object.assign(state, { bestValLoss: record.val_loss, bestEpoch: epoch, sinceBest: 0 });
      this.best = results;
      read = await this.writeLens(epoch, record.val_loss);
      note = 'best';
    } else {
      state.sinceBest++;
      state.stoppedEarly = state.sinceBest >= this.s.patience;
      note = `no improvement (${state.sinceBest}/${this.s.patience})${state.stoppedEarly ? ', early stop' : ''}`;
    }
    printRow(this.print, record, note);
    this.trainSeconds += (performance.now() - started) / 1000;
    const { inputs, p } = this;
    writeResults(inputs.out, inputs, p.table, this.gpu.lens.shape, state, this.scoresOf(this.best!), this.trainSeconds, predictionStats(this.best!.top1, inputs.test.target, inputs.test.position));
    if (this.s.checkpoint) await this.saveCheckpoint(undefined, read);
    this.stopRequested();
  }

  /** lens.safetensors of the current parameters; returns the blocks read (a checkpoint reuses them). */
  private async writeLens(epoch: number, valLoss: number): Promise<LensParams> {
    const { lens } = this.gpu;
    const read = await lens.readParams();
    const meta = { best_epoch: String(epoch), val_loss: String(valLoss) };
    writeLensFile(join(this.inputs.out, 'lens.safetensors'), this.p.table, this.inputs.head.d, read.params, meta, lens.positionTensors(read, this.p.table.positions));
    return read;
  }

  /** checkpoint.safetensors; `read`: the blocks an improving epoch already read for lens.safetensors. */
  private async saveCheckpoint(partial?: { epoch: number; steps: number }, read?: LensParams): Promise<void> {
    const { lens, losses } = this.gpu;
    read ??= await lens.readParams();
    const training = await lens.readTrainingState();
    const best = this.best;
    const testCount = this.inputs.test.count;
    writeCheckpoint(this.checkpointPath, this.fingerprint, { ...this.state, partial }, {
      params: read.params,
      position: training.position && { ...training.position, params: read.positions! },
      m: training.m,
      v: training.v,
      steps: training.steps,
      bestLoss: best?.loss ?? new Float32Array(testCount),
      bestRank: best?.rank ?? new Uint32Array(testCount),
      bestAnyRank: best?.anyRank,
      bestTop1: best?.top1 ?? new Int32Array(testCount),
      partialLosses: partial ? await losses.read() : undefined,
      kernels: lens.shape.kernels,
    });
    this.checkpointedAt = partial ? `epoch ${partial.epoch}, step ${partial.steps}` : `after epoch ${this.state.epochsDone}`;
  }

  /** Where the last checkpoint on disk leaves the run, for messages about faults. */
  private lastCheckpoint(): string {
    const path = this.checkpointPath;
    if (!this.s.checkpoint && !existsSync(path)) return 'no checkpoint was written (--no-checkpoint)';
    if (existsSync(path)) return `the last checkpoint, ${path} (${this.checkpointedAt}), is intact: continue with --resume --out ${this.inputs.out}`;
    return 'no checkpoint had been written yet';
  }

  /** The run's end: the stop, or the best epoch and where its files are. */
  finish(): RunResult {
    const { state, s, print } = this;
    const [params, plannedBytes] = [this.p.shape.parameters, planTotal(this.p.plan)];
    if (this.interrupted) {
      print(
        s.checkpoint
          ? `stopped by ${this.interrupted}; checkpoint (${this.checkpointedAt}) written to ${this.checkpointPath}: continue with --resume --out ${this.inputs.out}`
          : `stopped by ${this.interrupted}; no checkpoint (--no-checkpoint), the run cannot be resumed`,
      );
      return { params, plannedBytes, bestEpoch: state.bestEpoch, history: state.history, best: undefined, stoppedEarly: false, interrupted: this.interrupted };
    }
    if (!this.best) throw new InputError('no epoch was run (--epochs 0?)');
    const b = state.history[state.bestEpoch - 1]!;
    print(
      `best epoch ${state.bestEpoch}: val loss ${b.val_loss.toFixed(4)}, top-1/5/10 ${percent(b.top1)} / ${percent(b.top5)} / ${percent(b.top10)}` +
        `${state.stoppedEarly ? ` (stopped early after epoch ${state.epochsDone})` : ''}`,
    );
    if (state.untrained && b.val_loss > state.untrained.val_loss) {
      print(`warning: the best epoch's val loss ${b.val_loss.toFixed(4)} is worse than the untrained lens's ${state.untrained.val_loss.toFixed(4)}: training did not help (try a lower --lr or more training data)`);
    }
    print(`wrote ${RESULT_FILES.map((f) => join(this.inputs.out, f)).join(', ')}`);
    return { params, plannedBytes, bestEpoch: state.bestEpoch, history: state.history, best: this.scoresOf(this.best), stoppedEarly: state.stoppedEarly };
  }

  destroy(): void {
    this.gpu.owner.destroy();
  }
}

/** Where a run's table rows and messages go: the caller's printer, else stdout. */
function printerOf(inputs: RunInputs): (line: string) => void {
  return inputs.print ?? ((line: string) => console.log(line));
}

/** The run's groups, rows, lens shape and memory plan, from its data and settings (no GPU yet). */
function planRun(inputs: RunInputs): RunPlan {
  const { train, test, settings: s } = inputs;
  if (s.batchSize < 1) throw new InputError(`--batch-size must be at least 1`);
  const kl = s.loss === 'kl';
  for (const ds of [train, test]) {
    if (kl && !ds.finalHidden) throw new InputError(`${ds.source}: --loss kl needs 'final_hidden' [N, d], the model's last hidden state of each sample`);
    if (!kl && ds.targetsFromTeacher) throw new InputError(`${ds.source}: no 'target' or 'targets'; with only 'final_hidden', train with --loss kl`);
  }
  // The groups of the data as given: a group whose samples --assign left out keeps its
  // zero translator, so the lens's tensors do not depend on the assignment rule.
  const [given, givenTest] = [layersAndPositions(train), layersAndPositions(test)];
  const table = groupTable(s.preset, [...given.layers, ...givenTest.layers], [...given.positions, ...givenTest.positions], s.criticalLayers);
  const layout = planOf(planRequest(inputs, table));
  const shape = layout.shape;
  const indexOf = (ds: Dataset): RowIndex => ({
    group: Int32Array.from(ds.layer, (l, i) => table.groupOf(l, ds.position[i]!)),
    position: shape.position && positionIndexOf(table.positions, ds.position),
  });
  return { ...layout, table, trainIndex: indexOf(train), testIndex: indexOf(test) };
}

/** The run as the planning sees it: the device, the head, the samples and the groups. */
function planRequest(inputs: RunInputs, table: GroupTable): PlanRequest {
  const { gpu, head, train, test, settings } = inputs;
  return {
    device: deviceTraits(gpu),
    maxBufferSize: gpu.limits.maxBufferSize,
    budget: memoryBudget(gpu.adapter, inputs.gpuMemoryGiB),
    head,
    trainCount: train.count,
    testCount: test.count,
    hiddenHalf: train.hiddenHalf,
    finalHiddenHalf: train.finalHiddenHalf,
    targetsPerRow: Math.max(train.multi?.targetsPerRow ?? 1, test.multi?.targetsPerRow ?? 1),
    settings,
    table,
    dataOn: inputs.dataOn ?? 'auto',
  };
}

/** f32 of the position unembedding's blocks (0 without one). */
function positionFloats(shape: LensShape): number {
  return shape.position ? shape.position.positions * shape.position.layout.stride : 0;
}

/** Says what the run trains and allocates, and refuses a run that cannot fit, before allocating anything. */
function describePlan(inputs: RunInputs, p: RunPlan): void {
  const { gpu, head, train, test, settings: s } = inputs;
  const print = printerOf(inputs);
  const { table, shape } = p;
  print(`lens: ${s.preset} preset, ${table.groups.length} translators over ${table.layers.length} layers × ${table.positions.length} positions, d ${head.d}, V ${head.V}`);
  if (s.preset === 'lite') {
    const absent = s.criticalLayers.filter((l) => !table.layers.includes(l));
    if (absent.length === s.criticalLayers.length) print(`lite: none of its critical layers (${absent.join(',')}) has samples here, so it trains one translator a layer, as baseline does (--critical-layers names others)`);
    else if (absent.length) print(`lite: critical layer${absent.length > 1 ? 's' : ''} ${absent.join(',')} ${absent.length > 1 ? 'have' : 'has'} no samples here; they get no position-specific translators`);
  }
  print(`trainable parameters: ${shape.parameters.toLocaleString('en-US')}`);
  print(`samples: ${train.count.toLocaleString('en-US')} train, ${test.count.toLocaleString('en-US')} test; batch ${s.batchSize}`);
  print(planLine(p.plan, gpu.adapter.name));
  if (p.problem) throw new InputError(p.problem);
  if (p.dataOn === 'host') print(`data sets: in host memory, each step writes its batch's rows (${p.hostBecause ?? '--data-on host'})`);
}

/**
 * The head, the kernels (`recorded`, else given or chosen by --tune), both data sets, the lens and the
 * run's buffers; where the device's memory is not known, Dawn's out-of-memory error is the check.
 */
async function allocate(inputs: RunInputs, p: RunPlan, recorded: KernelChoices | undefined): Promise<RunOnGpu> {
  const { gpu, train, test } = inputs;
  const kl = Boolean(p.shape.teacher);
  const owner = new Owner(gpu);
  try {
    const head = await gpu.checked('uploading the head', () => owner.own(new HeadOnGpu(gpu, inputs.head)));
    const kernels = recorded ?? (await chooseKernels(inputs, head, p.shape));
    return await gpu.checked('allocating the run', async () => {
      const trainGpu = owner.own(placeData(gpu, 'train', train, p.dataOn, p.shape.targetsPerRow, kl));
      const testGpu = owner.own(placeData(gpu, 'test', test, p.dataOn, p.shape.targetsPerRow, kl));
      // The gathers from both data sets are bound with the lens's other kernel calls.
      const lens = owner.own(await Lens.create(gpu, head, { ...p.shape, kernels }, [trainGpu, testGpu]));
      const losses = owner.own(new EpochLosses(gpu, train.count));
      const evaluator = owner.own(new Evaluator(gpu, testGpu, p.testIndex, p.shape.maxBatch));
      return { owner, head, train: trainGpu, test: testGpu, lens, losses, evaluator };
    });
  } catch (e) {
    owner.destroy();
    if (e instanceof GpuError && /out.of.memory/i.test(e.message)) {
      throw new GpuError(`the GPU ran out of memory allocating this run's ${fmtBytes(planTotal(p.plan))}; ${shrinkAdvice(p.plan, smallerRuns(planRequest(inputs, p.table), p.dataOn))}`);
    }
    throw e;
  }
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

function printRow(print: (l: string) => void, r: EpochRow, note: string): void {
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
  shape: LensShape,
  state: RunState,
  best: Breakdown,
  trainSeconds: number,
  predictions: PredictionStats[],
): void {
  const metrics: RunMetrics = {
    params: shape.parameters,
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
    kernels: shape.kernels,
    ...inputs.provenance,
  };
  writeFileAtomic(join(out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  writeReport(out, { dir: out, name: basename(resolve(out)), metrics, config }, inputs.tokens);
}
