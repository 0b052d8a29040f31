// The frozen head: final RMSNorm weight γ [d], its eps, and the unembedding U [V, d], from a
// head file (norm.weight, lm_head.weight, metadata norm_eps) or a Hugging Face model folder.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InputError } from '../shared/errors.ts';
import { SafetensorsFile } from './safetensors.ts';
import { type HeadDtype } from '../shared/constants.ts';

export interface Head {
  source: string;
  d: number;
  V: number;
  eps: number;
  gamma: Float32Array;
  dtype: HeadDtype;
  /** U [V, d]: f32 values, or f16 bits when dtype is f16. */
  U: Float32Array | Uint16Array;
  /** The model's layer count, when a Hugging Face config names it (num_hidden_layers). */
  numLayers?: number;
  /** Written by `synth` (its vocabulary reads as LLaMA-2's first V tokens). */
  synthetic?: boolean;
}

export const DEFAULT_NORM_EPS = 1e-5;

/** A head file: `norm.weight`, `lm_head.weight`, metadata `norm_eps` (default 1e-5). */
export function loadHeadFile(path: string, dtype: HeadDtype): Head {
  const file = SafetensorsFile.open(path);
  try {
    if (!file.has('norm.weight') && (file.has('model.norm.weight') || file.has('lm_head.weight') || file.has('model.embed_tokens.weight'))) {
      throw new InputError(`${path}: a Hugging Face model's weights, not a head file (norm.weight, lm_head.weight): give its folder as --model-dir ${dirname(path) || '.'}`);
    }
    const epsText = file.metadata.norm_eps;
    const eps = epsText === undefined ? DEFAULT_NORM_EPS : Number(epsText);
    if (!(eps >= 0) || !Number.isFinite(eps)) throw new InputError(`${path}: metadata norm_eps = ${JSON.stringify(epsText)} is not a non-negative number`);
    return { ...readHead(path, file, 'norm.weight', 'lm_head.weight', file, eps, dtype), ...(file.metadata.synth ? { synthetic: true } : {}) };
  } finally {
    file.close();
  }
}

/**
 * A Hugging Face model folder: config.json (hidden_size, vocab_size, rms_norm_eps,
 * tie_word_embeddings) and model.safetensors or a sharded model.safetensors.index.json.
 */
/** A Hugging Face model folder's config.json. */
export function readModelConfig(dir: string): Record<string, any> {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new InputError(`${dir}: no config.json (is this a Hugging Face model folder?)`);
  try {
    return JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (e) {
    throw new InputError(`${configPath}: not valid JSON (${(e as Error).message})`);
  }
}

export function loadHeadFromModelDir(dir: string, dtype: HeadDtype): Head {
  if (!existsSync(dir)) throw new InputError(`--model-dir ${dir}: no such folder`);
  if (!statSync(dir).isDirectory()) throw new InputError(`--model-dir ${dir}: a file, not a folder${dir.endsWith('.safetensors') ? ' (a head file is given with --head)' : ''}`);
  const config = readModelConfig(dir);
  const eps = config.rms_norm_eps ?? DEFAULT_NORM_EPS;
  const tied = config.tie_word_embeddings === true;

  // Which file holds each tensor: one model.safetensors, or the shards an index names.
  const indexPath = join(dir, 'model.safetensors.index.json');
  let fileOf: (name: string) => string | undefined;
  if (existsSync(indexPath)) {
    const map: Record<string, string> = JSON.parse(readFileSync(indexPath, 'utf8')).weight_map ?? {};
    fileOf = (name) => (map[name] ? join(dir, map[name]) : undefined);
  } else if (existsSync(join(dir, 'model.safetensors'))) {
    const single = SafetensorsFile.open(join(dir, 'model.safetensors'));
    const names = new Set(single.tensors.keys());
    single.close();
    fileOf = (name) => (names.has(name) ? join(dir, 'model.safetensors') : undefined);
  } else {
    throw new InputError(`${dir}: neither model.safetensors nor model.safetensors.index.json`);
  }
  const normName = 'model.norm.weight';
  let headName = 'lm_head.weight';
  if (tied || !fileOf(headName)) headName = 'model.embed_tokens.weight';
  const normPath = fileOf(normName);
  const headPath = fileOf(headName);
  if (!normPath) throw new InputError(`${dir}: no tensor ${normName}`);
  if (!headPath) throw new InputError(`${dir}: neither lm_head.weight nor model.embed_tokens.weight`);
  const normFile = SafetensorsFile.open(normPath);
  const headFile = headPath === normPath ? normFile : SafetensorsFile.open(headPath);
  try {
    const head = readHead(dir, normFile, normName, headName, headFile, eps, dtype);
    if (config.hidden_size !== undefined && config.hidden_size !== head.d) {
      throw new InputError(`${dir}: config.json hidden_size ${config.hidden_size} but ${normName} has ${head.d}`);
    }
    if (config.vocab_size !== undefined && config.vocab_size !== head.V) {
      throw new InputError(`${dir}: config.json vocab_size ${config.vocab_size} but ${headName} has ${head.V} rows`);
    }
    if (Number.isInteger(config.num_hidden_layers)) head.numLayers = config.num_hidden_layers;
    return head;
  } finally {
    normFile.close();
    if (headFile !== normFile) headFile.close();
  }
}

function readHead(
  source: string,
  normFile: SafetensorsFile,
  normName: string,
  headName: string,
  headFile: SafetensorsFile,
  eps: number,
  dtype: HeadDtype,
): Head {
  const n = normFile.get(normName);
  const u = headFile.get(headName);
  if (n.shape.length !== 1) throw new InputError(`${source}: ${normName} must be [d], not [${n.shape}]`);
  const d = n.shape[0]!;
  if (u.shape.length !== 2 || u.shape[1] !== d) throw new InputError(`${source}: ${headName} is [${u.shape}], expected [V, ${d}]`);
  const V = u.shape[0]!;
  if (V === 0) throw new InputError(`${source}: ${headName} has no rows`);
  if (dtype === 'f16' && d % 2) throw new InputError(`${source}: an f16 head needs an even hidden size (d = ${d})`);
  const gamma = normFile.readF32(normName);
  checkFinite(source, normName, gamma);
  let U: Float32Array | Uint16Array;
  if (dtype === 'f32') {
    U = headFile.readF32(headName);
    checkFinite(source, headName, U);
  } else {
    U = headFile.readF16Bits(headName);
    for (let i = 0; i < U.length; i++) {
      if ((U[i]! & 0x7c00) === 0x7c00) throw new InputError(`${source}: ${headName}[${Math.floor(i / d)}, ${i % d}] is not finite in f16`);
    }
  }
  return { source, d, V, eps, gamma, dtype, U };
}

function checkFinite(source: string, name: string, a: Float32Array): void {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new InputError(`${source}: ${name} has a non-finite value at element ${i}`);
  }
}

/** The head of --head FILE or --model-dir DIR (one of them). */
export function loadHeadFrom(o: { head?: string; modelDir?: string; headDtype: HeadDtype }): Head {
  if (o.head && o.modelDir) throw new InputError('give --head or --model-dir, not both');
  if (o.head) return loadHeadFile(o.head, o.headDtype);
  if (o.modelDir) return loadHeadFromModelDir(o.modelDir, o.headDtype);
  throw new InputError('a head is needed: --head FILE or --model-dir DIR');
}
