// End to end with a real JVM: FakeKafkaJvm registers Kafka's real MBeans behind the JDK's RMI
// connector; the real `kafka-obs agent` reads them through its JMX bridge every 200 ms and the
// real aggregator receives the signs. Values are driven step by step; the test awaits the signs.
// Time-based rules get short windows through a rules file (KAFKA_OBS_RULES), as a user would
// override them; thresholds are the defaults.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeSign, EventKind, Status_Condition, type Event } from '../proto/index.js';
import { agent, aggregator, tempDir, until, type AgentProc, type AggregatorProc } from './support/procs.js';
import { aggregatorClient, Collector, type Client } from './support/client.js';
import { BUFFER_TOTAL, COORDINATOR, FakeJvm, PRODUCER, SCRIPTED_GC, URP, bufferUsed, polled, sensorStatus } from './support/jvm.js';

const test = suite('JMX source: real JVM -> agent -> aggregator');
const POD = 'service/orders/pod/orders-1';
const BROKER = 'cluster/prod/broker/1';

let agg: AggregatorProc;
let jvm: FakeJvm;
let orders: AgentProc;
let sub: Collector;
let client: Client;
let sensor: string;

/** The signs received for a subject, without confidence: "queue PRESSURE 85", "status STABLE". */
function signs(subject: string): string[] {
  return sub.events
    .filter((e: Event) => e.signal?.subject === subject)
    .map((e) => describeSign(e.signal!).replace(/ (TENTATIVE|MEASURED|CONFIRMED)$/, '').replace(/^(queue \w+) [\d.]+$/, '$1'));
}
const distinct = (xs: string[]): string[] => xs.filter((x, i) => i === 0 || x !== xs[i - 1]);
const last = (subject: string): string | undefined => signs(subject).at(-1);
const awaitLast = (subject: string, sign: string): Promise<void> => sub.until(() => last(subject) === sign, `${subject}: ${sign} (have ${distinct(signs(subject)).join(' -> ')})`);

test.before(async () => {
  const rules = join(tempDir('rules-'), 'fast.yaml');
  writeFileSync(rules, `
defaults:
  heartbeatMs: 600000
  confidence: { measuredAfter: 2, confirmedAfter: 3, confirmedAfterMs: 500 }
rules:
  - { name: producer-request-latency, windowMs: 3000 }
  - { name: consumer-rebalance-storm, spacingMs: 3000, quietMs: 3500 }
  - { name: jvm-gc-pause, holdMs: 1000 }
`);
  [agg, jvm] = await Promise.all([aggregator(), FakeJvm.start()]);
  ({ client } = aggregatorClient(agg.url));
  sub = new Collector(client, { kinds: [EventKind.SIGNAL], fromOffset: 0n });
  orders = await agent('orders-1', agg.url, [], { JMX_URL: `127.0.0.1:${jvm.port}`, POLL_INTERVAL_MS: '200', SERVICE_NAME: 'orders', KAFKA_CLUSTER: 'prod', KAFKA_OBS_RULES: rules });
  sensor = `jmx:127.0.0.1:${jvm.port}`;
  await awaitLast(`${POD}/agent#source/${sensor}`, 'status STABLE');
});

test.after(async () => {
  await sub?.close();
  await orders?.kill();
  await Promise.all([jvm?.kill(), agg?.kill()]);
});

test('producer buffer 50 % -> 85 % -> 97 %: PRESSURE then OVERFLOW; back to normal with hysteresis', async () => {
  const buffer = `${POD}/producer/p1#buffer`;
  await bufferUsed(jvm, 'p1', 50);
  await awaitLast(buffer, 'status STABLE');
  await bufferUsed(jvm, 'p1', 85);
  await awaitLast(buffer, 'queue PRESSURE');
  await bufferUsed(jvm, 'p1', 97);
  await awaitLast(buffer, 'queue OVERFLOW');
  // Coming down, then hovering at the 80 % threshold: PRESSURE holds until below 75 %.
  await bufferUsed(jvm, 'p1', 93);
  await polled(orders, sensor);
  await bufferUsed(jvm, 'p1', 81);
  await awaitLast(buffer, 'queue PRESSURE');
  for (const p of [79, 81, 78, 80.5]) {
    await bufferUsed(jvm, 'p1', p);
    await polled(orders, sensor);
  }
  await bufferUsed(jvm, 'p1', 60);
  await awaitLast(buffer, 'status STABLE');
  assert.equal(distinct(signs(buffer)), ['status STABLE', 'queue PRESSURE', 'queue OVERFLOW', 'queue PRESSURE', 'status STABLE']);
  const overflow = sub.events.find((e) => e.signal?.subject === buffer && e.signal.queue?.units !== undefined && e.signal.queue.units > 95)!.signal!;
  assert.is(overflow.context['client-id'], 'p1');
  assert.is(overflow.context['buffer-total-bytes'], '33554432', 'raw values travel in the context');
  assert.ok(Number(overflow.context['buffer-available-bytes']) < 33554432 * 0.05);
});

