// The Kafka source end to end: a real Kafka-protocol server (librdkafka's mock cluster), real
// kafkajs producers and consumers, the real agent reading it through the Admin API every 500 ms,
// and the real aggregator receiving the judgements. A group falls behind (WARN, lag in seconds),
// its consumer dies (lag keeps growing from log-end offsets; the mock serves no DescribeGroups, so
// it is late, WARN, not yet STOP: see the evaluator's header), a new one catches up (OK), its
// offsets are reset to 0 (REWIND); an idle topic's caught-up group stays OK throughout; a leader
// moves; a broker goes down (its partitions offline / under-replicated) and comes back. The
// kafkajs commit cadence itself: e2e-kafka-lag-cadence.test.ts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import kafkajs, { type Consumer, type Producer } from 'kafkajs';
import { EventKind, Status_Condition, entityOf, type Event, type Signal } from '../proto/index.js';
import { agent, aggregator, tempDir, type AgentProc, type AggregatorProc } from './support/procs.js';
import { aggregatorClient, Collector } from './support/client.js';
import { FAST_CONSUMER, startMockKafka, type MockKafka } from './support/kafka-mock.js';

const { Kafka, logLevel } = kafkajs;
const test = suite('Kafka source: lag and partition health against a Kafka-protocol server');

const CLUSTER = 'cluster/prod';
const BILLING = `${CLUSTER}/group/billing`;
const AUDITORS = `${CLUSTER}/group/auditors`;

let mock: MockKafka;
let agg: AggregatorProc;
let monitor: AgentProc;
let sub: Collector;
let kafka: InstanceType<typeof Kafka>;
let producer: Producer;
let producing: NodeJS.Timeout | undefined;
let produced = 0;
let productionStartedAt = 0;
const consumers: Consumer[] = [];

/** Findings of the aggregator's observers about `subject`: the sensor's signals understood. */
const findingsOf = (observer: string, subject: string) => sub.events.filter((e: Event) => e.finding?.observer === observer && e.finding.subject === subject && !e.finding.resolved).map((e) => e.finding!);
/** Signals about an entity (whatever the aspect: #lag for groups, #replicas for partitions, #metadata for brokers). */
const signalsOf = (entity: string): Signal[] => sub.events.filter((e: Event) => e.signal !== undefined && entityOf(e.signal.subject) === entity).map((e) => e.signal!);
const lastOf = (subject: string): Signal | undefined => signalsOf(subject).at(-1);
const burrow = (s: Signal | undefined): string | undefined => s?.context.burrow;
const num = (s: Signal | undefined, key: string): number => Number(s?.context[key]);
const history = (subject: string): string => signalsOf(subject).map((s) => `${s.context.burrow}(${s.context['total-lag'] ?? s.context.lag})`).join(' ');

async function consumer(groupId: string, slowMs: number, topic: string): Promise<Consumer> {
  const c = kafka.consumer({ groupId, ...FAST_CONSUMER });
  consumers.push(c);
  await c.connect();
  await c.subscribe({ topics: [topic], fromBeginning: true });
  await c.run({
    // A commit at least every second (kafkajs also commits at the end of each batch).
    autoCommitInterval: 1000,
    eachMessage: async () => {
      if (slowMs) await new Promise((r) => setTimeout(r, slowMs));
    },
  });
  return c;
}

async function stopConsumer(c: Consumer): Promise<void> {
  consumers.splice(consumers.indexOf(c), 1);
  await c.disconnect();
}

/** About 120 records/s over orders' three partitions. */
function startProducing(): void {
  productionStartedAt = Date.now();
  producing = setInterval(() => {
    const messages = Array.from({ length: 6 }, (_, i) => ({ partition: (produced + i) % 3, value: `order-${produced + i}` }));
    produced += messages.length;
    producer.send({ topic: 'orders', messages }).catch(() => undefined);
  }, 50);
}

function stopProducing(): void {
  if (producing) clearInterval(producing);
  producing = undefined;
}

