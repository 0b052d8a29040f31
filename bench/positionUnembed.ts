// The position unembedding's modes (bias: c_p; full: ΔU_p and c_p), forward and backward,
// each checked against positionForwardRef / positionBackwardRef at CHECK_SHAPE, then timed.
import { uniformF32, uniformInt } from '../src/data/counterRng.ts';
import { Owner, readF32 } from '../src/gpu/buffers.ts';
import { positionSlots, type Batch } from '../src/ops/groups.ts';
import { AdamW, SEED_ADAMW } from '../src/ops/adamw.ts';
import type { StepTables } from '../src/gpu/stepTables.ts';
import { packPositionBlocks, positionBackwardRef, positionParamSet, positionPresent, positionForwardRef, PositionUnembed, unpackPositionBlocks, type PositionVariant } from '../src/ops/positionUnembed.ts';
import type { PositionUnembedMode } from '../src/shared/constants.ts';
import { fmtBytes } from '../src/shared/constants.ts';
import { CHECK_SHAPE, OneOff, range, verify, type Harness } from './harness.ts';

/** A batch of B slots at random positions of P, its parameters and activations, bound forward and backward. */
async function bound(h: Harness, owner: Owner, mode: PositionUnembedMode, variant: PositionVariant, V: number, d: number, B: number, P: number) {
  const op = await PositionUnembed.create(h.gpu, mode, V, d, P, {}, variant);
  const slotPosition = Int32Array.from(uniformInt(13, B, P));
  const host = {
    c: uniformF32(12, P * V, 0.01),
    delta: mode === 'full' ? uniformF32(14, P * V * d, 0.01) : undefined,
    z: uniformF32(1, B * d, 1),
    logits: uniformF32(3, B * V, 1),
    dlogits: uniformF32(2, B * V, 1e-3),
  };
  const b = {
    params: owner.upload('position params', packPositionBlocks({ mode, V, positions: range(P), c: host.c, delta: host.delta }, op.layout)),
    grad: owner.buffer('position grad', P * op.stride * 4),
    z: owner.upload('z', host.z),
    logits: owner.upload('logits', host.logits),
    dlogits: owner.upload('dlogits', host.dlogits),
    dz: owner.buffer('dz', B * d * 4),
  };
  const forward = owner.own(new OneOff(h.gpu, `position ${mode} forward`, (t) => op.bindForward(t, b, B)));
  const backward = owner.own(new OneOff(h.gpu, `position ${mode} backward`, (t) => op.bindBackward(t, b, B)));
  const batch: Batch = { rows: Uint32Array.from(range(B)), ranges: [], positions: positionSlots(slotPosition) };
  return { op, host, b, forward, backward, batch, slotPosition };
}

async function check(h: Harness, mode: PositionUnembedMode, variant: PositionVariant): Promise<void> {
  const { V, d, B } = CHECK_SHAPE;
  const P = 6;
  const owner = new Owner(h.gpu);
  try {
    const { op, host, b, forward, backward, batch, slotPosition } = await bound(h, owner, mode, variant, V, d, B, P);
    await h.runOnce(`check position ${mode} ${variant}`, (pass) => {
      forward.encode(pass, batch);
      backward.encode(pass, batch);
    });
    const tol = { atol: 1e-6, rtol: 1e-5 };
    verify(`position ${mode} forward`, await readF32(h.gpu, b.logits, B * V), positionForwardRef(host.logits, host.z, slotPosition, V, d, host.c, host.delta), tol);
    const want = positionBackwardRef(host.dlogits, host.z, slotPosition, P, V, d, host.delta);
    const got = unpackPositionBlocks(await readF32(h.gpu, b.grad, P * op.stride), op.layout, range(P));
    const present = new Set(slotPosition);
    for (const q of present) verify(`position ${mode} backward dc_p`, got.c.subarray(q * V, (q + 1) * V), want.dc.subarray(q * V, (q + 1) * V), { atol: 1e-9, rtol: 1e-5 });
    if (mode === 'full') {
      for (const q of present) verify(`position full backward dΔU_p`, got.delta!.subarray(q * V * d, (q + 1) * V * d), want.dDelta.subarray(q * V * d, (q + 1) * V * d), { atol: 1e-9, rtol: 1e-5 });
      verify('position full backward dz', await readF32(h.gpu, b.dz, B * d), want.dz, { atol: 1e-9, rtol: 1e-5 });
    }
  } finally {
    owner.destroy();
  }
}

