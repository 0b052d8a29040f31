// The tuner: each op family's candidates (kernels.ts) timed on this device at a lens's shape,
// on the real head and on scratch inputs of the batch's size, the fastest kept. A trial is the
// op bound as the lens binds it; the vocabulary is cut to TUNE_VOCAB rows where the cost is
// linear in it (the unembedding, top-k), and the translators to the groups a batch holds.
import { uniformF32 } from '../data/counterRng.ts';
import { Owner } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import { OneOff } from '../gpu/stepTables.ts';
import type { Batch, GroupRange } from '../ops/groups.ts';
import { RmsNorm } from '../ops/rmsnorm.ts';
import { TOP_K, TopK } from '../ops/topk.ts';
import { Translator } from '../ops/translator.ts';
import { partialSumBytes, Unembed } from '../ops/unembed.ts';
import { candidatesOf, FAMILIES, type Family, type KernelChoices, type KernelDevice } from './kernels.ts';
import type { HeadOnGpu } from './onGpu.ts';
import type { LensShape } from './shape.ts';

/** Vocabulary rows a trial of the unembedding or top-k runs over (their cost is linear in V). */
export const TUNE_VOCAB = 4096;
/** Timings after the warm-up whose median is a candidate's time. */
const REPEATS = 3;
/** A candidate this many times slower than the best so far stops after one timing. */
const GIVE_UP = 3;

/** Times one compute pass of `encode`, in seconds (gpu/timer.ts PassTimer; tests inject one). */
export interface TrialTimer {
  time(label: string, encode: (pass: GPUComputePassEncoder) => void): Promise<number>;
}

export interface Tuning {
  choices: KernelChoices;
  /** Seconds of each timed candidate, by `family candidate`. */
  timings: Record<string, number>;
  families: number;
  candidates: number;
  seconds: number;
}

/** A candidate bound on scratch buffers: one encode runs what the lens runs of it in a step. */
interface Trial {
  encode(pass: GPUComputePassEncoder): void;
}

/** The families worth timing at this shape: more than one candidate, and run by this lens. */
export function tunedFamilies(device: KernelDevice, shape: LensShape): Family[] {
  const all = candidatesOf(device);
  const training = Boolean(shape.adamw);
  return FAMILIES.filter((f) => all[f].length > 1 && (f !== 'translatorBackward' || (training && !shape.fusedUpdate)));
}

/**
 * The fastest candidate of each family at `shape` with batches of `rows`; families not timed
 * keep shape.kernels' choice.
 */
export async function tuneKernels(gpu: Gpu, device: KernelDevice, head: HeadOnGpu, shape: LensShape, rows: number, timer: TrialTimer): Promise<Tuning> {
  const started = performance.now();
  const choices = { ...shape.kernels };
  const timings: Record<string, number> = {};
  const families = tunedFamilies(device, shape);
  let candidates = 0;
  for (const family of families) {
    let best = Infinity;
    for (const candidate of candidatesOf(device)[family]) {
      const owner = new Owner(gpu);
      try {
        const trial = await gpu.checked(`tuning ${family} ${candidate}`, () => makeTrial(gpu, owner, head, shape, rows, family, candidate));
        const t = await timeTrial(timer, `${family} ${candidate}`, trial, best);
        timings[`${family} ${candidate}`] = t;
        candidates++;
        if (t < best) [best, choices[family]] = [t, candidate as never];
      } finally {
        owner.destroy();
      }
    }
  }
  return { choices, timings, families: families.length, candidates, seconds: (performance.now() - started) / 1e3 };
}

/** A warm-up, then the median of REPEATS timings; one timing where it is GIVE_UP × the best so far. */
async function timeTrial(timer: TrialTimer, label: string, trial: Trial, best: number): Promise<number> {
  const encode = (pass: GPUComputePassEncoder) => trial.encode(pass);
  await timer.time(label, encode);
  const times = [await timer.time(label, encode)];
  if (times[0]! > GIVE_UP * best) return times[0]!;
  while (times.length < REPEATS) times.push(await timer.time(label, encode));
  return times.sort((a, b) => a - b)[REPEATS >> 1]!;
}

function makeTrial(gpu: Gpu, owner: Owner, head: HeadOnGpu, shape: LensShape, rows: number, family: Family, candidate: string): Promise<Trial> {
  switch (family) {
    case 'unembed':
      return unembedTrial(gpu, owner, head, shape, rows, candidate as KernelChoices['unembed']);
    case 'translatorForward':
    case 'translatorBackward':
      return translatorTrial(gpu, owner, shape, rows, family, candidate);
    case 'rmsnorm':
      return rmsnormTrial(gpu, owner, head, shape, rows, candidate as KernelChoices['rmsnorm']);
    case 'topk':
      return topkTrial(gpu, owner, shape, rows, candidate as KernelChoices['topk']);
  }
}

/** Every row of a batch of `rows`, no groups (the ops after the translators read rows only). */
const plainBatch = (rows: number): Batch => ({ rows: Uint32Array.from({ length: rows }, (_, i) => i), ranges: [] });

