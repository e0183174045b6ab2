// Lag in time and retention risk end to end: librdkafka's mock cluster (a real Kafka-protocol
// server: it serves Fetch at an offset with the producers' record timestamps, and it keeps at most
// 5 MiB per partition, deleting the oldest record batches beyond that, so its log start really
// advances), real kafkajs producers and consumers, the real agent reading it every 500 ms, the
// real aggregator receiving the signals.
//
// 1. A producer flushes a burst (records created over the 3 s before, as a producer does after a
//    broker outage) and goes silent; the group's first commit comes 4 s later (a consumer deployed
//    late). Truth: the age of the record at the committed offset, from the timestamps the test
//    wrote. The agent's lag seconds (from that record's timestamp) match it within 0.1 s at every
//    reading; the log-end interpolation, computed by the agent beside it and by the test from the
//    log ends the agent reported, is several seconds short (it never saw those records arrive).
//    The committed offset moves: the new record is read, still exact.
// 2. A consumer stops while the producer keeps writing 100 KB records: the mock's log start
//    advances towards its committed offset. The partition is flagged at-risk (DEGRADED, seconds
//    left) before its records are deleted, and lost after.
// 3. Reading is refused (TOPIC_AUTHORIZATION_FAILED, as for a principal without Read): lag in
//    seconds falls back to interpolation, counted, said once in the log.
// 4. --check says where lag in seconds comes from.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import kafkajs, { type Admin, type Consumer, type Producer } from 'kafkajs';
import { CTX, EventKind, Status_Condition, entityOf, type Event, type Signal } from '../proto/index.js';
import { agent, agentCheck, aggregator, getJson, tempDir, type AgentProc, type AggregatorProc } from './support/procs.js';
import { aggregatorClient, Collector } from './support/client.js';
import { ApiKey, FAST_CONSUMER, startMockKafka, type MockKafka } from './support/kafka-mock.js';

const { Kafka, logLevel, CompressionTypes } = kafkajs;
const test = suite('Kafka source: lag in time and retention risk against a Kafka-protocol server');

const REPORTS = 'cluster/prod/group/reports';
const ARCHIVERS = 'cluster/prod/group/archivers';
/** Records in the burst, per partition; record k was created at burstAt - 3000 + 10k ms. */
const BURST = 300;
const RECORD_KB = 100;
/** Stated tolerance of lag seconds from record timestamps (the signal carries 0.1 s). */
const TOLERANCE_S = 0.1;

let mock: MockKafka;
let agg: AggregatorProc;
let monitor: AgentProc;
let sub: Collector;
let kafka: InstanceType<typeof Kafka>;
let producer: Producer;
let admin: Admin;
let reports: Consumer;
let burstAt = 0;
let config = '';
const consumers: Consumer[] = [];
const env = (): NodeJS.ProcessEnv => ({ KAFKA_BOOTSTRAP_SERVERS: mock.bootstrap, KAFKA_CONSUMER_GROUPS: 'reports,archivers', KAFKA_POLL_INTERVAL_MS: '500', KAFKA_CLUSTER: 'prod', SERVICE_NAME: 'lag-time' });

const signalsOf = (entity: string): Signal[] => sub.events.filter((e: Event) => e.signal !== undefined && entityOf(e.signal.subject) === entity).map((e) => e.signal!);
const ms = (s: Signal): number => Number(s.timestamp / 1_000_000n);
const num = (s: Signal | undefined, key: string): number => Number(s?.context[key]);
const createdAt = (offset: number): number => burstAt - 3000 + 10 * offset;

async function member(groupId: string, topic: string): Promise<Consumer> {
  const c = kafka.consumer({ groupId, ...FAST_CONSUMER });
  consumers.push(c);
  await c.connect();
  await c.subscribe({ topics: [topic], fromBeginning: true });
  const joined = new Promise<void>((resolve) => c.on(c.events.GROUP_JOIN, () => resolve()));
  await c.run({ autoCommit: false, eachMessage: async () => undefined });
  await joined;
  return c;
}

