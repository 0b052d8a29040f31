// Interrupted runs, as a user interrupts them: Ctrl-C (SIGINT) or SIGTERM stops after the current step with a
// checkpoint and exit status 130 or 143; `kill -9` at a random moment leaves the last checkpoint
// valid. Either way `--resume` ends with the same lens and metrics as a run never stopped.
// Ctrl-C is also typed on a pseudo-terminal into `npm run train`, where the whole process
// group (npm, sh, tsx, node) gets it and a parent relays it again: one keypress, one stop.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, cliAsync } from '../helpers/cli.ts';

const test = suite('signals');
const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-signals-'));
const common = [
  'train',
  ...['--train', join(DATA, 'train.safetensors'), '--test', join(DATA, 'test.safetensors'), '--head', join(DATA, 'head.safetensors')],
  ...['--seed', '5', '--batch-size', '24', '--epochs', '3', '--quiet'],
];
const whole = join(tmp, 'whole');

function sameRun(dir: string) {
  assert.ok(readFileSync(join(whole, 'lens.safetensors')).equals(readFileSync(join(dir, 'lens.safetensors'))), 'lens.safetensors differs');
  const metrics = (d: string) => ({ ...JSON.parse(readFileSync(join(d, 'metrics.json'), 'utf8')), train_seconds: undefined });
  assert.equal(metrics(dir), metrics(whole));
}

test('the uninterrupted run', () => {
  const r = cli(...common, '--out', whole);
  assert.is(r.status, 0, r.stderr);
});

for (const [signal, status] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
  test(`${signal}: stops after the current step, writes a checkpoint, exits ${status}; --resume finishes the same run`, async () => {
    const out = join(tmp, signal);
    const run = cliAsync(...common, '--out', out);
    while (!run.stdout().includes('Epoch |')) {
      if (run.child.exitCode !== null) break;
      await sleep(10);
    }
    run.child.kill(signal);
    const r = await run.done;
    assert.is(r.status, status, `exit status ${r.status} (${r.signal})\n${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${signal}: stopping after the current step and writing a checkpoint`));
    assert.match(r.stdout, new RegExp(`stopped by ${signal}; checkpoint \\((epoch \\d+, step \\d+|after epoch \\d+)\\) written to .*checkpoint\\.safetensors: continue with --resume`));
    // SIGTERM's run resumes from the folder alone (the checkpoint records the run when the first epoch had not ended).
    const resumed = signal === 'SIGTERM' ? cli('train', '--out', out, '--resume', '--epochs', '3', '--quiet') : cli(...common, '--out', out, '--resume');
    assert.is(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stdout, /resuming after epoch \d/);
    sameRun(out);
  });
}

/** `npm run train -- ARGS` on a pseudo-terminal (util-linux `script`); one Ctrl-C typed once the table starts. */
async function ctrlCOnTerminal(args: string[]): Promise<{ status: number | null; output: string }> {
  const command = ['npm', 'run', 'train', '--', ...args].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: new URL('../../', import.meta.url).pathname, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c) => (output += c));
  child.stderr.on('data', (c) => (output += c));
  const done = new Promise<number | null>((resolve) => child.on('close', (status) => resolve(status)));
  while (!output.includes('Epoch |') && child.exitCode === null) await sleep(10);
  child.stdin.write('\x03');
  const status = await done;
  child.stdin.destroy();
  return { status, output };
}

test('one Ctrl-C typed into `npm run train` on a terminal stops it with a checkpoint (3 tries); --resume finishes the same run', async () => {
  for (let i = 0; i < 3; i++) {
    const out = join(tmp, `terminal-${i}`);
    const r = await ctrlCOnTerminal([...common.slice(1), '--out', out]);
    assert.is(r.status, 130, `try ${i + 1}: exit status ${r.status}\n${r.output}`);
    assert.not.match(r.output, /quitting now/, `try ${i + 1}: one Ctrl-C was taken for two`);
    assert.match(r.output, /stopped by SIGINT; checkpoint \((epoch \d+, step \d+|after epoch \d+)\) written/, `try ${i + 1}:\n${r.output}`);
    const resumed = cli(...common, '--out', out, '--resume');
    assert.is(resumed.status, 0, resumed.stderr);
    sameRun(out);
  }
});

test('a second Ctrl-C a moment later quits at once, the last checkpoint unchanged', async () => {
  const out = join(tmp, 'twice');
  const run = cliAsync(...common, '--out', out);
  while (!run.stdout().includes('Epoch |') && run.child.exitCode === null) await sleep(10);
  run.child.kill('SIGINT');
  await sleep(1100);
  if (run.child.exitCode === null) run.child.kill('SIGINT');
  const r = await run.done;
  assert.is(r.status, 130, r.stderr);
  assert.match(r.stderr + r.stdout, /quitting now|stopped by SIGINT/);
});

test('kill -9 just after the first checkpoint: the checkpoint is valid and --resume finishes the same run', async () => {
  const out = join(tmp, 'killed');
  const run = cliAsync(...common, '--out', out);
  while (!existsSync(join(out, 'checkpoint.safetensors')) && run.child.exitCode === null) await sleep(5);
  run.child.kill('SIGKILL');
  const r = await run.done;
  assert.is(r.signal, 'SIGKILL', `the run ended before it was killed (status ${r.status})`);
  const resumed = cli(...common, '--out', out, '--resume');
  assert.is(resumed.status, 0, resumed.stderr);
  sameRun(out);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
