// Data files (contract): hidden [N, d] F32/F16/BF16, layer / position / target [N] I32/I64,
// and the optional tensors of the contract's extensions: targets / target_weights [N, K]
// (several weighted targets a row), final_hidden [N, d] (the model's last hidden state, for
// the KL loss), example [N] (problem ids), cot [E, T] and cot_example [E] (each problem's
// chain-of-thought tokens, to assign targets from). Everything is validated on the host,
// before anything is allocated on the GPU.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../shared/errors.ts';
import { NumpyTensors } from './numpy.ts';
import { SafetensorsFile } from './safetensors.ts';
import type { TensorFile } from './tensorFile.ts';
import { MAX_TARGETS, type HalfDtype } from '../shared/constants.ts';
import { HOST_CHUNK_BYTES, type Rows } from './rows.ts';

/** Several weighted targets a row: `targetsPerRow` (K) a row, −1 padding last, weights normalised per row. */
export interface MultiTargets {
  targetsPerRow: number;
  ids: Int32Array;
  weights: Float32Array;
}

/** Each problem's chain-of-thought tokens: T a row (−1 padding), and the problem's id. */
export interface CotTokens {
  T: number;
  tokens: Int32Array;
  example: Int32Array;
}

export interface Dataset {
  /** Where it came from (a path, or a description of generated data). */
  source: string;
  count: number;
  d: number;
  /**
   * [count, d] in chunks of whole rows: f32, or the file's bf16 / f16 values kept as their
   * bits, 2 bytes a value (hiddenHalf), which the GPU widens to f32 when it gathers a batch (exact).
   */
  hidden: Rows;
  hiddenHalf?: HalfDtype;
  layer: Int32Array;
  position: Int32Array;
  /**
   * Each row's first target: `target`, or the first entry of `targets` (top-k metrics); −1
   * in every row of a file that has neither but `final_hidden` (see targetsFromTeacher).
   */
  target: Int32Array;
  /** No target in the file: top-k is scored against the teacher's argmax (KL loss only). */
  targetsFromTeacher?: boolean;
  /** `targets` / `target_weights`, where the data has them. */
  multi?: MultiTargets;
  /** `final_hidden` [count, d], f32 or 16-bit and chunked as `hidden`. */
  finalHidden?: Rows;
  finalHiddenHalf?: HalfDtype;
  /** `example` [count]. */
  example?: Int32Array;
  /** `cot` and `cot_example`. */
  cot?: CotTokens;
  /**
   * The layers and positions of the data as given, kept when samples were left out since
   * (an assignment's empty chunks): a lens's groups come from these, not from what is left.
   */
  given?: LayersAndPositions;
}

export interface LayersAndPositions {
  layers: number[];
  positions: number[];
}

/** The layers and positions a data set covers, ascending: as given, or of its samples. */
export function layersAndPositions(ds: Dataset): LayersAndPositions {
  const sorted = (a: Iterable<number>) => [...new Set(a)].sort((x, y) => x - y);
  return ds.given ?? { layers: sorted(ds.layer), positions: sorted(ds.position) };
}

export const DATA_TENSORS = ['hidden', 'layer', 'position', 'target'] as const;