test.before(async () => {
  [mock, agg] = await Promise.all([startMockKafka({ brokers: 2, topics: [{ name: 'clicks', partitions: 2 }, { name: 'ledger', partitions: 1 }] }), aggregator()]);
  sub = new Collector(aggregatorClient(agg.url).client, { kinds: [EventKind.SIGNAL], fromOffset: 0n });
  kafka = new Kafka({ clientId: 'e2e-lag-time', brokers: mock.bootstrap.split(','), logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100 } });
  producer = kafka.producer();
  admin = kafka.admin();
  await Promise.all([producer.connect(), admin.connect()]);
  // Healthy judgements re-sent every round (the default is once a minute), so every reading shows.
  config = join(tempDir('kafka-lag-time-'), 'agent.yaml');
  writeFileSync(config, 'kafka:\n  heartbeatMs: 500\n  lag:\n    minStopMs: 3000\n    retentionHorizonMs: 30000\n');
  monitor = await agent('lag-time-1', agg.url, ['--config', config], env());
});

const within = (p: Promise<unknown>, t = 5000): Promise<unknown> => Promise.race([p.catch(() => undefined), new Promise((r) => setTimeout(r, t).unref())]);

test.after(async () => {
  await within(Promise.allSettled(consumers.map((c) => c.disconnect())));
  await within(Promise.allSettled([producer?.disconnect(), admin?.disconnect()]));
  await sub?.close();
  await monitor?.kill();
  await Promise.all([agg?.kill(), mock?.stop()]);
});

test('a burst, then silence, the group seen 4 s later: lag seconds from the record timestamp track the true age; the log-end interpolation does not', async () => {
  burstAt = Date.now();
  // Partition 1's burst gzip-compressed (one batch): read by inflating it.
  for (const partition of [0, 1]) await producer.send({ topic: 'clicks', compression: partition === 1 ? CompressionTypes.GZIP : CompressionTypes.None, messages: Array.from({ length: BURST }, (_, k) => ({ partition, value: `click-${k}`, timestamp: String(createdAt(k)) })) });
  // 40 records of 100 KB in the ledger (4 MB: under the mock's 5 MiB, nothing deleted yet).
  const big = Buffer.alloc(RECORD_KB * 1024, 'l');
  for (let i = 0; i < 40; i++) await producer.send({ topic: 'ledger', messages: [{ value: big }] });
  await new Promise((r) => setTimeout(r, 4000));
  const archivers = await member('archivers', 'ledger');
  reports = await member('reports', 'clicks');
  await Promise.all([reports.commitOffsets([{ topic: 'clicks', partition: 0, offset: '100' }, { topic: 'clicks', partition: 1, offset: '200' }]), archivers.commitOffsets([{ topic: 'ledger', partition: 0, offset: '30' }])]);
  // The archivers' consumer stops here (test 2 watches retention close on it).
  consumers.splice(consumers.indexOf(archivers), 1);
  await archivers.disconnect();

  const p0 = `${REPORTS}/topic/clicks/partition/0`;
  const exact = (s: Signal): boolean => s.context['committed-offset'] === '100' && s.context[CTX.lagSecondsFrom] === 'record-timestamp';
  await sub.until(() => signalsOf(p0).filter(exact).length >= 8, `8 readings of partition 0 from record timestamps (have ${signalsOf(p0).map((s) => `${s.context['committed-offset']}:${s.context[CTX.lagSecondsFrom]}`).join(' ')})`, 30_000);
  const readings = signalsOf(p0).filter(exact);
  // The test's own interpolation (Kafka Lag Exporter's) over the log ends the agent reported: the
  // log end was 300 from its first reading on, so offset 100 predates the table: all it can say is
  // "older than the first reading".
  const firstSeen = ms(signalsOf(p0).find((s) => s.context['log-end-offset'] === String(BURST))!);
  const rows = readings.map((s) => {
    const truth = (ms(s) - createdAt(100)) / 1000;
    return { truth, fromRecord: num(s, 'lag-seconds'), agentInterpolated: num(s, 'lag-seconds-interpolated'), testInterpolated: (ms(s) - firstSeen) / 1000 };
  });
  for (const r of rows) {
    assert.ok(Math.abs(r.fromRecord - r.truth) <= TOLERANCE_S, `lag seconds ${r.fromRecord} vs true age ${r.truth.toFixed(3)}`);
    assert.ok(r.truth - r.agentInterpolated >= 5, `the agent's interpolation ${r.agentInterpolated} s is well short of ${r.truth.toFixed(1)} s`);
    assert.ok(r.truth - r.testInterpolated >= 5, `the test's interpolation ${r.testInterpolated.toFixed(1)} s is well short of ${r.truth.toFixed(1)} s`);
    // The agent's interpolation is the same bound the test computes (its first reading came a little earlier).
    assert.ok(Math.abs(r.agentInterpolated - r.testInterpolated) <= 1.5, `agent ${r.agentInterpolated} vs test ${r.testInterpolated.toFixed(1)}`);
  }
  // The lag seconds keep tracking the age while nothing happens (they grow with the clock).
  assert.ok(rows.at(-1)!.fromRecord - rows[0]!.fromRecord >= 2.5, `grew from ${rows[0]!.fromRecord} to ${rows.at(-1)!.fromRecord}`);
  const worst = Math.max(...rows.map((r) => Math.abs(r.fromRecord - r.truth)));
  const interpolationError = Math.min(...rows.map((r) => r.truth - r.agentInterpolated));
  console.log(`lag seconds from record timestamps: ${rows.length} readings, worst error ${worst.toFixed(3)} s (tolerance ${TOLERANCE_S} s); log-end interpolation short by ${interpolationError.toFixed(1)} s or more`);

  // Partition 1 (gzip, committed at 200) is as exact.
  const p1 = signalsOf(`${REPORTS}/topic/clicks/partition/1`).filter((s) => s.context['committed-offset'] === '200' && s.context[CTX.lagSecondsFrom] === 'record-timestamp');
  assert.ok(p1.length >= 5);
  for (const s of p1) assert.ok(Math.abs(num(s, 'lag-seconds') - (ms(s) - createdAt(200)) / 1000) <= TOLERANCE_S, `partition 1: ${s.context['lag-seconds']} vs ${(ms(s) - createdAt(200)) / 1000}`);
  // The group and the topic carry the oldest unconsumed record's age (partition 0's, at 100).
  const g = signalsOf(REPORTS).at(-1)!;
  assert.is(g.context[CTX.lagSecondsFrom], 'record-timestamp');
  assert.ok(Math.abs(num(g, 'lag-seconds') - (ms(g) - createdAt(100)) / 1000) <= TOLERANCE_S, `group lag seconds ${g.context['lag-seconds']}`);
  assert.is(signalsOf(`${REPORTS}/topic/clicks`).at(-1)!.context[CTX.lagSecondsFrom], 'record-timestamp');
});

