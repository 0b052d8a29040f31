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
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { assignTargets, chunkBounds } from './assign.ts';
import { hash32, uniformF32, uniformInt } from './counterRng.ts';
import type { Dataset } from './dataset.ts';
import { writeSafetensors, type TensorOut } from './safetensors.ts';
import { Rows } from './rows.ts';
import { MAX_TARGETS, type HalfDtype, type HeadDtype } from '../shared/constants.ts';
import { f16Bits } from '../shared/f16.ts';
import type { Head } from './head.ts';
import { InputError } from '../shared/errors.ts';

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

/** The synthetic head and its data sets as a run takes them: U kept as f32 or as f16 bits. */
export function synthRunData(shape: SynthShape, dtype: HeadDtype): { head: Head; train: Dataset; test: Dataset } {
  const h = synthHead(shape);
  const U = dtype === 'f16' ? Uint16Array.from(h.U, f16Bits) : h.U;
  const head: Head = { source: `synthetic head (seed ${shape.seed})`, d: h.d, V: h.V, eps: h.eps, gamma: h.gamma, dtype, U };
  return { head, ...synthData(shape, h) };
}

/** The planted distortion of each (layer, position) k = l·P + p: rank-4 A Bᵀ, an offset c, a noise level σ. */
interface Plant {
  A: Float32Array[];
  B: Float32Array[];
  c: Float32Array[];
  sigma: number[];
}

/** The train and test sets: rows ordered by layer, then problem, then position. */
export function synthData(shape: SynthShape, head: SynthHead): { train: Dataset; test: Dataset } {
  const { positions: P } = shape;
  if (shape.trainPerLayer % P || shape.testPerLayer % P) {
    throw new InputError(`samples per layer (${shape.trainPerLayer}, ${shape.testPerLayer}) must be multiples of --positions ${P}`);
  }
  const plant = plantOf(shape);
  return { train: synthSet(shape, head, plant, 0, shape.trainPerLayer / P), test: synthSet(shape, head, plant, 1, shape.testPerLayer / P) };
}

function plantOf(shape: SynthShape): Plant {
  const { layers: L, positions: P, d, seed } = shape;
  const plant: Plant = { A: [], B: [], c: [], sigma: [] };
  for (let l = 0; l < L; l++) {
    for (let p = 0; p < P; p++) {
      const k = l * P + p;
      plant.A.push(uniformF32(mix(seed, 10, k), d * RANK, PLANT.distortion / Math.sqrt(d)));
      plant.B.push(uniformF32(mix(seed, 11, k), d * RANK, PLANT.distortion / Math.sqrt(d)));
      plant.c.push(uniformF32(mix(seed, 12, k), d, PLANT.offset));
      plant.sigma.push(PLANT.layerNoise * (1 + (L - 1 - l) / L) * (p === 0 ? 1.6 : 1));
    }
  }
  return plant;
}

/** Each (problem, position)'s clean state: its target's unembedding row at unit RMS, plus meaning noise. */
function cleanStates(shape: SynthShape, head: SynthHead, split: number, targets: Int32Array): Float32Array {
  const { d, seed } = shape;
  const clean = new Float32Array(targets.length * d);
  for (let q = 0; q < targets.length; q++) {
    const t = targets[q]!;
    const u = head.U.subarray(t * d, (t + 1) * d);
    let ss = 0;
    for (let j = 0; j < d; j++) ss += u[j]! * u[j]!;
    const scale = 1 / Math.sqrt(ss / d);
    const noise = uniformF32(mix(seed, 21, split), d, PLANT.meaningNoise, q * d);
    for (let j = 0; j < d; j++) clean[q * d + j] = u[j]! * scale + noise[j]!;
  }
  return clean;
}

/** One split's data set: every layer distorts each problem's clean states by its (layer, position) plant. */
function synthSet(shape: SynthShape, head: SynthHead, plant: Plant, split: number, problems: number): Dataset {
  const { layers: L, positions: P, d, V, seed } = shape;
  const N = L * problems * P;
  const [hidden, finalHidden] = [new Float32Array(N * d), new Float32Array(N * d)];
  const ds = {
    source: `synthetic ${split ? 'test' : 'train'} set (seed ${seed})`,
    count: N,
    d,
    layer: new Int32Array(N),
    position: new Int32Array(N),
    target: new Int32Array(N),
    example: new Int32Array(N),
  };
  const targets = uniformInt(mix(seed, 20, split), problems * P, V);
  const clean = cleanStates(shape, head, split, targets);
  let row = 0;
  const proj = new Float64Array(RANK);
  for (let l = 0; l < L; l++) {
    for (let e = 0; e < problems; e++) {
      for (let p = 0; p < P; p++, row++) {
        const k = l * P + p;
        const q = e * P + p;
        const y = clean.subarray(q * d, (q + 1) * d);
        const [a, b, c] = [plant.A[k]!, plant.B[k]!, plant.c[k]!];
        proj.fill(0);
        for (let j = 0; j < d; j++) for (let r = 0; r < RANK; r++) proj[r] += b[j * RANK + r]! * y[j]!;
        const xi = uniformF32(mix(seed, 22, split), d, plant.sigma[k]! * Math.sqrt(3), row * d);
        const x = hidden.subarray(row * d, (row + 1) * d);
        for (let j = 0; j < d; j++) {
          let low = 0;
          for (let r = 0; r < RANK; r++) low += a[j * RANK + r]! * proj[r]!;
          x[j] = y[j]! + low + c[j]! + xi[j]!;
        }
        ds.layer[row] = l;
        ds.position[row] = p;
        ds.target[row] = targets[q]!;
        ds.example[row] = split * 1_000_000 + e;
        finalHidden.set(y, row * d);
      }
    }
  }
  return { ...ds, hidden: Rows.of(hidden, d), finalHidden: Rows.of(finalHidden, d), cot: chainsOfThought(shape, split, problems, targets) };
}

