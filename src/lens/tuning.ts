// The kernel choices a lens runs with, by `--tune` (default $LENSGPU_TUNE, else auto): `auto`
// (the cache's for this adapter and shape, else tuned and cached), `fresh` (tuned again,
// cached), `off` (the built-in ones). The cache, $XDG_CACHE_HOME/lensgpu/tuning.json (default ~/.cache), is keyed by everything of the
// adapter a timing depends on and by the lens's shape; written atomically; a corrupt or foreign
// file is ignored with a warning and rewritten.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { dawnVersion, type Gpu } from '../gpu/device.ts';
import { PassTimer } from '../gpu/timer.ts';
import { TUNE_MODES, type TuneMode } from '../shared/constants.ts';
import { InputError } from '../shared/errors.ts';
import { writeFileAtomic } from '../shared/files.ts';
import { builtInChoices, checkedChoices, describeChoices, type KernelChoices, type KernelDevice } from './kernels.ts';
import type { HeadOnGpu } from './onGpu.ts';
import type { LensShape } from './shape.ts';
import { tuneKernels, type TrialTimer } from './tuner.ts';


const FORMAT = 'lensgpu-tuning';
const VERSION = 1;

interface CacheFile {
  format: typeof FORMAT;
  version: number;
  /** By adapter key, then by shape key. */
  adapters: Record<string, Record<string, { choices: KernelChoices; timings: Record<string, number>; tuned: string }>>;
}

/** $XDG_CACHE_HOME/lensgpu/tuning.json, or ~/.cache/lensgpu/tuning.json. */
export function tuningCachePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lensgpu', 'tuning.json');
}

/** What of the adapter a timing depends on: who made it, its driver, Dawn, its subgroups and limits. */
export function adapterKey(gpu: Gpu): string {
  const a = gpu.adapter;
  const l = gpu.limits;
  return JSON.stringify({
    vendor: a.vendor,
    architecture: a.architecture,
    description: a.description,
    device: a.device,
    dawn: dawnVersion(),
    subgroups: [a.subgroupMinSize, a.subgroupMaxSize],
    limits: [l.maxStorageBufferBindingSize, l.maxComputeWorkgroupStorageSize, l.maxComputeInvocationsPerWorkgroup],
    features: [gpu.hasSubgroups, gpu.hasF16],
  });
}

/** What of a lens's shape its kernels' speed depends on, and the batch rows. */
export function shapeKey(shape: LensShape, rows: number): string {
  const training = shape.adamw ? (shape.fusedUpdate ? 'train-fused' : 'train') : 'infer';
  return `d ${shape.d} V ${shape.V} ${shape.headDtype} groups ${shape.numGroups} rows ${rows} targets ${shape.targetsPerRow} ${training}`;
}

export interface ChoiceRequest {
  gpu: Gpu;
  device: KernelDevice;
  head: HeadOnGpu;
  shape: LensShape;
  rows: number;
  /** Default: $LENSGPU_TUNE, else auto. */
  mode?: TuneMode;
  /** One progress line (the tuning done, or the cache's choices used). */
  print: (line: string) => void;
  /** A cache that cannot be read or written (default: a warning line on stderr). */
  warn?: (line: string) => void;
  cachePath?: string;
  timer?: TrialTimer;
}

/** The choices for a lens of `shape`, as `mode` says, with one line on where they came from. */
export async function kernelChoices(r: ChoiceRequest): Promise<KernelChoices> {
  const mode = r.mode ?? tuneModeFromEnv();
  if (mode === 'off') return builtInChoices(r.device);
  const path = r.cachePath ?? tuningCachePath();
  const warn = r.warn ?? ((line: string) => void process.stderr.write(`lensgpu: warning: ${line}\n`));
  const cache = readCache(path, warn);
  const [adapter, shape] = [adapterKey(r.gpu), shapeKey(r.shape, r.rows)];
  const cached = cache.adapters[adapter]?.[shape];
  if (mode === 'auto' && cached) {
    try {
      const choices = checkedChoices(cached.choices, r.device, path);
      r.print(`kernels tuned for ${r.gpu.adapter.name} on ${cached.tuned.slice(0, 10)} (${path}): ${describeChoices(choices)}`);
      return choices;
    } catch (e) {
      warn(`${(e as Error).message}; tuning again`);
    }
  }
  const owned = r.timer ? undefined : new PassTimer(r.gpu);
  try {
    const t = await tuneKernels(r.gpu, r.device, r.head, { ...r.shape, kernels: builtInChoices(r.device) }, r.rows, r.timer ?? owned!);
    r.print(`tuned kernels for ${r.gpu.adapter.name}: ${t.families} families, ${t.candidates} candidates, ${t.seconds.toFixed(1)} s: ${describeChoices(t.choices)}`);
    (cache.adapters[adapter] ??= {})[shape] = { choices: t.choices, timings: t.timings, tuned: new Date().toISOString() };
    writeCache(path, cache, warn);
    return t.choices;
  } finally {
    owned?.destroy();
  }
}

/** $LENSGPU_TUNE (auto where unset): the default of --tune. */
export function tuneModeFromEnv(env: NodeJS.ProcessEnv = process.env): TuneMode {
  const v = env.LENSGPU_TUNE || 'auto';
  if (!(TUNE_MODES as string[]).includes(v)) throw new InputError(`LENSGPU_TUNE=${v}: one of ${TUNE_MODES.join(', ')}`);
  return v as TuneMode;
}

/** This adapter's cached tunings, by shape. */
export function cachedTunings(gpu: Gpu, path = tuningCachePath()): { shape: string; choices: KernelChoices; tuned: string }[] {
  const entries = readCache(path, () => {}).adapters[adapterKey(gpu)] ?? {};
  return Object.entries(entries).map(([shape, e]) => ({ shape, choices: e.choices, tuned: e.tuned }));
}

function readCache(path: string, warn: (line: string) => void): CacheFile {
  const empty: CacheFile = { format: FORMAT, version: VERSION, adapters: {} };
  if (!existsSync(path)) return empty;
  try {
    const file = JSON.parse(readFileSync(path, 'utf8')) as CacheFile;
    if (file?.format === FORMAT && file.version === VERSION && file.adapters && typeof file.adapters === 'object') return file;
    warn(`${path} is not a tuning cache of this version: ignored, and rewritten after tuning`);
  } catch (e) {
    warn(`${path} is unreadable (${(e as Error).message.split('\n')[0]}): ignored, and rewritten after tuning`);
  }
  return empty;
}

function writeCache(path: string, cache: CacheFile, warn: (line: string) => void): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomic(path, JSON.stringify(cache, null, 1) + '\n');
  } catch (e) {
    warn(`the tuning could not be cached in ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); the next run tunes again`);
  }
}
