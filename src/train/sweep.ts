// `sweep`: several configurations trained on the same data, one after another on one device,
// each into its own run folder, then compared in one report (comparison.md, positions.svg)
// — the seed's experiment (baseline, lite, full, layer 15 only) in one command.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { prepareTargets, type TargetMode } from '../data/assign.ts';
import { selectLayers, type Dataset } from '../data/dataset.ts';
import { InputError } from '../shared/errors.ts';
import type { Head } from '../data/head.ts';
import type { TokenText } from '../data/tokenizer.ts';
import type { Gpu } from '../lens/device.ts';
import type { PresetName } from '../lens/preset.ts';
import type { DataPlace, PositionUnembedMode, TuneMode } from '../shared/constants.ts';
import { compareMarkdown } from '../report/compare.ts';
import { positionsSvg } from '../report/positions.ts';
import { readRun } from '../report/run.ts';
import { FolderLock, LOCK_FILE } from './runFolder.ts';
import type { TrainSettings } from './settings.ts';
import { trainLens } from './trainer.ts';
import { writeFileAtomic } from '../shared/files.ts';

/** The data every configuration of a sweep trains on. */
export interface TrainingData {
  demo: boolean;
  head: Head;
  train: Dataset;
  test: Dataset;
  provenance: Record<string, unknown>;
  /** Samples --assign left without a target. */
  dropped?: { train: number; test: number };
}

export interface SweepConfig {
  /** The run folder's name inside the sweep folder. */
  name: string;
  preset: PresetName;
  layers?: number[];
  assign?: string;
  targets?: TargetMode;
  loss?: 'ce' | 'kl';
  positionUnembed?: 'none' | PositionUnembedMode;
}

/** The values of each axis a sweep runs over (the first value of each is the base). */
export interface SweepAxes {
  presets: PresetName[];
  assign: (string | undefined)[];
  targets: (TargetMode | undefined)[];
  loss: ('ce' | 'kl')[];
  positionUnembed: ('none' | PositionUnembedMode)[];
}

/**
 * Every combination of the axes' values (or, `oneAtATime`, the base and each other value of
 * one axis with the others at their first), then lite on each set of layers alone with the
 * other axes at their first value (the seed's "layer 15 only").
 */
export function sweepConfigs(axes: SweepAxes, layersOnly: number[][], oneAtATime = false): SweepConfig[] {
  type Point = Omit<SweepConfig, 'name' | 'layers'>;
  const keys = ['preset', 'assign', 'targets', 'loss', 'positionUnembed'] as const;
  const values: Record<(typeof keys)[number], readonly unknown[]> = {
    preset: axes.presets,
    assign: axes.assign,
    targets: axes.targets,
    loss: axes.loss,
    positionUnembed: axes.positionUnembed,
  };
  const base = Object.fromEntries(keys.map((k) => [k, values[k][0]])) as unknown as Point;
  let points: Point[];
  if (oneAtATime) {
    points = [base, ...keys.flatMap((k) => values[k].slice(1).map((v) => ({ ...base, [k]: v }) as Point))];
  } else {
    points = keys.reduce<Point[]>((acc, k) => acc.flatMap((pt) => values[k].map((v) => ({ ...pt, [k]: v }) as Point)), [base]);
  }
  const configs: SweepConfig[] = points.map((pt) => ({ ...pt, name: configName(pt) }));
  for (const layers of layersOnly) configs.push({ ...base, preset: 'lite', layers, name: configName({ ...base, preset: 'lite' }, layers) });
  return configs;
}

/** A folder name from the values that differ from the defaults: lite, lite-assign-weights-1-1-2-2-1-1-targets-all, … */
function configName(c: Omit<SweepConfig, 'name' | 'layers'>, layers?: number[]): string {
  const parts: string[] = [c.preset];
  if (c.assign) parts.push(`assign-${c.assign.replace(/^weights:/, 'weights-')}`);
  if (c.targets) parts.push(`targets-${c.targets}`);
  if (c.loss === 'kl') parts.push('kl');
  if (c.positionUnembed && c.positionUnembed !== 'none') parts.push(`unembed-${c.positionUnembed}`);
  if (layers) parts.push(`layers-${layers.join('-')}`);
  return parts.join('-').replace(/[^A-Za-z0-9.-]+/g, '-');
}

/**
 * The targets a run trains on (see prepareTargets), with a line on what --assign left out.
 * Returns the data with its targets and the mode they were taken with.
 */
export function withTargets(data: TrainingData, o: { assign?: string; targets?: TargetMode }, print: (line: string) => void): TrainingData & { targetMode?: TargetMode } {
  const prepared = prepareTargets(data.train, data.test, o);
  if (prepared.dropped) {
    const { train, test } = prepared.dropped;
    print(`targets by --assign ${o.assign} (--targets ${prepared.mode}): ${train + test ? `${train.toLocaleString('en-US')} train and ${test.toLocaleString('en-US')} test samples left out (empty chunk)` : 'every sample has a target'}`);
  }
  if (prepared.note) print(prepared.note);
  return { ...data, train: prepared.train, test: prepared.test, dropped: prepared.dropped, targetMode: prepared.mode };
}

