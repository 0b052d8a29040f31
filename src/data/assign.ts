// Targets from chain-of-thought tokens (contract, "Assigning chain-of-thought tokens to
// positions"): each problem's T tokens are split over the P latent positions by normalised
// weights w, position p taking tokens [b_p, b_{p+1}) with b_p = floor(T · Σ_{q<p} w_q + 0.5)
// (b_0 = 0, b_P = T; uniform: equal weights), computed exactly. Every token of the chunk
// becomes one of the sample's targets, equally weighted: `all` trains on them all, `first` on
// the chunk's first token (the others still count for the any-k metrics). A sample whose
// chunk is empty has no target and is left out. Done once on the host, at load time.
import { MAX_TARGETS } from '../shared/constants.ts';
import { layersAndPositions, subset, type Dataset } from './dataset.ts';
import { InputError } from '../shared/errors.ts';

/** A position's weight: a decimal as typed (exact), or a number (its shortest decimal form). */
export type Weight = number | string;
export type Assignment = { kind: 'uniform' } | { kind: 'weights'; weights: Weight[] };
export type TargetMode = 'first' | 'all';

const DECIMAL = /^(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i;

/** `uniform` or `weights:w0,w1,…` (non-negative decimals, positive sum). */
export function parseAssignment(text: string): Assignment {
  if (text === 'uniform') return { kind: 'uniform' };
  const m = /^weights:(.+)$/.exec(text);
  if (!m) throw new InputError(`--assign: expected 'uniform' or 'weights:w0,w1,…', got '${text}'`);
  const weights = m[1]!.split(',').map((s) => s.trim());
  const bad = weights.find((w) => !DECIMAL.test(w) || !/\d/.test(w.split(/e/i)[0]!));
  if (bad !== undefined) throw new InputError(`--assign: weights must be non-negative decimal numbers like 0, 1 or 2.5, got '${bad}' in '${m[1]}'`);
  if (!integerWeights(weights).some((w) => w > 0n)) throw new InputError(`--assign: the weights must have a positive sum, got '${m[1]}'`);
  return { kind: 'weights', weights };
}

export function describeAssignment(a: Assignment): string {
  return a.kind === 'uniform' ? 'uniform' : `weights:${a.weights.join(',')}`;
}

/**
 * Non-negative decimal weights scaled by one power of ten to integers, exactly: a weight's
 * ratio to their sum is then an exact fraction. A number is read as its shortest decimal
 * form (String(0.1) = '0.1', the value its writer meant).
 */
export function integerWeights(weights: readonly Weight[]): bigint[] {
  const parts = weights.map((w) => {
    const m = DECIMAL.exec(typeof w === 'number' ? String(w) : w.trim());
    if (!m || typeof w === 'number' && !(w >= 0)) throw new InputError(`not a non-negative decimal weight: ${w}`);
    const fraction = m[2] ?? '';
    const scale = fraction.length - Number(m[3] ?? 0);
    const num = BigInt((m[1] ?? '') + fraction || '0');
    return scale < 0 ? { num: num * 10n ** BigInt(-scale), scale: 0 } : { num, scale };
  });
  const common = parts.reduce((s, p) => Math.max(s, p.scale), 0);
  return parts.map((p) => p.num * 10n ** BigInt(common - p.scale));
}

/**
 * The chunk boundaries b_0 … b_P of T tokens split by (unnormalised) weights, exactly:
 * b_p = floor(T · S_p / S + 1/2) = floor((2 T S_p + S) / (2 S)) in integers (S_p the sum of
 * the first p weights, S of all), so a tie rounds up as the formula says. Summing w_q / S in
 * floats instead rounds some ties down (T = 9 over 6 equal weights: 5 × (1/6) < 5/6).
 */
export function chunkBounds(T: number, weights: readonly Weight[]): number[] {
  const w = integerWeights(weights);
  const S = w.reduce((a, b) => a + b, 0n);
  const bounds = [0];
  let Sp = 0n;
  for (let p = 1; p < w.length; p++) {
    Sp += w[p - 1]!;
    bounds.push(Number((2n * BigInt(T) * Sp + S) / (2n * S)));
  }
  bounds.push(T);
  return bounds;
}

/** The weights of `a` for P positions (uniform: P ones); a list of the wrong length is an error. */
export function positionWeights(a: Assignment, P: number): Weight[] {
  if (a.kind === 'uniform') return new Array(P).fill(1);
  if (a.weights.length !== P) {
    throw new InputError(`--assign: ${a.weights.length} weights given, but the data has ${P} positions (0 … ${P - 1}): give one weight per position`);
  }
  return a.weights;
}

/**
 * Every sample's targets from its problem's chain of thought: its chunk's tokens, equally
 * weighted (`target` is the first). Returns the samples that have a target (in their order),
 * how many were left out with an empty chunk, and, with `first`, the longest chunk where it
 * is too long to keep whole for the any-k metrics (only first tokens are kept then).
 */
export function assignTargets(ds: Dataset, a: Assignment, mode: TargetMode, P: number): { data: Dataset; dropped: number; longChunk?: number } {
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
    chunks.push(chunk);
  }
  if (keep.length === 0) throw new InputError(`${ds.source}: --assign ${describeAssignment(a)} leaves no sample a target (every chunk is empty)`);
  const longest = chunks.reduce((m, c) => Math.max(m, c.length), 0);
  if (longest > MAX_TARGETS && mode === 'all') {
    throw new InputError(`${ds.source}: --assign ${describeAssignment(a)} gives a position a chunk of ${longest} tokens; at most ${MAX_TARGETS} targets a sample are supported (use --targets first)`);
  }
  // With `first`, chunks longer than the kernels take are cut to their first token: no any-k.
  const K = longest > MAX_TARGETS ? 1 : longest;
  const kept = subset({ ...ds, multi: undefined }, keep);
  const target = Int32Array.from(chunks, (c) => c[0]!);
  let multi: Dataset['multi'];
  if (K > 1) {
    const ids = new Int32Array(keep.length * K).fill(-1);
    const weights = new Float32Array(keep.length * K);
    chunks.forEach((c, r) => c.forEach((t, k) => ((ids[r * K + k] = t), (weights[r * K + k] = 1 / c.length))));
    multi = { targetsPerRow: K, ids, weights };
  }
  return { data: { ...kept, target, multi, given: layersAndPositions(ds) }, dropped: ds.count - keep.length, ...(longest > K ? { longChunk: longest } : {}) };
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
 * default where the data has them) or the first only. With `first` a row keeps its other
 * targets for the any-k metrics; the loss reads the first. `mode` is undefined for data with
 * one target a sample and no assignment. `note` says what the run should know (any-k left out).
 */
