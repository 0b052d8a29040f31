// Host-side helpers: the counter RNG shared with Python, f16 packing, windows, group ranges.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { uniformF32, uniformInt } from '../../src/data/counterRng.ts';
import { bindingWindows } from '../../src/gpu/buffers.ts';
import { groupRanges, tiles } from '../../src/ops/groups.ts';
import { f16Bits, f16ToF32 } from '../../src/shared/f16.ts';

const test = suite('host helpers');

test('counter RNG matches fixtures/counter_rng.py bit for bit', () => {
  // printed by: uniform_f32(7, 5, 0.37, 3) and uniform_int(9, 6, 509) in fixtures/counter_rng.py
  const f = Array.from(uniformF32(7, 5, 0.37, 3), (x) => Number(x.toPrecision(9)));
  assert.equal(f, [-0.147102714, -0.206775308, -0.188725144, -0.251522183, -0.127343684]);
  assert.equal(Array.from(uniformInt(9, 6, 509)), [393, 491, 62, 310, 219, 330]);
});

test('f16 rounding is round-to-nearest-even, with subnormals and overflow', () => {
  assert.is(f16Bits(1), 0x3c00);
  assert.is(f16Bits(1 + 2 ** -11), 0x3c00); // tie → even
  assert.is(f16Bits(1 + 3 * 2 ** -11), 0x3c02); // tie → even (up)
  assert.is(f16Bits(2 ** -24), 0x0001);
  assert.is(f16Bits(2 ** -25), 0x0000); // tie → even (zero)
  assert.is(f16Bits(70000), 0x7c00);
  assert.is(f16ToF32(f16Bits(-0.333251953125)), -0.333251953125);
});

test('binding windows: aligned, covering, each within the limit', () => {
  const w = bindingWindows(509, 48 * 4, 16 * 1024, 256);
  assert.ok(w.length > 1);
  let next = 0;
  for (const x of w) {
    assert.is(x.first, next);
    assert.is(x.byteOffset % 256, 0);
    assert.ok(x.byteLength <= 16 * 1024);
    next += x.count;
  }
  assert.is(next, 509);
  assert.throws(() => bindingWindows(4, 1024, 512, 256), /exceeds the binding limit/);
});

test('group ranges and tiles', () => {
  const r = groupRanges([0, 0, 1, 3, 3, 3]);
  assert.equal(r, [{ group: 0, first: 0, count: 2 }, { group: 1, first: 2, count: 1 }, { group: 3, first: 3, count: 3 }]);
  assert.equal(tiles(r, 2).map((t) => t.count), [2, 1, 2, 1]);
  assert.throws(() => groupRanges([1, 0]), /not sorted/);
});

test.run();
