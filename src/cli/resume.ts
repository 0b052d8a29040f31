// `train --out RUN --resume` from the folder alone: the run's settings, head dtype and data
// files come from its config.json (or, for a run stopped before its first epoch ended, from its
// checkpoint's fingerprint, which records the same), for every flag not given on the command
// line; a flag given with another value than the run's is refused, naming both (only --epochs
// and --no-checkpoint may change, as the checkpoint's fingerprint allows).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { SafetensorsFile } from '../data/safetensors.ts';
import { InputError } from '../shared/errors.ts';
import type { TrainSettings } from '../train/settings.ts';

/** A flag of `train` and the value a run's config.json holds for it. */
interface SavedFlag {
  /** commander's attribute name (camelCase of the flag). */
  attr: string;
  flag: string;
  value: unknown;
}

/** What config.json and the checkpoint's fingerprint both record of a run. */
interface RecordedRun {
  settings: TrainSettings;
  head?: { dtype?: string };
  data?: Record<string, { path?: string } | string | unknown> | null;
}

/** The flags whose values a run recorded: its settings (as the flags spell them), head dtype and data files. */
function savedFlags(config: RecordedRun): SavedFlag[] {
  const s = config.settings;
  const flags: SavedFlag[] = [
    { attr: 'preset', flag: '--preset', value: s.preset },
    { attr: 'criticalLayers', flag: '--critical-layers', value: s.criticalLayers },
    { attr: 'layers', flag: '--layers', value: s.layers },
    { attr: 'patience', flag: '--patience', value: s.patience },
    { attr: 'batchSize', flag: '--batch-size', value: s.batchSize },
    { attr: 'lr', flag: '--lr', value: s.lr },
    { attr: 'weightDecay', flag: '--weight-decay', value: s.weightDecay },
    { attr: 'clip', flag: '--clip', value: s.clip },
    { attr: 'seed', flag: '--seed', value: s.seed },
    { attr: 'shuffle', flag: '--no-shuffle', value: s.shuffle },
    { attr: 'targets', flag: '--targets', value: s.targets },
    { attr: 'assign', flag: '--assign', value: s.assign },
    { attr: 'loss', flag: '--loss', value: s.loss ?? 'ce' },
    { attr: 'finalNormed', flag: '--final-normed', value: s.finalNormed },
    { attr: 'positionUnembed', flag: '--position-unembed', value: s.positionUnembed ?? 'none' },
    { attr: 'headDtype', flag: '--head-dtype', value: config.head?.dtype },
  ];
  const data = config.data ?? {};
  const path = (k: string) => (data[k] as { path?: string } | undefined)?.path;
  for (const [attr, flag, value] of [['train', '--train', path('train')], ['test', '--test', path('test')], ['head', '--head', path('head')], ['modelDir', '--model-dir', data.model_dir]] as const) {
    if (value !== undefined) flags.push({ attr, flag, value });
  }
  return flags.filter((f) => f.value !== undefined);
}

const DATA_ATTRS = ['train', 'test', 'head', 'modelDir'];

/** The run recorded in `out`, and the file it came from: config.json, else the checkpoint; undefined where neither is. */
function recordedRun(out: string): { run: RecordedRun; path: string } | undefined {
  for (const [name, read] of [
    ['config.json', (path: string) => JSON.parse(readFileSync(path, 'utf8'))],
    ['checkpoint.safetensors', checkpointFingerprint],
  ] as const) {
    const path = join(out, name);
    if (!existsSync(path)) continue;
    let run: RecordedRun | undefined;
    try {
      run = read(path);
    } catch (e) {
      throw new InputError(`${path}: not readable as a run's record (${(e as Error).message}); give every flag of the run to --resume it`);
    }
    return run?.settings ? { run, path } : undefined;
  }
  return undefined;
}

/** The run a checkpoint continues, from its metadata (written by the trainer's runFingerprint). */
function checkpointFingerprint(path: string): RecordedRun | undefined {
  const file = SafetensorsFile.open(path);
  try {
    const run = file.metadata.run;
    return run === undefined ? undefined : JSON.parse(run);
  } finally {
    file.close();
  }
}

/**
 * The options of a resumed train: those given on the command line, the rest from the run's
 * record. A run folder with neither config.json nor a checkpoint keeps the flags as given.
 */
export function resumedOptions(o: Record<string, any>, cmd: Command): Record<string, any> {
  const recorded = recordedRun(o.out);
  if (!recorded) return o;
  const { run: config, path } = recorded;
  const given = (attr: string) => cmd.getOptionValueSource(attr) === 'cli';
  const anyData = DATA_ATTRS.some(given);
  const out = { ...o };
  for (const { attr, flag, value } of savedFlags(config)) {
    // The data files are taken together: given ones replace all the recorded ones.
    if (DATA_ATTRS.includes(attr)) {
      if (!anyData) out[attr] = value;
      continue;
    }
    if (!given(attr)) out[attr] = value;
    else if (JSON.stringify(o[attr]) !== JSON.stringify(value)) {
      throw new InputError(`${flag} ${show(o[attr])} differs from the run's ${show(value)} (${path}): on --resume only --epochs may change; leave ${flag} out to continue the run as it was`);
    }
  }
  return out;
}

function show(v: unknown): string {
  return Array.isArray(v) ? v.join(',') : String(v);
}
