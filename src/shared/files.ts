// Files written whole or not at all: to a temporary name, synced, renamed over the target,
// the folder synced; a crash leaves the old file or the new one, never half of either.
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeFileAtomic(path: string, text: string): void {
  writeAtomic(path, (fd) => writeSync(fd, text));
}

/** Writes `path` atomically through `write(fd)`. */
export function writeAtomic(path: string, write: (fd: number) => void): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    write(fd);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
