// Every test sample's result under a run's best lens (loss, target rank, top-1 token), computed
// once per run by the same kernels as training (the inference lens on the GPU), on the first
// request that needs it, then kept beside the run in view-cache/samples.json, which is used
// again while the lens file is the same one (size and time); the data files are checked
// against the hashes the run recorded. Work on the GPU runs one job at a
// time; a request meanwhile sees the job's progress.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Gpu } from '../lens/device.ts';
import type { RunRecord } from '../report/run.ts';
import { writeFileAtomic } from '../shared/files.ts';
import { evaluateSamples } from '../train/evalCommand.ts';
import { VIEW_CACHE } from '../train/runFolder.ts';
import { loadRunData, type RunData } from './runData.ts';

/** Per test sample, file order: the evaluation's SampleResults (lens/evaluate.ts) as the cache file holds them. */
export interface CachedSamples {
  loss: number[];
  rank: number[];
  top1: number[];
}

export type SampleState =
  | { state: 'computing'; done: number; total: number }
  | { state: 'ready'; data: RunData; samples: CachedSamples }
  | { state: 'error'; message: string };

interface CacheFile extends CachedSamples {
  lens: { size: number; mtimeMs: number };
}

/** The GPU, opened on first use, and its one job at a time. */
export class GpuQueue {
  private gpu: Promise<Gpu> | undefined;
  private last: Promise<unknown> = Promise.resolve();

  constructor(private open: () => Promise<Gpu>) {}

  /** Runs `job` after the jobs before it. */
  run<T>(job: (gpu: Gpu) => Promise<T>): Promise<T> {
    const next = this.last.then(async () => job(await (this.gpu ??= this.open())));
    this.last = next.catch(() => {});
    return next;
  }

  async close(): Promise<void> {
    await this.last;
    if (this.gpu) (await this.gpu).destroy();
  }
}

/** The sample results of each run, by run folder. */
export class SampleStore {
  private states = new Map<string, SampleState>();

  constructor(private queue: GpuQueue) {}

  /** The run's results now; the first call starts computing them (or reads them from the cache). */
  of(run: RunRecord): SampleState {
    const lensPath = join(run.dir, 'lens.safetensors');
    const key = `${run.dir}\0${existsSync(lensPath) ? statSync(lensPath).mtimeMs : 0}`;
    let state = this.states.get(key);
    if (!state) {
      const computing = { state: 'computing' as const, done: 0, total: 1 };
      this.states.set(key, (state = computing));
      void this.compute(run, lensPath, (done, total) => Object.assign(computing, { done, total })).then(
        (ready) => this.states.set(key, ready),
        (e: Error) => this.states.set(key, { state: 'error', message: e.message }),
      );
    }
    return state;
  }

  /** Resolves once the run's results are ready or failed. */
  async settled(run: RunRecord): Promise<SampleState> {
    for (;;) {
      const s = this.of(run);
      if (s.state !== 'computing') return s;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async compute(run: RunRecord, lensPath: string, progress: (done: number, total: number) => void): Promise<SampleState> {
    if (!existsSync(lensPath)) throw new Error(`${lensPath}: no lens yet (the run has not finished an epoch)`);
    const data = await loadRunData(run);
    const stat = statSync(lensPath);
    const cachePath = join(run.dir, VIEW_CACHE, 'samples.json');
    const cached = readCache(cachePath, stat, data.test.count);
    if (cached) return { state: 'ready', data, samples: cached };
    const s = run.config.settings;
    const { results } = await this.queue.run((gpu) =>
      evaluateSamples(gpu, data.head, lensPath, data.test, 256, () => {}, { kl: s.loss === 'kl', finalNormed: Boolean(s.finalNormed), firstTarget: s.targets === 'first' }, progress),
    );
    const samples = { loss: Array.from(results.loss), rank: Array.from(results.rank), top1: Array.from(results.top1) };
    mkdirSync(join(run.dir, VIEW_CACHE), { recursive: true });
    writeFileAtomic(cachePath, JSON.stringify({ lens: { size: stat.size, mtimeMs: stat.mtimeMs }, ...samples } satisfies CacheFile));
    return { state: 'ready', data, samples };
  }
}

function readCache(path: string, lens: { size: number; mtimeMs: number }, count: number): CachedSamples | undefined {
  try {
    const c = JSON.parse(readFileSync(path, 'utf8')) as CacheFile;
    const same = c.lens.size === lens.size && c.lens.mtimeMs === lens.mtimeMs && c.loss.length === count;
    return same ? { loss: c.loss, rank: c.rank, top1: c.top1 } : undefined;
  } catch {
    return undefined;
  }
}
