// Presets → groups, checked against the contract's figures and the PyTorch step fixture.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { makeBatch } from '../../src/lens/batch.ts';
import { groupName, groupTable, parameterCount } from '../../src/lens/preset.ts';
import { fixture } from '../helpers/fixtures.ts';

const test = suite('preset');
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

test('the reference case: 16 layers × 6 positions', () => {
  const lite = groupTable('lite', range(16), range(6));
  assert.is(lite.groups.length, 36);
  assert.is(parameterCount(lite.groups.length, 2048), 151_068_672);
  assert.is(groupTable('baseline', range(16), range(6)).groups.length, 16);
  assert.is(groupTable('full', range(16), range(6)).groups.length, 96);
});

test('lite numbering matches the fixture generator (layer order, positions within a critical layer)', () => {
  const fx = fixture('step_lite');
  const t = groupTable('lite', range(fx.meta.layers), range(fx.meta.positions), fx.meta.critical);
  const layer = fx.i32('layer');
  const position = fx.i32('position');
  const group = fx.i32('group');
  assert.is(t.groups.length, fx.meta.groups);
  for (let i = 0; i < group.length; i++) assert.is(t.groupOf(layer[i]!, position[i]!), group[i]!, `sample ${i}`);
});

test('group names follow the lens file layout; uncovered pairs have no group', () => {
  const t = groupTable('lite', [3, 7], [0, 1], [7]);
  assert.equal(t.groups.map(groupName), ['translators.3', 'translators.7.0', 'translators.7.1']);
  assert.is(t.groupOf(3, 1), 0);
  assert.is(t.groupOf(7, 1), 2);
  assert.is(t.groupOf(5, 0), -1);
  assert.is(t.groupOf(7, 2), -1);
});

test('makeBatch sorts stably by group; contiguous rows become one copy', () => {
  const groupOfRow = Int32Array.from([2, 0, 2, 1, 0, 2]);
  const b = makeBatch([5, 4, 0, 1, 2, 3], { group: groupOfRow });
  assert.equal([...b.rows], [4, 1, 3, 5, 0, 2]);
  assert.equal([...b.groups], [0, 0, 1, 2, 2, 2]);
  assert.equal(b.ranges, [
    { group: 0, first: 0, count: 2 },
    { group: 1, first: 2, count: 1 },
    { group: 2, first: 3, count: 3 },
  ]);
  assert.is(b.positions, undefined);
  assert.throws(() => makeBatch([0], { group: Int32Array.from([-1]) }), /no group/);
});

test('a batch carries its slots by position where the rows have positions', () => {
  const b = makeBatch([5, 4, 0, 1, 2, 3], { group: Int32Array.from([2, 0, 2, 1, 0, 2]), position: Int32Array.from([1, 0, 1, 2, 0, 0]) });
  // Slots (rows 4, 1, 3, 5, 0, 2) at positions 0, 0, 2, 0, 1, 1: ordered by position, stably.
  assert.equal([...b.positions!.slots], [0, 1, 3, 4, 5, 2]);
  assert.equal(b.positions!.ranges, [
    { group: 0, first: 0, count: 3 },
    { group: 1, first: 3, count: 2 },
    { group: 2, first: 5, count: 1 },
  ]);
});

test.run();