/** Loads and validates a data file; its hidden states are held in chunks of at most `chunkBytes`. */
export function loadDataset(path: string, chunkBytes = HOST_CHUNK_BYTES): Dataset {
  const file = openDataFile(path);
  try {
    const h = file.get('hidden');
    if (h.shape.length !== 2) throw new InputError(`${path}: 'hidden' must be [N, d], not [${h.shape}]`);
    const [count, d] = h.shape as [number, number];
    if (count === 0) throw new InputError(`${path}: no samples ('hidden' is [0, ${d}])`);
    const hasTarget = file.has('target');
    const fromTeacher = !hasTarget && !file.has('targets') && file.has('final_hidden');
    if (!hasTarget && !file.has('targets') && !fromTeacher) file.get('target'); // the error names what is missing
    const vector = (name: string) => {
      const t = file.get(name);
      if (t.shape.length !== 1 || t.shape[0] !== count) {
        throw new InputError(`${path}: '${name}' is [${t.shape}], expected [${count}] to match 'hidden'`);
      }
    };
    for (const name of ['layer', 'position', ...(hasTarget ? ['target'] : []), ...(file.has('example') ? ['example'] : [])]) vector(name);
    const multi = file.has('targets') ? readMultiTargets(file, count) : undefined;
    let final: ReturnType<TensorFile['readStates']> | undefined;
    if (file.has('final_hidden')) {
      const f = file.get('final_hidden');
      if (f.shape.length !== 2 || f.shape[0] !== count || f.shape[1] !== d) {
        throw new InputError(`${path}: 'final_hidden' is [${f.shape}], expected [${count}, ${d}] like 'hidden'`);
      }
      final = file.readStates('final_hidden', chunkBytes);
      checkFinite(path, 'final_hidden', final.values, final.half);
    }
    const hidden = file.readStates('hidden', chunkBytes);
    const ds: Dataset = {
      source: path,
      count,
      d,
      hidden: hidden.values,
      ...(hidden.half ? { hiddenHalf: hidden.half } : {}),
      layer: file.readInt('layer'),
      position: file.readInt('position'),
      target: hasTarget ? file.readInt('target') : multi ? firstTargets(multi) : new Int32Array(count).fill(-1),
      ...(fromTeacher ? { targetsFromTeacher: true } : {}),
      multi,
      finalHidden: final?.values,
      ...(final?.half ? { finalHiddenHalf: final.half } : {}),
      example: file.has('example') ? file.readInt('example') : undefined,
      cot: file.has('cot') || file.has('cot_example') ? readCot(file) : undefined,
    };
    validateDataset(ds);
    return ds;
  } finally {
    file.close();
  }
}

/** `targets` [N, K] (−1 padding) and `target_weights` [N, K] (default: equal weights). */
/**
 * A data file: safetensors, or NumPy's formats (an .npz, or a folder of NAME.npy files) with
 * the same tensor names, validated alike.
 */
export function openDataFile(path: string): TensorFile {
  if (existsSync(path) && statSync(path).isDirectory()) return NumpyTensors.folder(path);
  return path.endsWith('.npz') && existsSync(path) ? NumpyTensors.npz(path) : SafetensorsFile.open(path);
}

function readMultiTargets(file: TensorFile, count: number): MultiTargets {
  const path = file.path;
  const t = file.get('targets');
  if (t.shape.length !== 2 || t.shape[0] !== count || t.shape[1]! < 1) {
    throw new InputError(`${path}: 'targets' is [${t.shape}], expected [${count}, K] (K ≥ 1 targets a row, −1 padding)`);
  }
  const K = t.shape[1]!;
  if (K > MAX_TARGETS) throw new InputError(`${path}: 'targets' has ${K} targets a row; at most ${MAX_TARGETS} are supported`);
  const raw = file.readInt('targets');
  let rawWeights: Float32Array | undefined;
  if (file.has('target_weights')) {
    const w = file.get('target_weights');
    if (w.shape.length !== 2 || w.shape[0] !== count || w.shape[1] !== K) {
      throw new InputError(`${path}: 'target_weights' is [${w.shape}], expected [${count}, ${K}] like 'targets'`);
    }
    rawWeights = file.readF32('target_weights');
  }
  // Padding last in each row (so the first entry is the row's first target), weights normalised.
  const ids = new Int32Array(count * K).fill(-1);
  const weights = new Float32Array(count * K);
  for (let r = 0; r < count; r++) {
    let n = 0;
    let sum = 0;
    for (let k = 0; k < K; k++) {
      const id = raw[r * K + k]!;
      const w = rawWeights ? rawWeights[r * K + k]! : 1;
      if (id < -1) throw new InputError(`${path}: targets[${r}, ${k}] = ${id} (ids are ≥ 0, or −1 for padding)`);
      if (rawWeights && (!Number.isFinite(w) || w < 0)) throw new InputError(`${path}: target_weights[${r}, ${k}] = ${w} (weights are finite and ≥ 0)`);
      if (id < 0) continue;
      ids[r * K + n] = id;
      weights[r * K + n++] = w;
      sum += w;
    }
    if (!(sum > 0)) throw new InputError(`${path}: row ${r} of 'targets' has no target with a positive weight`);
    for (let k = 0; k < n; k++) weights[r * K + k] = weights[r * K + k]! / sum;
  }
  return { targetsPerRow: K, ids, weights };
}

/**
 * The rows' targets as `targetsPerRow` ids and weights a row: the data's several targets
 * padded (−1, weight 0), or (one target a row, or data without several) its `target` with
 * weight 1. Data with more targets a row is an InputError.
 */
