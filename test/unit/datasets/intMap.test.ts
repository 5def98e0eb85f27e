// IntMap (the hash-keyed table behind duplicate buckets and prompt counts) agrees with a Map under
// random inserts, overwrites and deletes, including long probe runs of colliding keys.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IntMap } from '../../../core/datasets/intMap.ts';
import { prng } from '../../helpers/prng.ts';

function agree(map: IntMap<number>, reference: Map<number, number>, keys: Iterable<number>): void {
  assert.equal(map.size, reference.size);
  for (const k of keys) assert.equal(map.get(k), reference.get(k), `key ${k}`);
}

for (const [name, keyRange] of [['spread keys', 0x3fffffff], ['keys that collide', 64]] as const) {
  test(`IntMap matches Map over random operations (${name})`, () => {
    const rand = prng(7);
    const map = new IntMap<number>();
    const reference = new Map<number, number>();
    const seen = new Set<number>();
    for (let step = 0; step < 20_000; step++) {
      // Collisions: multiples of 1024 share low bits, so they land in one probe run.
      const key = keyRange === 64 ? Math.floor(rand() * keyRange) * 1024 : Math.floor(rand() * keyRange);
      seen.add(key);
      if (rand() < 0.4) assert.equal(map.delete(key), reference.delete(key));
      else {
        map.set(key, step);
        reference.set(key, step);
      }
      if (step % 997 === 0) agree(map, reference, seen);
    }
    agree(map, reference, seen);
    for (const k of seen) {
      map.delete(k);
      reference.delete(k);
    }
    agree(map, reference, seen);
  });
}

test('IntMap.reserve keeps every entry and takes that many more without losing any', () => {
  const rand = prng(11);
  const map = new IntMap<number>();
  const reference = new Map<number, number>();
  const add = (n: number) => {
    for (let i = 0; i < n; i++) {
      const key = Math.floor(rand() * 0x3fffffff);
      map.set(key, i);
      reference.set(key, i);
    }
  };
  add(300);
  map.reserve(50_000);
  agree(map, reference, reference.keys());
  add(50_000);
  agree(map, reference, reference.keys());
  map.reserve(10); // smaller than the table: changes nothing
  agree(map, reference, reference.keys());
});
