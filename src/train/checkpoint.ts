// checkpoint.safetensors: everything a run needs to continue exactly where it stopped, so
// that a resumed run is bit-identical to one that never stopped. Parameters, AdamW moments
// and step counts; the best epoch's per-sample validation results (for the final breakdown);
// the epoch history and early-stopping state as JSON metadata. The shuffle needs no state:
// each epoch's order is a function of (seed, epoch). A run stopped inside an epoch also keeps
// how many steps of it are done and their per-sample losses, so it resumes at the next step.
import type { KernelChoices } from '../lens/kernels.ts';
import { InputError } from '../shared/errors.ts';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SafetensorsFile, writeSafetensors } from '../data/safetensors.ts';
import type { EpochRow } from '../report/run.ts';

export interface RunState {
  epochsDone: number;
  history: EpochRow[];
  bestEpoch: number;
  bestValLoss: number;
  sinceBest: number;
  stoppedEarly: boolean;
  /** Validation metrics of the untrained lens (identity translators), "epoch 0". */
  untrained: Omit<EpochRow, 'epoch' | 'train_loss'> | undefined;
  /** Set when the run stopped inside an epoch: `steps` of epoch `epoch` are done. */
  partial?: { epoch: number; steps: number };
}

export interface CheckpointTensors {
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  steps: Uint32Array;
  bestLoss: Float32Array;
  bestRank: Uint32Array;
  /** With several targets a sample: the best epoch's any-target ranks. */
  bestAnyRank?: Uint32Array;
  /** The best epoch's most probable token of each test sample. */
  bestTop1: Int32Array;
  /** With state.partial: the epoch's per-sample training losses so far (epoch order). */
  partialLosses?: Float32Array;
  /** The position-specific unembedding's blocks, AdamW moments and step counts. */
  position?: { params: Float32Array; m: Float32Array; v: Float32Array; steps: Uint32Array };
  /** The kernels the run runs (a resumed run runs the same, for bit-identical results). */
  kernels: KernelChoices;
}

export function writeCheckpoint(path: string, fingerprint: string, state: RunState, t: CheckpointTensors): void {
  writeSafetensors(
    path,
    [
      { name: 'params', dtype: 'F32', shape: [t.params.length], data: t.params },
      { name: 'adamw.m', dtype: 'F32', shape: [t.m.length], data: t.m },
      { name: 'adamw.v', dtype: 'F32', shape: [t.v.length], data: t.v },
      { name: 'adamw.steps', dtype: 'I32', shape: [t.steps.length], data: new Int32Array(t.steps) },
      { name: 'best.val_loss', dtype: 'F32', shape: [t.bestLoss.length], data: t.bestLoss },
      { name: 'best.rank', dtype: 'I32', shape: [t.bestRank.length], data: new Int32Array(t.bestRank.buffer, t.bestRank.byteOffset, t.bestRank.length) },
      { name: 'best.top1', dtype: 'I32', shape: [t.bestTop1.length], data: t.bestTop1 },
      ...(t.bestAnyRank ? [{ name: 'best.any_rank', dtype: 'I32' as const, shape: [t.bestAnyRank.length], data: new Int32Array(t.bestAnyRank.buffer, t.bestAnyRank.byteOffset, t.bestAnyRank.length) }] : []),
      ...(t.position
        ? [
            { name: 'position.params', dtype: 'F32' as const, shape: [t.position.params.length], data: t.position.params },
            { name: 'position.adamw.m', dtype: 'F32' as const, shape: [t.position.m.length], data: t.position.m },
            { name: 'position.adamw.v', dtype: 'F32' as const, shape: [t.position.v.length], data: t.position.v },
            { name: 'position.adamw.steps', dtype: 'I32' as const, shape: [t.position.steps.length], data: new Int32Array(t.position.steps) },
          ]
        : []),
      ...(t.partialLosses ? [{ name: 'partial.train_loss', dtype: 'F32' as const, shape: [t.partialLosses.length], data: t.partialLosses }] : []),
    ],
    { format: 'lensgpu-checkpoint', run: fingerprint, state: JSON.stringify(state), kernels: JSON.stringify(t.kernels) },
  );
}

