// npm run bench [-- --quick] [--repeat N] [--presets P] [--backend B] [--adapter A] [--tune M] [--no-torch] [--no-extensions] [--no-save]
//
// Times every kernel family in isolation and whole training steps, at the seed's shape
// (d 2,048, V 32,000, batch 32 over the lite preset's groups) or, with --quick, a small one.
// Each op family has its file here (translator.ts, rmsnorm.ts, unembed.ts, crossEntropy.ts,
// topk.ts, adamw.ts, positionUnembed.ts) that lists its variants, checks each against its
// TypeScript reference, then times it bound as the lens binds it; this file assembles them.
// Each figure is the median of N timed runs (GPU timestamps where the device has them, else
// wall clock around onSubmittedWorkDone) with its spread, GFLOP/s and GB/s, and the percent
// of the roofline built from this device's peaks, measured here by microbenchmarks
// (a streaming copy and an FMA loop) in the same run. Then steps.ts times whole steps and an
// evaluation batch, torch.ts the same step in PyTorch (ours / PyTorch), and hostEncode.ts the
// host's time to encode a step and the GPU objects each step creates. Results go to stdout
// and bench/results/<adapter>-<date>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { uniformInt } from '../src/data/counterRng.ts';
import { Gpu } from '../src/gpu/device.ts';
import { makeBatch, rowRange } from '../src/lens/batch.ts';
import { fmtBytes, TUNE_MODES } from '../src/shared/constants.ts';
import { DEFAULT_CRITICAL_LAYERS, groupTable, type PresetName } from '../src/lens/preset.ts';
import { benchAdamW } from './adamw.ts';
import { benchCrossEntropy, K4 } from './crossEntropy.ts';
import { Harness, range, type Row } from './harness.ts';
import { describeHostEncode, measureHostEncode } from './hostEncode.ts';
import { benchPositionUnembed } from './positionUnembed.ts';
import { benchRmsNorm } from './rmsnorm.ts';
import { benchEvaluation, benchSteps, BUILT_IN_KERNELS, EPOCH_SAMPLES, stepConfigs, type StepRow } from './steps.ts';
import { benchTopK } from './topk.ts';
import { printSideBySide, runTorch, type TorchResult } from './torch.ts';
import { benchTranslator } from './translator.ts';
import { benchUnembed } from './unembed.ts';

const opts = new Command()
  .option('--quick', 'a small shape (d 256, V 4096) instead of the seed’s (d 2048, V 32000)')
  .option('--repeat <n>', 'timed runs per figure', (v) => Math.max(1, Number(v)), 0)
  .option('--presets <list>', 'presets whose whole step is timed', 'baseline,lite,full')
  .option('--backend <name>', 'Dawn backend')
  .option('--adapter <name>', 'adapter whose name contains this text')
  .option('--no-torch', 'do not run the PyTorch side by side (bench/torch_step.py)')
  .option('--no-extensions', 'skip the steps with the seed\'s next experiments (targets ×4, KL, position bias and full)')
  .option('--no-save', 'do not write bench/results/*.json')
  .addOption(new Option('--tune <mode>', "the steps' kernels: auto (the tuning cache, else timed), fresh (timed again), off (built-in)").choices(TUNE_MODES).default('auto'))
  .parse()
  .opts();

const quick = Boolean(opts.quick);
const shape = quick ? { d: 256, V: 4096, B: 32, layers: 16, positions: 6 } : { d: 2048, V: 32000, B: 32, layers: 16, positions: 6 };
const repeat = opts.repeat || (quick ? 10 : 5);
/** PyTorch's CPU step varies several-fold from one step to the next on a shared 2-core machine: more runs, a steadier median. */
const TORCH_MIN_REPEAT = 9;

const gpu = await Gpu.open({ backend: opts.backend, adapter: opts.adapter });
const log = (s: string) => process.stdout.write(s + '\n');
const h = new Harness(gpu, shape, repeat, log, opts.tune);
log(`device: ${gpu.adapter.name} (${gpu.adapter.vendor || 'unknown vendor'}); timing: ${h.timer.kind === 'timestamp' ? 'GPU timestamps' : 'wall clock'}`);
log(`shape: d ${shape.d}, V ${shape.V}, batch ${shape.B}, ${shape.layers} layers × ${shape.positions} positions; ${repeat} runs per figure`);
await h.measurePeaks(quick);
log(`peaks measured here: ${(h.peaks.bw / 1e9).toFixed(1)} GB/s streaming copy, ${(h.peaks.flops / 1e9).toFixed(1)} GFLOP/s f32 FMA`);

// ---- kernels at the step's shapes: a lite batch of B random (layer, position) cells ----
const table = groupTable('lite', range(shape.layers), range(shape.positions));
const cells = uniformInt(7, shape.B, shape.layers * shape.positions);
const batch = makeBatch(rowRange(0, shape.B), { group: Int32Array.from(cells, (k) => table.groupOf(Math.floor(k / shape.positions), k % shape.positions)) });
await benchTranslator(h, batch, table.groups.length);
await benchRmsNorm(h);
await benchUnembed(h);
await benchCrossEntropy(h);
await benchTopK(h);
await benchAdamW(h, batch.ranges, table.groups.length);
await benchPositionUnembed(h);
printKernels(h.rows);

