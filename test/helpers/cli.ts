// The command line as a user runs it: a child process, its exit status, stdout, and stderr
// without Dawn's start-up warnings (which come from native code and are harmless).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;
const MAIN = join(ROOT, 'src/cli/main.ts');
const ENV = { ...process.env, LENSGPU_PRINT_WGSL: '' };

export function cleanStderr(text: string): string {
  return text
    .split('\n')
    .filter((l) => l && !l.includes('artificially reduced') && !l.startsWith(' - While') && !l.includes('maxDynamic'))
    .join('\n');
}

export function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return cliWith({}, ...args);
}

/** As cli(), with `env` over the test environment. */
export function cliWith(env: Record<string, string>, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...ENV, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: cleanStderr(r.stderr) };
}

/** Starts the command line without waiting; `done` resolves with its exit status and output. */
export function cliAsync(...args: string[]): { child: ChildProcess; stdout: () => string; done: Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env: ENV });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c) => (stdout += c));
  child.stderr!.on('data', (c) => (stderr += c));
  const done = new Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr: cleanStderr(stderr) })),
  );
  return { child, stdout: () => stdout, done };
}
