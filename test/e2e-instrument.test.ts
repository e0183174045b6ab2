// The kafkajs instrumentation end to end: real kafkajs producers and consumers, instrumented with
// instrument(kafka), against librdkafka's mock cluster (test/support/kafka-mock.ts); their signals
// go to a real agent's local HTTP intake and on to a real aggregator, where a subscriber waits for
// the signs: an injected round-trip time on one broker becomes DIVERGING request latency naming
// that broker; produce errors become FAIL, then SUCCESS again; consumers joining and rebalancing
// become rebalance signs; a consumer that crashes becomes FAIL event=crash.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Kafka, Partitioners, logLevel, type Consumer, type Producer } from 'kafkajs';
import { EventKind, Resource_Sign, Service_Sign, Status_Condition, describeSign, entityOf, type Signal } from '../proto/index.js';
import { instrument, type Instrumentation } from '../agent/instrument/index.js';
import { agent, aggregator, type AgentProc, type AggregatorProc } from './support/procs.js';
import { aggregatorClient, Collector } from './support/client.js';
import { ApiKey, ErrorCode, FAST_CONSUMER, startMockKafka, type MockKafka } from './support/kafka-mock.js';

const test = suite('kafkajs instrumentation: mock Kafka -> agent -> aggregator');

const POD = 'service/orders/pod/orders-1';
const PRODUCER = `${POD}/producer/orders-app`;

let mock: MockKafka;
let agg: AggregatorProc;
let ag: AgentProc;
let sub: Collector;
let kafka: Kafka;
let obs: Instrumentation;
const clients: (Producer | Consumer)[] = [];

test.before(async () => {
  [mock, agg] = await Promise.all([
    startMockKafka({ brokers: 3, topics: [{ name: 'orders', partitions: 3 }, { name: 'billing', partitions: 2 }, { name: 'payments', partitions: 1 }] }),
    aggregator(),
  ]);
  sub = new Collector(aggregatorClient(agg.url).client, { kinds: [EventKind.SIGNAL], subjectPrefix: POD, fromOffset: 0n });
  ag = await agent('orders-1', agg.url);
  kafka = new Kafka({ clientId: 'orders-app', brokers: mock.bootstrap.split(','), logLevel: logLevel.NOTHING, retry: { retries: 1, initialRetryTime: 50, maxRetryTime: 200 } });
  obs = instrument(kafka, {
    agent: `http://127.0.0.1:${ag.httpPort}`,
    service: 'orders',
    pod: 'orders-1',
    cluster: 'mock',
    flushIntervalMs: 100,
    readingIntervalMs: 250,
    successEveryMs: 500,
    onError: (e) => process.stderr.write(`instrumentation: ${e.message}\n`),
  });
});

test.after(async () => {
  if (process.env.TEST_VERBOSE && sub) {
    for (const s of signals()) process.stderr.write(`${s.subject.slice(POD.length + 1)}  ${describeSign(s)}  ${JSON.stringify(s.context)}\n`);
  }
  await obs?.close();
  await Promise.allSettled(clients.map((c) => c.disconnect()));
  await sub?.close();
  await Promise.all([ag?.kill(), mock?.stop()]);
  await agg?.kill();
});

const signals = (): Signal[] => sub.events.flatMap((e) => (e.signal ? [e.signal] : []));

/** Resolves with the first signal (so far or to come) that passes `test`. */
async function seen(test: (s: Signal) => boolean, what: string, timeoutMs = 30_000): Promise<Signal> {
  await sub.until((events) => events.some((e) => e.signal !== undefined && test(e.signal)), what, timeoutMs);
  return signals().find(test)!;
}

const isStatus = (s: Signal, c: Status_Condition): boolean => s.status?.condition === c;