test.before(async () => {
  [mock, agg] = await Promise.all([startMockKafka({ brokers: 3, topics: [{ name: 'orders', partitions: 3 }, { name: 'audit', partitions: 1 }] }), aggregator()]);
  sub = new Collector(aggregatorClient(agg.url).client, { kinds: [EventKind.SIGNAL, EventKind.FINDING], fromOffset: 0n });
  kafka = new Kafka({ clientId: 'e2e-kafka', brokers: mock.bootstrap.split(','), logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100 } });
  producer = kafka.producer();
  await producer.connect();
  // Shorter STOP floor than the 10 s default so the test runs in seconds; the rules are the defaults otherwise.
  const config = join(tempDir('kafka-lag-'), 'agent.yaml');
  writeFileSync(config, 'kafka:\n  lag:\n    minStopMs: 3000\n');
  monitor = await agent('lag-monitor-1', agg.url, ['--config', config], {
    KAFKA_BOOTSTRAP_SERVERS: mock.bootstrap,
    KAFKA_CONSUMER_GROUPS: 'billing,auditors',
    KAFKA_POLL_INTERVAL_MS: '500',
    KAFKA_CLUSTER: 'prod',
    SERVICE_NAME: 'lag-monitor',
  });
});

/** kafkajs clients can take long to leave a cluster whose brokers came and went: not the test's business. */
const within = (p: Promise<unknown>, ms = 5000): Promise<unknown> => Promise.race([p.catch(() => undefined), new Promise((r) => setTimeout(r, ms).unref())]);

test.after(async () => {
  stopProducing();
  await within(Promise.allSettled(consumers.map((c) => c.disconnect())));
  await within(producer?.disconnect() ?? Promise.resolve());
  await sub?.close();
  await monitor?.kill();
  await Promise.all([agg?.kill(), mock?.stop()]);
});

test('an idle topic with a caught-up consumer that commits nothing: OK', async () => {
  await producer.send({ topic: 'audit', messages: Array.from({ length: 5 }, (_, i) => ({ value: `audit-${i}` })) });
  const c = await consumer('auditors', 0, 'audit');
  await sub.until(() => burrow(lastOf(AUDITORS)) === 'OK' && num(lastOf(AUDITORS), 'total-lag') === 0, `auditors OK at lag 0 (have ${history(AUDITORS)})`);
  await stopConsumer(c); // from here on it commits nothing; the topic stays idle
  const s = lastOf(AUDITORS)!;
  assert.is(s.status?.condition, Status_Condition.STABLE);
  assert.is(s.context['log-end-offset'] ?? s.context['max-lag'], s.context['log-end-offset'] ?? '0');
});

test('a group consuming slower than the producer writes: lag grows, WARN, lag in seconds estimated and sane', async () => {
  startProducing();
  await consumer('billing', 25, 'orders'); // at most 40 records/s against 120 written
  await sub.until(() => burrow(lastOf(BILLING)) === 'WARN', `billing WARN (have ${history(BILLING)})`, 60_000);
  const warn = lastOf(BILLING)!;
  assert.is(warn.status?.condition, Status_Condition.DIVERGING);
  assert.ok(num(warn, 'total-lag') > 0, 'lag above zero');
  const lagSeconds = num(warn, 'lag-seconds');
  const elapsed = (Date.now() - productionStartedAt) / 1000;
  assert.ok(lagSeconds > 0 && lagSeconds <= elapsed + 2, `lag in seconds ${lagSeconds} within (0, ${elapsed.toFixed(1)} + 2]`);
  assert.ok(num(warn, 'produce-rate') > num(warn, 'consume-rate'), `produce rate ${warn.context['produce-rate']} > consume rate ${warn.context['consume-rate']}`);
  // Per-topic total and per-partition judgements travel too.
  assert.ok(num(lastOf(`${BILLING}/topic/orders`), 'total-lag') > 0);
  assert.ok(signalsOf(`${BILLING}/topic/orders/partition/0`).length > 0);
  // And the aggregator understands them: its slow-consumer observer (lag growing over 20 s of
  // readings, consumption slower than production) names the group.
  await sub.until(() => findingsOf('slow-consumer', BILLING).length > 0, `a slow-consumer finding on ${BILLING} (have ${history(BILLING)})`, 60_000);
  assert.match(findingsOf('slow-consumer', BILLING)[0]!.summary, /billing/);
});

