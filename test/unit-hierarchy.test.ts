// HierarchyManager: roll-up up the path (weighted where children are a population, worst-of where
// they are aspects of one thing), change events only on real change, staleness, subtrees.
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
  const producer = 'service/orders/pod/o-1/producer/p';
  h.apply(status(`${producer}#request-latency`, C.DEGRADED));
  assert.equal(h.apply(status(`${producer}#request-latency`, C.DEGRADED)), []);
  assert.equal(h.apply(signal({ subject: `${producer}#buffer`, queue: { sign: Queue_Sign.ENQUEUE, units: 1 } })).map((c) => c.path), [`${producer}#buffer`], 'a STABLE sibling aspect changes only its own cell');
  assert.is(h.get(producer)!.condition, C.DEGRADED);
});

test('an aspect is a cell below its entity, named "#<aspect>"; the entity is as bad as its worst aspect', () => {
  const h = new HierarchyManager();
  const broker = 'cluster/prod/broker/1';
  const changes = h.apply(status(`${broker}#under-replicated`, C.DEGRADED, K.MEASURED));
  assert.equal(changes.map((c) => c.path), [`${broker}#under-replicated`, broker, 'cluster/prod/broker', 'cluster/prod', 'cluster', '']);
  h.apply(status(`${broker}#gc/G1_Old_Generation`, C.STABLE));
  const cell = h.get(broker, 1)!;
  assert.equal(cell.children.map((c) => c.name).sort(), ['#gc/G1_Old_Generation', '#under-replicated']);
  assert.is(cell.condition, C.DEGRADED, 'worst of its aspects, not a population vote');
  assert.is(h.state(`${broker}#gc/G1_Old_Generation`)!.info.aspect, 'gc/G1_Old_Generation');
  assert.is(h.state(`${broker}#gc/G1_Old_Generation`)!.info.entity, broker);
  assert.is(h.state(broker)!.info.kind, 'broker');
  assert.is(h.state('cluster/prod/broker')!.info.kind, 'container');
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

const S = 1_000_000_000n;
const at = (s: ReturnType<typeof signal>, t: bigint) => ({ ...s, timestamp: t });

test('one degraded partition of a thousand does not move its topic or cluster; a majority does', () => {
  const h = new HierarchyManager();
  const part = (n: number) => `cluster/prod/topic/clicks/partition/${n}`;
  for (let n = 0; n < 1000; n++) h.apply(status(part(n), C.STABLE));
  h.apply(status('cluster/prod/broker/1', C.STABLE));
  const one = h.apply(status(part(7), C.DEGRADED, K.CONFIRMED));
  assert.equal(one.map((c) => c.path), [part(7)], 'only the partition itself changes');
  const partitions = h.get('cluster/prod/topic/clicks/partition', 1)!;
  assert.is(partitions.condition, C.STABLE);
  assert.is(partitions.affectedChildren, 1, 'its parent knows one child is affected');
  assert.is(partitions.knownChildren, 1000);
  assert.is(h.get('cluster/prod', 1)!.condition, C.STABLE);
  // A minority (10 % or more) makes the population DIVERGING, TENTATIVE: something is moving.
  for (let n = 100; n < 250; n++) h.apply(status(part(n), C.DEGRADED, K.CONFIRMED));
  assert.is(h.get('cluster/prod/topic/clicks/partition', 1)!.condition, C.DIVERGING);
  assert.is(h.get('cluster/prod/topic/clicks/partition', 1)!.confidence, K.TENTATIVE);
  // Half or more: the population is DEGRADED, and the topic and the cluster with it.
  for (let n = 250; n < 600; n++) h.apply(status(part(n), C.DEGRADED, K.CONFIRMED));
  for (const p of ['cluster/prod/topic/clicks/partition', 'cluster/prod/topic/clicks', 'cluster/prod', '']) {
    assert.is(h.get(p, 1)!.condition, C.DEGRADED, `${p || '(root)'} DEGRADED`);
  }
  assert.is(h.get('cluster/prod/topic/clicks/partition', 1)!.confidence, K.CONFIRMED);
});

test('how sure the children are counts: TENTATIVE children weigh half', () => {
  const h = new HierarchyManager();
  for (let n = 0; n < 10; n++) h.apply(status(`cluster/c/broker/${n}`, C.STABLE));
  for (let n = 0; n < 6; n++) h.apply(status(`cluster/c/broker/${n}`, C.DOWN, K.TENTATIVE));
  // 6 of 10 down, but only TENTATIVE: weighted 3 of 10 — a minority, not a majority.
  assert.is(h.get('cluster/c/broker', 1)!.condition, C.DIVERGING);
  for (let n = 0; n < 6; n++) h.apply(status(`cluster/c/broker/${n}`, C.DOWN, K.MEASURED));
  assert.is(h.get('cluster/c/broker', 1)!.condition, C.DOWN);
});

test('a pod is as bad as its worst part (its clients and JVM are aspects, not a population)', () => {
  const h = new HierarchyManager();
  h.apply(status('service/orders/pod/o-1/producer/p', C.STABLE));
  h.apply(status('service/orders/pod/o-1/consumer/c', C.STABLE));
  h.apply(status('service/orders/pod/o-1/jvm', C.DEGRADED));
  assert.is(h.get('service/orders/pod/o-1', 1)!.condition, C.DEGRADED);
});

test("a cell's own condition is the worst of its streams, not the last signal", () => {
  const h = new HierarchyManager();
  const subject = 'service/orders/pod/o-1/producer/p';
  h.apply(signal({ subject, queue: undefined, status: { condition: C.DIVERGING, confidence: K.MEASURED }, context: { metric: 'request-latency-avg', value: '480' } }));
  // The buffer is fine: the producer is still DIVERGING, because its latency still is.
  assert.equal(h.apply(signal({ subject, queue: { sign: Queue_Sign.ENQUEUE, units: 20 } })), []);
  assert.is(h.get(subject)!.condition, C.DIVERGING);
  h.apply(signal({ subject, queue: undefined, status: { condition: C.STABLE, confidence: K.MEASURED }, context: { metric: 'request-latency-avg', value: '12' } }));
  assert.is(h.get(subject)!.condition, C.STABLE);
});

test('a silent cell loses confidence, then goes stale; its parent knows and stops counting it', () => {
  const h = new HierarchyManager({ decayAfterNs: 60n * S, staleAfterNs: 180n * S });
  const t0 = 1_700_000_000n * S;
  for (const pod of ['a', 'b', 'c']) h.applyTo(at(status(`service/s/pod/${pod}/jvm`, C.STABLE, K.CONFIRMED), t0), t0, []);
  for (let t = 10n; t <= 240n; t += 10n) {
    for (const pod of ['a', 'b']) h.applyTo(at(status(`service/s/pod/${pod}/jvm`, C.STABLE, K.CONFIRMED), t0 + t * S), t0 + t * S, []);
  }
  const decay: ReturnType<typeof h.apply> = [];
  h.tick(t0 + 70n * S, decay);
  assert.equal(decay[0], { path: 'service/s/pod/c/jvm', previous: C.STABLE, current: C.STABLE, confidence: K.MEASURED, causeSourceId: '', causeSeq: 0n, stale: false, reason: 'silent for 70 s: confidence lowered' });
  const stale: ReturnType<typeof h.apply> = [];
  h.tick(t0 + 250n * S, stale);
  assert.equal(stale.map((c) => [c.path, c.stale]), [['service/s/pod/c/jvm', true], ['service/s/pod/c', true], ['service/s/pod', false]]);
  assert.is(stale.at(-1)!.reason, '2 children healthy; 1 child silent');
  const pods = h.get('service/s/pod', 1)!;
  assert.is(pods.staleChildren, 1);
  assert.is(pods.knownChildren, 2);
  assert.ok(h.get('service/s/pod/c')!.stale);
  assert.is(h.staleCount, 1);
  // It speaks again: fresh, counted again.
  h.applyTo(at(status('service/s/pod/c/jvm', C.STABLE, K.CONFIRMED), t0 + 251n * S), t0 + 251n * S, []);
  assert.is(h.get('service/s/pod', 1)!.staleChildren, 0);
  assert.is(h.staleCount, 0);
});

test('an inferred condition shows where nothing reports, and a reported one wins', () => {
  const h = new HierarchyManager();
  const out: ReturnType<typeof h.apply> = [];
  h.infer('cluster/msk/broker/2', { condition: C.DEGRADED, confidence: K.MEASURED }, 'inferred: 7 clients failing against it', out);
  assert.is(out[0]!.reason, 'inferred: 7 clients failing against it');
  assert.ok(h.get('cluster/msk/broker/2')!.inferred);
  assert.is(h.get('cluster/msk/broker/2')!.condition, C.DEGRADED);
  h.apply(status('cluster/msk/broker/2', C.STABLE));
  assert.is(h.get('cluster/msk/broker/2')!.condition, C.STABLE);
  assert.not.ok(h.get('cluster/msk/broker/2')!.inferred);
});

test('refuses new cells beyond its limit', () => {
  const h = new HierarchyManager({ maxCells: 4 });
  h.apply(status('cluster/prod/broker/1', C.STABLE));
  assert.ok(h.canAccept('cluster/prod/broker/1'));
  assert.not.ok(h.canAccept('cluster/prod/broker/2'));
});

test.run();
