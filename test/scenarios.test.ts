// Scenarios: recorded signal timelines (test/fixtures/scenarios) replayed through the real
// pipeline — hierarchy, every observer, both reporters — with a fake clock, as the aggregator
// would live. What a user would notice: how many narratives, what they blame, in which order
// they tell it, what they advise; and silence when nothing is wrong.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Narrative_State, Situation_Level, Status_Condition as C, Status_Confidence as K, type Evidence, type Narrative } from '../proto/index.js';
import { Pipeline } from '../aggregator/pipeline.js';
import { parseSubject } from '../proto/index.js';
import { signalProblem } from '../proto/index.js';
import { findingsOf, loadScenario, narrativesOf, replay, scenarioIndex, situationsOf, SECOND, type Timed } from './support/scenarios.js';

const test = suite('scenarios (pure pipeline, fake clock)');

interface Run {
  pipeline: Pipeline;
  events: Timed[];
  narratives: Narrative[];
  startNs: bigint;
}

/** Replays a scenario and then two quiet minutes (windows close, narratives resolve). */
function run(name: string, upToSeconds?: number): Run {
  const sc = loadScenario(name);
  const pipeline = new Pipeline();
  const signals = upToSeconds === undefined ? sc.signals : sc.signals.filter((s) => s.timestamp < sc.startNs + BigInt(upToSeconds) * SECOND);
  const events = replay(pipeline, signals, { from: sc.startNs, afterNs: upToSeconds === undefined ? 120n * SECOND : 0n });
  return { pipeline, events, narratives: narrativesOf(events), startNs: sc.startNs };
}

const ids = (r: Run): string[] => [...new Set(r.narratives.map((n) => n.id))];
const last = (r: Run): Narrative => r.narratives.at(-1)!;
const alarms = (r: Run) => situationsOf(r.events).filter((s) => s.current >= Situation_Level.WARNING);

type Part = 'broker' | 'producer' | 'consumer' | 'other';
function partOf(e: Evidence): Part {
  const i = parseSubject(e.subject);
  if (i.kind === 'broker' || i.kind === 'partition') return 'broker';
  if (i.kind === 'client' && i.role === 'producer') return 'producer';
  if ((i.kind === 'client' && i.role === 'consumer') || i.group !== undefined) return 'consumer';
  return 'other';
}

/** Broker evidence, then producers', then consumers': never a later part before an earlier one. */
function assertBrokerProducersConsumers(chain: Evidence[]): void {
  const order: Part[] = ['broker', 'producer', 'consumer'];
  const parts: Part[] = chain.map(partOf).filter((p) => p !== 'other');
  for (let i = 1; i < parts.length; i++) {
    assert.ok(order.indexOf(parts[i]!) >= order.indexOf(parts[i - 1]!), `chain out of order at ${i}: ${chain.map((e) => `${e.subject} ${e.sign}`).join(' | ')}`);
  }
  for (const p of order) assert.ok(parts.includes(p), `the chain has ${p} evidence`);
}

test('every timeline is what agents would send: valid signals, each source numbering its own in order', () => {
  for (const meta of scenarioIndex()) {
    const sc = loadScenario(meta.name);
    assert.is(sc.signals.length, meta.signals, `${meta.name}: index.json counts its signals`);
    const seen = new Map<string, bigint>();
    for (const s of sc.signals) {
      assert.is(signalProblem(s, s.timestamp), undefined, `${meta.name}: ${s.sourceId}#${s.seq}`);
      assert.ok(s.seq > (seen.get(s.sourceId) ?? 0n), `${meta.name}: ${s.sourceId}#${s.seq} in order`);
      seen.set(s.sourceId, s.seq);
      assert.is(s.clock[s.sourceId], s.seq, 'its clock carries its own seq');
    }
  }
});

