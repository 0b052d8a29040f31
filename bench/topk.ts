// Top-k's variants (a row a subgroup, a row a workgroup of 256), each checked against topkRef
// at CHECK_SHAPE (ties included), then timed.
import { uniformF32, uniformInt } from '../src/data/counterRng.ts';
import { Owner, readU32 } from '../src/gpu/buffers.ts';
import type { Batch } from '../src/ops/groups.ts';
import { TopK, TOP_K, topkRef, type TopKVariant } from '../src/ops/topk.ts';
import { CHECK_SHAPE, OneOff, range, verify, type Harness } from './harness.ts';

function topkCase(owner: Owner, rows: number, V: number) {
  // Logits rounded to a coarse grid, so that rows hold ties.
  const host = { logits: uniformF32(1, rows * V, 4).map((x) => Math.round(x * 8) / 8), targets: Int32Array.from(uniformInt(8, rows, V)) };
  const b = {
    logits: owner.upload('logits', host.logits),
    targets: owner.upload('targets', host.targets),
    weights: owner.upload('weights', new Float32Array(rows).fill(1)),
    rank: owner.buffer('rank', rows * 4),
    anyRank: owner.buffer('any rank', rows * 4),
    ids: owner.buffer('ids', rows * TOP_K * 4),
  };
  return { host, b, batch: { rows: Uint32Array.from(range(rows)), ranges: [] } as Batch };
}

async function check(h: Harness, variant: TopKVariant): Promise<void> {
  const { V, B } = CHECK_SHAPE;
  const owner = new Owner(h.gpu);
  try {
    const { host, b, batch } = topkCase(owner, B, V);
    const op = await TopK.create(h.gpu, V, 1, variant);
    const call = owner.own(new OneOff(h.gpu, 'check', (t) => op.bind(t, b, B)));
    await h.runOnce(`check top-k ${variant}`, (pass) => call.encode(pass, batch));
    const want = topkRef(host.logits, host.targets, B, V);
    verify(`top-k · ${variant} rank`, await readU32(h.gpu, b.rank, B), want.rank, { atol: 0, rtol: 0 });
    verify(`top-k · ${variant} ids`, await readU32(h.gpu, b.ids, B * TOP_K), want.ids, { atol: 0, rtol: 0 });
  } finally {
    owner.destroy();
  }
}

export async function benchTopK(h: Harness): Promise<void> {
  const { V, B } = h.shape;
  for (const variant of h.candidates.topk) {
    await check(h, variant);
    const owner = new Owner(h.gpu);
    try {
      const { b, batch } = topkCase(owner, B, V);
      const op = await TopK.create(h.gpu, V, 1, variant);
      const call = owner.own(new OneOff(h.gpu, `top-k ${variant}`, (t) => op.bind(t, b, B)));
      await h.add(`top-k · ${variant}`, (p) => call.encode(p, batch), 2 * B * V, 4 * B * V, { family: 'topk', name: variant });
    } finally {
      owner.destroy();
    }
  }
}