test('the consumer stops: lag keeps growing from log-end offsets; without membership the group is late (WARN, the silence named), not yet STOP', async () => {
  const lagBefore = num(lastOf(BILLING), 'total-lag');
  await stopConsumer(consumers.find(() => true)!);
  const stoppedAt = Date.now();
  const p0 = `${BILLING}/topic/orders/partition/0`;
  // The mock serves no DescribeGroups: a silent consumer may be a batch committer mid-batch, so
  // it is WARN (late) and STOP only past max.poll.interval (5 min; unit-lag covers it).
  await sub.until(() => /no commit .*membership unknown: STOP if still silent at 300 s/.test(lastOf(p0)?.context.reason ?? ''), `partition 0 late (have ${signalsOf(p0).map((s) => s.context.burrow).join(' ')}; ${lastOf(p0)?.context.reason})`, 30_000);
  const late = lastOf(p0)!;
  assert.is(burrow(late), 'WARN');
  assert.is(late.status?.condition, Status_Condition.DIVERGING);
  await sub.until(() => num(lastOf(BILLING), 'total-lag') > lagBefore, `billing's lag grows without commits (have ${history(BILLING)})`);
  const g = lastOf(BILLING)!;
  assert.is(burrow(g), 'WARN', 'the group: WARN, not ERR');
  // Floor minStopMs (3 s here) or 2 x its commit spacing: well under the ~25 s Burrow took to say anything.
  assert.ok(Date.now() - stoppedAt < 15_000, `late after ${Date.now() - stoppedAt} ms`);
});

test('it resumes and catches up: OK', async () => {
  await consumer('billing', 0, 'orders');
  await sub.until(() => burrow(lastOf(BILLING)) === 'OK', `billing OK again (have ${history(BILLING)})`, 60_000);
  assert.is(lastOf(BILLING)!.status?.condition, Status_Condition.STABLE);
});

test('a caught-up consumer whose offsets are reset to 0: REWIND', async () => {
  stopProducing();
  const c = consumers.find(() => true)!;
  const p0 = `${BILLING}/topic/orders/partition/0`;
  await sub.until(() => burrow(lastOf(BILLING)) === 'OK' && num(lastOf(BILLING), 'total-lag') === 0, `billing caught up (have ${history(BILLING)})`, 30_000);
  await c.commitOffsets([{ topic: 'orders', partition: 0, offset: '0' }]);
  await sub.until(() => burrow(lastOf(p0)) === 'REWIND', `partition 0 REWIND (have ${signalsOf(p0).map((s) => s.context.burrow).join(' ')})`, 20_000);
  const r = lastOf(p0)!;
  assert.is(r.context['committed-offset'], '0');
  assert.match(r.context.reason ?? '', /back|rewound|reset/i);
  // No consumer in this process while brokers come and go below: kafkajs's fetch loop can spin
  // on a broker that refuses connections and starve this process's timers.
  await stopConsumer(c);
});

test('a leader moves; a broker goes down: its partitions offline or under-replicated, the broker DOWN; then back', async () => {
  const p0 = `${CLUSTER}/topic/orders/partition/0`;
  const p1 = `${CLUSTER}/topic/orders/partition/1`;
  await sub.until(() => lastOf(p0)?.context.leader === '1', 'partition 0 led by broker 1');
  await mock.setLeader('orders', 0, 3);
  await sub.until(() => lastOf(p0)?.context.event === 'leader-moved', 'leader moved');
  assert.equal([lastOf(p0)!.context.leader, lastOf(p0)!.context['leader-was']], ['3', '1']);

  await mock.brokerDown(2);
  await sub.until(() => lastOf(p1)?.context.state === 'offline', 'partition 1 (led by broker 2) offline');
  assert.is(lastOf(p1)!.status?.condition, Status_Condition.DEFECTIVE);
  await sub.until(() => lastOf(p0)?.context.state === 'under-replicated', 'partition 0 under-replicated');
  assert.is(lastOf(p0)!.status?.condition, Status_Condition.DEGRADED);
  assert.is(lastOf(p0)!.context['out-of-sync'], '2');
  await sub.until(() => lastOf(`${CLUSTER}/broker/2`)?.status?.condition === Status_Condition.DOWN, 'broker 2 DOWN');
  assert.match(lastOf(`${CLUSTER}/broker/2`)!.context.reason!, /not answering/);
  await sub.until(() => findingsOf('broker-health', `${CLUSTER}/broker/2`).length > 0, 'a broker-health finding on broker 2');

  await mock.brokerUp(2);
  await sub.until(() => lastOf(p1)?.context.state === 'ok' && lastOf(p0)?.context.state === 'ok', 'partitions healthy again');
  await sub.until(() => lastOf(`${CLUSTER}/broker/2`)?.status?.condition === Status_Condition.STABLE, 'broker 2 back');
});

test('the idle group stayed OK the whole time', () => {
  const seen = signalsOf(AUDITORS);
  assert.ok(seen.length > 0);
  assert.equal([...new Set(seen.map((s) => s.context.burrow))], ['OK'], `auditors: ${history(AUDITORS)}`);
});

test.run();