async function unembedTrial(gpu: Gpu, owner: Owner, head: HeadOnGpu, shape: LensShape, M: number, variant: KernelChoices['unembed']): Promise<Trial> {
  const { d } = shape;
  const V = Math.min(shape.V, TUNE_VOCAB);
  const op = await Unembed.create(gpu, V, d, shape.headDtype, { maxBinding: shape.maxBinding, maxBuffer: shape.maxBuffer }, variant);
  const b = {
    z: owner.upload('tune z', uniformF32(1, M * d, 1)),
    U: head.U,
    logits: owner.buffer('tune logits', M * V * 4),
    dlogits: owner.upload('tune dlogits', uniformF32(2, M * V, 1e-3)),
    dz: owner.buffer('tune dz', M * d * 4),
    partial: owner.buffer('tune partial', partialSumBytes(op.windows, M, d)),
  };
  const forward = owner.own(new OneOff(gpu, 'tune unembed logits', (t) => op.bindForward(t, b, M)));
  const backward = shape.adamw ? owner.own(new OneOff(gpu, 'tune unembed backward', (t) => op.bindBackward(t, b, M))) : undefined;
  const batch = plainBatch(M);
  return { encode: (pass) => (forward.encode(pass, batch), backward?.encode(pass, batch)) };
}

/** A batch of `rows` slots over as many groups as it can hold, the slots shared out evenly. */
function groupedBatch(rows: number, numGroups: number): { batch: Batch; groups: number } {
  const groups = Math.min(rows, numGroups);
  const ranges: GroupRange[] = [];
  for (let g = 0, first = 0; g < groups; g++) {
    const count = Math.floor(rows / groups) + (g < rows % groups ? 1 : 0);
    ranges.push({ group: g, first, count });
    first += count;
  }
  return { batch: { ...plainBatch(rows), ranges }, groups };
}

async function translatorTrial(gpu: Gpu, owner: Owner, shape: LensShape, M: number, family: 'translatorForward' | 'translatorBackward', candidate: string): Promise<Trial> {
  const { d } = shape;
  const { batch, groups } = groupedBatch(M, shape.numGroups);
  const forward = family === 'translatorForward';
  const op = await Translator.create(gpu, d, groups, {
    maxBinding: shape.maxBinding,
    ...(forward ? { forward: candidate as KernelChoices['translatorForward'] } : { backward: candidate as KernelChoices['translatorBackward'] }),
  });
  const x = owner.upload('tune x', uniformF32(3, M * d, 1));
  const blocks = owner.upload('tune params', uniformF32(4, groups * op.stride, 0.01));
  const y = owner.buffer('tune y', M * d * 4);
  const call = forward
    ? owner.own(new OneOff(gpu, 'tune translator forward', (t) => op.bindForward(t, { x, params: blocks, y }, M)))
    : owner.own(new OneOff(gpu, 'tune translator backward', (t) => op.bindBackward(t, { dy: x, x, grad: blocks }, M)));
  return { encode: (pass) => call.encode(pass, batch) };
}

async function rmsnormTrial(gpu: Gpu, owner: Owner, head: HeadOnGpu, shape: LensShape, M: number, variant: KernelChoices['rmsnorm']): Promise<Trial> {
  const { d } = shape;
  const op = await RmsNorm.create(gpu, d, head.eps, variant);
  const y = owner.upload('tune y', uniformF32(5, M * d, 1));
  const [z, dy] = [owner.buffer('tune z', M * d * 4), owner.buffer('tune dy', M * d * 4)];
  const rstd = owner.buffer('tune rstd', M * 4);
  const forward = owner.own(new OneOff(gpu, 'tune rmsnorm forward', (t) => op.bindForward(t, { y, gamma: head.gamma, z, rstd }, M)));
  const backward = shape.adamw ? owner.own(new OneOff(gpu, 'tune rmsnorm backward', (t) => op.bindBackward(t, { y, gamma: head.gamma, rstd, dz: z, dy }, M))) : undefined;
  const batch = plainBatch(M);
  return { encode: (pass) => (forward.encode(pass, batch), backward?.encode(pass, batch)) };
}

async function topkTrial(gpu: Gpu, owner: Owner, shape: LensShape, M: number, variant: KernelChoices['topk']): Promise<Trial> {
  const V = Math.min(shape.V, TUNE_VOCAB);
  const K = shape.targetsPerRow;
  const op = await TopK.create(gpu, V, K, variant);
  const b = {
    logits: owner.upload('tune logits', uniformF32(6, M * V, 4)),
    targets: owner.upload('tune targets', Uint32Array.from({ length: M * K }, (_, i) => (i * 7919) % V)),
    weights: owner.upload('tune weights', new Float32Array(M * K).fill(1 / K)),
    rank: owner.buffer('tune rank', M * 4),
    anyRank: owner.buffer('tune any rank', M * 4),
    ids: owner.buffer('tune ids', M * TOP_K * 4),
  };
  const call = owner.own(new OneOff(gpu, 'tune top-k', (t) => op.bind(t, b, M)));
  const batch = plainBatch(M);
  return { encode: (pass) => call.encode(pass, batch) };
}
