// The translator's variants: forward (subgroup, gemv, tiled) and backward (subgroup, tiled),
// each checked against translatorForwardRef / translatorBackwardRef at CHECK_SHAPE, then timed
// at the bench's shape as the lens binds it (bindForward / bindBackward, step tables of its own).
import { uniformF32 } from '../src/data/counterRng.ts';
import { Owner, readF32 } from '../src/gpu/buffers.ts';
import { blockStride, groupRanges, type Batch } from '../src/ops/groups.ts';
import { Translator, translatorBackwardRef, translatorForwardRef, type BackwardVariant, type ForwardVariant } from '../src/ops/translator.ts';
import { CHECK_SHAPE, OneOff, verify, type Harness } from './harness.ts';

/** The buffers of a translator case: x, dy [B, d], params and grad [G blocks]. */
function translatorCase(owner: Owner, d: number, G: number, B: number, stride: number) {
  return {
    x: owner.upload('x', uniformF32(1, B * d, 1)),
    y: owner.buffer('y', B * d * 4),
    dy: owner.upload('dy', uniformF32(2, B * d, 1e-3)),
    params: owner.upload('params', uniformF32(4, G * stride, 0.01)),
    grad: owner.upload('grad', uniformF32(5, G * stride, 1e-4)),
  };
}

async function check(h: Harness, forward: ForwardVariant | undefined, backward: BackwardVariant | undefined): Promise<void> {
  const { d, B, counts } = CHECK_SHAPE;
  const G = counts.length;
  const groupOf = Int32Array.from(counts.flatMap((c, g) => Array<number>(c).fill(g)));
  const batch: Batch = { rows: new Uint32Array(B), ranges: groupRanges(groupOf) };
  const op = await Translator.create(h.gpu, d, G, { forward, backward });
  const owner = new Owner(h.gpu);
  try {
    const b = translatorCase(owner, d, G, B, op.stride);
    const call = owner.own(new OneOff(h.gpu, 'check', (t) => (forward ? op.bindForward(t, b, B) : op.bindBackward(t, b, B))));
    await h.runOnce(`check translator ${forward ?? backward}`, (pass) => call.encode(pass, batch));
    const [x, params, dy] = [uniformF32(1, B * d, 1), uniformF32(4, G * op.stride, 0.01), uniformF32(2, B * d, 1e-3)];
    if (forward) verify(`translator forward · ${forward}`, await readF32(h.gpu, b.y, B * d), translatorForwardRef(x, params, groupOf, d), { atol: 1e-5, rtol: 1e-5 });
    else {
      const grad = await readF32(h.gpu, b.grad, G * op.stride);
      const want = translatorBackwardRef(dy, x, groupOf, d, G);
      for (const r of batch.ranges) {
        const block = (a: Float32Array) => a.subarray(r.group * op.stride, r.group * op.stride + d * d + d);
        verify(`translator backward · ${backward}`, block(grad), block(want), { atol: 1e-8, rtol: 1e-5 });
      }
    }
  } finally {
    owner.destroy();
  }
}

/** Each variant checked, then timed over the bench batch's present groups. */
export async function benchTranslator(h: Harness, batch: Batch, G: number): Promise<void> {
  const { d, B } = h.shape;
  const present = batch.ranges.length;
  const bytes = 4 * (present * (d * d + d) + 2 * B * d);
  const forwards = h.candidates.translatorForward.filter((v) => v !== 'auto'); // auto is gemv or tiled by group size
  const backwards = h.candidates.translatorBackward;
  const owner = new Owner(h.gpu);
  try {
    const b = translatorCase(owner, d, G, B, blockStride(d));
    for (const forward of forwards) {
      await check(h, forward, undefined);
      const op = await Translator.create(h.gpu, d, G, { forward });
      const call = owner.own(new OneOff(h.gpu, `translator forward ${forward}`, (t) => op.bindForward(t, b, B)));
      await h.add(`translator forward · ${forward}`, (p) => call.encode(p, batch), 2 * B * d * d, bytes, { family: 'translatorForward', name: forward });
    }
    for (const backward of backwards) {
      await check(h, undefined, backward);
      const op = await Translator.create(h.gpu, d, G, { backward });
      const call = owner.own(new OneOff(h.gpu, `translator backward ${backward}`, (t) => op.bindBackward(t, b, B)));
      await h.add(`translator backward · ${backward}`, (p) => call.encode(p, batch), 2 * B * d * d, bytes, { family: 'translatorBackward', name: backward });
    }
  } finally {
    owner.destroy();
  }
}
