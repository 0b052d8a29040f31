// `dump` and `export-tuned-lens`: the researcher's Python scripts (scripts/dump_hidden_states.py,
// scripts/export_tuned_lens.py, shipped in the package) run with the user's Python, their own
// flags passed through. A Python without torch is said in one line before anything runs.
import { spawnSync } from 'node:child_process';
import { InputError } from '../shared/errors.ts';

/** The Python the scripts run with: PYTHON, else python3 on the PATH. */
const python = () => process.env.PYTHON || 'python3';

/** Runs scripts/`script` with `args`, its output as it comes; returns its exit status. */
export function runPythonScript(command: string, script: string, args: string[], needs: string): number {
  const py = python();
  const check = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
  if (check.error || check.status !== 0) {
    const why = check.error ? `${py} cannot be run (${(check.error as NodeJS.ErrnoException).code ?? check.error.message})` : `${py} has no torch`;
    throw new InputError(`lensgpu ${command} runs ${script} with ${py}, and ${why}: install ${needs} for it, or set PYTHON to a Python that has them`);
  }
  const path = new URL(`../../scripts/${script}`, import.meta.url).pathname;
  const r = spawnSync(py, [path, ...args], { stdio: 'inherit' });
  return r.status ?? 1;
}