export function paddedTargets(ds: Dataset, targetsPerRow: number): MultiTargets {
  if (ds.multi && ds.multi.targetsPerRow > targetsPerRow) throw new InputError(`${ds.source}: ${ds.multi.targetsPerRow} targets a row, the lens takes ${targetsPerRow}`);
  const m = targetsPerRow > 1 && ds.multi ? ds.multi : { targetsPerRow: 1, ids: ds.target, weights: new Float32Array(ds.count).fill(1) };
  if (m.targetsPerRow === targetsPerRow) return m;
  const ids = new Int32Array(ds.count * targetsPerRow).fill(-1);
  const weights = new Float32Array(ds.count * targetsPerRow);
  for (let r = 0; r < ds.count; r++) {
    ids.set(m.ids.subarray(r * m.targetsPerRow, (r + 1) * m.targetsPerRow), r * targetsPerRow);
    weights.set(m.weights.subarray(r * m.targetsPerRow, (r + 1) * m.targetsPerRow), r * targetsPerRow);
  }
  return { targetsPerRow, ids, weights };
}

function firstTargets(m: MultiTargets): Int32Array {
  return Int32Array.from({ length: m.ids.length / m.targetsPerRow }, (_, r) => m.ids[r * m.targetsPerRow]!);
}

function readCot(file: TensorFile): CotTokens {
  const path = file.path;
  const c = file.get('cot');
  const e = file.get('cot_example');
  if (c.shape.length !== 2) throw new InputError(`${path}: 'cot' is [${c.shape}], expected [E, T] (T tokens a problem, −1 padding)`);
  if (e.shape.length !== 1 || e.shape[0] !== c.shape[0]) throw new InputError(`${path}: 'cot_example' is [${e.shape}], expected [${c.shape[0]}] like 'cot'`);
  const T = c.shape[1]!;
  const tokens = file.readInt('cot');
  const example = file.readInt('cot_example');
  const seen = new Map<number, number>();
  example.forEach((id, i) => {
    if (id < 0) throw new InputError(`${path}: cot_example[${i}] = ${id} is negative`);
    if (seen.has(id)) throw new InputError(`${path}: cot_example[${i}] = ${id} repeats cot_example[${seen.get(id)}]`);
    seen.set(id, i);
  });
  tokens.forEach((t, i) => {
    if (t < -1) throw new InputError(`${path}: cot[${Math.floor(i / T)}, ${i % T}] = ${t} (ids are ≥ 0, or −1 for padding)`);
  });
  return { T, tokens, example };
}

/** Every value finite: f32, or 16-bit floats by their exponent bits (all ones: inf or NaN). */
function checkFinite(source: string, name: string, rows: Rows, half?: HalfDtype): void {
  const top = half === 'bf16' ? 0x7f80 : 0x7c00;
  const d = rows.width;
  rows.chunks.forEach((a, c) => {
    for (let i = 0; i < a.length; i++) {
      const finite = half ? (a[i]! & top) !== top : Number.isFinite(a[i]);
      if (!finite) throw new InputError(`${source}: ${name}[${c * rows.rowsPerChunk + Math.floor(i / d)}, ${i % d}] is ${half ? 'inf or NaN' : a[i]} (values must be finite)`);
    }
  });
}

/**
 * Layer and position ids above this are taken for a wrong tensor (a model has at most a few
 * hundred layers and continuous-thought positions); they would also make a huge group table.
 */
export const MAX_LAYER_OR_POSITION = 65_535;

/** Ids non-negative (layer and position ids not absurdly large), hidden states finite. */
export function validateDataset(ds: Dataset): void {
  for (const name of ['layer', 'position', ...(ds.targetsFromTeacher ? [] : ['target' as const])] as const) {
    const a = ds[name];
    for (let i = 0; i < a.length; i++) {
      if (a[i]! < 0) throw new InputError(`${ds.source}: ${name}[${i}] = ${a[i]} is negative`);
      if (name !== 'target' && a[i]! > MAX_LAYER_OR_POSITION) {
        throw new InputError(`${ds.source}: ${name}[${i}] = ${a[i]} is too large for a ${name} id (at most ${MAX_LAYER_OR_POSITION.toLocaleString('en-US')}; is this the right tensor?)`);
      }
    }
  }
  checkFinite(ds.source, 'hidden', ds.hidden, ds.hiddenHalf);
  if (ds.example) {
    const at = ds.example.findIndex((e) => e < 0);
    if (at >= 0) throw new InputError(`${ds.source}: example[${at}] = ${ds.example[at]} is negative`);
  }
}

/**
 * Checks a dataset against the head: same width, targets inside the vocabulary, and layer ids
 * within the model's when its config names them (hidden states 0 … num_hidden_layers).
 */
