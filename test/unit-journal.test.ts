// The journal in process, on a real RocksDB in a temporary directory: events framed once and read
// back as they were written; offsets, dedupe state and narratives survive a reopen; reads by
// offset, time and subject prefix (whole segments); retention by size and age, separately for
// the log and for verdicts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Event, EventKind, Narrative_State, Signal, Status_Condition, Status_Confidence, type Narrative } from '../proto/index.js';
import { EventLog } from '../aggregator/event-log.js';
import { AUTO_THREAD_EVENTS, Journal, indexBucketOf } from '../aggregator/journal/journal.js';
import { ByteWriter, decodeFramed, indexEvents, varint64, writeEvent, writeSignalEvent, encodeSignal } from '../aggregator/journal/codec.js';
import { decodeChunk, under } from '../aggregator/subscription.js';
import { tempDir } from './support/procs.js';
import { signal } from './support/client.js';
import { brokerAspect, producerAspect } from './support/subjects.js';

const test = suite('journal');
const S = 1_000_000_000n;
const T0 = 1_800_000_000n * S;
const retainAll = { signalsMs: 0, signalsBytes: 0, verdictsMs: 0, verdictsBytes: 0 };

const narrative = (id: string, revision: number, state: Narrative_State): Narrative => ({
  id, state, situation: 'Broker 1 of cluster prod: under-replicated partitions', causalChain: [], rootCause: 'broker 1', rootSubject: 'cluster/prod/broker/1',
  recommendation: '', confidence: Status_Confidence.MEASURED, level: 2, openedAt: T0, updatedAt: T0, resolvedAt: state === Narrative_State.RESOLVED ? T0 + S : 0n, revision, findingIds: [], leaves: [],
});

async function open(path: string, retention = retainAll): Promise<{ journal: Journal; log: EventLog; nextOffset: bigint; highWater: Map<string, bigint> }> {
  const journal = new Journal({ path, sync: 'fsync', retention });
  const state = await journal.open();
  return { journal, log: new EventLog(1000, { journal, nextOffset: state.nextOffset }), nextOffset: state.nextOffset, highWater: state.highWater };
}

test('framed events: indexed without decoding, decoded as written', () => {
  const w = new ByteWriter(16);
  const s = signal({ sourceId: 'a', seq: 7n, subject: producerAspect('orders', 'orders-1', 'order-producer', 'buffer') });
  writeSignalEvent(w, 300, varint64(T0), encodeSignal(s));
  writeEvent(w, { offset: 301n, time: T0 + 1n, cellChange: { path: 'service/orders', previous: 2, current: 5, confidence: 2, causeSourceId: 'a', causeSeq: 7n, stale: false, reason: '' } });
  writeEvent(w, { offset: 302n, time: T0 + 2n, narrative: narrative('n-1', 1, Narrative_State.OPEN) });
  const bytes = w.take();
  const idx = indexEvents(bytes);
  assert.equal(idx.offsets, [300n, 301n, 302n]);
  assert.equal(idx.times, [T0, T0 + 1n, T0 + 2n]);
  assert.equal(idx.kinds, [EventKind.SIGNAL, EventKind.CELL_CHANGE, EventKind.NARRATIVE]);
  assert.equal(idx.subjects, [s.subject, 'service/orders', 'cluster/prod/broker/1']);
  assert.equal(Signal.toJSON(decodeFramed(bytes, idx.starts[0]!).signal!), Signal.toJSON(s));
  // A run of framed events is an EventBatch.
  assert.is(decodeChunk(bytes).length, 3);
  assert.is(Event.decode(bytes.subarray(idx.starts[1]! + 2, idx.starts[2]!)).cellChange!.path, 'service/orders');
});

test('subjects: entities for the index, prefixes by whole segments', () => {
  assert.is(indexBucketOf(brokerAspect('prod', 1, 'under-replicated')), 'cluster/prod/broker/1');
  assert.is(indexBucketOf(producerAspect('orders', 'o-1', 'p', 'buffer')), 'service/orders/pod/o-1');
  assert.is(indexBucketOf('cluster/prod'), 'cluster/prod');
  assert.ok(under('cluster/prod/broker/1#lag', 'cluster/prod'));
  assert.ok(under('cluster/prod#x', 'cluster/prod'));
  assert.not.ok(under('cluster/production/broker/1', 'cluster/prod'));
});