export function readCheckpoint(path: string, fingerprint: string, paramCount: number, trainCount: number, testCount: number, positionCount = 0) {
  const file = SafetensorsFile.open(path);
  try {
    if (file.metadata.format !== 'lensgpu-checkpoint') throw new InputError(`${path}: not a lensgpu checkpoint`);
    // A checkpoint of an earlier version carries no checksum; one that does must match it.
    if (file.verify() === 'damaged') {
      throw new InputError(`${path}: damaged (its CRC-32 does not match its contents), so the run cannot be resumed from it; ${intactBeside(path)}`);
    }
    if (file.metadata.run !== fingerprint) {
      const was = JSON.parse(file.metadata.run ?? '{}');
      const now = JSON.parse(fingerprint);
      const differ = diffKeys(was, now);
      throw new InputError(`${path}: this run's settings or data differ from the checkpoint's (${differ.join(', ')}); only --epochs may change on --resume`);
    }
    const params = file.readF32('params');
    if (params.length !== paramCount) throw new InputError(`${path}: ${params.length} parameters, expected ${paramCount}`);
    const bestLoss = file.readF32('best.val_loss');
    if (bestLoss.length !== testCount) throw new InputError(`${path}: holds results for ${bestLoss.length} test samples, not ${testCount}`);
    const state = JSON.parse(file.metadata.state ?? '{}') as RunState;
    if (state.bestValLoss === null) state.bestValLoss = Infinity;
    const partialLosses = state.partial ? file.readF32('partial.train_loss') : undefined;
    if (partialLosses && partialLosses.length !== trainCount) throw new InputError(`${path}: holds losses for ${partialLosses.length} training samples, not ${trainCount}`);
    return {
      state,
      params,
      m: file.readF32('adamw.m'),
      v: file.readF32('adamw.v'),
      steps: new Uint32Array(file.readInt('adamw.steps')),
      bestLoss,
      bestRank: Uint32Array.from(file.readInt('best.rank')),
      bestAnyRank: file.has('best.any_rank') ? Uint32Array.from(file.readInt('best.any_rank')) : undefined,
      bestTop1: file.has('best.top1') ? file.readInt('best.top1') : new Int32Array(testCount).fill(-1),
      position: positionCount ? readPosition(file, positionCount) : undefined,
      partialLosses,
      /** Unchecked: the caller checks them against its device (a checkpoint of an earlier version has none). */
      kernels: file.metadata.kernels === undefined ? undefined : (JSON.parse(file.metadata.kernels) as unknown),
    };
  } finally {
    file.close();
  }
}

/** What of the run beside a damaged checkpoint is intact: its best epoch's lens, if whole. */
function intactBeside(checkpoint: string): string {
  const lens = join(dirname(checkpoint), 'lens.safetensors');
  if (!existsSync(lens)) return 'no lens.safetensors was written beside it: start the run again with --overwrite';
  let state: string;
  try {
    const file = SafetensorsFile.open(lens);
    state = file.verify() === 'damaged' ? 'damaged too' : `intact (best epoch ${file.metadata.best_epoch ?? '?'})`;
    file.close();
  } catch {
    state = 'unreadable too';
  }
  return `${lens} is ${state}; start the run again with --overwrite, or keep that lens`;
}

function diffKeys(a: any, b: any, prefix = ''): string[] {
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) || Array.isArray(b)) {
    return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix || 'value'];
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].flatMap((k) => diffKeys(a[k], b[k], prefix ? `${prefix}.${k}` : k));
}

function readPosition(file: SafetensorsFile, count: number) {
  const params = file.readF32('position.params');
  if (params.length !== count) throw new InputError(`${file.path}: ${params.length} position-unembedding parameters, expected ${count}`);
  return { params, m: file.readF32('position.adamw.m'), v: file.readF32('position.adamw.v'), steps: new Uint32Array(file.readInt('position.adamw.steps')) };
}