test('request-latency-avg 50 -> 150 -> 500 ms: DIVERGING; falling back: CONVERGING, then STABLE', async () => {
  const latency = `${POD}/producer/p1#request-latency`;
  await awaitLast(latency, 'status STABLE');
  await jvm.set(PRODUCER('p1'), 'request-latency-avg', 150);
  await polled(orders, sensor);
  await jvm.set(PRODUCER('p1'), 'request-latency-avg', 500);
  await awaitLast(latency, 'status DIVERGING');
  await polled(orders, sensor);
  await jvm.set(PRODUCER('p1'), 'request-latency-avg', 300);
  await awaitLast(latency, 'status CONVERGING');
  await jvm.set(PRODUCER('p1'), 'request-latency-avg', 50);
  await awaitLast(latency, 'status STABLE');
  assert.equal(distinct(signs(latency)), ['status STABLE', 'status DIVERGING', 'status CONVERGING', 'status STABLE']);
});

test('a client replaced by another between two polls (the MBean count unchanged) is read at once', async () => {
  // The bridge reads last poll's beans without asking for the names again unless the target's
  // MBean count moved or one of them vanished: here the count stays, the vanished one tells.
  const a = `${POD}/producer/swap-a#buffer`;
  const b = `${POD}/producer/swap-b#buffer`;
  await jvm.set(PRODUCER('swap-a'), 'buffer-total-bytes', BUFFER_TOTAL);
  await bufferUsed(jvm, 'swap-a', 50);
  await awaitLast(a, 'status STABLE');
  await polled(orders, sensor);
  const unregistered = jvm.command(`unregister ${PRODUCER('swap-a')}`);
  await Promise.all([unregistered, jvm.set(PRODUCER('swap-b'), 'buffer-total-bytes', BUFFER_TOTAL), bufferUsed(jvm, 'swap-b', 50)]);
  // 5 s: 25 polls, far less than the 30 s after which the names are asked again anyway.
  await sub.until(() => last(b) === 'status STABLE', `${b}: status STABLE within 5 s`, 5000);
  await jvm.command(`unregister ${PRODUCER('swap-b')}`);
});

test('rebalances in quick succession: ERRATIC, calm again once they stop; a slow rebalance: DEGRADED', async () => {
  const rebalances = `${POD}/consumer/c1#rebalances`;
  await awaitLast(rebalances, 'status STABLE');
  for (let i = 0; i < 3; i++) {
    await jvm.add(COORDINATOR('c1'), 'rebalance-total', 1);
    await polled(orders, sensor, 1);
  }
  await awaitLast(rebalances, 'status ERRATIC');
  const erratic = sub.events.find((e) => e.signal?.subject === rebalances && e.signal.status?.condition === Status_Condition.ERRATIC)!.signal!;
  assert.is(erratic.context['client-id'], 'c1');
  assert.ok(Number(erratic.context['min-spacing-ms']) < 3000);
  await awaitLast(rebalances, 'status STABLE'); // quietMs (3.5 s) without a rebalance

  const latency = `${POD}/consumer/c1#rebalance-latency`;
  await jvm.set(COORDINATOR('c1'), 'rebalance-latency-avg', 6200);
  await awaitLast(latency, 'status DEGRADED');
  await jvm.set(COORDINATOR('c1'), 'rebalance-latency-avg', 300);
  await awaitLast(latency, 'status STABLE');
});