export interface SweepInputs {
  gpu: Gpu;
  data: TrainingData;
  out: string;
  configs: SweepConfig[];
  /** Settings shared by every run (preset, layers and the axes come from each config). */
  settings: TrainSettings;
  /** With the KL loss: final_hidden is already through the final norm. */
  finalNormed: boolean;
  /** Shows token ids as text in the reports. */
  tokens?: TokenText;
  resume: boolean;
  overwrite: boolean;
  gpuMemoryGiB?: number;
  dataOn?: DataPlace;
  stop?: { signal?: NodeJS.Signals };
  quiet: boolean;
  tune?: TuneMode;
  command: string;
  print: (line: string) => void;
}

/** A sweep, its folder locked for its whole life (one writer at a time, as a run's). */
export async function runSweep(inputs: SweepInputs): Promise<{ interrupted?: NodeJS.Signals }> {
  const lock = FolderLock.acquire(inputs.out);
  try {
    return await sweep(inputs);
  } finally {
    lock.release();
  }
}

async function sweep(inputs: SweepInputs): Promise<{ interrupted?: NodeJS.Signals }> {
  const { out, configs, print } = inputs;
  if (configs.length === 0) throw new InputError('sweep: no configuration to train (--presets is empty)');
  const names = configs.map((c) => c.name);
  if (new Set(names).size !== names.length) throw new InputError(`sweep: two configurations share a name (${names.join(', ')})`);
  // Refuse an occupied folder before training anything (each run would refuse its own later).
  if (existsSync(out) && readdirSync(out).some((f) => f !== LOCK_FILE) && !inputs.resume && !inputs.overwrite) {
    throw new InputError(`${out} already holds a sweep: pass --resume to continue it, --overwrite to replace it, or choose another --out`);
  }
  // Every configuration's data is prepared (and so checked) before anything is trained.
  const prepared = configs.map((c) => {
    const data = withTargets(inputs.data, { assign: c.assign, targets: c.targets }, () => {});
    return { ...data, train: selectLayers(data.train, c.layers), test: selectLayers(data.test, c.layers) };
  });
  mkdirSync(out, { recursive: true });
  print(`sweep of ${configs.length} runs into ${out}: ${names.join(', ')}`);
  for (const [i, c] of configs.entries()) {
    const dir = join(out, c.name);
    const data = prepared[i]!;
    print('');
    print(`==== ${i + 1}/${configs.length}: ${c.name} ====`);
    if (data.dropped) print(`--assign ${c.assign}: ${data.dropped.train} train and ${data.dropped.test} test samples left out (empty chunk)`);
    const hasCheckpoint = existsSync(join(dir, 'checkpoint.safetensors'));
    if (inputs.resume && !hasCheckpoint && existsSync(join(dir, 'metrics.json'))) {
      print(`${dir} finished without a checkpoint: kept as it is`);
      continue;
    }
    const result = await trainLens({
      gpu: inputs.gpu,
      head: inputs.data.head,
      train: data.train,
      test: data.test,
      out: dir,
      resume: inputs.resume && hasCheckpoint,
      overwrite: inputs.overwrite,
      gpuMemoryGiB: inputs.gpuMemoryGiB,
      dataOn: inputs.dataOn,
      stop: inputs.stop,
      quiet: inputs.quiet,
      tune: inputs.tune,
      print,
      provenance: { command: inputs.command, sweep: { folder: out, run: c.name }, ...inputs.data.provenance },
      dropped: data.dropped,
      tokens: inputs.tokens,
      settings: {
        ...inputs.settings,
        preset: c.preset,
        layers: c.layers,
        ...(data.targetMode ? { targets: data.targetMode } : {}),
        ...(c.assign ? { assign: c.assign } : {}),
        ...(c.loss === 'kl' ? { loss: 'kl' as const, finalNormed: inputs.finalNormed } : {}),
        ...(c.positionUnembed && c.positionUnembed !== 'none' ? { positionUnembed: c.positionUnembed } : {}),
      },
    });
    if (result.interrupted) {
      print(`the sweep stopped in ${c.name}: continue it with --resume --out ${out}`);
      return { interrupted: result.interrupted };
    }
  }
  const runs = configs.map((c) => readRun(join(out, c.name)));
  const md = [
    '# Sweep',
    '',
    `Command: \`${inputs.command}\``,
    '',
    compareMarkdown(runs, `Comparison with ${runs[0]!.name}`),
    '![top-1 by position, every run](positions.svg)',
    '',
    '## Accuracy by layer and position',
    '',
    ...runs.flatMap((r) => [`### ${r.name}`, '', `![${r.name}: top-1/5/10 by layer and position](${r.name}/heatmap.svg)`, '', `Report: [${r.name}/report.md](${r.name}/report.md)`, '']),
  ].join('\n');
  writeFileAtomic(join(out, 'positions.svg'), positionsSvg(runs, 'Validation top-1 by position (best epoch of each run)'));
  writeFileAtomic(join(out, 'comparison.md'), md);
  print('');
  print(compareMarkdown(runs, `Comparison with ${runs[0]!.name}`));
  print(`wrote ${join(out, 'comparison.md')}, ${join(out, 'positions.svg')} and a report in each run's folder`);
  return {};
}
