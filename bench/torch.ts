// PyTorch side by side: bench/torch_step.py takes the same steps in PyTorch fp32 eager on this
// machine (CUDA if it has it, else the CPU, where numpy also times our GEMMs' shapes), after
// our figures so the two never share the hardware.
import { spawnSync } from 'node:child_process';
import type { Row } from './harness.ts';
import type { StepRow } from './steps.ts';

export interface TorchResult {
  torch: string;
  numpy: string;
  device: string;
  /** Threads PyTorch ran with, the BLAS it was built with, and the CPU. */
  threads: number;
  blas: string;
  cpu: string;
  cuda: boolean;
  steps: { preset: string; medianMs: number; spreadMs: [number, number] }[];
  gemm: { name: string; medianMs: number; gflops: number }[];
}

const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';

/** Runs bench/torch_step.py; its progress goes to our stderr, its JSON comes back. */
export function runTorch(cfg: object, log: (line: string) => void): TorchResult | { skipped: string } {
  log(`\nPyTorch side by side (${PYTHON} bench/torch_step.py)…`);
  const script = new URL('./torch_step.py', import.meta.url).pathname;
  const r = spawnSync(PYTHON, [script, JSON.stringify(cfg)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 24 });
  if (r.error) return { skipped: `${PYTHON}: ${r.error.message}` };
  if (r.status !== 0) {
    const lines = r.stderr.trim().split('\n');
    return { skipped: `${PYTHON} exited ${r.status}: ${lines[lines.length - 1] ?? ''} (install python3-torch and python3-numpy, or set PYTHON)` };
  }
  process.stderr.write(r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchResult;
}

/** Ours against PyTorch, step by step, and our GEMM variants against numpy's. */
export function printSideBySide(t: TorchResult, steps: StepRow[], rows: Row[], adapterName: string, log: (line: string) => void): void {
  log(`PyTorch ${t.torch} fp32 eager on ${t.device} (${t.cuda ? '' : `${t.cpu}, `}BLAS ${t.blas}): the same step (shapes, groups, AdamW, clipping)`);
  // Medians and each side's fastest step: on a shared CPU PyTorch's steps vary several-fold within a row.
  log('step                 |    ours ms | PyTorch ms | PyTorch spread ms | ours / PyTorch (median)  | fastest / fastest');
  log('---------------------+------------+------------+-------------------+--------------------------+------------------');
  for (const p of t.steps) {
    const ours = steps.find((s) => s.preset === p.preset)!;
    const ratio = ours.medianMs / p.medianMs;
    const best = ours.spreadMs[0] / p.spreadMs[0];
    const spread = `${p.spreadMs[0].toFixed(0)}–${p.spreadMs[1].toFixed(0)}`;
    const says = `${ratio.toFixed(2).padStart(6)} (${ratio < 1 ? `${(1 / ratio).toFixed(1)}× faster` : `${ratio.toFixed(1)}× slower`})`;
    log(`${p.preset.padEnd(20)} | ${ours.medianMs.toFixed(2).padStart(10)} | ${p.medianMs.toFixed(2).padStart(10)} | ${spread.padStart(17)} | ${says.padEnd(24)} | ${best.toFixed(2).padStart(6)}`);
  }
  if (t.gemm.length === 0) return;
  log('');
  log(`GEMMs at the lite step's shapes: ours on ${adapterName} against numpy ${t.numpy} (OpenBLAS) on the CPU`);
  log('GEMM                         | ours GFLOP/s | numpy GFLOP/s | ours / numpy');
  log('-----------------------------+--------------+---------------+-------------');
  for (const g of t.gemm) {
    // Every variant of ours (e.g. `translator forward · tiled` and `· gemv`) against numpy's one.
    for (const ours of rows.filter((r) => r.name.startsWith(g.name))) {
      log(`${ours.name.padEnd(28)} | ${ours.gflops.toFixed(2).padStart(12)} | ${g.gflops.toFixed(2).padStart(13)} | ${(ours.gflops / g.gflops).toFixed(3).padStart(11)}`);
    }
  }
}