test('heap at 85 % DEGRADED, at 95 % DEFECTIVE; a GC pause over 2 s DEGRADED', async () => {
  // This JVM registers a broker's app-info (kafka.server:type=app-info,id=1): it is broker 1's,
  // so its heap and GC are aspects of the broker, not of a service.
  const heap = `${BROKER}#heap`;
  await jvm.heap(85);
  await awaitLast(heap, 'status DEGRADED');
  await jvm.heap(95);
  await awaitLast(heap, 'status DEFECTIVE');
  await jvm.heap(40);
  await awaitLast(heap, 'status STABLE');
  const gc = `${BROKER}#gc/Scripted`;
  await jvm.add(SCRIPTED_GC, 'CollectionTime', 2500);
  await awaitLast(gc, 'status DEGRADED');
  const pause = sub.events.filter((e) => e.signal?.subject === gc && e.signal.status?.condition === Status_Condition.DEGRADED)[0]!.signal!;
  assert.is(pause.context.value, '2500', 'collection time in that poll');
  await awaitLast(gc, 'status STABLE');
});

test('a broker with UnderReplicatedPartitions = 2 is DEGRADED, named by its app-info id', async () => {
  await jvm.set(URP, 'Value', 2);
  await awaitLast(`${BROKER}#under-replicated`, 'status DEGRADED');
  const cell = await client.getCell({ path: BROKER, depth: 1, limit: 0, after: '' });
  assert.is(cell.condition, Status_Condition.DEGRADED, 'the broker cell rolls it up');
  await jvm.set(URP, 'Value', 0);
  await awaitLast(`${BROKER}#under-replicated`, 'status STABLE');
});

test('an unchanging metric is not re-sent: TENTATIVE, MEASURED, CONFIRMED, then silence until the heartbeat', async () => {
  await polled(orders, sensor, 5);
  const offline = signs(`${BROKER}#offline-partitions`);
  assert.equal(offline, ['status STABLE', 'status STABLE', 'status STABLE']);
  const confidences = sub.events.filter((e) => e.signal?.subject === `${BROKER}#offline-partitions`).map((e) => e.signal!.context.confidence);
  assert.equal(confidences, ['TENTATIVE', 'MEASURED', 'CONFIRMED']);
});

test('the JMX bridge killed: the agent restarts it and polling goes on', async () => {
  const before = await sensorStatus(orders, sensor);
  assert.is(before.bridgeStarts, 1);
  process.kill(before.bridgePid!, 'SIGKILL');
  await until(async () => {
    const s = await sensorStatus(orders, sensor);
    return s.bridgeStarts === 2 && s.bridgePid !== before.bridgePid && s.condition === 'STABLE';
  }, 'bridge restarted');
  await jvm.heap(86);
  await awaitLast(`${BROKER}#heap`, 'status DEGRADED');
  const metrics = await (await fetch(`http://127.0.0.1:${orders.httpPort}/metrics`)).text();
  assert.match(metrics, new RegExp(`kafkaobs_agent_jmx_bridge_restarts_total\\{source="${sensor}"\\} 1`));
  assert.ok(orders.lines.some((l) => l.msg === 'JMX bridge exited'), 'the exit is logged');
});

test('the target JVM killed and restarted: source DOWN, then recovery without restarting the agent', async () => {
  const self = `${POD}/agent#source/${sensor}`;
  const port = jvm.port;
  await jvm.set(URP, 'Value', 3);
  await awaitLast(`${BROKER}#under-replicated`, 'status DEGRADED');
  await jvm.kill();
  await awaitLast(self, 'status DOWN');
  // What the source reads is broker 1: the broker is told to have gone silent too (evidence about it).
  await awaitLast(`${BROKER}#sensor/${sensor}`, 'status DOWN');
  const down = sub.events.filter((e) => e.signal?.subject === self).at(-1)!.signal!;
  assert.is(down.context.reason, 'unreachable');
  assert.match(down.context.message!, /cannot connect to service:jmx:rmi:\/\/\/jndi\/rmi:\/\/127\.0\.0\.1:\d+\/jmxrmi: .*Connection refused/);
  jvm = await FakeJvm.start({ port });
  await awaitLast(self, 'status STABLE');
  // Values come from the new JVM (it starts with no under-replicated partitions).
  await awaitLast(`${BROKER}#under-replicated`, 'status STABLE');
  assert.ok(orders.child.exitCode === null, 'the agent kept running');
  const metrics = await (await fetch(`http://127.0.0.1:${orders.httpPort}/metrics`)).text();
  assert.match(metrics, new RegExp(`kafkaobs_agent_source_poll_errors_total\\{source="${sensor}",reason="unreachable"\\} [1-9]`));
  assert.match(metrics, new RegExp(`kafkaobs_agent_source_poll_duration_seconds_count\\{source="${sensor}"\\} [1-9]`));
  assert.match(metrics, new RegExp(`kafkaobs_agent_source_up\\{source="${sensor}"\\} 1`));
});

test.run();
