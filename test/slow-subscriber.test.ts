// A slow subscriber never slows ingest: it falls behind what memory holds and, when it reads
// again, gets the rest back from the journal, in order, nothing missed. Only when retention has
// deleted what it had not read is it told with gap events how much it missed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import { EventKind, type Gap } from '../proto/index.js';
import { startAggregator, type RunningAggregator } from '../aggregator/server.js';
import { AGGREGATOR_DEFAULTS } from '../aggregator/config.js';
import { tempDir } from './support/procs.js';
import { aggregatorClient, signal, streamSignals } from './support/client.js';

const test = suite('slow subscriber');
let agg: RunningAggregator;

test.after(async () => {
  await agg?.stop();
});

test('reads back from the journal what memory no longer holds: everything, in order; ingest is not held up', async () => {
  agg = await startAggregator({ ...AGGREGATOR_DEFAULTS, grpcHost: '127.0.0.1', grpcPort: 0, httpHost: '127.0.0.1', httpPort: 0, retainEvents: 1000, drainTimeoutMs: 2000, dataDir: tempDir('slow-') }, pino({ level: 'silent' }));
  const { client, channel } = aggregatorClient(`127.0.0.1:${agg.grpcPort}`);
  try {
    const events = client.subscribe({ kinds: [EventKind.SIGNAL, EventKind.GAP], subjectPrefix: '' })[Symbol.asyncIterator]();
    const firstPromise = events.next();
    await streamSignals(client, [[signal({ sourceId: 'slow-a', context: { i: 'first' } })]]);
    assert.is((await firstPromise).value!.signal!.context.i, 'first');
    const batches = Array.from({ length: 30 }, (_, b) => Array.from({ length: 1000 }, (_, i) => signal({ sourceId: 'slow-a', context: { i: String(b * 1000 + i) } })));
    const acks = await streamSignals(client, batches);
    assert.is(acks.reduce((n, a) => n + a.accepted, 0), 30_000);
    assert.ok(agg.log.firstOffset > 1000n, 'memory no longer holds the start');
    let last = -1;
    for (;;) {
      const { value } = await events.next();
      assert.ok(!value!.gap, 'no gap: the journal has it all');
      const i = Number(value!.signal!.context.i);
      assert.is(i, last + 1, 'every signal, in order');
      last = i;
      if (i === 29_999) break;
    }
    await events.return?.();
  } finally {
    channel.close();
    await agg.stop();
  }
});

test('gets gap events with the count it missed when retention deleted what it had not read', async () => {
  // Retention keeps about 64 KiB of the log and runs every 100 ms: a subscriber that does not read falls off it.
  agg = await startAggregator({ ...AGGREGATOR_DEFAULTS, grpcHost: '127.0.0.1', grpcPort: 0, httpHost: '127.0.0.1', httpPort: 0, retainEvents: 1000, drainTimeoutMs: 2000, dataDir: tempDir('slow-'), retainSignalsBytes: 64 * 1024, retentionIntervalMs: 100 }, pino({ level: 'silent' }));
  const { client, channel } = aggregatorClient(`127.0.0.1:${agg.grpcPort}`);
  try {
  const events = client.subscribe({ kinds: [EventKind.SIGNAL, EventKind.GAP], subjectPrefix: '' })[Symbol.asyncIterator]();
  const firstPromise = events.next();
  await streamSignals(client, [[signal({ sourceId: 'slow-src', context: { i: 'first' } })]]);
  const first = await firstPromise;
  assert.is(first.value!.signal!.context.i, 'first');

  // The subscriber now reads nothing while 30 000 signals go in: every batch is still acknowledged.
  const batches = Array.from({ length: 30 }, (_, b) => Array.from({ length: 1000 }, (_, i) => signal({ sourceId: 'slow-src', context: { i: String(b * 1000 + i) } })));
  const acks = await streamSignals(client, batches);
  assert.is(acks.length, 30);
  assert.is(acks.reduce((n, a) => n + a.accepted, 0), 30_000);
  const metricsText = async () => (await fetch(`http://127.0.0.1:${agg.httpPort}/metrics`)).text();
  const deleted = async () => /kafkaobs_journal_deleted_total\{store="log_blocks"\} [1-9]/.test(await metricsText());
  for (let i = 0; i < 200 && !(await deleted()); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(agg.journal.firstOffset > 2000n, 'retention deleted the start of the log');

  // Reading again: gaps (one per stretch the ring overwrote while this subscriber was behind)
  // and delivered events tile the log in order, without overlap, up to the last signal.
  const gaps: Gap[] = [];
  const delivered: bigint[] = [];
  let last = first.value!.offset;
  for (;;) {
    const { value } = await events.next();
    if (value!.gap) {
      const g = value!.gap;
      assert.ok(g.fromOffset > last, 'a gap starts after what was delivered');
      const span: bigint = (g.toOffset as bigint) - (g.fromOffset as bigint);
      assert.ok(g.missed === span + 1n, 'missed counts the offsets in the gap');
      assert.match(g.reason, /retention/);
      gaps.push(g);
      last = g.toOffset;
      continue;
    }
    assert.ok(value!.offset > last, 'in order, after any gap');
    last = value!.offset;
    delivered.push(value!.offset);
    if (value!.signal!.context.i === '29999') break;
  }
  assert.ok(gaps.length > 0, 'a gap event arrived');
  const missed = gaps.reduce((n, g) => n + g.missed, 0n);
  assert.ok(BigInt(delivered.length) + missed >= 30_000n, 'what was delivered and what was reported missed account for every signal');
  const metrics = await (await fetch(`http://127.0.0.1:${agg.httpPort}/metrics`)).text();
  assert.match(metrics, new RegExp(`kafkaobs_subscriber_dropped_events_total ${missed}\\b`));
  await events.return?.();
  } finally {
    channel.close();
  }
});

test.run();