test('cascade from broker 1: one narrative, rooted at the broker, told broker -> producers -> consumers, then resolved', () => {
  const r = run('cascade');
  assert.equal(ids(r).length, 1, `one narrative, not several: ${ids(r)}`);
  assert.is(r.narratives[0]!.state, Narrative_State.OPEN);
  const n = last(r);
  assert.is(n.state, Narrative_State.RESOLVED);
  assert.is(n.rootSubject, 'cluster/prod/broker/1');
  assert.match(n.situation, /^Cascading failure in cluster prod: broker 1 degrades producers in order-service and payment-service, and consumer group billing$/);
  assert.match(n.rootCause, /^broker 1 under-replicated partitions \(14\) -> produce latency in order-service and payment-service -> buffer exhaustion in order-service -> consumer lag in group billing/);
  assertBrokerProducersConsumers(n.causalChain);
  assert.is(n.level, Situation_Level.CRITICAL);
  assert.is(n.confidence, K.CONFIRMED);
  for (const advice of [/Broker 1 \(cluster prod\): check its disk/, /Producers in order-service \(order-producer\) and payment-service \(payment-producer\)/, /buffer\.memory \(buffers at 97%, 96%\)/, /Group billing: do not restart/]) assert.match(n.recommendation, advice);
  // The broker's situation rose to CRITICAL and came back; every finding ended.
  const broker = situationsOf(r.events).filter((s) => s.subject === 'cluster/prod/broker/1').map((s) => Situation_Level[s.current]);
  assert.equal(broker, ['WARNING', 'CRITICAL', 'NORMAL']);
  assert.is(r.pipeline.situations.counts().warning + r.pipeline.situations.counts().critical, 0);
  // ListNarratives: nothing open at the end, the resolved one kept.
  assert.equal(r.pipeline.listNarratives({ includeResolved: false, limit: 0, subjectPrefix: '' }).narratives, []);
  const kept = r.pipeline.listNarratives({ includeResolved: true, limit: 0, subjectPrefix: 'service/order-service' }).narratives;
  assert.equal(kept.map((k) => [k.id, Narrative_State[k.state]]), [[n.id, 'RESOLVED']], 'found by a subject of its chain');
});

test('cascade with the broker\'s signals 45 s late and skewed consumer clocks: still one narrative, still rooted at the broker, still in causal order', () => {
  const r = run('cascade-late-broker');
  const findings = findingsOf(r.events);
  const firstBackpressure = findings.findIndex((f) => f.observer === 'producer-backpressure');
  const firstBroker = findings.findIndex((f) => f.observer === 'broker-health');
  assert.ok(firstBackpressure >= 0 && firstBackpressure < firstBroker, 'the producers\' trouble was known before the broker\'s arrived');
  assert.equal(ids(r).length, 1, `one narrative: ${ids(r)}`);
  assert.is(r.narratives[0]!.rootSubject, 'cluster/prod/broker/1', 'published only once the cause was known');
  const n = last(r);
  assert.is(n.rootSubject, 'cluster/prod/broker/1');
  assertBrokerProducersConsumers(n.causalChain);
  // billing-1's agent clock runs 6 s behind: its evidence carries an earlier timestamp than the
  // producers' buffers, yet comes after them — its vector clock has read order-1's.
  const chain = n.causalChain;
  const billing = chain.findIndex((e) => e.subject.startsWith('service/billing-service/pod/billing-1'));
  const buffer = chain.findIndex((e) => e.subject.startsWith('service/order-service/pod/order-1') && e.stage === 'producer-buffer');
  assert.ok(billing > buffer && buffer >= 0, 'consumer after producer');
  assert.ok(chain[billing]!.time < chain[buffer]!.time, 'though its timestamp is earlier');
  assert.ok(Object.keys(chain[billing]!.clock).includes('order-1'), 'its clock carries order-1\'s entry');
});

