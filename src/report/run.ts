// A finished (or running) run as its folder holds it: metrics.json and config.json. The
// reports, `compare` and `sweep` read runs only through this, never the GPU.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { InputError } from '../shared/errors.ts';

/** any1/5/10: with several targets a sample, any of its targets ranks below k. */
interface AnyK {
  any1?: number;
  any5?: number;
  any10?: number;
}

export interface CellScores extends AnyK {
  count: number;
  val_loss: number;
  top1: number;
  top5: number;
  top10: number;
}

export interface EpochRow extends AnyK {
  epoch: number;
  train_loss: number;
  val_loss: number;
  top1: number;
  top5: number;
  top10: number;
}

export interface RunMetrics {
  params: number;
  best_epoch: number;
  epochs: EpochRow[];
  untrained?: Omit<EpochRow, 'epoch' | 'train_loss'>;
  per_layer: (CellScores & { layer: number })[];
  per_position: (CellScores & { position: number })[];
  per_group: (CellScores & { layer: number; position: number })[];
  /** Wall-clock seconds of training and validation, summed over every session of the run. */
  train_seconds?: number;
  /** Samples left out because --assign gave them no target. */
  dropped?: { train: number; test: number };
  /** Per position, the best epoch's commonest top-1 predictions and (target → predicted) confusions. */
  predictions_per_position?: {
    id: number;
    count: number;
    top: { token: number; count: number }[];
    confusions: { target: number; predicted: number; count: number }[];
  }[];
}

export interface RunConfig {
  settings: { preset?: string; layers?: number[]; criticalLayers?: number[]; assign?: string; targets?: string; loss?: string; finalNormed?: boolean; positionUnembed?: string };
  preset?: string;
  groups?: number;
  layers?: number[];
  positions?: number[];
  head?: { d: number; V: number; dtype?: string; source?: string };
  samples?: { train: number; test: number };
  adapter?: { name: string };
  command?: string;
  [key: string]: unknown;
}

export interface RunRecord {
  dir: string;
  /** A short name for tables: the folder's name. */
  name: string;
  metrics: RunMetrics;
  config: RunConfig;
}

/** Reads a run folder; a clear error when it is not one. */
export function readRun(dir: string): RunRecord {
  const metricsPath = join(dir, 'metrics.json');
  if (!existsSync(dir)) throw new InputError(`${dir}: no such run folder`);
  if (!existsSync(metricsPath)) throw new InputError(`${dir}: no metrics.json (is this a run folder written by train?)`);
  const metrics = readJson(metricsPath) as RunMetrics;
  if (!Array.isArray(metrics.epochs) || typeof metrics.best_epoch !== 'number' || !Array.isArray(metrics.per_group)) {
    throw new InputError(`${metricsPath}: not the metrics of a run (epochs, best_epoch, per_group expected)`);
  }
  const configPath = join(dir, 'config.json');
  const config = (existsSync(configPath) ? readJson(configPath) : { settings: {} }) as RunConfig;
  return { dir, name: basename(resolve(dir)), metrics, config };
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new InputError(`${path}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
}

/** The best epoch's row, or undefined before any epoch finished. */
export function bestEpoch(m: RunMetrics): EpochRow | undefined {
  return m.epochs.find((e) => e.epoch === m.best_epoch);
}

/** A run's configuration in a few words: preset, critical and kept layers. */
export function describeRun(run: RunRecord): string {
  const s = run.config.settings ?? {};
  const preset = String(s.preset ?? run.config.preset ?? '?');
  const parts = [preset];
  if (preset === 'lite' && Array.isArray(s.criticalLayers)) parts.push(`critical ${s.criticalLayers.join(',')}`);
  if (Array.isArray(s.layers)) parts.push(`layers ${s.layers.join(',')}`);
  if (s.assign) parts.push(`assign ${s.assign}`);
  if (s.targets) parts.push(`targets ${s.targets}`);
  if (s.loss === 'kl') parts.push(`KL${s.finalNormed ? ' (final normed)' : ''}`);
  if (s.positionUnembed) parts.push(`position unembedding ${s.positionUnembed}`);
  return parts.join(', ');
}

/** 0.198 → "19.8 %"; a missing value → "–". */
export function pct(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(1)} %`;
}

/** Seconds as "42 s", "3.5 min" or "1.2 h". */
export function duration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '–';
  return seconds >= 3600 ? `${(seconds / 3600).toFixed(1)} h` : seconds >= 90 ? `${(seconds / 60).toFixed(1)} min` : `${seconds.toFixed(1)} s`;
}
