// The plain TypeScript references of every kernel family against the PyTorch fixtures.
// The GPU kernels are tested against the same fixtures in *.gpu.test.ts.
import { suite } from 'uvu';
import { blockStride, packBlocks } from '../../src/ops/groups.ts';
import { translatorBackwardRef, translatorForwardRef } from '../../src/ops/translator.ts';
import { rmsnormBackwardRef, rmsnormForwardRef } from '../../src/ops/rmsnorm.ts';
import { unembedBackwardRef, unembedLogitsRef } from '../../src/ops/unembed.ts';
import { crossEntropyRef } from '../../src/ops/crossEntropy.ts';
import { topkRef } from '../../src/ops/topk.ts';
import { adamwRef, SEED_ADAMW } from '../../src/ops/adamw.ts';
import { expectClose } from '../helpers/close.ts';
import { adamwInputs, fixture } from '../helpers/fixtures.ts';
import * as assert from 'uvu/assert';

const test = suite('references vs PyTorch');

test('translator forward and backward', () => {
  const fx = fixture('translator_d48');
  const { d, groups: G, batch: B } = fx.meta;
  const groupOf = fx.i32('group_of_slot');
  expectClose('y', translatorForwardRef(fx.f32('x'), packBlocks(fx.f32('W'), fx.f32('b'), G, d), groupOf, d), fx.f32('y'), { atol: 1e-6, rtol: 1e-6 });
  const grad = translatorBackwardRef(fx.f32('dy'), fx.f32('x'), groupOf, d, G);
  const stride = blockStride(d);
  const dW = new Float32Array(G * d * d);
  for (let g = 0; g < G; g++) dW.set(grad.subarray(g * stride, g * stride + d * d), g * d * d);
  expectClose('dW', dW, fx.f32('dW'), { atol: 1e-6 * Math.sqrt(B), rtol: 1e-6 });
});

test('rmsnorm forward and backward, also with hidden states ×1e-3', () => {
  for (const name of ['rmsnorm_d48', 'rmsnorm_d48_tiny']) {
    const fx = fixture(name);
    const { d, rows, eps } = fx.meta;
    expectClose(`${name} z`, rmsnormForwardRef(fx.f32('y'), fx.f32('gamma'), rows, d, eps).z, fx.f32('z'), { atol: 1e-7, rtol: 1e-6 });
    const dyRef = fx.f32('dy');
    const scale = Math.max(...Array.from(dyRef, Math.abs));
    expectClose(`${name} dy`, rmsnormBackwardRef(fx.f32('y'), fx.f32('gamma'), fx.f32('dz'), rows, d, eps), dyRef, { atol: 1e-6 * scale, rtol: 1e-6 });
  }
});

test('unembedding logits and dz (f32 and f16 heads)', () => {
  for (const name of ['unembed_v509_d48', 'unembed_v509_d48_f16', 'unembed_v509_d48_b1']) {
    const fx = fixture(name);
    const { V, d, M } = fx.meta;
    expectClose(`${name} logits`, unembedLogitsRef(fx.f32('z'), fx.f32('U'), M, V, d), fx.f32('logits'), { atol: 1e-6, rtol: 1e-6 });
    expectClose(`${name} dz`, unembedBackwardRef(fx.f32('dlogits'), fx.f32('U'), M, V, d), fx.f32('dz'), { atol: 1e-8, rtol: 1e-6 });
  }
});

test('cross-entropy with padded rows and logits up to ±100', () => {
  for (const name of ['ce_v509', 'ce_v509_b1']) {
    const fx = fixture(name);
    const { V, B, count } = fx.meta;
    const { loss, dlogits } = crossEntropyRef(fx.f32('logits'), fx.i32('targets'), B, V, count);
    expectClose(`${name} loss`, loss, fx.f32('loss'), { atol: 1e-6, rtol: 1e-6 });
    expectClose(`${name} dlogits`, dlogits, fx.f32('dlogits'), { atol: 1e-9, rtol: 1e-5 });
  }
});

test('top-k ranks and ids, ties in id order', () => {
  const fx = fixture('topk_v509');
  const { V, B } = fx.meta;
  const { rank, ids } = topkRef(fx.f32('logits'), fx.i32('targets'), B, V);
  assert.equal(Array.from(rank), Array.from(fx.u32('rank')));
  assert.equal(Array.from(ids), Array.from(fx.u32('ids')));
});

test('AdamW with clip_grad_norm_: clipped, unclipped, tiny values', () => {
  for (const name of ['adamw_clip', 'adamw_noclip', 'adamw_tiny', 'adamw_tiny_clip']) {
    const fx = fixture(name);
    const { d, present, prior_steps: prior } = fx.meta;
    const stride = blockStride(d);
    const st = adamwInputs(fx, stride);
    const { norm } = adamwRef(st, stride, present.map((g: number) => ({ group: g, step: prior[g] + 1 })), { ...SEED_ADAMW, maxNorm: fx.meta.max_norm });
    expectClose(`${name} norm`, [norm], fx.f32('norm'), { atol: 0, rtol: 1e-5 });
    for (const g of present as number[]) {
      for (const [k, off, n] of [['W', 0, d * d], ['b', d * d, d]] as const) {
        for (const t of ['param', 'm', 'v'] as const) {
          const got = st[t].subarray(g * stride + off, g * stride + off + n);
          const ref = fx.f32(`${k}${g}_${t}`);
          const scale = Math.max(...Array.from(ref, Math.abs));
          expectClose(`${name} ${k}${g} ${t}`, got, ref, { atol: 1e-6 * scale, rtol: 1e-6 });
        }
      }
    }
  }
});

test.run();