test('slow consumer: group analytics falls behind; one narrative says which group, which rates, what to do', () => {
  const r = run('slow-consumer');
  assert.equal(ids(r).length, 1);
  const n = last(r);
  assert.is(n.rootSubject, 'cluster/prod/group/analytics');
  assert.is(n.situation, 'Consumer group analytics is falling behind on clickstream');
  assert.match(n.rootCause, /^group analytics consumes 600 records\/s while clickstream receives 810\/s/);
  assert.match(n.recommendation, /add consumers \(3 members for 12 partitions: up to 12 consumers help\)/);
  assert.is(n.state, Narrative_State.RESOLVED, 'resolved once it caught up');
  assert.ok(alarms(r).every((s) => s.subject === 'cluster/prod/group/analytics'), 'no broker or producer alarm');
});

test('rebalance storm: group payments, members rebalancing every 15 s; advice on timeouts, static membership, cooperative assignment', () => {
  const r = run('rebalance-storm');
  assert.equal(ids(r).length, 1);
  const n = last(r);
  assert.is(n.rootSubject, 'cluster/prod/group/payments');
  assert.is(n.situation, 'Rebalance storm in group payments');
  assert.match(n.rootCause, /rebalances within 120 s/);
  for (const setting of ['max.poll.interval.ms', 'session.timeout.ms', 'group.instance.id', 'CooperativeStickyAssignor']) assert.ok(n.recommendation.includes(setting), setting);
  const members = new Set(n.causalChain.map((e) => e.subject));
  for (const pod of ['payments-1', 'payments-2', 'payments-3']) assert.ok(members.has(`service/payments/pod/${pod}/consumer/payments-consumer`), pod);
});

test('producer buffer exhaustion with healthy brokers: the producer is the root cause, the advice is about its settings', () => {
  const r = run('producer-exhaustion');
  assert.equal(ids(r).length, 1);
  const n = last(r);
  assert.is(n.rootSubject, 'service/order-service/pod/order-1/producer/order-producer');
  assert.is(n.situation, 'Producer buffer exhaustion in order-service');
  assert.match(n.rootCause, /buffer\.memory exhausted \(97% used\) while request latency is flat and brokers are healthy \(1, 2, 3 STABLE\): it produces faster than it can send/);
  for (const setting of ['buffer.memory', 'batch.size', 'linger.ms', 'compression.type']) assert.ok(n.recommendation.includes(setting), setting);
  assert.match(n.recommendation, /Brokers look fine: nothing to do there/);
  assert.not.ok(findingsOf(r.events).some((f) => f.subject.startsWith('cluster/')), 'nothing found about brokers or groups');
  assert.ok(n.causalChain.some((e) => e.sign.startsWith('counter')), 'the exhaustion counter is part of the evidence');
});

test('GC pauses: the JVM is the root; its producer\'s latency and its consumer\'s rebalances follow, in one narrative', () => {
  const r = run('gc-pause');
  assert.equal(ids(r).length, 1, `one narrative: ${ids(r)}`);
  const n = last(r);
  assert.is(n.rootSubject, 'service/inventory/pod/inventory-2/jvm');
  assert.is(n.situation, 'GC pauses in inventory/inventory-2 degrade its Kafka clients');
  assert.match(n.rootCause, /gc-pause-ms=\d+.*-> producer inventory-producer latency, consumer inventory-consumer rebalance/);
  assert.is(n.causalChain[0]!.subject, 'service/inventory/pod/inventory-2/jvm', 'the JVM first');
  assert.not.ok(n.causalChain.some((e) => e.subject.includes('inventory-1')), 'the healthy pod stays out of it');
  for (const setting of ['-Xmx', 'MaxGCPauseMillis', 'session.timeout.ms']) assert.ok(n.recommendation.includes(setting), setting);
  assert.is(n.level, Situation_Level.CRITICAL, 'heap at 94 %: DEFECTIVE');
});

