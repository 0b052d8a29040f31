// Data files (contract): hidden [N, d] F32/F16/BF16, layer / position / target [N] I32/I64.
// Everything is validated on the host, before anything is allocated on the GPU.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { InputError } from './errors.ts';
import { SafetensorsFile } from './safetensors.ts';

export interface Dataset {
  /** Where it came from (a path, or a description of generated data). */
  source: string;
  count: number;
  d: number;
  /** [count, d] row-major. */
  hidden: Float32Array;
  layer: Int32Array;
  position: Int32Array;
  target: Int32Array;
}

export const DATA_TENSORS = ['hidden', 'layer', 'position', 'target'] as const;

export function loadDataset(path: string): Dataset {
  const file = SafetensorsFile.open(path);
  try {
    const h = file.get('hidden');
    if (h.shape.length !== 2) throw new InputError(`${path}: 'hidden' must be [N, d], not [${h.shape}]`);
    const [count, d] = h.shape as [number, number];
    if (count === 0) throw new InputError(`${path}: no samples ('hidden' is [0, ${d}])`);
    for (const name of ['layer', 'position', 'target']) {
      const t = file.get(name);
      if (t.shape.length !== 1 || t.shape[0] !== count) {
        throw new InputError(`${path}: '${name}' is [${t.shape}], expected [${count}] to match 'hidden'`);
      }
    }
    const ds: Dataset = {
      source: path,
      count,
      d,
      hidden: file.readF32('hidden'),
      layer: file.readInt('layer'),
      position: file.readInt('position'),
      target: file.readInt('target'),
    };
    validateDataset(ds);
    return ds;
  } finally {
    file.close();
  }
}

/**
 * Layer and position ids above this are taken for a wrong tensor (a model has at most a few
 * hundred layers and continuous-thought positions); they would also make a huge group table.
 */
export const MAX_LAYER_OR_POSITION = 65_535;

/** Ids non-negative (layer and position ids not absurdly large), hidden states finite. */
export function validateDataset(ds: Dataset): void {
  for (const name of ['layer', 'position', 'target'] as const) {
    const a = ds[name];
    for (let i = 0; i < a.length; i++) {
      if (a[i]! < 0) throw new InputError(`${ds.source}: ${name}[${i}] = ${a[i]} is negative`);
      if (name !== 'target' && a[i]! > MAX_LAYER_OR_POSITION) {
        throw new InputError(`${ds.source}: ${name}[${i}] = ${a[i]} is too large for a ${name} id (at most ${MAX_LAYER_OR_POSITION.toLocaleString('en-US')}; is this the right tensor?)`);
      }
    }
  }
  const h = ds.hidden;
  for (let i = 0; i < h.length; i++) {
    if (!Number.isFinite(h[i])) {
      throw new InputError(`${ds.source}: hidden[${Math.floor(i / ds.d)}, ${i % ds.d}] is ${h[i]} (values must be finite)`);
    }
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
  if (keep.length === ds.count) return ds;
  const hidden = new Float32Array(keep.length * ds.d);
  keep.forEach((row, i) => hidden.set(ds.hidden.subarray(row * ds.d, (row + 1) * ds.d), i * ds.d));
  const pick = (a: Int32Array) => Int32Array.from(keep, (row) => a[row]!);
  return {
    source: ds.source,
    count: keep.length,
    d: ds.d,
    hidden,
    layer: pick(ds.layer),
    position: pick(ds.position),
    target: pick(ds.target),
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
export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
