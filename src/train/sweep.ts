// `sweep`: several configurations trained on the same data, one after another on one device,
// each into its own run folder, then compared in one report (comparison.md, positions.svg)
// — the seed's experiment (baseline, lite, full, layer 15 only) in one command.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { selectLayers, type Dataset } from '../data/dataset.ts';
import { InputError } from '../data/errors.ts';
import type { Head } from '../data/head.ts';
import { writeFileAtomic } from '../data/safetensors.ts';
import type { Gpu } from '../gpu/device.ts';
import type { PresetName } from '../lens/preset.ts';
import { compareMarkdown } from '../report/compare.ts';
import { positionsSvg } from '../report/positions.ts';
import { readRun } from '../report/run.ts';
import { trainLens, type TrainSettings } from './trainer.ts';

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
}

/** One run per preset, then lite on each set of layers alone (the seed's "layer 15 only"). */
export function sweepConfigs(presets: PresetName[], layersOnly: number[][]): SweepConfig[] {
  return [
    ...presets.map((preset) => ({ name: preset, preset })),
    ...layersOnly.map((layers) => ({ name: `lite-layers-${layers.join('-')}`, preset: 'lite' as const, layers })),
  ];
}

export interface SweepInputs {
  gpu: Gpu;
  data: TrainingData;
  out: string;
  configs: SweepConfig[];
  /** Settings shared by every run (preset and layers come from each config). */
  settings: TrainSettings;
  resume: boolean;
  overwrite: boolean;
  gpuMemoryGiB?: number;
  stop?: { signal?: NodeJS.Signals };
  quiet: boolean;
  command: string;
  print: (line: string) => void;
}

export async function runSweep(inputs: SweepInputs): Promise<{ interrupted?: NodeJS.Signals }> {
  const { out, configs, print } = inputs;
  if (configs.length === 0) throw new InputError('sweep: no configuration to train (--presets is empty)');
  const names = configs.map((c) => c.name);
  if (new Set(names).size !== names.length) throw new InputError(`sweep: two configurations share a name (${names.join(', ')})`);
  // Refuse an occupied folder before training anything (each run would refuse its own later).
  if (existsSync(out) && readdirSync(out).length && !inputs.resume && !inputs.overwrite) {
    throw new InputError(`${out} already holds a sweep: pass --resume to continue it, --overwrite to replace it, or choose another --out`);
  }
  for (const c of configs) {
    selectLayers(inputs.data.train, c.layers);
    selectLayers(inputs.data.test, c.layers);
  }
  mkdirSync(out, { recursive: true });
  print(`sweep of ${configs.length} runs into ${out}: ${names.join(', ')}`);
  for (const [i, c] of configs.entries()) {
    const dir = join(out, c.name);
    print('');
    print(`==== ${i + 1}/${configs.length}: ${c.name} (${c.preset}${c.layers ? `, layers ${c.layers.join(',')}` : ''}) ====`);
    const hasCheckpoint = existsSync(join(dir, 'checkpoint.safetensors'));
    if (inputs.resume && !hasCheckpoint && existsSync(join(dir, 'metrics.json'))) {
      print(`${dir} finished without a checkpoint: kept as it is`);
      continue;
    }
    const result = await trainLens({
      gpu: inputs.gpu,
      head: inputs.data.head,
      train: selectLayers(inputs.data.train, c.layers),
      test: selectLayers(inputs.data.test, c.layers),
      out: dir,
      resume: inputs.resume && hasCheckpoint,
      overwrite: inputs.overwrite,
      gpuMemoryGiB: inputs.gpuMemoryGiB,
      stop: inputs.stop,
      quiet: inputs.quiet,
      print,
      provenance: { command: inputs.command, sweep: { folder: out, run: c.name }, ...inputs.data.provenance },
      dropped: inputs.data.dropped,
      settings: { ...inputs.settings, preset: c.preset, layers: c.layers },
    });
    if (result.interrupted) {
      print(`the sweep stopped in ${c.name}: continue it with --resume`);
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
