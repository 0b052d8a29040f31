// RMSNorm's variants (a row a subgroup, a row a workgroup of 256), forward and backward, each
// checked against rmsnormForwardRef / rmsnormBackwardRef at CHECK_SHAPE, then timed.
import { uniformF32 } from '../src/data/counterRng.ts';
import { Owner, readF32 } from '../src/gpu/buffers.ts';
import type { Batch } from '../src/ops/groups.ts';
import { RmsNorm, rmsnormBackwardRef, rmsnormForwardRef, type RmsNormVariant } from '../src/ops/rmsnorm.ts';
import { CHECK_SHAPE, OneOff, range, verify, type Harness } from './harness.ts';

const EPS = 1e-5;

function normCase(owner: Owner, rows: number, d: number) {
  return {
    y: owner.upload('y', uniformF32(1, rows * d, 1)),
    gamma: owner.upload('gamma', uniformF32(3, d, 1)),
    z: owner.buffer('z', rows * d * 4),
    rstd: owner.buffer('rstd', rows * 4),
    dz: owner.upload('dz', uniformF32(2, rows * d, 1e-3)),
    dy: owner.buffer('dy', rows * d * 4),
  };
}

/** The forward then the backward of one variant over `rows` rows, bound once. */
async function bound(h: Harness, owner: Owner, variant: RmsNormVariant, rows: number, d: number) {
  const op = await RmsNorm.create(h.gpu, d, EPS, variant);
  const b = normCase(owner, rows, d);
  const forward = owner.own(new OneOff(h.gpu, 'rmsnorm forward', (t) => op.bindForward(t, b, rows)));
  const backward = owner.own(new OneOff(h.gpu, 'rmsnorm backward', (t) => op.bindBackward(t, b, rows)));
  return { b, forward, backward, batch: { rows: Uint32Array.from(range(rows)), ranges: [] } as Batch };
}

async function check(h: Harness, variant: RmsNormVariant): Promise<void> {
  const { d, B } = CHECK_SHAPE;
  const owner = new Owner(h.gpu);
  try {
    const { b, forward, backward, batch } = await bound(h, owner, variant, B, d);
    await h.runOnce(`check rmsnorm ${variant}`, (pass) => {
      forward.encode(pass, batch);
      backward.encode(pass, batch);
    });
    const [y, gamma, dz] = [uniformF32(1, B * d, 1), uniformF32(3, d, 1), uniformF32(2, B * d, 1e-3)];
    verify(`rmsnorm forward · ${variant}`, await readF32(h.gpu, b.z, B * d), rmsnormForwardRef(y, gamma, B, d, EPS).z, { atol: 1e-6, rtol: 1e-5 });
    verify(`rmsnorm backward · ${variant}`, await readF32(h.gpu, b.dy, B * d), rmsnormBackwardRef(y, gamma, dz, B, d, EPS), { atol: 1e-8, rtol: 1e-4 });
  } finally {
    owner.destroy();
  }
}

export async function benchRmsNorm(h: Harness): Promise<void> {
  const { d, B } = h.shape;
  for (const variant of h.candidates.rmsnorm) {
    await check(h, variant);
    const owner = new Owner(h.gpu);
    try {
      const { forward, backward, batch } = await bound(h, owner, variant, B, d);
      await h.add(`rmsnorm forward · ${variant}`, (p) => forward.encode(p, batch), 4 * B * d, 4 * (2 * B * d + d), { family: 'rmsnorm', name: variant });
      await h.add(`rmsnorm backward · ${variant}`, (p) => backward.encode(p, batch), 8 * B * d, 4 * (3 * B * d + d), { family: 'rmsnorm', name: variant });
    } finally {
      owner.destroy();
    }
  }
}
