// The position-specific vocabulary bias on the GPU against PyTorch: logits + c_p forward,
// dc_p = Σ dlogits over the position's slots backward; an absent position's block untouched.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addBiasRef, biasGradRef, PositionUnembed, positionBlockStride, positionSlots } from '../../src/ops/positionUnembed.ts';
import { expectClose } from '../helpers/close.ts';
import { fixture } from '../helpers/fixtures.ts';
import { buf, f32, run, testGpu } from '../helpers/gpu.ts';

const test = suite('position unembedding');
const SENTINEL = 777.25;

test('bias: forward and backward, V 509 (prime), 33 rows over 5 of 6 positions', async () => {
  const gpu = await testGpu();
  const fx = fixture('position_bias_v509');
  const { V, B, P } = fx.meta;
  const op = await PositionUnembed.create(gpu, 'bias', V, 48);
  const stride = positionBlockStride('bias', V, 48);
  const c = fx.f32('c');
  const blocks = new Float32Array(P * stride);
  for (let q = 0; q < P; q++) blocks.set(c.subarray(q * V, (q + 1) * V), q * stride);
  const slotPosition = fx.i32('slot_position');
  const { slots, ranges } = positionSlots(slotPosition);
  assert.is(ranges.length, P - 1);
  const b = {
    params: buf(gpu, 'c', blocks),
    slotPosition: buf(gpu, 'slot position', slotPosition),
    logits: buf(gpu, 'logits', fx.f32('logits')),
    dlogits: buf(gpu, 'dlogits', fx.f32('dlogits')),
    positionSlots: buf(gpu, 'slots', slots),
    grad: buf(gpu, 'grad', new Float32Array(P * stride).fill(SENTINEL)),
  };
  await run(gpu, 'position bias', (pass) => {
    op.addBias(pass, b, B);
    op.biasGrad(pass, b, ranges);
  });
  expectClose('logits + c_p', await f32(gpu, b.logits, B * V), fx.f32('out'), { atol: 1e-6, rtol: 1e-6 });
  const grad = await f32(gpu, b.grad, P * stride);
  const dc = new Float32Array(P * V);
  for (let q = 0; q < P; q++) dc.set(grad.subarray(q * stride, q * stride + V), q * V);
  const dcRef = fx.f32('dc');
  expectClose('dc_p (present positions)', dc.subarray(0, (P - 1) * V), dcRef.subarray(0, (P - 1) * V), { atol: 1e-8, rtol: 1e-5 });
  assert.ok(grad.subarray((P - 1) * stride, P * stride).every((x) => x === SENTINEL), "the absent position's block was written");
  // The TypeScript references agree with PyTorch too.
  expectClose('reference logits + c_p', addBiasRef(fx.f32('logits'), c, slotPosition, V), fx.f32('out'), { atol: 1e-6, rtol: 1e-6 });
  expectClose('reference dc_p', biasGradRef(fx.f32('dlogits'), slotPosition, P, V), dcRef, { atol: 1e-9, rtol: 1e-6 });
});

test.run();
