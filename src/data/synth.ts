// Planted-structure data: hidden states that a translator can decode, seeded and
// reproducible, for the built-in demo, benchmarks and trying the tool without a model.
//
// Each problem e has at each position p a target token t and a clean final state
// y* = a·Û_t + noise (Û_t: U's row t scaled to unit RMS), shared by every layer. Layer l sees
//     x = (I + A_lp B_lpᵀ) y* + c_lp + σ_lp ξ
// a low-rank distortion and an offset per (layer, position), plus noise that is larger at
// position 0 and in early layers. The right translator undoes the distortion and the offset;
// the identity lens (W = 0, b = 0) is distracted by them, so training has something to find.
//
// Each problem also has a chain of thought (`cot`, 8 to 16 tokens) built around its targets:
// split by the weights COT_SPLIT (more tokens to positions 2–3), position p's chunk starts
// with its target. So `--assign weights:1,1,2,2,1,1` recovers the planted targets exactly,
// and the uniform split mostly does not. `final_hidden` is the clean state y* (the model's
// own last hidden state), and `example` the problem id. None of them changes the hidden
// states or targets above.
import { chunkBounds } from './assign.ts';
import { hash32, uniformF32, uniformInt } from './counterRng.ts';
import type { Dataset } from './dataset.ts';

/** The split the chains of thought are planted with (one weight per position, cycled). */
export const COT_SPLIT = [1, 1, 2, 2, 1, 1];

export interface SynthShape {
  layers: number;
  positions: number;
  d: number;
  V: number;
  /** Training samples per layer (spread evenly over the positions). */
  trainPerLayer: number;
  testPerLayer: number;
  seed: number;
}

export const DEMO_SHAPE: SynthShape = { layers: 16, positions: 6, d: 256, V: 4096, trainPerLayer: 192, testPerLayer: 48, seed: 1 };
/** The seed experiment's shape (LLaMA-1B CODI on GSM8K). */
export const SEED_SHAPE: SynthShape = { layers: 16, positions: 6, d: 2048, V: 32000, trainPerLayer: 4800, testPerLayer: 1200, seed: 1 };

const RANK = 4;

/** Strength of each planted part, relative to the unit-RMS signal Û_t. */
export const PLANT = {
  /** Noise in the clean state, shared by every layer: no lens can remove it. */
  meaningNoise: 5,
  /** Offset c per (layer, position), uniform in ±offset: the bias learns it. */
  offset: 5,
  /** Entries of the rank-4 factors A, B, times 1/√d. */
  distortion: 2,
  /** Per-sample noise at the last layer and later positions (×2 at layer 0, ×1.6 at position 0). */
  layerNoise: 1.5,
};

export interface SynthHead {
  d: number;
  V: number;
  eps: number;
  gamma: Float32Array;
  U: Float32Array;
}

export function synthHead(shape: SynthShape): SynthHead {
  const { d, V, seed } = shape;
  const U = uniformF32(mix(seed, 1), V * d, Math.sqrt(3) / Math.sqrt(d)); // rows of norm ≈ 1
  const gamma = uniformF32(mix(seed, 2), d, 0.2).map((g) => 1 + g);
  return { d, V, eps: 1e-5, gamma, U };
}

