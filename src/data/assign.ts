// Targets from chain-of-thought tokens (contract, "Assigning chain-of-thought tokens to
// positions"): each problem's T tokens are split over the P latent positions by normalised
// weights w, position p taking tokens [b_p, b_{p+1}) with b_p = floor(T · Σ_{q<p} w_q + 0.5)
// (b_0 = 0, b_P = T; uniform: equal weights). `first` makes the chunk's first token the
// target, `all` every token of the chunk, equally weighted. A sample whose chunk is empty has
// no target and is left out. Done once on the host, at load time.
import { MAX_TARGETS } from '../ops/crossEntropy.ts';
import { subset, type Dataset } from './dataset.ts';
import { InputError } from './errors.ts';

export type Assignment = { kind: 'uniform' } | { kind: 'weights'; weights: number[] };
export type TargetMode = 'first' | 'all';

/** `uniform` or `weights:w0,w1,…` (non-negative, positive sum). */
export function parseAssignment(text: string): Assignment {
  if (text === 'uniform') return { kind: 'uniform' };
  const m = /^weights:(.+)$/.exec(text);
  if (!m) throw new InputError(`--assign: expected 'uniform' or 'weights:w0,w1,…', got '${text}'`);
  const weights = m[1]!.split(',').map((s) => Number(s.trim()));
  if (weights.some((w) => !Number.isFinite(w) || w < 0)) throw new InputError(`--assign: weights must be non-negative numbers, got '${m[1]}'`);
  if (!(weights.reduce((a, b) => a + b, 0) > 0)) throw new InputError(`--assign: the weights must have a positive sum, got '${m[1]}'`);
  return { kind: 'weights', weights };
}

export function describeAssignment(a: Assignment): string {
  return a.kind === 'uniform' ? 'uniform' : `weights:${a.weights.join(',')}`;
}

/** The chunk boundaries b_0 … b_P of T tokens split by (unnormalised) weights. */
export function chunkBounds(T: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  const bounds = [0];
  let cumulative = 0;
  for (let p = 1; p < weights.length; p++) {
    cumulative += weights[p - 1]! / sum;
    bounds.push(Math.floor(T * cumulative + 0.5));
  }
  bounds.push(T);
  return bounds;
}

/** The weights of `a` for P positions (uniform: P ones); a list of the wrong length is an error. */
export function positionWeights(a: Assignment, P: number): number[] {
  if (a.kind === 'uniform') return new Array(P).fill(1);
  if (a.weights.length !== P) {
    throw new InputError(`--assign: ${a.weights.length} weights given, but the data has ${P} positions (0 … ${P - 1}): give one weight per position`);
  }
  return a.weights;
}

/**
 * Every sample's targets from its problem's chain of thought. Returns the samples that have
 * a target (in their order) and how many were left out with an empty chunk.
 */
