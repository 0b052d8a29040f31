// Every GPU buffer a lens owns, declared once: its name, its role, its size as a function of
// the lens's shape, the buffers it lies in (parameters and AdamW moments larger than the
// device's largest buffer lie over several, whole blocks in each) and the line of the memory
// plan it counts toward. The Lens allocates from
// this table (shape.ts gives the shape), the memory plan printed before a run sums it, and the
// bench reports it; a lens for inference (eval, trajectory) leaves out what only training
// needs: gradients, AdamW moments and the backward pass's activations. (llm.c's TensorSpec list is the model.)
import { bufferParts, type Part } from '../gpu/buffers.ts';
import { positionParts } from '../ops/positionUnembed.ts';
import { TOP_K } from '../ops/topk.ts';
import { partialSumBytes, unembedWindows } from '../ops/unembed.ts';
import type { LensShape } from './shape.ts';

export type BufferRole = 'parameters' | 'gradients' | 'optimizer state' | 'activations';

export type BufferKey =
  | 'params' | 'grad' | 'm' | 'v'
  | 'x' | 'y' | 'z' | 'rstd' | 'logits' | 'dlogits' | 'dz' | 'dy' | 'partial'
  | 'targets' | 'weights' | 'loss' | 'rank' | 'anyRank' | 'topIds'
  | 'teacherX' | 'teacherZ' | 'teacherRstd' | 'teacherLogits'
  | 'positionParams' | 'positionGrad' | 'positionM' | 'positionV';

export interface BufferSpec {
  key: BufferKey;
  role: BufferRole;
  bytes: number;
  /** Its buffers (one, or bufferParts' for an array larger than the device's largest buffer). */
  parts: Part[];
  /** The fewest bytes a kernel binds of it at once (the whole buffer, or one block). */
  bound: number;
  /** The memory plan's line this buffer counts toward. */
  item: string;
}

export function lensBuffers(s: LensShape): BufferSpec[] {
  const { d, V, maxBatch: B, targetsPerRow: K } = s;
  const state = bufferParts(s.numGroups, s.stride * 4, s.maxBuffer);
  const rows = B * d * 4;
  const out: BufferSpec[] = [];
  const add = (key: BufferKey, role: BufferRole, size: number | Part[], item: string, when = true, bound = typeof size === 'number' ? size : 0) => {
    const parts = typeof size === 'number' ? [{ first: 0, count: 1, byteLength: size }] : size;
    if (when) out.push({ key, role, bytes: parts.reduce((n, p) => n + p.byteLength, 0), parts, bound, item });
  };
  const block = s.stride * 4;
  const train = Boolean(s.adamw);
  add('params', 'parameters', state, 'translator parameters', true, block);
  add('grad', 'gradients', state, 'gradients', train && !s.fusedUpdate, block);
  add('m', 'optimizer state', state, 'AdamW moments (m, v)', train, block);
  add('v', 'optimizer state', state, 'AdamW moments (m, v)', train, block);
  const activations = `batch activations (x, y, z${train ? ', dz, dy' : ''})`;
  for (const key of ['x', 'y', 'z'] as const) add(key, 'activations', rows, activations);
  add('dz', 'activations', rows, activations, train);
  add('dy', 'activations', rows, activations, train);
  add('rstd', 'activations', B * 4, 'batch targets, losses and ranks');
  // The loss kernel writes dlogits in evaluation too.
  add('logits', 'activations', B * V * 4, 'batch logits and dlogits');
  add('dlogits', 'activations', B * V * 4, 'batch logits and dlogits');
  // The unembedding backward's split-K partial sums, over U's windows as the Unembed binds
  // them, for a training batch (the evaluation's larger batches run no backward).
  const partial = partialSumBytes(unembedWindows(V, d, s.headDtype, s, s.align), s.trainBatch, d);
  add('partial', 'activations', partial, 'unembedding partial sums', train);
  add('targets', 'activations', B * K * 4, 'batch targets, losses and ranks');
  add('weights', 'activations', B * K * 4, 'batch targets, losses and ranks');
  add('loss', 'activations', B * 4, 'batch targets, losses and ranks');
  add('rank', 'activations', B * 4, 'batch targets, losses and ranks');
  add('anyRank', 'activations', B * 4, 'batch targets, losses and ranks');
  add('topIds', 'activations', B * TOP_K * 4, 'batch targets, losses and ranks');
  if (s.teacher) {
    const item = 'teacher (final hidden, normed, logits)';
    add('teacherX', 'activations', rows, item);
    add('teacherZ', 'activations', rows, item);
    add('teacherRstd', 'activations', B * 4, item);
    add('teacherLogits', 'activations', B * V * 4, item);
  }
  if (s.position) {
    const bytes = positionParts(s.position.layout, s.position.positions, s.maxBuffer);
    const item = `position unembedding (${s.position.mode === 'full' ? 'ΔU_p, c_p' : 'c_p'}${train ? `; ${s.position.fusedUpdate ? '' : 'gradients, '}AdamW moments` : ''})`;
    const sub = s.position.layout.subStride * 4;
    add('positionParams', 'parameters', bytes, item, true, sub);
    add('positionGrad', 'gradients', bytes, item, train && !s.position.fusedUpdate, sub);
    add('positionM', 'optimizer state', bytes, item, train, sub);
    add('positionV', 'optimizer state', bytes, item, train, sub);
  }
  return out;
}
