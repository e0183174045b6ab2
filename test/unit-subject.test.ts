// The subject language (proto/subject.ts): what it accepts and refuses, and — the seam that broke
// before — that every subject the agent's own code can emit parses to a known entity and aspect
// and is given a meaning by the observers. The agent's code is run, not imitated: the catalogue's
// readings through the default rules, the Kafka source's planner fed by its real partition watch
// and lag evaluator, the kafkajs instrumentation's meter.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ENTITY_KINDS,
  SubjectError,
  aspect,
  aspectOf,
  entity,
  entityOf,
  isKnownAspect,
  isUnder,
  parseCellPath,
  parseSubject,
  subjectOf,
  subjectProblem,
  type Signal,
} from '../proto/index.js';
import { Translator, loadRules } from '../agent/translate/index.js';
import {
  BROKER_METRICS,
  CLIENT_GROUPS,
  WATCHED_REQUESTS,
  brokerReading,
  clientReadings,
  gcReadings,
  heapReading,
  nodeReading,
  requestLatencyReading,
  toObservation,
  type ClientGroup,
  type Reading,
} from '../agent/sources/catalogue.js';
import { SignalPlanner } from '../agent/kafka/signals.js';
import { PartitionWatch } from '../agent/kafka/partitions.js';
import { LagEvaluator } from '../agent/kafka/lag/index.js';
import { ClientMeter, type CollectEnv } from '../agent/instrument/meter.js';
import { KAFKAJS_RULES } from '../agent/instrument/rules.js';
import { emptyFact, readFact } from '../observers/facts.js';

const grammar = suite('subject grammar');

grammar('builds and reads every entity kind; an aspect follows "#"', () => {
  const cases: [string, string][] = [
    [entity.cluster('prod'), 'cluster'],
    [entity.broker('prod', 1), 'broker'],
    [entity.topic('prod', 'orders'), 'topic'],
    [entity.partition('prod', 'orders', 3), 'partition'],
    [entity.group('prod', 'billing'), 'group'],
    [entity.groupTopic('prod', 'billing', 'orders'), 'group-topic'],
    [entity.groupPartition('prod', 'billing', 'orders', 3), 'group-partition'],
    [entity.service('orders'), 'service'],
    [entity.pod('orders', 'orders-1'), 'pod'],
    [entity.client('orders', 'orders-1', 'producer', 'p1'), 'client'],
    [entity.jvm('orders', 'orders-1'), 'jvm'],
    [entity.agent('orders', 'orders-1'), 'agent'],
  ];
  assert.equal(cases.map(([, k]) => k).sort(), [...ENTITY_KINDS].sort(), 'every kind has a builder');
  for (const [path, kind] of cases) {
    assert.is(parseSubject(path).kind, kind, path);
    const withAspect = parseSubject(subjectOf(path, 'gc/G1_Old_Generation'));
    assert.is(withAspect.kind, kind);
    assert.is(withAspect.entity, path);
    assert.is(withAspect.aspect, 'gc/G1_Old_Generation');
  }
  const c = parseSubject('service/orders/pod/orders-1/consumer/c-1#lag');
  assert.equal({ role: c.role, clientId: c.clientId, pod: c.pod, service: c.service, podPath: c.podPath }, { role: 'consumer', clientId: 'c-1', pod: 'orders-1', service: 'orders', podPath: 'service/orders/pod/orders-1' });
});

grammar('names are made fit; templates take labels; prefixes cover aspects', () => {
  assert.is(entity.client('my svc', 'pod#1', 'consumer', 'a/b c'), 'service/my_svc/pod/pod_1/consumer/a_b_c');
  assert.is(aspect('gc/{gc}', { gc: 'G1 Young Generation' }), 'gc/G1_Young_Generation');
  assert.is(aspect('request-latency/{node-id}', {}), 'request-latency/_');
  assert.is(entityOf('cluster/prod/broker/1#gc/x'), 'cluster/prod/broker/1');
  assert.is(aspectOf('cluster/prod/broker/1#gc/x'), 'gc/x');
  assert.ok(isUnder('cluster/prod/broker/1#heap', 'cluster/prod/broker/1'));
  assert.ok(isUnder('cluster/prod/broker/1#heap', 'cluster/prod'));
  assert.not.ok(isUnder('cluster/prod/broker/10', 'cluster/prod/broker/1'));
  assert.not.ok(isUnder('cluster/prod/broker/1#heap', 'cluster/prod/broker/1#he'));
  assert.is(parseCellPath('cluster/prod/broker')!.kind, 'container');
  assert.is(parseCellPath('service/orders/pod/o-1/producer')!.kind, 'container');
  assert.is(parseCellPath('')!.kind, 'root');
  assert.is(parseCellPath('cluster/prod/brokers'), undefined, 'not a container of the grammar');
});