export function assignTargets(ds: Dataset, a: Assignment, mode: TargetMode, P: number): { data: Dataset; dropped: number } {
  if (!ds.cot) throw new InputError(`${ds.source}: --assign needs the tensors 'cot' and 'cot_example' (each problem's chain-of-thought tokens)`);
  if (!ds.example) throw new InputError(`${ds.source}: --assign needs 'example' (each sample's problem id) to find its chain of thought`);
  const { T, tokens, example: cotExample } = ds.cot;
  const w = positionWeights(a, P);
  const rowOf = new Map<number, number>();
  cotExample.forEach((id, i) => rowOf.set(id, i));
  const chunks: number[][] = [];
  const keep: number[] = [];
  const boundsOf = new Map<number, { toks: number[]; bounds: number[] }>();
  for (let i = 0; i < ds.count; i++) {
    const id = ds.example[i]!;
    let problem = boundsOf.get(id);
    if (!problem) {
      const row = rowOf.get(id);
      if (row === undefined) throw new InputError(`${ds.source}: example[${i}] = ${id} has no row in 'cot_example'`);
      const toks = Array.from(tokens.subarray(row * T, (row + 1) * T)).filter((t) => t >= 0);
      problem = { toks, bounds: chunkBounds(toks.length, w) };
      boundsOf.set(id, problem);
    }
    const p = ds.position[i]!;
    if (p >= P) throw new InputError(`${ds.source}: position[${i}] = ${p}, but --assign has weights for positions 0 … ${P - 1}`);
    const chunk = problem.toks.slice(problem.bounds[p], problem.bounds[p + 1]);
    if (chunk.length === 0) continue;
    keep.push(i);
    chunks.push(mode === 'first' ? chunk.slice(0, 1) : chunk);
  }
  if (keep.length === 0) throw new InputError(`${ds.source}: --assign ${describeAssignment(a)} leaves no sample a target (every chunk is empty)`);
  const K = chunks.reduce((m, c) => Math.max(m, c.length), 0);
  if (K > MAX_TARGETS) {
    throw new InputError(`${ds.source}: --assign ${describeAssignment(a)} gives a position a chunk of ${K} tokens; at most ${MAX_TARGETS} targets a sample are supported (use --targets first)`);
  }
  const kept = subset({ ...ds, multi: undefined }, keep);
  const target = Int32Array.from(chunks, (c) => c[0]!);
  let multi: Dataset['multi'];
  if (K > 1) {
    const ids = new Int32Array(keep.length * K).fill(-1);
    const weights = new Float32Array(keep.length * K);
    chunks.forEach((c, r) => c.forEach((t, k) => ((ids[r * K + k] = t), (weights[r * K + k] = 1 / c.length))));
    multi = { K, ids, weights };
  }
  return { data: { ...kept, target, multi }, dropped: ds.count - keep.length };
}

/** Chunk lengths per position an assignment gives (for `inspect`): min, mean, max. */
export function chunkStats(ds: Dataset, a: Assignment, P: number): { position: number; min: number; mean: number; max: number; empty: number }[] {
  if (!ds.cot) return [];
  const { T, tokens } = ds.cot;
  const w = positionWeights(a, P);
  const lengths: number[][] = Array.from({ length: P }, () => []);
  for (let row = 0; row < ds.cot.example.length; row++) {
    const n = tokens.subarray(row * T, (row + 1) * T).filter((t) => t >= 0).length;
    const b = chunkBounds(n, w);
    for (let p = 0; p < P; p++) lengths[p]!.push(b[p + 1]! - b[p]!);
  }
  return lengths.map((ls, position) => ({
    position,
    min: ls.reduce((x, y) => Math.min(x, y), Infinity),
    mean: ls.reduce((x, y) => x + y, 0) / Math.max(1, ls.length),
    max: ls.reduce((x, y) => Math.max(x, y), 0),
    empty: ls.filter((n) => n === 0).length,
  }));
}

/**
 * The targets a run trains on: derived from the chain of thought (`assign`; `targets`
 * defaults to first, the seed's rule), or the data's own: all of a row's `targets` (the
 * default where the data has them) or the first only. `mode` is undefined for data with one
 * target a sample and no assignment.
 */
export function prepareTargets(
  train: Dataset,
  test: Dataset,
  o: { assign?: string; targets?: TargetMode },
): { train: Dataset; test: Dataset; mode?: TargetMode; dropped?: { train: number; test: number } } {
  if (o.assign) {
    const assignment = parseAssignment(o.assign);
    const mode = o.targets ?? 'first';
    const P = [train.position, test.position].reduce((m, a) => a.reduce((x, p) => Math.max(x, p), m), 0) + 1;
    const a = assignTargets(train, assignment, mode, P);
    const b = assignTargets(test, assignment, mode, P);
    return { train: a.data, test: b.data, mode, dropped: { train: a.dropped, test: b.dropped } };
  }
  if (train.multi || test.multi) {
    const mode = o.targets ?? 'all';
    const keep = (ds: Dataset) => (mode === 'first' ? { ...ds, multi: undefined } : ds);
    return { train: keep(train), test: keep(test), mode };
  }
  if (o.targets === 'all') throw new InputError(`--targets all: the data has one target a sample (no 'targets' tensor, no --assign)`);
  return { train, test, mode: o.targets };
}
