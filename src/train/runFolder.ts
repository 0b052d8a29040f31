// The rules of a run's folder: which files make a run, never replacing another run's results
// unless asked to, clearing what a run killed while writing left behind, and what an earlier
// session of a resumed run recorded.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../shared/errors.ts';

export const METRICS_FILE = 'metrics.json';
/** The files that make a run; an output folder holding any of them holds a run. */
export const RUN_FILES = ['lens.safetensors', 'checkpoint.safetensors', METRICS_FILE, 'config.json'];
/** What a finished run writes, for its last line. */
export const RESULT_FILES = ['lens.safetensors', METRICS_FILE, 'config.json', 'report.md', 'heatmap.svg', 'curves.svg'];

/** Refuses a folder that already holds a run, unless the run is resumed or replaced (before anything is allocated). */
export function checkRunFolder(out: string, o: { resume: boolean; overwrite?: boolean }): void {
  const checkpoint = join(out, 'checkpoint.safetensors');
  if (o.resume && !existsSync(checkpoint)) throw new InputError(`${out}: no checkpoint.safetensors to resume from`);
  if (!o.resume && !o.overwrite && RUN_FILES.some((f) => existsSync(join(out, f)))) {
    throw new InputError(`${out} already holds a run: pass --resume to continue it, --overwrite to replace it, or choose another --out`);
  }
}

/** Makes the folder ready once the run is sure to start: an old run's files removed with --overwrite, and temporary files of a killed write. */
export function prepareRunFolder(out: string, o: { resume: boolean; overwrite?: boolean }): void {
  mkdirSync(out, { recursive: true });
  if (o.overwrite && !o.resume) for (const f of RUN_FILES) rmSync(join(out, f), { force: true });
  // Temporary files of a run that was killed while writing (the files they were for are whole).
  for (const f of readdirSync(out)) if (RUN_FILES.some((r) => f.startsWith(`${r}.tmp-`))) rmSync(join(out, f), { force: true });
}

/** The training time earlier sessions of a resumed run recorded. */
export function previousTrainSeconds(out: string): number {
  try {
    return Number(JSON.parse(readFileSync(join(out, METRICS_FILE), 'utf8')).train_seconds) || 0;
  } catch {
    return 0;
  }
}