export function prepareTargets(
  train: Dataset,
  test: Dataset,
  o: { assign?: string; targets?: TargetMode },
): { train: Dataset; test: Dataset; mode?: TargetMode; dropped?: { train: number; test: number }; note?: string } {
  if (o.assign) {
    const assignment = parseAssignment(o.assign);
    const mode = o.targets ?? 'first';
    const P = [train.position, test.position].reduce((m, a) => a.reduce((x, p) => Math.max(x, p), m), 0) + 1;
    const a = assignTargets(train, assignment, mode, P);
    const b = assignTargets(test, assignment, mode, P);
    const longest = Math.max(a.longChunk ?? 0, b.longChunk ?? 0);
    // Both sets keep their chunks whole, or neither: the lens takes one width of targets.
    const whole = longest === 0;
    const firstOnly = (ds: Dataset) => (whole ? ds : { ...ds, multi: undefined });
    return {
      train: firstOnly(a.data),
      test: firstOnly(b.data),
      mode,
      dropped: { train: a.dropped, test: b.dropped },
      ...(whole ? {} : { note: `any-1/5/10 not reported: a chunk of ${longest} tokens is more than the ${MAX_TARGETS} targets a sample the kernels take` }),
    };
  }
  if (train.multi || test.multi) return { train, test, mode: o.targets ?? 'all' };
  if (o.targets === 'all') throw new InputError(`--targets all: the data has one target a sample (no 'targets' tensor, no --assign)`);
  return { train, test, mode: o.targets };
}
