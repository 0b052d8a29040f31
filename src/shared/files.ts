// Files written whole or not at all: to a temporary name, synced, renamed over the target,
// the folder synced; a crash leaves the old file or the new one, never half of either. A
// failure the user can act on (no space, a read-only or missing folder, no permission) is an
// InputError that names the file, the cause, what is intact and what to do.
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { InputError } from './errors.ts';

export function writeFileAtomic(path: string, text: string): void {
  writeAtomic(path, (fd) => writeSync(fd, text));
}

/** What to do about an I/O error, by its code; undefined for one the user cannot act on. */
const IO_ADVICE: Record<string, string> = {
  ENOSPC: 'no space left on the device: free some space, or write elsewhere',
  EDQUOT: 'the disk quota is used up: free some space, or write elsewhere',
  EROFS: 'the file system is read-only: write elsewhere',
  EACCES: 'permission denied: write elsewhere, or change the folder\'s permissions',
  EPERM: 'operation not permitted: write elsewhere, or change the folder\'s permissions',
  ENOENT: 'its folder does not exist: create it first, or write elsewhere',
  ENOTDIR: 'a part of its path is a file, not a folder',
  EISDIR: 'it is a folder',
};

/** Writes `path` atomically through `write(fd)`. */
export function writeAtomic(path: string, write: (fd: number) => void): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      write(fd);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const dir = openSync(dirname(path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch (e) {
    rmSync(tmp, { force: true });
    throw userIoError(path, e);
  }
}

/** An I/O error the user can act on as one line (the file as it was is untouched), else the error itself. */
function userIoError(path: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  const advice = code && IO_ADVICE[code];
  if (!advice) return e;
  const before = existsSync(path) ? `${path} as it was before is intact` : `nothing was written to ${path}`;
  return new InputError(`cannot write ${path}: ${advice} (${code}); ${before}`);
}
