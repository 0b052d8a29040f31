// The runs `view` serves: the run folders given on the command line, and the runs inside the
// folders given that hold runs (a sweep, runs/). Found again on every request, so that a sweep's
// new runs appear; each run is read as it is now (a run still training shows its epochs so far).
// A run is named by its folder (with its parent's name where two share one): the only names a
// URL can reach, so no request can name a path of its own.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { readRun, type RunRecord } from '../report/run.ts';
import { InputError } from '../shared/errors.ts';

export interface RunEntry {
  /** The run's name in URLs and tables. */
  id: string;
  dir: string;
}

/** A run folder: one train wrote, or is writing (config.json first, metrics.json after an epoch). */
export const isRunFolder = (dir: string) => existsSync(join(dir, 'config.json')) || existsSync(join(dir, 'metrics.json'));

/** The runs under `paths`, in the order given, folders' runs by name; paths that hold none are an error. */
export function findRuns(paths: readonly string[]): RunEntry[] {
  const dirs: string[] = [];
  for (const path of paths) {
    const dir = resolve(path);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InputError(`${path}: no such folder`);
    if (isRunFolder(dir)) dirs.push(dir);
    else {
      const inside = readdirSync(dir).sort().map((name) => join(dir, name)).filter((d) => statSync(d).isDirectory() && isRunFolder(d));
      if (!inside.length) throw new InputError(`${path}: neither a run folder nor a folder holding runs (no config.json or metrics.json in it or its folders)`);
      dirs.push(...inside);
    }
  }
  const unique = [...new Set(dirs)];
  const taken = new Map<string, number>();
  for (const d of unique) taken.set(basename(d), (taken.get(basename(d)) ?? 0) + 1);
  return unique.map((dir) => ({ id: taken.get(basename(dir))! > 1 ? `${basename(dirname(dir))}-${basename(dir)}` : basename(dir), dir }));
}

/** A run as its folder holds it now, or why it cannot be read (shown on its row). */
export function readEntry(entry: RunEntry): { run: RunRecord } | { error: string } {
  try {
    return { run: readRun(entry.dir) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}
