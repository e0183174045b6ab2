// The kafkajs commit cadence end to end: a real kafkajs consumer whose eachBatch processing is
// slowed to a quarter of the write rate, committing as kafkajs does at default auto-commit on a
// real broker (once per fetched batch, a batch being all the log held when it was fetched),
// against a Kafka-protocol server (librdkafka's mock cluster: no DescribeGroups, so the agent
// judges without membership), with the agent's Kafka source polling every 500 ms and its default
// lag rules. Batches grow with lag, so commits come ever more rarely (ARCHITECTURE.md §12 measured
// 0.6, 1.9, 11.4, 30.7 s ... on a real broker); the group must go WARN and stay WARN through a
// commit gap longer than the rules' 10 s floor, never ERR, never OK.
//
// The mock answers a Fetch with one record batch (one producer request) however far behind the
// consumer is, so kafkajs's own commit per fetched batch would come every 2 records here. The
// consumer commits instead where kafkajs on a real broker does: once it has handled everything up
// to the high watermark its fetch saw (kafkajs's batch.highWatermark) when the batch began.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import kafkajs, { type Consumer, type Producer } from 'kafkajs';
import { EventKind, Status_Condition, type Event, type Signal } from '../proto/index.js';
import { agent, aggregator, type AgentProc, type AggregatorProc } from './support/procs.js';
import { aggregatorClient, Collector } from './support/client.js';
import { FAST_CONSUMER, startMockKafka, type MockKafka } from './support/kafka-mock.js';

const { Kafka, logLevel } = kafkajs;
const test = suite('Kafka source: a kafkajs batch committer at a quarter of the write rate stays WARN');

const GROUP = `cluster/prod/group/slow-batches#lag`;
/** Records/s written; the consumer handles a quarter of that. */
const WRITE_RATE = 40;
const PER_RECORD_MS = (4 * 1000) / WRITE_RATE;

let mock: MockKafka;
let agg: AggregatorProc;
let monitor: AgentProc;
let sub: Collector;
let producer: Producer;
let consumer: Consumer;
let producing: NodeJS.Timeout | undefined;
let stopping = false;
/** When the consumer committed (ms), and how far. */
const commits: { at: number; offset: number }[] = [];

/** The group-level signals (the ones with a partition-status summary), oldest first. */
const groupSignals = (): Signal[] => sub.events.filter((e: Event) => e.signal?.subject === GROUP && e.signal.context['partition-status'] !== undefined).map((e) => e.signal!);
const history = (): string => groupSignals().map((s) => `${s.context.burrow}(${s.context['total-lag']})`).join(' ');
const gapsS = (): number[] => commits.slice(1).map((c, i) => (c.at - commits[i]!.at) / 1000);

test.before(async () => {
  [mock, agg] = await Promise.all([startMockKafka({ brokers: 1, topics: [{ name: 'events', partitions: 1 }] }), aggregator()]);
  sub = new Collector(aggregatorClient(agg.url).client, { kinds: [EventKind.SIGNAL], fromOffset: 0n });
  // The rules' defaults (minStopMs 10 s, maxPollIntervalMs 5 min): no configuration.
  monitor = await agent('lag-cadence-1', agg.url, [], {
    KAFKA_BOOTSTRAP_SERVERS: mock.bootstrap,
    KAFKA_CONSUMER_GROUPS: 'slow-batches',
    KAFKA_POLL_INTERVAL_MS: '500',
    KAFKA_CLUSTER: 'prod',
    SERVICE_NAME: 'lag-monitor',
  });
  const kafka = new Kafka({ clientId: 'e2e-lag-cadence', brokers: mock.bootstrap.split(','), logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100 } });
  producer = kafka.producer();
  consumer = kafka.consumer({ groupId: 'slow-batches', ...FAST_CONSUMER });
  await Promise.all([producer.connect(), consumer.connect()]);
  consumer.on(consumer.events.COMMIT_OFFSETS, (e) => {
    const offset = Number(e.payload.topics[0]?.partitions[0]?.offset);
    if (Number.isFinite(offset)) commits.push({ at: Date.now(), offset });
  });
});

test.after(async () => {
  stopping = true;
  if (producing) clearInterval(producing);
  const within = (p: Promise<unknown>, ms = 5000): Promise<unknown> => Promise.race([p.catch(() => undefined), new Promise((r) => setTimeout(r, ms).unref())]);
  await within(Promise.allSettled([consumer?.disconnect(), producer?.disconnect()]));
  await sub?.close();
  await monitor?.kill();
  await Promise.all([agg?.kill(), mock?.stop()]);
});

