// The rules of a run's folder: one writer at a time (a lock), which files make a run, never
// replacing another run's results unless asked to, clearing what a run killed while writing
// left behind, and what an earlier session of a resumed run recorded.
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile } from '../data/safetensors.ts';
import { InputError } from '../shared/errors.ts';

export const METRICS_FILE = 'metrics.json';
/** The files that make a run; an output folder holding any of them holds a run. */
export const RUN_FILES = ['lens.safetensors', 'checkpoint.safetensors', METRICS_FILE, 'config.json'];
/** Where `view` keeps what it computed of a run (its per-sample results): a run's own folder. */
export const VIEW_CACHE = 'view-cache';
/** What a finished run writes, for its last line. */
export const RESULT_FILES = ['lens.safetensors', METRICS_FILE, 'config.json', 'report.md', 'heatmap.svg', 'curves.svg'];

/**
 * Refuses a folder that already holds a run, unless the run is resumed or replaced, and a
 * folder that holds anything else (a model folder, data files), always (before anything is
 * allocated).
 */
export function checkRunFolder(out: string, o: { resume: boolean; overwrite?: boolean }): void {
  const foreign = foreignEntries(out);
  if (foreign.length) {
    throw new InputError(`${out} holds files that are not a lensgpu run's (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}): choose another --out (nothing there was changed)`);
  }
  const checkpoint = join(out, 'checkpoint.safetensors');
  if (o.resume && !existsSync(checkpoint)) throw new InputError(`${out}: no checkpoint.safetensors to resume from`);
  if (!o.resume && !o.overwrite && RUN_FILES.some((f) => existsSync(join(out, f)))) {
    throw new InputError(`${out} already holds a run: pass --resume to continue it, --overwrite to replace it, or choose another --out`);
  }
}

/** Makes the folder ready once the run is sure to start: an old run's files removed with --overwrite (only those: checkRunFolder refused anything else), and temporary files of a killed write. */
export function prepareRunFolder(out: string, o: { resume: boolean; overwrite?: boolean }): void {
  mkdirSync(out, { recursive: true });
  if (o.overwrite && !o.resume) for (const f of [...RUN_FILES, VIEW_CACHE]) rmSync(join(out, f), { force: true, recursive: true });
  for (const f of readdirSync(out)) if (isTemporary(f)) rmSync(join(out, f), { force: true });
}

/** Temporary files of a run that was killed while writing (the files they were for are whole). */
function isTemporary(name: string): boolean {
  return RESULT_FILES.concat(RUN_FILES).some((r) => name.startsWith(`${r}.tmp-`));
}

/** A lock another writer is creating this moment (see tryCreate): its own to remove. */
function isLockInMaking(name: string): boolean {
  return name.startsWith(`${LOCK_FILE}.`);
}

/**
 * What in `out` this program did not write: entries that are none of a run's files, and run
 * files' names that hold something else (a model's config.json, a lens of another format).
 */
function foreignEntries(out: string): string[] {
  if (!existsSync(out)) return [];
  const own = new Set([...RUN_FILES, ...RESULT_FILES, LOCK_FILE, VIEW_CACHE]);
  return readdirSync(out).filter((name) => (own.has(name) ? !isOurs(join(out, name), name) : !isTemporary(name) && !isLockInMaking(name)));
}

/** Whether a file named as one of ours is ours: our JSON schema, our safetensors format. */
function isOurs(path: string, name: string): boolean {
  try {
    if (name === 'config.json') return 'settings' in JSON.parse(readFileSync(path, 'utf8'));
    if (name === METRICS_FILE) return Array.isArray(JSON.parse(readFileSync(path, 'utf8')).epochs);
    if (name.endsWith('.safetensors')) return ['lensgpu', 'lensgpu-checkpoint'].includes(readSafetensorsFormat(path));
    return true; // the report, the pictures, the lock: what only a run writes under these names
  } catch {
    return false;
  }
}

/** The lock file a writer holds in its folder (train's run folder, sweep's folder) for its whole life. */
export const LOCK_FILE = '.lensgpu.lock';

interface LockHolder {
  pid: number;
  host: string;
  started: string;
}

/**
 * The one writer of a folder: the lock is created atomically, whole, with its holder's pid,
 * host and start time, so a second train or sweep on the same `--out` is refused with one line
 * naming the holder, even when both start within a moment. A lock whose process is gone (on
 * this host) is taken over, with a note. Readers (eval, compare, reports) never need it.
 */
export class FolderLock {
  private constructor(
    private path: string,
    /** The folder, when this lock made it (removed again on release if still empty). */
    private madeFolder: string | undefined,
  ) {}

  static acquire(folder: string, note: (line: string) => void = (l) => process.stderr.write(l + '\n')): FolderLock {
    const made = existsSync(folder) ? undefined : folder;
    mkdirSync(folder, { recursive: true });
    const path = join(folder, LOCK_FILE);
    const me: LockHolder = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
    for (let attempt = 0; attempt < 2; attempt++) {
      if (tryCreate(path, me)) return new FolderLock(path, made);
      const holder = readHolder(path);
      if (holder && (holder.host !== me.host || alive(holder.pid))) {
        throw new InputError(`${folder} is being written by another lensgpu (pid ${holder.pid} on ${holder.host}, since ${holder.started}): wait for it to finish, or choose another --out`);
      }
      note(`${folder}: taking over the lock of a lensgpu that is gone (${holder ? `pid ${holder.pid}, since ${holder.started}` : 'an unreadable lock file'})`);
      rmSync(path, { force: true });
    }
    throw new InputError(`${folder}: another lensgpu took the folder's lock at the same moment; choose another --out`);
  }

  release(): void {
    if (readHolder(this.path)?.pid === process.pid) rmSync(this.path, { force: true });
    if (this.madeFolder && readdirSync(this.madeFolder).length === 0) rmdirSync(this.madeFolder);
  }
}

/**
 * Creates the lock file with `holder` unless it exists: written whole under a name of its own,
 * then hard-linked to the lock's name (atomic, and refused where the lock exists), so no other
 * writer ever reads a lock file half written.
 */
function tryCreate(path: string, holder: LockHolder): boolean {
  const mine = `${path}.${process.pid}`;
  writeFileSync(mine, JSON.stringify(holder) + '\n');
  try {
    linkSync(mine, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    rmSync(mine, { force: true });
  }
}

function readHolder(path: string): LockHolder | undefined {
  try {
    const h = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
    return Number.isInteger(h.pid) && typeof h.host === 'string' ? h : undefined;
  } catch {
    return undefined;
  }
}

/** Whether process `pid` exists on this host (signal 0 checks without signalling). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A safetensors file's `format` metadata ('' where it has none). */
function readSafetensorsFormat(path: string): string {
  const file = SafetensorsFile.open(path);
  try {
    return file.metadata.format ?? '';
  } finally {
    file.close();
  }
}

/** The training time earlier sessions of a resumed run recorded. */
export function previousTrainSeconds(out: string): number {
  try {
    return Number(JSON.parse(readFileSync(join(out, METRICS_FILE), 'utf8')).train_seconds) || 0;
  } catch {
    return 0;
  }
}
