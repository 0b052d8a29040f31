// npm run bench:table [-- --docs]
//
// Renders the latest bench result of each device (and each shape: the seed's and --quick)
// in bench/results/ as markdown: the device's measured peaks, every kernel against its
// roofline, whole steps, and PyTorch side by side where it ran. With --docs it replaces
// the section between docs/bench.md's `<!-- bench:begin -->` and `<!-- bench:end -->` lines.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeChoices, type Family, type KernelChoices } from '../src/lens/kernels.ts';
import { fmtBytes } from '../src/shared/constants.ts';
import type { HostEncode } from './hostEncode.ts';
import { writeFileAtomic } from '../src/shared/files.ts';

/** An evaluation batch's figures; `position`: the lens's position unembedding mode. */
interface Evaluation { rows: number; presentGroups: number; batchMs: number; spreadMs: [number, number]; seedTestSetS: number; position?: string }

interface Result {
  date: string;
  device: { name: string };
  timing: string;
  shape: { d: number; V: number; B: number; layers: number; positions: number };
  repeat: number;
  versions: Record<string, string>;
  peaks: { copyGBps: number; fmaGFlops: number };
  kernels: { name: string; medianMs: number; spreadMs: [number, number]; gflops: number; gbps: number; roofline: number; candidate?: { family: Family; name: string } }[];
  steps: { preset: string; groups: number; presentGroups: number; medianMs: number; spreadMs?: [number, number]; stepsPerS: number; epochS: number; memory: number; floorMs?: number; kernels?: KernelChoices }[];
  hostEncode?: HostEncode;
  evaluation?: Evaluation;
  /** The lite lens with a position unembedding (results from before it was timed have none). */
  positionEvaluation?: Evaluation;
  pytorch?: { skipped: string } | {
    torch: string;
    numpy: string;
    device: string;
    /** Recorded since PyTorch is given every core: threads, BLAS, CPU model. */
    threads?: number;
    blas?: string;
    cpu?: string;
    steps: { preset: string; medianMs: number; spreadMs?: [number, number] }[];
    gemm: { name: string; gflops: number }[];
  };
}

const dir = new URL('./results/', import.meta.url).pathname;
const latest = new Map<string, Result>();
for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const r = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Result;
  const key = `${r.device.name}\u0000${r.shape.d}×${r.shape.V}`;
  const seen = latest.get(key);
  if (!seen || seen.date <= r.date) latest.set(key, r);
}

const md = [...latest.values()]
  .sort((a, b) => a.device.name.localeCompare(b.device.name) || b.shape.d - a.shape.d)
  .map(render)
  .join('\n');

if (process.argv.includes('--docs')) {
  const readme = new URL('../docs/bench.md', import.meta.url).pathname;
  const text = readFileSync(readme, 'utf8');
  const begin = '<!-- bench:begin -->\n';
  const end = '<!-- bench:end -->';
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) {
    console.error(`docs/bench.md has no ${begin.trim()} … ${end} section`);
    process.exit(1);
  }
  writeFileAtomic(readme, text.slice(0, i + begin.length) + md + text.slice(j));
  console.log(`docs/bench.md: ${latest.size} bench tables`);
} else process.stdout.write(md);