test('the committed offset moves: the record there is read, lag seconds still exact', async () => {
  await reports.commitOffsets([{ topic: 'clicks', partition: 0, offset: '250' }]);
  const p0 = `${REPORTS}/topic/clicks/partition/0`;
  const moved = (s: Signal): boolean => s.context['committed-offset'] === '250' && s.context[CTX.lagSecondsFrom] === 'record-timestamp';
  await sub.until(() => signalsOf(p0).filter(moved).length >= 3, 'partition 0 read again at 250', 20_000);
  for (const s of signalsOf(p0).filter(moved)) assert.ok(Math.abs(num(s, 'lag-seconds') - (ms(s) - createdAt(250)) / 1000) <= TOLERANCE_S, `${s.context['lag-seconds']} vs ${(ms(s) - createdAt(250)) / 1000}`);
  const status = await getJson<{ sensors: Record<string, { recordTimestamps?: { reads: number; exact: number; deferred: number; lastRound?: { ms: number; reads: number } } }> }>(`http://127.0.0.1:${monitor.httpPort}/v1/status`);
  const rt = Object.values(status.sensors).map((x) => x.recordTimestamps).find((x) => x !== undefined)!;
  assert.ok(rt.reads >= 3 && rt.exact >= 3, JSON.stringify(rt));
  assert.is(rt.deferred, 0);
  console.log(`record timestamp reads so far: ${rt.reads} (${rt.exact} exact); the last round's read: ${rt.lastRound?.reads} partition(s) in ${rt.lastRound?.ms.toFixed(1)} ms`);
});