/** The train and test sets: rows ordered by layer, then problem, then position. */
export function synthData(shape: SynthShape, head: SynthHead): { train: Dataset; test: Dataset } {
  const { layers: L, positions: P, d, V, seed } = shape;
  if (shape.trainPerLayer % P || shape.testPerLayer % P) {
    throw new RangeError(`samples per layer must be multiples of the ${P} positions`);
  }
  const trainProblems = shape.trainPerLayer / P;
  const testProblems = shape.testPerLayer / P;
  // The planted distortion of each (layer, position): rank-4 A Bᵀ and an offset c.
  const A: Float32Array[] = [];
  const B: Float32Array[] = [];
  const c: Float32Array[] = [];
  const sigma: number[] = [];
  for (let l = 0; l < L; l++) {
    for (let p = 0; p < P; p++) {
      const k = l * P + p;
      A.push(uniformF32(mix(seed, 10, k), d * RANK, PLANT.distortion / Math.sqrt(d)));
      B.push(uniformF32(mix(seed, 11, k), d * RANK, PLANT.distortion / Math.sqrt(d)));
      c.push(uniformF32(mix(seed, 12, k), d, PLANT.offset));
      sigma.push(PLANT.layerNoise * (1 + (L - 1 - l) / L) * (p === 0 ? 1.6 : 1));
    }
  }
  const make = (split: number, problems: number): Dataset => {
    const N = L * problems * P;
    const hidden = new Float32Array(N * d);
    const finalHidden = new Float32Array(N * d);
    const layer = new Int32Array(N);
    const position = new Int32Array(N);
    const target = new Int32Array(N);
    const example = new Int32Array(N);
    const targets = uniformInt(mix(seed, 20, split), problems * P, V);
    const clean = new Float32Array(problems * P * d);
    for (let q = 0; q < problems * P; q++) {
      const t = targets[q]!;
      const u = head.U.subarray(t * d, (t + 1) * d);
      let ss = 0;
      for (let j = 0; j < d; j++) ss += u[j]! * u[j]!;
      const scale = 1 / Math.sqrt(ss / d);
      const noise = uniformF32(mix(seed, 21, split), d, PLANT.meaningNoise, q * d);
      for (let j = 0; j < d; j++) clean[q * d + j] = u[j]! * scale + noise[j]!;
    }
    let row = 0;
    const proj = new Float64Array(RANK);
    for (let l = 0; l < L; l++) {
      for (let e = 0; e < problems; e++) {
        for (let p = 0; p < P; p++, row++) {
          const k = l * P + p;
          const q = e * P + p;
          const y = clean.subarray(q * d, (q + 1) * d);
          const a = A[k]!;
          const b = B[k]!;
          proj.fill(0);
          for (let j = 0; j < d; j++) for (let r = 0; r < RANK; r++) proj[r] += b[j * RANK + r]! * y[j]!;
          const xi = uniformF32(mix(seed, 22, split), d, sigma[k]! * Math.sqrt(3), row * d);
          const x = hidden.subarray(row * d, (row + 1) * d);
          for (let j = 0; j < d; j++) {
            let low = 0;
            for (let r = 0; r < RANK; r++) low += a[j * RANK + r]! * proj[r]!;
            x[j] = y[j]! + low + c[k]![j]! + xi[j]!;
          }
          layer[row] = l;
          position[row] = p;
          target[row] = targets[q]!;
          example[row] = split * 1_000_000 + e;
          finalHidden.set(y, row * d);
        }
      }
    }
    return {
      source: `synthetic ${split ? 'test' : 'train'} set (seed ${seed})`,
      count: N,
      d,
      hidden,
      layer,
      position,
      target,
      finalHidden,
      example,
      cot: chainsOfThought(split, problems, targets),
    };
  };
  /** Problem e's chain of thought: chunks split by COT_SPLIT, each starting with its target. */
  const chainsOfThought = (split: number, problems: number, targets: Int32Array) => {
    const T = 16;
    const tokens = new Int32Array(problems * T).fill(-1);
    const lengths = uniformInt(mix(seed, 30, split), problems, T - 8 + 1);
    const w = Array.from({ length: P }, (_, p) => COT_SPLIT[p % COT_SPLIT.length]!);
    for (let e = 0; e < problems; e++) {
      const n = 8 + lengths[e]!;
      const bounds = chunkBounds(n, w);
      const filler = uniformInt(mix(seed, 31 + 10 * split, e), n, V);
      for (let i = 0; i < n; i++) tokens[e * T + i] = filler[i]!;
      for (let p = 0; p < P; p++) if (bounds[p + 1]! > bounds[p]!) tokens[e * T + bounds[p]!] = targets[e * P + p]!;
    }
    return { T, tokens, example: Int32Array.from({ length: problems }, (_, e) => split * 1_000_000 + e) };
  };
  return { train: make(0, trainProblems), test: make(1, testProblems) };
}

/** A stream id for counterRng from the run seed and a purpose. */
function mix(seed: number, purpose: number, index = 0): number {
  return hash32((hash32(seed >>> 0) ^ Math.imul(purpose, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
}