test('a slow broker: its round-trip time shows as DIVERGING request latency with its node-id, and settles back', async () => {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  clients.push(producer);
  await producer.connect();
  let producing = true;
  // A steady trickle to partition 1 (led by broker 2), paced so it does not hog the two cores.
  const loop = (async () => {
    while (producing) {
      await producer.send({ topic: 'orders', messages: [{ partition: 1, value: 'order' }] }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  try {
    const subject = `${PRODUCER}#request-latency/2`;
    const stable = await seen((s) => s.subject === subject && isStatus(s, Status_Condition.STABLE), 'request latency to broker 2, STABLE');
    assert.is(stable.context['node-id'], '2', 'the broker is named by its id (read from kafkajs metadata)');
    await mock.setRtt(2, 250);
    const div = await seen((s) => s.subject === subject && isStatus(s, Status_Condition.DIVERGING), 'DIVERGING request latency to broker 2');
    assert.equal(
      { node: div.context['node-id'], broker: div.context.broker, metric: div.context.metric, cluster: div.context.cluster, client: div.context['client-id'] },
      { node: '2', broker: mock.brokers[1], metric: 'request-latency-avg', cluster: 'mock', client: 'orders-app' },
    );
    // The reading that turned DIVERGING may mix requests from before the delay with slowed ones:
    // its slowest request carries the whole 250 ms, its mean is well above the healthy one.
    assert.ok(Number(div.context['max-ms']) >= 240, `slowest request ${div.context['max-ms']} ms reflects the 250 ms rtt`);
    assert.ok(Number(div.context.value) >= 2 * Number(stable.context.value) + 50, `mean latency ${div.context.value} ms, was ${stable.context.value} ms`);
    assert.not.ok(signals().some((s) => /#request-latency\/[13]$/.test(s.subject) && isStatus(s, Status_Condition.DIVERGING)), 'the other brokers are not diverging');
    await mock.setRtt(2, 0);
    await seen((s) => s.subject === subject && s.timestamp > div.timestamp && (isStatus(s, Status_Condition.STABLE) || isStatus(s, Status_Condition.CONVERGING)), 'latency to broker 2 settling after the rtt is removed');
    const sends = await seen((s) => entityOf(s.subject) === PRODUCER && s.service?.sign === Service_Sign.SUCCESS && s.context.event === 'send', 'send SUCCESS');
    assert.ok(Number(sends.context.sends) >= 1);
  } finally {
    producing = false;
    await loop;
  }
});

test('produce errors: FAIL with the error kafkajs gave up on, then SUCCESS when sends work again', async () => {
  const producer = clients[0] as Producer;
  const before = signals().length;
  await mock.pushErrors(ApiKey.Produce, ErrorCode.NOT_ENOUGH_REPLICAS, 4);
  for (let i = 0; i < 2; i++) {
    try {
      await producer.send({ topic: 'orders', messages: [{ partition: 0, value: 'doomed' }] });
      assert.unreachable('the send should fail');
    } catch (e) {
      assert.match((e as Error).message, /replicas/i);
    }
  }
  const fail = await seen((s) => entityOf(s.subject) === PRODUCER && s.service?.sign === Service_Sign.FAIL, 'send FAIL');
  assert.equal({ type: fail.context['error-type'], topic: fail.context.topic, event: fail.context.event }, { type: 'NOT_ENOUGH_REPLICAS', topic: 'orders', event: 'send' });
  assert.ok(Number(fail.context.failed) >= 1);
  await producer.send({ topic: 'orders', messages: [{ partition: 0, value: 'fine' }] });
  await seen((s) => entityOf(s.subject) === PRODUCER && s.service?.sign === Service_Sign.SUCCESS && s.timestamp > fail.timestamp, 'send SUCCESS after the FAIL');
  const mine = signals().slice(before).filter((s) => entityOf(s.subject) === PRODUCER && s.service && s.context.event === 'send');
  assert.ok(mine.length <= 6, `aggregated: ${mine.map((s) => describeSign(s)).join(', ')}`);
});

test('consumers: a join, a second member (rebalance), lag and commits become their signs', async () => {
  const producer = clients[0] as Producer;
  await producer.send({ topic: 'billing', messages: Array.from({ length: 20 }, (_, i) => ({ partition: i % 2, value: `bill-${i}` })) });
  const c1 = kafka.consumer({ groupId: 'billing-group', ...FAST_CONSUMER });
  clients.push(c1);
  await c1.connect();
  await c1.subscribe({ topics: ['billing'], fromBeginning: true });
  await c1.run({ eachMessage: async () => undefined });
  const C1 = `${POD}/consumer/orders-app`;
  const join = await seen((s) => entityOf(s.subject) === C1 && s.context.event === 'group_join', 'c1 joins the group');
  assert.is(join.resource?.sign, Resource_Sign.GRANT);
  assert.equal({ group: join.context.group, partitions: join.context.partitions, units: join.resource?.units }, { group: 'billing-group', partitions: '2', units: 2 });
  const lag = await seen((s) => s.subject === `${C1}#lag` && s.context.metric === 'records-lag-max', 'c1 lag reading');
  assert.ok(lag.context.lag !== undefined && lag.context.topic === 'billing');
  await seen((s) => s.subject === `${C1}#commits` && s.service?.sign === Service_Sign.SUCCESS, 'c1 commits');

  // A second member: the group rebalances; c1 is told (REBALANCING) and joins again.
  const c2 = kafka.consumer({ groupId: 'billing-group', ...FAST_CONSUMER });
  clients.push(c2);
  await c2.connect();
  await c2.subscribe({ topics: ['billing'], fromBeginning: true });
  await c2.run({ eachMessage: async () => undefined });
  const C2 = `${POD}/consumer/orders-app-2`;
  const rebalancing = await seen((s) => entityOf(s.subject) === C1 && s.context.event === 'rebalancing', 'c1 rebalancing', 40_000);
  assert.is(rebalancing.service?.sign, Service_Sign.SUSPEND);
  await seen((s) => entityOf(s.subject) === C2 && s.context.event === 'group_join', 'c2 joins the group', 40_000);
  await seen((s) => entityOf(s.subject) === C1 && s.context.event === 'group_join' && s.timestamp > rebalancing.timestamp, 'c1 joins again', 40_000);
  const total = (subject: string): number => signals().filter((s) => entityOf(s.subject) === subject && s.context.event === 'group_join').reduce((n, s) => n + Number(s.context.partitions), 0);
  assert.ok(total(C1) >= 3, 'c1 had both partitions, then its share');
});

test('a consumer that crashes (eachMessage throws, no restart): FAIL event=crash', async () => {
  const producer = clients[0] as Producer;
  await producer.send({ topic: 'payments', messages: [{ value: 'pay-1' }] });
  const c3 = kafka.consumer({ groupId: 'payments-group', ...FAST_CONSUMER, retry: { retries: 0, restartOnFailure: async () => false } });
  clients.push(c3);
  await c3.connect();
  await c3.subscribe({ topics: ['payments'], fromBeginning: true });
  await c3.run({
    eachMessage: async () => {
      throw new Error('cannot parse payment');
    },
  });
  const C3 = `${POD}/consumer/orders-app-3`;
  const crash = await seen((s) => entityOf(s.subject) === C3 && s.context.event === 'crash', 'the crash');
  assert.is(crash.service?.sign, Service_Sign.FAIL);
  assert.equal({ restart: crash.context.restart, group: crash.context.group }, { restart: 'false', group: 'payments-group' });
  assert.match(crash.context.error ?? '', /cannot parse payment/);

  const st = await obs.flush();
  assert.equal({ rejected: st.rejected, dropped: st.dropped }, { rejected: 0, dropped: 0 }, `the agent took every signal: ${JSON.stringify(st)}`);
  assert.ok(st.sent > 0 && st.handlerErrors === 0, JSON.stringify(st));
});

test.run();