function render(r: Result): string {
  const s = r.shape;
  const out: string[] = [];
  out.push(`#### ${r.device.name}: d ${s.d.toLocaleString('en-US')}, V ${s.V.toLocaleString('en-US')}, batch ${s.B} (${r.date})`);
  out.push('');
  out.push(
    `Peaks measured in the same run: ${r.peaks.copyGBps.toFixed(1)} GB/s streaming copy, ${r.peaks.fmaGFlops.toFixed(1)} GFLOP/s f32 FMA. ` +
      `Median of ${r.repeat} runs, ${r.timing === 'timestamp' ? 'GPU timestamps' : 'wall clock'}; webgpu ${r.versions.webgpu}, Node ${r.versions.node}.`,
  );
  out.push('');
  // The candidates the tuned lite step ran (results from before the tuner have none).
  const picks = r.steps.find((st) => st.preset === 'lite' && st.kernels)?.kernels;
  out.push(`| kernel | ms | GFLOP/s | GB/s | roofline |${picks ? ' lite step |' : ''}`);
  out.push(`|---|---:|---:|---:|---:|${picks ? ':---:|' : ''}`);
  for (const k of r.kernels) {
    const pick = picks ? ` ${k.candidate && picks[k.candidate.family] === k.candidate.name ? 'tuned pick' : ''} |` : '';
    out.push(`| ${k.name} | ${fix(k.medianMs)} | ${k.gflops.toFixed(1)} | ${k.gbps.toFixed(1)} | ${(100 * k.roofline).toFixed(1)} % |${pick}`);
  }
  out.push('');
  if (r.hostEncode) {
    const h = r.hostEncode;
    out.push(
      `Host encode of a lite step (encode + finish, no submit; median of ${h.batches} random batches): ${fix(h.medianMs)} ms, ` +
        `and per step ${h.buffers.toFixed(1)} buffers and ${h.bindGroups.toFixed(1)} bind groups created, ${h.writeBuffers.toFixed(1)} writeBuffer, ` +
        `${h.copies.toFixed(1)} copies, ${h.dispatches.toFixed(1)} dispatches.`,
    );
    out.push('');
  }
  for (const e of [r.evaluation, r.positionEvaluation]) {
    if (!e) continue;
    out.push(
      `Evaluation (the lite lens${e.position ? ` with the ${e.position} position unembedding` : ''} for inference: forward, loss, top-k; a batch of ${e.rows} over ${e.presentGroups} groups): ` +
        `${fix(e.batchMs)} ms a batch; 19,200 samples (as many as the seed's test set) ${epoch(e.seedTestSetS)}.`,
    );
    out.push('');
  }
  const torch = r.pytorch && !('skipped' in r.pytorch) ? r.pytorch : undefined;
  // The traffic floor (results from before it was measured have none).
  const floor = r.steps.some((st) => st.floorMs !== undefined);
  out.push(`| step | groups (in batch) | ms |${floor ? ' × floor |' : ''} steps/s | 76,800-sample epoch | GPU memory |${torch ? ' PyTorch ms (spread) | ours / PyTorch | fastest / fastest |' : ''}`);
  out.push(`|---|---:|---:|${floor ? '---:|' : ''}---:|---:|---:|${torch ? '---:|---:|---:|' : ''}`);
  for (const st of r.steps) {
    const pt = torch?.steps.find((p) => p.preset === st.preset);
    const ptSpread = pt?.spreadMs ? ` (${fix(pt.spreadMs[0])}–${fix(pt.spreadMs[1])})` : '';
    // Each side's fastest step beside the medians: on a shared CPU PyTorch's steps vary several-fold within a row.
    const best = pt?.spreadMs && st.spreadMs ? (st.spreadMs[0] / pt.spreadMs[0]).toFixed(2) : '–';
    const side = torch ? (pt ? ` ${fix(pt.medianMs)}${ptSpread} | ${(st.medianMs / pt.medianMs).toFixed(2)} | ${best} |` : ' – | – | – |') : '';
    const xFloor = floor ? ` ${st.floorMs ? (st.medianMs / st.floorMs).toFixed(1) : '–'} |` : '';
    out.push(
      `| ${st.preset} | ${st.groups} (${st.presentGroups}) | ${fix(st.medianMs)} |${xFloor} ${st.stepsPerS.toFixed(1)} | ${epoch(st.epochS)} | ${fmtBytes(st.memory)} |${side}`,
    );
  }
  if (floor) out.push('', '× floor: the median over the bytes the step must move (present translators, and the present positions\' unembedding blocks, with their AdamW moments at 24 bytes a parameter; the head read twice; the logits) at this device\'s measured copy bandwidth.');
  // The kernels each step ran (results from before the tuner have none).
  const kernelRows = r.steps.filter((st) => st.kernels);
  if (kernelRows.length) {
    out.push('', 'Kernels each step ran (the tuner\'s pick, or the built-in ones where the row says so):', '');
    for (const st of kernelRows) out.push(`- ${st.preset}: ${describeChoices(st.kernels!)}`);
  }
  out.push('');
  if (torch) {
    const machine = [torch.cpu, torch.blas && `BLAS ${torch.blas}`].filter(Boolean).join(', ');
    out.push(`PyTorch ${torch.torch} fp32 eager on ${torch.device}${machine ? ` (${machine})` : ''}, the same step (shapes, groups, AdamW, clipping).`);
    if (torch.gemm.length) {
      out.push('');
      out.push(`| GEMM (lite step's shapes) | ours GFLOP/s | numpy ${torch.numpy} (OpenBLAS) GFLOP/s | ours / numpy |`);
      out.push('|---|---:|---:|---:|');
      for (const g of torch.gemm) {
        for (const k of r.kernels.filter((k) => k.name.startsWith(g.name))) {
          out.push(`| ${k.name} | ${k.gflops.toFixed(2)} | ${g.gflops.toFixed(1)} | ${(k.gflops / g.gflops).toFixed(3)} |`);
        }
      }
    }
  } else out.push(`PyTorch side by side: ${r.pytorch && 'skipped' in r.pytorch ? r.pytorch.skipped : 'not run'}.`);
  out.push('');
  return out.join('\n');
}

function fix(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3);
}

function epoch(seconds: number): string {
  return seconds >= 3600 ? `${(seconds / 3600).toFixed(1)} h` : seconds >= 60 ? `${(seconds / 60).toFixed(1)} min` : `${seconds.toFixed(1)} s`;
}