grammar('refuses what is not about a known entity, saying what was meant', () => {
  const refused: [string, RegExp][] = [
    ['', /subject is empty/],
    ['orders', /starts with cluster\/<name> or service\/<name>/],
    ['cluster/prod/broker/1/under-replicated', /put the metric after "#" \(cluster\/prod\/broker\/1#under-replicated\)/],
    ['service/orders/pod/o-1/producer/p1/buffer', /put the metric after "#" \(service\/orders\/pod\/o-1\/producer\/p1#buffer\)/],
    ['service/orders/pod/o-1/jvm/gc/Copy', /the jvm is service\/<s>\/pod\/<p>\/jvm; put the rest after "#" \(service\/orders\/pod\/o-1\/jvm#gc\/Copy\)/],
    ['cluster/prod/topic/orders/partition/x', /a partition is cluster\/<c>\/topic\/<t>\/partition\/<number>/],
    ['cluster/prod/broker/1#', /ends in "#" with no aspect/],
    ['cluster/prod/broker/1#a#b', /second "#"|whitespace/],
    ['cluster/prod/broker/1#a//b', /empty name in its aspect/],
    ['cluster/prod//broker/1', /empty name in its entity/],
    ['cluster/pr od', /whitespace/],
    [`cluster/${'x'.repeat(129)}`, /more than 128 characters/],
  ];
  for (const [s, reason] of refused) {
    assert.match(subjectProblem(s) ?? 'accepted', reason, s);
    assert.throws(() => parseSubject(s), (e: Error) => e instanceof SubjectError);
  }
});
grammar.run();

// --- every subject the agent can emit -----------------------------------------------------------
const emitted = suite('every subject the agent emits parses to a known entity and aspect');

const NAMES = { service: 'orders', pod: 'orders-1', cluster: 'prod' };

/** Each signal's subject parses, its aspect is one observers know, and signals with a condition get a stage. */
function check(signals: Signal[], what: string): void {
  assert.ok(signals.length > 0, `${what}: emitted nothing`);
  for (const s of signals) {
    const problem = subjectProblem(s.subject);
    assert.is(problem, undefined, `${what}: ${s.subject}: ${problem}`);
    const info = parseSubject(s.subject);
    assert.ok(info.aspect === '' || isKnownAspect(info.aspect), `${what}: ${s.subject}: aspect "${info.aspect}" is not in proto/aspects.ts`);
    const f = readFact(s, info, emptyFact());
    const judged = s.status !== undefined || s.queue !== undefined || s.probe !== undefined || s.service !== undefined || s.resource !== undefined;
    if (judged && ['client', 'jvm', 'broker', 'partition', 'group'].includes(info.kind)) assert.ok(f.stage !== undefined, `${what}: ${s.subject} (${JSON.stringify(s.context)}) has no stage: observers would ignore it`);
  }
}

/** Feeds readings through a translator with rising then falling values, so every rule states its levels. */
function translateAll(readings: Reading[], brokerId: string | undefined): Signal[] {
  const t = new Translator(loadRules());
  const out: Signal[] = [];
  const factors = [0.01, 1, 3, 10, 50, 200, 1000, 50, 1, 0.01];
  factors.forEach((f, i) => {
    for (const r of readings) {
      const o = toObservation({ ...r, value: r.value * f + i }, NAMES, brokerId, 1_700_000_000_000 + i * 10_000);
      if (o) out.push(...t.observe(o));
    }
  });
  return out;
}

emitted('the catalogue through the default rules: clients (2.x and 3.x), per-broker latency, JVMs, brokers', () => {
  const values = (g: ClientGroup): Map<string, number> => new Map([...CLIENT_GROUPS[g].attributes, ...CLIENT_GROUPS[g].extra].map((a) => [a, 10]));
  const era22 = new Map([['assigned-partitions', 3], ['commit-latency-avg', 10], ['join-total', 4], ['join-time-avg', 300]]);
  const readings: Reading[] = [
    ...clientReadings('producer', 'p1', new Map([...values('producer'), ['buffer-total-bytes', 100], ['buffer-available-bytes', 50]])),
    ...clientReadings('consumer-fetch', 'c1', values('consumer-fetch')),
    ...clientReadings('consumer-coordinator', 'c1', values('consumer-coordinator')),
    ...clientReadings('consumer-coordinator', 'c22', era22),
    nodeReading('producer', 'p1', 'node-2', 12)!,
    nodeReading('consumer', 'c1', 'node-3', 500)!,
    heapReading({ used: 50, max: 100 })!,
    ...gcReadings('G1 Old Generation', 100, 3),
    ...BROKER_METRICS.map((m) => brokerReading(m, 1)),
    ...WATCHED_REQUESTS.map((r) => requestLatencyReading(r, 10)),
  ];
  const asService = translateAll(readings.filter((r) => r.scope.kind !== 'broker'), undefined);
  const asBroker = translateAll(readings.filter((r) => r.scope.kind === 'jvm' || r.scope.kind === 'broker'), '1');
  check(asService, 'a service JVM');
  check(asBroker, 'a broker JVM');
  // Every default rule spoke, and a broker's JVM is the broker's.
  const rules = new Set([...asService, ...asBroker].map((s) => s.context.rule));
  for (const r of loadRules().rules) assert.ok(rules.has(r.name), `rule ${r.name} never produced a signal`);
  assert.ok(asBroker.some((s) => s.subject.startsWith('cluster/prod/broker/1#gc/')), 'the broker JVM\'s GC is an aspect of the broker');
  assert.ok(asBroker.every((s) => s.subject.startsWith('cluster/prod/broker/1')), asBroker.map((s) => s.subject).find((x) => !x.startsWith('cluster/')) ?? '');
  // A 2.2 client's join-total is read as its rebalances.
  const c22 = asService.filter((s) => s.subject.startsWith('service/orders/pod/orders-1/consumer/c22#rebalances'));
  assert.ok(c22.length > 0 && c22.every((s) => s.context.attribute === 'join-total'), 'a 2.2 coordinator feeds the rebalance rule through join-total');
});

emitted('the Kafka source: partitions, brokers and groups, from its partition watch and lag evaluator', () => {
  const planner = new SignalPlanner(NAMES, 60_000);
  const out: Signal[] = [];
  const watch = new PartitionWatch(/^__/);
  const md = {
    brokers: [1, 2, 3].map((id) => ({ id, host: 'b', port: 9092 })),
    controller: 1,
    topics: [{ name: 'orders', partitions: [0, 1].map((p) => ({ partition: p, leader: p + 1, replicas: [1, 2, 3], isr: p === 0 ? [1, 2] : [1, 2, 3], offlineReplicas: [] })) }],
  };
  planner.metadata(watch.judge(md as Parameters<PartitionWatch['judge']>[0], new Set([3])), 1_000, out);
  const ev = new LagEvaluator();
  for (let i = 0; i < 30; i++) {
    const now = 1_000 + i * 1000;
    ev.committed('billing', 'orders', 0, 100 + i * 10, now);
    ev.committed('billing', 'orders', 1, 500, now);
    ev.members('billing', i < 20 ? { state: 'Stable', members: 1, assigned: [{ topic: 'orders', partitions: [0, 1] }] } : { state: 'Empty', members: 0 });
    ev.logEnd('orders', 0, 200 + i * 40, now);
    ev.logEnd('orders', 1, 900 + i * 20, now);
    planner.group(ev.evaluate('billing', now), now, out);
  }
  check(out, 'the Kafka source');
  const kinds = new Set(out.map((s) => parseSubject(s.subject).kind));
  for (const k of ['partition', 'broker', 'group', 'group-topic', 'group-partition']) assert.ok(kinds.has(k as never), `the Kafka source speaks of ${k}s (${[...kinds].join(', ')})`);
});

emitted('the kafkajs instrumentation: producers and consumers, per broker', () => {
  const env: CollectEnv = { service: 'orders', pod: 'orders-1', context: { cluster: 'prod' }, translator: new Translator(KAFKAJS_RULES), nodeOf: (a) => (a === 'b2:9092' ? '2' : undefined), claim: (_role, wanted) => wanted };
  const out: Signal[] = [];
  const p = new ClientMeter('producer', 'p1');
  const c = new ClientMeter('consumer', 'c1', undefined, 'billing');
  p.connect();
  c.connect();
  let t = 1_700_000_000_000;
  for (let i = 0; i < 12; i++) {
    t += 5000;
    for (const broker of ['b2:9092', 'b3:9092']) p.request({ broker, clientId: 'p1', apiName: 'Produce', duration: 10 + i * 50, pendingDuration: 1, correlationId: i, size: 1, createdAt: 0, sentAt: 0, apiKey: 0, apiVersion: 7 });
    if (i === 3) p.requestTimeout({ broker: 'b2:9092', clientId: 'p1', apiName: 'Produce', correlationId: 1, createdAt: 0, sentAt: 0, pendingDuration: 0 });
    p.requestQueueSize({ broker: 'b2:9092', clientId: 'p1', queueSize: i * 100 });
    if (i % 4 === 0) p.sendFailed(new Error('NOT_ENOUGH_REPLICAS'), 'orders');
    else p.sendOk(10, 5);
    c.groupJoin({ duration: 100 + i * 1000, groupId: 'billing', isLeader: true, leaderId: 'm', memberId: 'm', groupProtocol: 'r', memberAssignment: { orders: [0] } }, t);
    c.rebalancing({ groupId: 'billing', memberId: 'm' });
    c.heartbeat(i < 6 ? t : t - 60_000);
    c.batch({ topic: 'orders', partition: 0, offsetLag: String(100 * i * i), batchSize: 10, duration: 5 }, true);
    c.commitOffsets({ groupId: 'billing', memberId: 'm', groupGenerationId: 1, topics: [{ topic: 'orders', partitions: [{ partition: '0', offset: '1' }] }] });
    if (i === 7) c.crash({ error: new Error('boom'), groupId: 'billing', restart: true }, t);
    out.push(...p.collect(t, true, env), ...c.collect(t, true, env));
  }
  check(out, 'the instrumentation');
  const aspects = new Set(out.map((s) => parseSubject(s.subject).aspect.split('/')[0]));
  for (const a of ['connection', 'sends', 'requests', 'request-latency', 'request-queue', 'membership', 'commits', 'lag', 'rebalances', 'crashes']) assert.ok(aspects.has(a), `the instrumentation speaks of ${a} (${[...aspects].join(', ')})`);
});

emitted.run();
