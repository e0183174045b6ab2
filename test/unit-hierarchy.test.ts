// HierarchyManager: worst-of roll-up up the path, change events only on real change, subtrees.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Queue_Sign, Status_Condition as C, Status_Confidence as K } from '../proto/index.js';
import { HierarchyManager } from '../hierarchy/manager.js';
import { signal } from './support/client.js';

const test = suite('hierarchy');
const status = (subject: string, condition: C, confidence = K.MEASURED) => signal({ subject, queue: undefined, status: { condition, confidence } });

test('rolls the worst condition up to the root, and back down when it recovers', () => {
  const h = new HierarchyManager();
  h.apply(status('cluster/prod/broker/1', C.STABLE));
  const changes = h.apply(status('cluster/prod/broker/2', C.DEGRADED, K.CONFIRMED));
  assert.equal(changes.map((c) => [c.path, C[c.current]]), [['cluster/prod/broker/2', 'DEGRADED'], ['cluster/prod/broker', 'DEGRADED'], ['cluster/prod', 'DEGRADED'], ['cluster', 'DEGRADED'], ['', 'DEGRADED']]);
  assert.is(h.get('cluster/prod')!.confidence, K.CONFIRMED);
  const back = h.apply(status('cluster/prod/broker/2', C.STABLE));
  assert.equal(back.map((c) => [c.path, C[c.previous], C[c.current]]).at(-1), ['', 'DEGRADED', 'STABLE']);
});

test('no change, no event', () => {
  const h = new HierarchyManager();
  h.apply(status('a/b', C.DEGRADED));
  assert.equal(h.apply(status('a/b', C.DEGRADED)), []);
  assert.equal(h.apply(signal({ subject: 'a/c', queue: { sign: Queue_Sign.ENQUEUE, units: 1 } })).map((c) => c.path), ['a/c'], 'a STABLE sibling changes only its own cell');
  assert.is(h.get('a')!.condition, C.DEGRADED);
});

test('GetCell serves subtrees to a depth, with counts and last heard', () => {
  const h = new HierarchyManager();
  for (let p = 0; p < 5; p++) h.apply(status(`cluster/prod/topic/orders/partition/${p}`, C.STABLE));
  const topic = h.get('cluster/prod/topic/orders', 1)!;
  assert.is(topic.children.length, 1);
  assert.is(topic.children[0]!.omittedChildren, 5);
  assert.is(topic.signals, 5n);
  assert.ok(topic.lastHeard > 0n);
  assert.is(h.get('cluster/prod/topic/orders', 0)!.children[0]!.children.length, 5);
  assert.is(h.get('nope'), undefined);
});

test('refuses new cells beyond its limit', () => {
  const h = new HierarchyManager({ maxCells: 3 });
  h.apply(status('a/b/c', C.STABLE));
  assert.ok(h.canAccept('a/b/c'));
  assert.not.ok(h.canAccept('a/b/d'));
});

test.run();