export function checkAgainstHead(ds: Dataset, d: number, V: number, numLayers?: number): void {
  if (ds.d !== d) throw new InputError(`${ds.source}: hidden size ${ds.d} does not match the head's ${d}`);
  if (numLayers !== undefined) {
    const at = ds.layer.findIndex((l) => l > numLayers);
    if (at >= 0) throw new InputError(`${ds.source}: layer[${at}] = ${ds.layer[at]}, but the model has ${numLayers} layers (hidden states 0 … ${numLayers})`);
  }
  let max = -1;
  let at = -1;
  for (let i = 0; i < ds.count; i++) if (ds.target[i]! > max) [max, at] = [ds.target[i]!, i];
  if (max >= V) throw new InputError(`${ds.source}: target[${at}] = ${max} is outside the vocabulary (V = ${V})`);
  if (ds.multi) {
    const bad = ds.multi.ids.findIndex((t) => t >= V);
    if (bad >= 0) throw new InputError(`${ds.source}: a targets entry of row ${Math.floor(bad / ds.multi.targetsPerRow)} is ${ds.multi.ids[bad]}, outside the vocabulary (V = ${V})`);
  }
  if (ds.cot) {
    const bad = ds.cot.tokens.findIndex((t) => t >= V);
    if (bad >= 0) throw new InputError(`${ds.source}: cot[${Math.floor(bad / ds.cot.T)}, ${bad % ds.cot.T}] = ${ds.cot.tokens[bad]} is outside the vocabulary (V = ${V})`);
  }
}

/** The samples whose layer is in `layers` (all when undefined). */
export function selectLayers(ds: Dataset, layers: readonly number[] | undefined): Dataset {
  if (!layers) return ds;
  const keep: number[] = [];
  for (let i = 0; i < ds.count; i++) if (layers.includes(ds.layer[i]!)) keep.push(i);
  if (keep.length === 0) {
    const have = [...new Set(ds.layer)].sort((a, b) => a - b);
    throw new InputError(`${ds.source}: no samples of layer(s) ${layers.join(',')} (layers present: ${have.join(',')})`);
  }
  const selected = keep.length === ds.count ? ds : subset(ds, keep);
  return ds.given ? { ...selected, given: { ...ds.given, layers: ds.given.layers.filter((l) => layers.includes(l)) } } : selected;
}

/** The rows `keep` of a dataset (every per-row tensor; the problems' cot stays whole). */
export function subset(ds: Dataset, keep: number[]): Dataset {
  const pick = <T extends Int32Array | Float32Array>(a: T, width = 1): T => {
    const out = new (a.constructor as new (n: number) => T)(keep.length * width);
    keep.forEach((row, i) => out.set(a.subarray(row * width, (row + 1) * width), i * width));
    return out;
  };
  const m = ds.multi;
  return {
    ...ds,
    count: keep.length,
    hidden: ds.hidden.pick(keep),
    layer: pick(ds.layer),
    position: pick(ds.position),
    target: pick(ds.target),
    multi: m && { targetsPerRow: m.targetsPerRow, ids: pick(m.ids, m.targetsPerRow), weights: pick(m.weights, m.targetsPerRow) },
    finalHidden: ds.finalHidden?.pick(keep),
    example: ds.example && pick(ds.example),
  };
}

/** Samples per (layer, position), for `inspect` and the run summary. */
export function countByLayerPosition(ds: Dataset): Map<number, Map<number, number>> {
  const out = new Map<number, Map<number, number>>();
  for (let i = 0; i < ds.count; i++) {
    const l = ds.layer[i]!;
    let row = out.get(l);
    if (!row) out.set(l, (row = new Map()));
    row.set(ds.position[i]!, (row.get(ds.position[i]!) ?? 0) + 1);
  }
  return out;
}

/** SHA-256 of a file, hex (recorded in config.json so a run names the exact data it saw). */
/** For a folder of .npy files: over each file's name and bytes, in name order. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  const files = statSync(path).isDirectory() ? readdirSync(path).filter((f) => f.endsWith('.npy')).sort() : [''];
  for (const f of files) {
    if (f) hash.update(`${f}\0`);
    await new Promise<void>((resolve, reject) => {
      createReadStream(f ? join(path, f) : path)
        .on('data', (chunk) => hash.update(chunk))
        .on('error', reject)
        .on('end', resolve);
    });
  }
  return hash.digest('hex');
}
