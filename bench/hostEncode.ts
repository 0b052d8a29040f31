// The host's share of a training step: the median time to encode and finish one lite step
// (no submit) over many random batches, and what each step makes and records: GPU buffers
// and bind groups created, writeBuffer calls, buffer-to-buffer copies and dispatches. A GPU
// step should take about a millisecond, so the host path is a performance figure of its own.
//
// Run alone: node --import tsx bench/hostEncode.ts [--quick]   (npm run bench prints it too)
import { uniformF32, uniformInt } from '../src/data/counterRng.ts';
import { Rows } from '../src/data/rows.ts';
import { Gpu } from '../src/gpu/device.ts';
import { countObjects, type ObjectCounts } from '../src/gpu/objectCounter.ts';
import { makeBatch } from '../src/lens/batch.ts';
import { Lens } from '../src/lens/lens.ts';
import { DataOnGpu, HeadOnGpu } from '../src/lens/onGpu.ts';
import { groupTable } from '../src/lens/preset.ts';
import { deviceTraits, lensShape } from '../src/lens/shape.ts';
import { SEED_ADAMW } from '../src/ops/adamw.ts';

/** Per step, after the first: objects created and commands recorded. */
export interface HostEncode extends Omit<ObjectCounts, 'live' | 'liveBytes' | 'peakBytes'> {
  batches: number;
  medianMs: number;
}

export interface HostEncodeShape {
  d: number;
  V: number;
  B: number;
  layers: number;
  positions: number;
}

/** Encodes `batches` lite steps over random rows of a data set of 8 batches, none submitted. */
export async function measureHostEncode(gpu: Gpu, shape: HostEncodeShape, batches = 100): Promise<HostEncode> {
  const { d, V, B } = shape;
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const table = groupTable('lite', range(shape.layers), range(shape.positions));
  const N = 8 * B;
  const cells = uniformInt(21, N, shape.layers * shape.positions);
  const group = Int32Array.from(cells, (k) => table.groupOf(Math.floor(k / shape.positions), k % shape.positions));
  const head = new HeadOnGpu(gpu, { d, V, eps: 1e-5, dtype: 'f32', gamma: uniformF32(3, d, 1), U: uniformF32(6, V * d, 0.02) });
  const none = new Int32Array(N);
  const data = new DataOnGpu(gpu, 'host encode', { source: 'bench', count: N, d, hidden: Rows.of(uniformF32(9, N * d, 1), d), layer: none, position: none, target: Int32Array.from(uniformInt(8, N, V)) });
  const lens = await Lens.create(gpu, head, lensShape(deviceTraits(gpu), head, { numGroups: table.groups.length, maxBatch: B, adamw: SEED_ADAMW }), [data]);
  try {
    const { counts, stop } = countObjects(gpu);
    try {
      const times: number[] = [];
      let after: typeof counts | undefined;
      for (let i = 0; i <= batches; i++) {
        // Random rows, as a shuffled epoch gives them.
        const order = uniformInt(1000 + i, N, 1 << 30);
        const rows = Uint32Array.from(range(N).sort((a, b) => order[a]! - order[b]!).slice(0, B));
        const batch = makeBatch(rows, { group });
        const t0 = performance.now();
        const enc = gpu.device.createCommandEncoder({ label: 'host encode' });
        lens.encodeTrainStep(enc, data, batch);
        enc.finish();
        times.push(performance.now() - t0);
        if (i === 0) after = { ...counts }; // the first step may make what later ones reuse
      }
      times.shift();
      times.sort((a, b) => a - b);
      const per = (k: keyof typeof counts) => (counts[k] - after![k]) / batches;
      return {
        batches,
        medianMs: times[Math.floor(times.length / 2)]!,
        buffers: per('buffers'),
        bindGroups: per('bindGroups'),
        writeBuffers: per('writeBuffers'),
        copies: per('copies'),
        dispatches: per('dispatches'),
      };
    } finally {
      stop();
    }
  } finally {
    lens.destroy();
    data.destroy();
    head.destroy();
  }
}

export function describeHostEncode(h: HostEncode, shape: HostEncodeShape): string {
  return (
    `host encode, lite step (d ${shape.d}, V ${shape.V}, batch ${shape.B}; ${h.batches} random batches, encode + finish, no submit): ` +
    `median ${h.medianMs.toFixed(2)} ms; per step ${h.buffers.toFixed(1)} buffers and ${h.bindGroups.toFixed(1)} bind groups created, ` +
    `${h.writeBuffers.toFixed(1)} writeBuffer, ${h.copies.toFixed(1)} copies, ${h.dispatches.toFixed(1)} dispatches`
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  const shape = quick ? { d: 256, V: 4096, B: 32, layers: 16, positions: 6 } : { d: 2048, V: 32000, B: 32, layers: 16, positions: 6 };
  const gpu = await Gpu.open({});
  try {
    console.log(describeHostEncode(await measureHostEncode(gpu, shape), shape));
  } finally {
    gpu.destroy();
  }
}
