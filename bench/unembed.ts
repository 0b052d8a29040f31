// The unembedding's candidates on this device (subgroup, tiled, register tiles): logits = z Uᵀ
// and dz = dlogits · U, each checked against unembedLogitsRef / unembedBackwardRef at
// CHECK_SHAPE, then timed at the training batch and the logits at the evaluation's 256 rows.
import { uniformF32 } from '../src/data/counterRng.ts';
import { Owner, readF32 } from '../src/gpu/buffers.ts';
import type { Batch } from '../src/ops/groups.ts';
import { partialSumBytes, Unembed, unembedBackwardRef, unembedLogitsRef, type UnembedVariant } from '../src/ops/unembed.ts';
import { CHECK_SHAPE, OneOff, range, verify, type Harness } from './harness.ts';

/** The evaluation's batch: as many rows as `eval` and validation bind. */
export const EVAL_ROWS = 256;

/** One variant's logits and backward over `M` rows, bound once to buffers of its own. */
async function bound(h: Harness, owner: Owner, variant: UnembedVariant, V: number, d: number, M: number) {
  const op = await Unembed.create(h.gpu, V, d, 'f32', {}, variant);
  const b = {
    z: owner.upload('z', uniformF32(1, M * d, 1)),
    U: owner.upload('U', uniformF32(6, V * d, 0.02)),
    logits: owner.buffer('logits', M * V * 4),
    dlogits: owner.upload('dlogits', uniformF32(2, M * V, 1e-3)),
    dz: owner.buffer('dz', M * d * 4),
    partial: owner.buffer('partial', partialSumBytes(op.windows, M, d)),
  };
  const forward = owner.own(new OneOff(h.gpu, 'unembed logits', (t) => op.bindForward(t, b, M)));
  const backward = owner.own(new OneOff(h.gpu, 'unembed backward', (t) => op.bindBackward(t, b, M)));
  return { b, forward, backward, batch: { rows: Uint32Array.from(range(M)), ranges: [] } as Batch };
}

async function check(h: Harness, variant: UnembedVariant): Promise<void> {
  const { V, d, B } = CHECK_SHAPE;
  const owner = new Owner(h.gpu);
  try {
    const { b, forward, backward, batch } = await bound(h, owner, variant, V, d, B);
    await h.runOnce(`check unembed ${variant}`, (pass) => {
      forward.encode(pass, batch);
      backward.encode(pass, batch);
    });
    const [z, U, dl] = [uniformF32(1, B * d, 1), uniformF32(6, V * d, 0.02), uniformF32(2, B * V, 1e-3)];
    verify(`unembed logits · ${variant}`, await readF32(h.gpu, b.logits, B * V), unembedLogitsRef(z, U, B, V, d), { atol: 1e-6, rtol: 1e-5 });
    verify(`unembed backward · ${variant}`, await readF32(h.gpu, b.dz, B * d), unembedBackwardRef(dl, U, B, V, d), { atol: 1e-8, rtol: 1e-5 });
  } finally {
    owner.destroy();
  }
}

export async function benchUnembed(h: Harness): Promise<void> {
  const { V, d, B } = h.shape;
  const cost = (M: number) => [2 * M * V * d, 4 * (V * d + M * V + M * d)] as const;
  for (const variant of h.candidates.unembed) {
    const candidate = { family: 'unembed', name: variant } as const;
    await check(h, variant);
    const owner = new Owner(h.gpu);
    try {
      const { forward, backward, batch } = await bound(h, owner, variant, V, d, B);
      await h.add(`unembed logits · ${variant}`, (p) => forward.encode(p, batch), ...cost(B), candidate);
      await h.add(`unembed backward · ${variant}`, (p) => backward.encode(p, batch), ...cost(B), candidate);
      const evaluation = await bound(h, owner, variant, V, d, EVAL_ROWS);
      await h.add(`unembed logits M ${EVAL_ROWS} · ${variant}`, (p) => evaluation.forward.encode(p, evaluation.batch), ...cost(EVAL_ROWS), candidate);
    } finally {
      owner.destroy();
    }
  }
}