// ---- whole steps, an evaluation batch, the host's share of a step ----
const steps = await benchSteps(h, stepConfigs(String(opts.presets).split(',') as PresetName[], Boolean(opts.extensions)));
printSteps(steps);
const evaluation = await gpu.checked('bench: evaluation', () => benchEvaluation(h));
// With the extensions, also the lite lens with the full position unembedding (ΔU_p z at M 256).
const positionEvaluation = opts.extensions ? await gpu.checked('bench: evaluation (position full)', () => benchEvaluation(h, 'full')) : undefined;
log('');
for (const e of [evaluation, positionEvaluation]) {
  if (!e) continue;
  log(
    `evaluation (lite${e.position ? ` · position ${e.position}` : ''}, inference lens: forward, loss, top-k; batches of ${e.rows} over ${e.presentGroups} groups): ` +
      `${e.batchMs.toFixed(0)} ms a batch (${e.spreadMs[0].toFixed(0)}–${e.spreadMs[1].toFixed(0)}); ` +
      `19,200 samples (as many as the seed's test set) ${e.seedTestSetS.toFixed(1)} s`,
  );
}
const hostEncode = await gpu.checked('bench: host encode', () => measureHostEncode(gpu, shape));
log('');
log(describeHostEncode(hostEncode, shape));

// ---- PyTorch side by side ----
let torch: TorchResult | { skipped: string } = { skipped: 'not run (--no-torch)' };
if (opts.torch) {
  torch = runTorch({ ...shape, critical: DEFAULT_CRITICAL_LAYERS, presets: steps.filter((s) => !s.preset.endsWith(BUILT_IN_KERNELS)).map((s) => s.preset), repeat: Math.max(repeat, TORCH_MIN_REPEAT), K: K4 }, log);
  if ('skipped' in torch) log(`\nPyTorch side by side skipped: ${torch.skipped}`);
  else printSideBySide(torch, steps, h.rows, gpu.adapter.name, log);
}
if (opts.save) await save();
h.destroy();
gpu.destroy();

function printKernels(rows: Row[]): void {
  log('');
  log('kernel                       |  median ms | spread ms        |  GFLOP/s |    GB/s | roofline');
  log('-----------------------------+------------+------------------+----------+---------+---------');
  for (const r of rows) {
    log(
      `${r.name.padEnd(28)} | ${r.medianMs.toFixed(3).padStart(10)} | ${`${r.spreadMs[0].toFixed(3)}–${r.spreadMs[1].toFixed(3)}`.padStart(16)} | ` +
        `${r.gflops.toFixed(1).padStart(8)} | ${r.gbps.toFixed(1).padStart(7)} | ${(100 * r.roofline).toFixed(1).padStart(6)} %`,
    );
  }
}

function printSteps(rows: StepRow[]): void {
  log('');
  log(`whole step (forward, backward, clip, AdamW; wall clock incl. submit), batch ${shape.B}; epoch = ${EPOCH_SAMPLES.toLocaleString('en-US')} samples`);
  log(`traffic floor: the bytes a step must move at ${(h.peaks.bw / 1e9).toFixed(1)} GB/s (this device's copy peak); × floor = median / floor`);
  log('step                 | groups (in batch) |  median ms | spread ms        | steps/s | epoch s | floor ms | × floor | GPU memory');
  log('---------------------+-------------------+------------+------------------+---------+---------+----------+---------+-----------');
  for (const s of rows) {
    log(
      `${s.preset.padEnd(20)} | ${`${s.groups} (${s.presentGroups})`.padStart(17)} | ${s.medianMs.toFixed(2).padStart(10)} | ` +
        `${`${s.spreadMs[0].toFixed(2)}–${s.spreadMs[1].toFixed(2)}`.padStart(16)} | ${s.stepsPerS.toFixed(1).padStart(7)} | ${s.epochS.toFixed(1).padStart(7)} | ` +
        `${s.floorMs.toFixed(2).padStart(8)} | ${(s.medianMs / s.floorMs).toFixed(1).padStart(7)} | ${fmtBytes(s.memory)}`,
    );
  }
}

async function save(): Promise<void> {
  const dir = new URL('./results/', import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  const name = `${gpu.adapter.name.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40)}-${date}${quick ? '-quick' : ''}.json`;
  const file = join(dir, name);
  const versions = { node: process.version, webgpu: (await import('webgpu/package.json', { with: { type: 'json' } })).default.version };
  const result = { date, device: gpu.adapter, timing: h.timer.kind, shape, repeat, versions, peaks: { copyGBps: h.peaks.bw / 1e9, fmaGFlops: h.peaks.flops / 1e9 }, kernels: h.rows, steps, hostEncode, evaluation, positionEvaluation, pytorch: torch };
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  log(`\nwrote ${file}`);
}