/** Problem e's chain of thought: chunks split by COT_SPLIT, each starting with its target. */
function chainsOfThought(shape: SynthShape, split: number, problems: number, targets: Int32Array) {
  const { positions: P, V, seed } = shape;
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
}

/** What `lensgpu synth` writes besides hidden, layer, position and target. */
export interface SynthExtras {
  /** Up to this many targets a sample (`targets`, `target_weights`): its chain-of-thought chunk's tokens, equally weighted; 0 for none. */
  multi: number;
  /** `final_hidden`: the clean state each sample's hidden states distort. */
  final: boolean;
  /** `cot`, `cot_example` and `example`. */
  cot: boolean;
}

/** train.safetensors, test.safetensors and head.safetensors of `shape` in `dir`; returns their paths. */
export function writeSynthFiles(dir: string, shape: SynthShape, extras: SynthExtras): string[] {
  if (extras.multi > MAX_TARGETS) throw new InputError(`--multi ${extras.multi}: at most ${MAX_TARGETS} targets a sample`);
  const head = synthHead(shape);
  const { train, test } = synthData(shape, head);
  mkdirSync(dir, { recursive: true });
  const meta = { synth: JSON.stringify(shape) };
  const files = ['train', 'test', 'head'].map((n) => join(dir, `${n}.safetensors`));
  writeSafetensors(files[0]!, synthTensors(train, shape, extras), meta);
  writeSafetensors(files[1]!, synthTensors(test, shape, extras), meta);
  const headTensors: TensorOut[] = [
    { name: 'norm.weight', dtype: 'F32', shape: [head.d], data: head.gamma },
    { name: 'lm_head.weight', dtype: 'F32', shape: [head.V, head.d], data: head.U },
  ];
  writeSafetensors(files[2]!, headTensors, { norm_eps: String(head.eps), ...meta });
  return files;
}

/** The file dtype of hidden states kept as f32 or as 16-bit bits. */
const stateDtype = (half?: HalfDtype) => (half === 'bf16' ? 'BF16' : half === 'f16' ? 'F16' : 'F32');

/** A synthetic data set's tensors as the data format names them. */
function synthTensors(ds: Dataset, shape: SynthShape, extras: SynthExtras): TensorOut[] {
  const out: TensorOut[] = [
    { name: 'hidden', dtype: stateDtype(ds.hiddenHalf), shape: [ds.count, ds.d], data: ds.hidden.flat() },
    { name: 'layer', dtype: 'I32', shape: [ds.count], data: ds.layer },
    { name: 'position', dtype: 'I32', shape: [ds.count], data: ds.position },
    { name: 'target', dtype: 'I32', shape: [ds.count], data: ds.target },
  ];
  if (extras.multi) {
    const { ids, weights } = chunkTargets(ds, shape, extras.multi);
    out.push({ name: 'targets', dtype: 'I32', shape: [ds.count, extras.multi], data: ids }, { name: 'target_weights', dtype: 'F32', shape: [ds.count, extras.multi], data: weights });
  }
  if (extras.final) out.push({ name: 'final_hidden', dtype: stateDtype(ds.finalHiddenHalf), shape: [ds.count, ds.d], data: ds.finalHidden!.flat('the final hidden states') });
  if (extras.cot) {
    const c = ds.cot!;
    out.push(
      { name: 'example', dtype: 'I32', shape: [ds.count], data: ds.example! },
      { name: 'cot', dtype: 'I32', shape: [c.example.length, c.T], data: c.tokens },
      { name: 'cot_example', dtype: 'I32', shape: [c.example.length], data: c.example },
    );
  }
  return out;
}

/** Up to K tokens of each sample's chain-of-thought chunk (the planted split), equally weighted, −1 padding. */
function chunkTargets(ds: Dataset, shape: SynthShape, K: number): { ids: Int32Array; weights: Float32Array } {
  const split = Array.from({ length: shape.positions }, (_, p) => COT_SPLIT[p % COT_SPLIT.length]!);
  const { data: all } = assignTargets(ds, { kind: 'weights', weights: split }, 'all', shape.positions);
  if (all.count !== ds.count) throw new InputError(`--multi: with ${shape.positions} positions some chains of thought leave a position without tokens; use fewer --positions`);
  const ids = new Int32Array(ds.count * K).fill(-1);
  const weights = new Float32Array(ds.count * K);
  const m = all.multi ?? { targetsPerRow: 1, ids: all.target, weights: new Float32Array(all.count).fill(1) };
  for (let r = 0; r < ds.count; r++) {
    const n = Math.min(K, m.targetsPerRow - m.ids.subarray(r * m.targetsPerRow, (r + 1) * m.targetsPerRow).filter((t) => t < 0).length);
    for (let k = 0; k < n; k++) [ids[r * K + k], weights[r * K + k]] = [m.ids[r * m.targetsPerRow + k]!, 1 / n];
  }
  return { ids, weights };
}

/** A stream id for counterRng from the run seed and a purpose. */
function mix(seed: number, purpose: number, index = 0): number {
  return hash32((hash32(seed >>> 0) ^ Math.imul(purpose, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
}