/** Awaits a condition on the events; a timeout says what was seen by then. */
async function waitFor(test: () => boolean, what: string, timeoutMs: number): Promise<void> {
  try {
    await sub.until(test, what, timeoutMs);
  } catch (e) {
    throw new Error(`${(e as Error).message}; commit gaps so far ${gapsS().join(' ')} s; judgements ${history()}`);
  }
}

/** How long (s) the consumer had gone without a commit when the signal was made. */
function silenceAt(s: Signal): number {
  const at = Number(s.timestamp / 1_000_000n);
  const last = commits.filter((c) => c.at <= at).at(-1);
  return last ? (at - last.at) / 1000 : 0;
}

test('commits grow ever sparser, and the group is WARN from its third commit on, through a silence longer than the rules\' 10 s floor: never ERR, never OK', async () => {
  // Join first, so the first batch is small and the cadence grows from it as on the real broker.
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.subscribe({ topics: ['events'], fromBeginning: true });
  /** The offset that ends the batch a real broker would have returned (its high watermark then). */
  let batchEnd: number | undefined;
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      batchEnd ??= Number(batch.highWatermark);
      for (const m of batch.messages) {
        if (stopping || !isRunning() || isStale()) return;
        await new Promise((r) => setTimeout(r, PER_RECORD_MS));
        resolveOffset(m.offset);
        await heartbeat(); // a member alive through long batches, as kafkajs's eachMessage does
        const next = Number(m.offset) + 1;
        if (next >= batchEnd) {
          await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: String(next) }]);
          batchEnd = undefined;
          return; // the next fetch starts the next batch
        }
      }
    },
  });
  await joined;
  let n = 0;
  producing = setInterval(() => {
    const messages = [{ value: `e-${n++}` }, { value: `e-${n++}` }];
    producer.send({ topic: 'events', messages }).catch(() => undefined);
  }, (2 * 1000) / WRITE_RATE);

  await waitFor(() => groupSignals().some((s) => s.context.burrow === 'WARN'), 'slow-batches WARN', 40_000);
  const firstWarn = groupSignals().findIndex((s) => s.context.burrow === 'WARN');
  // Then judgements made 12 s or more into one commit gap (a silence past the 10 s floor that a
  // consumer must keep before the rules even consider it late) and half as long again as the last
  // gap: the cadence keeps slowing. On a busy machine the gaps are longer, so is the wait.
  let seen: { gaps: number[]; silence: number } | undefined;
  await waitFor(() => {
    const gaps = gapsS();
    const need = Math.max(12, 1.5 * (gaps.at(-1) ?? 0) + 0.1);
    const long = groupSignals().slice(firstWarn).find((s) => silenceAt(s) >= need);
    if (long) seen = { gaps, silence: silenceAt(long) };
    return long !== undefined;
  }, 'a judgement 12 s, and 1.5 x the last gap, into a commit gap', 60_000);

  const { gaps, silence } = seen!;
  // The cadence: each gap at least twice the one before, the silence now longer still.
  assert.ok(gaps.length >= 2, `commit gaps ${gaps.join(' ')} s`);
  for (let i = 1; i < gaps.length; i++) assert.ok(gaps[i]! > 2 * gaps[i - 1]!, `gap ${i} (${gaps[i]} s) > 2 x gap ${i - 1}: ${gaps.join(' ')}`);
  assert.ok(silence > 1.5 * gaps.at(-1)!, `silence ${silence} s after gaps ${gaps.join(' ')} s`);
  const after = groupSignals().slice(firstWarn);
  assert.ok(after.length >= 10, `${after.length} judgements since the first WARN`);
  const bad = after.filter((s) => s.context.burrow !== 'WARN');
  assert.equal(bad.map((s) => `${s.context.burrow}: ${s.context.reason}`), [], `WARN throughout: ${history()}`);
  assert.ok(after.every((s) => s.status?.condition === Status_Condition.DIVERGING));
  const lags = after.map((s) => Number(s.context['total-lag']));
  assert.ok(lags.at(-1)! > lags[0]!, `lag grew: ${lags[0]} -> ${lags.at(-1)}`);
  if (process.env.TEST_VERBOSE) console.log(`commit gaps ${gaps.join(' ')} s, then ${silence} s of silence; judgements ${history()}`);
});

test.run();
