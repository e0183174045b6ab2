// A slow subscriber never slows ingest: it falls behind the retained events, and when it reads
// again it is told with one gap event how much it missed, then continues in order.
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

test('gets a gap event with the count it missed; ingest is not held up', async () => {
  agg = await startAggregator({ ...AGGREGATOR_DEFAULTS, grpcHost: '127.0.0.1', grpcPort: 0, httpHost: '127.0.0.1', httpPort: 0, retainEvents: 1000, drainTimeoutMs: 2000, dataDir: tempDir('slow-') }, pino({ level: 'silent' }));
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
      assert.match(g.reason, /too slow/);
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
