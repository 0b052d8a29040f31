// Clip + AdamW's variants: over a stored gradient (adamw.wgsl's sumsq, clip and update), and
// fused with the translators' gradient (its ghost norm, dW rebuilt inside the update: 24 bytes
// a present parameter). Each is checked against adamwRef (the fused one on the gradient
// translatorBackwardRef gives) at CHECK_SHAPE, then timed over the bench batch's groups.
import { uniformF32 } from '../src/data/counterRng.ts';
import { Owner, readF32 } from '../src/gpu/buffers.ts';
import { AdamW, adamwRef, SEED_ADAMW, type PresentGroup } from '../src/ops/adamw.ts';
import { blockStride, groupRanges, type GroupRange } from '../src/ops/groups.ts';
import { translatorBackwardRef } from '../src/ops/translator.ts';
import { CHECK_SHAPE, OneOff, verify, type Harness } from './harness.ts';

type Variant = 'unfused' | 'fused';

/** Parameters, moments, a stored gradient and the batch's dy and x, for G groups of width d. */
function adamwCase(owner: Owner, d: number, G: number, B: number) {
  const stride = blockStride(d);
  const host = {
    param: uniformF32(4, G * stride, 0.01),
    grad: uniformF32(5, G * stride, 1e-4),
    m: uniformF32(6, G * stride, 1e-4),
    v: uniformF32(7, G * stride, 1e-6).map(Math.abs),
    x: uniformF32(1, B * d, 1),
    dy: uniformF32(2, B * d, 1e-3),
  };
  const b = Object.fromEntries(Object.entries(host).map(([k, a]) => [k, owner.upload(k, a)])) as Record<keyof typeof host, GPUBuffer>;
  return { host, b, stride };
}

/** The update of one variant bound once; its input is the present groups (step 1, and the fused set's slots). */
async function bound(h: Harness, owner: Owner, variant: Variant, d: number, G: number, B: number) {
  const c = adamwCase(owner, d, G, B);
  const fused = variant === 'fused';
  const op = owner.own(await AdamW.create(h.gpu, [{ stride: c.stride, numGroups: G, fusedTranslator: fused ? { d } : undefined }], SEED_ADAMW));
  const { param, m, v, grad, dy, x } = c.b;
  const call = owner.own(new OneOff(h.gpu, `adamw ${variant}`, (t) => op.bind(t, [fused ? { param, m, v, dy, x } : { param, m, v, grad }])));
  const present = (ranges: GroupRange[]): PresentGroup[][] => [ranges.map((r) => ({ group: r.group, step: 1, first: r.first, count: r.count }))];
  return { ...c, call, present };
}

async function check(h: Harness, variant: Variant): Promise<void> {
  const { d, B, counts } = CHECK_SHAPE;
  const G = counts.length;
  const groupOf = Int32Array.from(counts.flatMap((c, g) => Array<number>(c).fill(g)));
  const ranges = groupRanges(groupOf);
  const owner = new Owner(h.gpu);
  try {
    const { host, b, stride, call, present } = await bound(h, owner, variant, d, G, B);
    await h.runOnce(`check adamw ${variant}`, (pass) => call.encode(pass, present(ranges)));
    const grad = variant === 'fused' ? translatorBackwardRef(host.dy, host.x, groupOf, d, G) : host.grad;
    const want = { param: host.param.slice(), grad, m: host.m.slice(), v: host.v.slice() };
    adamwRef(want, stride, present(ranges)[0]!, SEED_ADAMW);
    // The blocks' zero padding past W and b is no parameter: the fused update skips it.
    const used = (a: Float32Array) => a.filter((_, i) => i % stride < d * d + d);
    for (const key of ['param', 'm', 'v'] as const) {
      verify(`AdamW + clip · ${variant} ${key}`, used(await readF32(h.gpu, b[key], G * stride)), used(want[key]), { atol: 1e-9, rtol: 1e-4 });
    }
  } finally {
    owner.destroy();
  }
}

export async function benchAdamW(h: Harness, ranges: GroupRange[], G: number): Promise<void> {
  const { d, B } = h.shape;
  const present = ranges.length;
  const stride = blockStride(d);
  const variants: Variant[] = h.gpu.hasSubgroups ? ['unfused', 'fused'] : ['unfused'];
  for (const variant of variants) {
    await check(h, variant);
    const owner = new Owner(h.gpu);
    try {
      const c = await bound(h, owner, variant, d, G, B);
      const [flops, bytes] = variant === 'fused' ? [2 * B * d * d + 18 * present * stride, 4 * 6 * present * stride] : [18 * present * stride, 4 * 8 * present * stride];
      await h.add(`AdamW + clip · ${variant} (${present} groups)`, (p) => c.call.encode(p, c.present(ranges)), flops, bytes);
    } finally {
      owner.destroy();
    }
  }
}