test('a reopened journal continues offsets, keeps dedupe state, answers by offset, time and subject', async () => {
  const path = join(tempDir('unit-journal-'), 'journal');
  let j = await open(path);
  assert.is(j.nextOffset, 1n);
  const subjects = [brokerAspect('prod', 1, 'under-replicated'), brokerAspect('production', 2, 'under-replicated'), producerAspect('orders', 'o-1', 'p', 'buffer')];
  for (let g = 0; g < 3; g++) {
    for (let i = 0; i < 10; i++) {
      const s = signal({ sourceId: 'src', seq: BigInt(g * 10 + i + 1), subject: subjects[(g * 10 + i) % 3]!, status: { condition: Status_Condition.STABLE, confidence: Status_Confidence.MEASURED }, queue: undefined });
      j.log.appendSignal(s, undefined, T0 + BigInt(g) * 60n * S);
      j.log.noteHighWater('src', s.seq);
    }
    j.log.append({ narrative: narrative('n-1', g + 1, g === 2 ? Narrative_State.RESOLVED : g === 0 ? Narrative_State.OPEN : Narrative_State.UPDATED) }, T0 + BigInt(g) * 60n * S);
    await j.log.committedAll();
  }
  assert.is(j.log.nextOffset, 34n);
  await j.journal.close();

  j = await open(path);
  assert.is(j.nextOffset, 34n, 'offsets continue after the last journalled event');
  assert.is(j.highWater.get('src'), 30n, 'dedupe state survived');
  const blocks = [];
  for await (const b of j.journal.blocksFrom(15n)) blocks.push(b.first);
  assert.equal(blocks, [12n, 23n], 'from the block holding offset 15');
  assert.is(await j.journal.offsetAtTime(T0 + 61n * S), 12n, 'time index: the block at or before the time');
  assert.equal(await j.journal.blocksForSubject('cluster/prod'), [1n, 12n, 23n]);
  const onlyProd = [];
  for (const first of await j.journal.blocksForSubject('cluster/prod/broker/1')) {
    const idx = indexEvents((await j.journal.block(first))!);
    onlyProd.push(...idx.subjects.filter((x, i) => idx.kinds[i] === EventKind.SIGNAL && under(x, 'cluster/prod')));
  }
  assert.is(onlyProd.length, 10);
  assert.ok(onlyProd.every((x) => x.startsWith('cluster/prod/broker/1#')), `cluster/prod is not cluster/production: ${onlyProd.join(', ')}`);
  const history = await j.journal.narrativeHistory('n-1');
  assert.equal(history.map((e) => [e.narrative!.revision, e.offset]), [[1, 11n], [2, 22n], [3, 33n]], 'every revision, with its offset');
  await j.journal.close();
});

test('writer auto: a large group is written by the thread, a small one behind it too (in order), a small one alone inline', async () => {
  const path = join(tempDir('unit-journal-auto-'), 'journal');
  const journal = new Journal({ path, sync: 'fsync', retention: retainAll, writer: 'auto' });
  const state = await journal.open();
  const log = new EventLog(10_000, { journal, nextOffset: state.nextOffset });
  let seq = 0n;
  const append = (n: number): void => {
    for (let i = 0; i < n; i++) log.appendSignal(signal({ sourceId: 'auto', seq: ++seq }), undefined, T0 + seq);
  };
  append(AUTO_THREAD_EVENTS + 100);
  const large = log.committedAll();
  await new Promise((r) => setImmediate(r)); // the large group has been handed to the thread
  append(10);
  const behind = log.committedAll();
  await Promise.all([large, behind]);
  append(10);
  await log.committedAll();
  assert.is(journal.stats.commits, 3);
  assert.is(journal.stats.threadCommits, 2, 'the large group and the one queued behind it');
  const offsets: bigint[] = [];
  for await (const b of journal.blocksFrom(0n)) offsets.push(...indexEvents(b.bytes).offsets);
  assert.is(offsets.length, AUTO_THREAD_EVENTS + 120);
  assert.ok(offsets.every((o, i) => o === BigInt(i + 1)), 'every event, in offset order');
  await journal.close();
});

test('retention: the log by size (the last block always stays), verdicts separately by age', async () => {
  const path = join(tempDir('unit-retain-'), 'journal');
  const j = await open(path, { signalsMs: 0, signalsBytes: 4000, verdictsMs: 3_600_000, verdictsBytes: 0 });
  for (let g = 0; g < 20; g++) {
    for (let i = 0; i < 10; i++) j.log.appendSignal(signal({ sourceId: 'r', seq: BigInt(g * 10 + i + 1) }), undefined, T0 + BigInt(g) * 600n * S);
    j.log.append({ narrative: narrative(`n-${g}`, 1, Narrative_State.OPEN) }, T0 + BigInt(g) * 600n * S);
    await j.log.committedAll();
  }
  const before = j.journal.stats.logBytes;
  assert.ok(before > 4000);
  // "Now" is 2 h after the last group: verdicts older than 1 h go, the log is cut to ~4000 bytes.
  const r = await j.journal.retain(T0 + 19n * 600n * S + 7200n * S);
  assert.ok(r.blocks > 0 && j.journal.stats.logBytes <= 4000, `log cut to its size (${j.journal.stats.logBytes} bytes)`);
  assert.ok(j.journal.firstOffset > 1n);
  const firsts = [];
  for await (const b of j.journal.blocksFrom(0n)) firsts.push(b.first);
  assert.is(firsts[0], j.journal.firstOffset, 'nothing older than firstOffset is left');
  assert.is(r.verdicts, 20, 'every verdict older than an hour went');
  assert.equal(await j.journal.narrativeHistory('n-3'), []);
  await j.journal.close();
});

test.run();
