// A Python with torch for the tests of the project's Python scripts: PYTHON, Debian's
// /usr/bin/python3 or python3 on PATH, the first that imports torch; undefined where none does.
import { spawnSync } from 'node:child_process';

export const torchPython = [process.env.PYTHON, '/usr/bin/python3', 'python3'].find((p) => p && spawnSync(p, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0);
