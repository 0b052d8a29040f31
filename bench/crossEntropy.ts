// The cross-entropy's kinds (one target a row, 4 weighted targets a row, the KL to a teacher),
// each checked against crossEntropyRef / klRef at CHECK_SHAPE, then timed.
import { uniformF32, uniformInt } from '../src/data/counterRng.ts';
import { Owner, readF32 } from '../src/gpu/buffers.ts';
import { CrossEntropy, crossEntropyRef, klRef, type TargetKind } from '../src/ops/crossEntropy.ts';
import type { Batch } from '../src/ops/groups.ts';
import { CHECK_SHAPE, OneOff, range, verify, type Harness } from './harness.ts';

/** Targets a row in the soft-target kind. */
export const K4 = 4;

const KINDS: { name: string; kind: TargetKind; flopsPerLogit: number; passes: number }[] = [
  { name: 'cross-entropy', kind: { kind: 'sparse', targetsPerRow: 1 }, flopsPerLogit: 6, passes: 3 },
  { name: `cross-entropy · sparse K ${K4}`, kind: { kind: 'sparse', targetsPerRow: K4 }, flopsPerLogit: 6 + K4, passes: 3 },
  { name: 'cross-entropy · teacher (KL)', kind: { kind: 'teacher' }, flopsPerLogit: 12, passes: 4 },
];

/** Logits, targets (K a row, equal weights), a teacher, and the outputs, for `rows` rows. */
function lossCase(owner: Owner, rows: number, V: number, K: number) {
  const host = { logits: uniformF32(1, rows * V, 5), targets: Int32Array.from(uniformInt(8, rows * K, V)), weights: new Float32Array(rows * K).fill(1 / K), teacher: uniformF32(11, rows * V, 5) };
  const b = {
    logits: owner.upload('logits', host.logits),
    targets: owner.upload('targets', host.targets),
    weights: owner.upload('weights', host.weights),
    teacher: owner.upload('teacher logits', host.teacher),
    loss: owner.buffer('loss', rows * 4),
    dlogits: owner.buffer('dlogits', rows * V * 4),
  };
  return { host, b };
}

async function check(h: Harness, name: string, kind: TargetKind): Promise<void> {
  const { V, B } = CHECK_SHAPE;
  const K = kind.kind === 'sparse' ? kind.targetsPerRow : 1;
  const owner = new Owner(h.gpu);
  try {
    const { host, b } = lossCase(owner, B, V, K);
    const op = await CrossEntropy.create(h.gpu, V, kind);
    const call = owner.own(new OneOff(h.gpu, 'check', (t) => op.bind(t, b, B)));
    await h.runOnce(`check ${name}`, (pass) => call.encode(pass, { rows: Uint32Array.from(range(B)), ranges: [] }));
    const want = kind.kind === 'teacher' ? klRef(host.logits, host.teacher, B, V, B) : crossEntropyRef(host.logits, host.targets, B, V, B, host.weights);
    verify(`${name} loss`, await readF32(h.gpu, b.loss, B), want.loss, { atol: 2e-5, rtol: 2e-6 });
    verify(`${name} dlogits`, await readF32(h.gpu, b.dlogits, B * V), want.dlogits, { atol: 1e-9, rtol: 2e-5 });
  } finally {
    owner.destroy();
  }
}

export async function benchCrossEntropy(h: Harness): Promise<void> {
  const { V, B } = h.shape;
  const batch: Batch = { rows: Uint32Array.from(range(B)), ranges: [] };
  for (const { name, kind, flopsPerLogit, passes } of KINDS) {
    await check(h, name, kind);
    const owner = new Owner(h.gpu);
    try {
      const { b } = lossCase(owner, B, V, kind.kind === 'sparse' ? kind.targetsPerRow : 1);
      const op = await CrossEntropy.create(h.gpu, V, kind);
      const call = owner.own(new OneOff(h.gpu, name, (t) => op.bind(t, b, B)));
      await h.add(name, (p) => call.encode(p, batch), flopsPerLogit * B * V, 4 * passes * B * V);
    } finally {
      owner.destroy();
    }
  }
}