/**
 * What the training step runs of the full mode beside its forward: dz alone (the fused
 * update stores no gradient), and the fused clip + AdamW of the present positions (their
 * ghost norm, then W, m, v read and written, each gradient element rebuilt from dlogits and z).
 */
async function benchStepParts(h: Harness, owner: Owner, name: string, variant: PositionVariant, c: Awaited<ReturnType<typeof bound>>): Promise<void> {
  const { V, d, B, positions: P } = h.shape;
  const { op, b, batch } = c;
  const dzOnly = (t: StepTables) => op.bindBackward(t, { params: b.params, z: b.z, dlogits: b.dlogits, dz: b.dz }, B);
  const dz = owner.own(new OneOff(h.gpu, `${name} dz`, dzOnly));
  await h.add(`${name} dz (fused step)`, (p) => dz.encode(p, batch), 2 * B * V * d, P * V * d * 4 + 4 * B * V);
  if (variant !== positionVariants(h)[0]) return; // the update is one kernel for both variants: timed once
  const adamw = owner.own(await AdamW.create(h.gpu, [positionParamSet(op.layout, P, true)], SEED_ADAMW));
  const [m, v] = [owner.buffer('position m', P * op.stride * 4), owner.buffer('position v', P * op.stride * 4)];
  const present = [positionPresent(op.layout, batch.positions!.ranges, () => 1)];
  const update = owner.own(
    new OneOff(h.gpu, 'position full update', (t) => {
      const backward = dzOnly(t);
      const call = adamw.bind(t, [{ param: b.params, m, v, dlogits: b.dlogits, z: b.z, slots: backward.slots }]);
      return { encode: (pass: GPUComputePassEncoder, input: Batch) => (backward.encode(pass, input), call.encode(pass, present)) };
    }),
  );
  const params = batch.positions!.ranges.length * V * (d + 1);
  // dz's product and each gradient element rebuilt (2 flops a slot); W, m, v read and written, ΔU read by dz.
  await h.add('position full · fused update (with dz)', (p) => update.encode(p, batch), 4 * B * V * d, 24 * params + P * V * d * 4);
}

/** The variants of ΔU_p's products: the lens runs the one its unembedding's design matches. */
const positionVariants = (h: Harness): PositionVariant[] => (h.gpu.hasSubgroups ? ['subgroup', 'tiled'] : ['tiled']);

export async function benchPositionUnembed(h: Harness): Promise<void> {
  const { V, d, B, positions: P } = h.shape;
  for (const mode of ['bias', 'full'] as const) {
    const size = P * (V * (mode === 'full' ? d + 1 : 1)) * 4;
    if (size > h.gpu.limits.maxBufferSize) {
      h.log(`position unembedding (${mode}): skipped, ${fmtBytes(size)} exceeds this device's largest buffer`);
      continue;
    }
    // The bias mode runs no kernel with a subgroup variant.
    for (const variant of mode === 'full' ? positionVariants(h) : (['tiled'] as const)) {
      await check(h, mode, variant);
      const owner = new Owner(h.gpu);
      try {
        const c = await bound(h, owner, mode, variant, V, d, B, P);
        const { forward, backward, batch } = c;
        const fl = mode === 'full' ? 2 * B * V * d : 0;
        const by = mode === 'full' ? P * V * d * 4 : 0;
        const name = mode === 'full' ? `position full · ${variant}` : 'position bias';
        await h.add(`${name} forward`, (p) => forward.encode(p, batch), fl + B * V, by + 4 * (2 * B * V + P * V));
        await h.add(`${name} backward`, (p) => backward.encode(p, batch), 2 * fl + B * V, 2 * by + 4 * (B * V + P * V));
        if (mode === 'full') await benchStepParts(h, owner, name, variant, c);
      } finally {
        owner.destroy();
      }
    }
  }
}