test('managed Kafka: seven producers failing against broker 2 => broker 2 inferred DEGRADED, with lower confidence than direct evidence', () => {
  const mid = run('managed-kafka', 100);
  const cell = mid.pipeline.hierarchy.get('cluster/msk/broker/2')!;
  assert.is(cell.condition, C.DEGRADED);
  assert.ok(cell.inferred, 'the cell says its condition is inferred');
  assert.is(cell.confidence, K.MEASURED);
  const r = run('managed-kafka');
  assert.equal(ids(r).length, 1);
  const n = last(r);
  assert.is(n.rootSubject, 'cluster/msk/broker/2');
  assert.is(n.confidence, K.MEASURED, 'MEASURED, not CONFIRMED: nobody read the broker');
  assert.match(n.rootCause, /^broker 2 \(inferred from 7 clients failing against it\) -> produce latency in order-service, payment-service and shipping-service/);
  assert.match(n.recommendation, /judged from its clients .* provider's console/);
  assert.is(n.causalChain[0]!.subject, 'cluster/msk/broker/2');
  assertBrokerProducersConsumers(n.causalChain);
  const cascade = run('cascade');
  assert.ok(last(cascade).confidence > n.confidence, 'direct broker evidence is surer');
  // Afterwards the inference is withdrawn from the cell.
  assert.not.ok(r.pipeline.hierarchy.get('cluster/msk/broker/2')!.inferred);
});

test('a healthy estate with an idle topic: no finding, no WARNING, no CRITICAL, no narrative', () => {
  const r = run('healthy-estate');
  assert.equal(findingsOf(r.events), []);
  assert.equal(alarms(r), []);
  assert.equal(r.narratives, []);
  assert.is(r.pipeline.hierarchy.get('cluster/prod/group/auditor')!.condition, C.STABLE, 'the idle topic\'s group is OK: no false STOP');
  assert.is(r.pipeline.hierarchy.get('', 1)!.condition, C.STABLE);
});

test('one noisy partition among 300: no WARNING, no CRITICAL, no narrative, and its group\'s partitions stay STABLE', () => {
  const mid = run('noisy-partition', 66);
  const partitions = mid.pipeline.hierarchy.get('cluster/prod/group/analytics/topic/clickstream/partition', 1)!;
  assert.is(mid.pipeline.hierarchy.get('cluster/prod/group/analytics/topic/clickstream/partition/137')!.condition, C.DIVERGING, 'the partition itself is WARN');
  assert.is(partitions.condition, C.STABLE, '1 of 300 does not move them');
  assert.is(partitions.affectedChildren, 1);
  const r = run('noisy-partition');
  assert.equal(alarms(r), []);
  assert.equal(r.narratives, []);
  assert.not.ok(findingsOf(r.events).some((f) => f.confidence >= K.MEASURED), 'at most a TENTATIVE observation');
});

test('staleness: a silent pod loses confidence, then is marked stale, and its parent counts it apart — no alarm', () => {
  const r = run('staleness');
  const changes = r.events.filter((e) => e.cellChange?.path === 'service/orders/pod/orders-3/producer/orders-producer').map((e) => e.cellChange!);
  const lowered = changes.find((c) => c.reason.includes('confidence lowered'));
  const stale = changes.find((c) => c.stale);
  assert.ok(lowered && lowered.confidence === K.TENTATIVE, 'confidence lowered after 2 minutes of silence');
  assert.ok(stale, 'then marked stale');
  const pods = r.pipeline.hierarchy.get('service/orders/pod', 1)!;
  const orders3 = pods.children.find((c) => c.name === 'orders-3')!;
  assert.ok(orders3.stale);
  assert.is(pods.staleChildren, 1);
  assert.is(pods.knownChildren, 2);
  assert.is(pods.condition, C.STABLE, 'the other two pods still speak for the service');
  assert.ok(r.events.some((e) => e.cellChange?.path === 'service/orders/pod' && e.cellChange.reason.includes('1 child silent')), 'the parent is told');
  assert.equal(alarms(r), []);
  assert.equal(r.narratives, []);
});

test.run();