test('a stopped consumer and an advancing log start: at-risk (DEGRADED, seconds left) before its records are deleted, lost after', async () => {
  const p = `${ARCHIVERS}/topic/ledger/partition/0`;
  // 4 records of 100 KB a second: past 5 MiB the mock deletes the oldest, one record a send.
  const big = Buffer.alloc(RECORD_KB * 1024, 'm');
  let deletedAt = 0;
  const writing = setInterval(() => producer.send({ topic: 'ledger', messages: [{ value: big }] }).catch(() => undefined), 250);
  const watching = setInterval(() => {
    admin.fetchTopicOffsets('ledger').then((o) => {
      if (!deletedAt && Number(o[0]!.low) > 30) deletedAt = Date.now();
    }, () => undefined);
  }, 100);
  try {
    await sub.until(() => signalsOf(p).some((s) => s.context.retention === 'lost'), `ledger/0 lost (have ${signalsOf(p).map((s) => `${s.context.retention}:${s.context[CTX.retentionSecondsLeft] ?? '-'}`).join(' ')})`, 40_000);
  } finally {
    clearInterval(writing);
    clearInterval(watching);
  }
  assert.ok(deletedAt > 0, 'the test saw the log start pass offset 30');
  const atRisk = signalsOf(p).filter((s) => s.context.retention === 'at-risk');
  assert.ok(atRisk.length > 0, 'flagged at-risk');
  const first = atRisk[0]!;
  const lead = (deletedAt - ms(first)) / 1000;
  assert.ok(lead >= 2, `flagged ${lead.toFixed(1)} s before the records were deleted`);
  assert.is(first.status!.condition, Status_Condition.DEGRADED);
  assert.match(first.context.reason!, /unconsumed records of ledger\/0 will be deleted in ~\d+ s: the log start \(\d+\) advances [\d.]+ records\/s/);
  assert.is(first.context[CTX.retentionHeadroom], String(30 - num(first, CTX.logStartOffset)));
  // The projection against what happened: seconds left at each at-risk reading vs the deletion seen.
  const errors = atRisk.map((s) => num(s, CTX.retentionSecondsLeft) - (deletedAt - ms(s)) / 1000);
  console.log(`retention: flagged at-risk ${lead.toFixed(1)} s before deletion; projected minus actual seconds left: ${errors.map((e) => e.toFixed(1)).join(' ')}`);
  for (const e of errors) assert.ok(Math.abs(e) <= 3, `projection off by ${e.toFixed(1)} s`);
  const lost = signalsOf(p).find((s) => s.context.retention === 'lost')!;
  assert.ok(num(lost, CTX.retentionHeadroom) < 0);
  assert.match(lost.context.reason!, /unconsumed records were deleted by retention: the committed offset 30 is below the log start \d+/);
  assert.is(lost.status!.condition, Status_Condition.DEGRADED);
  // The group says it too, naming the partition.
  const g = signalsOf(ARCHIVERS).filter((s) => s.context.retention === 'at-risk')[0]!;
  assert.is(g.status!.condition, Status_Condition.DEGRADED);
  assert.is(g.context['retention-partition'], 'ledger/0');
  assert.ok(num(g, CTX.retentionSecondsLeft) >= 0);
});

test('reading records refused (no Read on the topic): lag seconds interpolated, the refusal counted and said once', async () => {
  await reports.commitOffsets([{ topic: 'clicks', partition: 0, offset: '270' }]);
  consumers.splice(consumers.indexOf(reports), 1);
  await reports.disconnect(); // the agent is the only one fetching now
  const TOPIC_AUTHORIZATION_FAILED = 29;
  await mock.pushErrors(ApiKey.Fetch, TOPIC_AUTHORIZATION_FAILED, 20);
  const p0 = `${REPORTS}/topic/clicks/partition/0`;
  try {
    await sub.until(() => signalsOf(p0).filter((s) => s.context['committed-offset'] === '270').length >= 3, 'partition 0 at 270, three readings', 20_000);
  } finally {
    await mock.clearErrors(ApiKey.Fetch);
  }
  const at270 = signalsOf(p0).filter((s) => s.context['committed-offset'] === '270');
  assert.ok(at270.every((s) => s.context[CTX.lagSecondsFrom] === 'interpolated'), at270.map((s) => s.context[CTX.lagSecondsFrom]).join(' '));
  const status = await getJson<{ sensors: Record<string, { recordTimestamps?: { failed: Record<string, number>; denied: number } }> }>(`http://127.0.0.1:${monitor.httpPort}/v1/status`);
  const rt = Object.values(status.sensors).map((x) => x.recordTimestamps).find((x) => x !== undefined)!;
  assert.ok((rt.failed.permission ?? 0) >= 1 && rt.denied >= 1, JSON.stringify(rt));
  const said = monitor.lines.filter((l) => /record timestamps of topic clicks cannot be read \(the agent's principal needs Read on it\): lag in seconds is interpolated/.test(l.msg));
  assert.is(said.length, 1, 'said once');
});

test('--check says where lag in seconds comes from', async () => {
  const r = await agentCheck(env());
  assert.match(r.out, /lag in seconds: from the broker's record timestamps \(read clicks\/\d at offset \d+: written \d{4}-\d\d-\d\dT/);
});

test.run();
