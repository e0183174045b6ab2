// Reading record timestamps (agent/kafka/record-fetch.ts) from the bytes a broker sends, and what
// the Kafka source reads each round (agent/kafka/record-times.ts). Record batches are built here
// byte by byte as the Kafka protocol lays them out (magic 2; magic 1 and 0 message sets), then cut
// short, compressed, marked LogAppendTime or control, as brokers send them. The same reads against
// a real Kafka-protocol server with kafkajs-produced batches: e2e-kafka-lag-time.test.ts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gzipSync } from 'node:zlib';
import { decodeFetch, encodeFetch, findRecordTime, outcomeOf, waves, type FetchedPartition } from '../agent/kafka/record-fetch.js';
import { RecordTimes } from '../agent/kafka/record-times.js';

const test = suite('record timestamps');

function varint(n: number): Buffer {
  let z = n >= 0 ? 2 * n : -2 * n - 1;
  const out: number[] = [];
  while (z >= 128) {
    out.push((z % 128) | 0x80);
    z = Math.floor(z / 128);
  }
  out.push(z);
  return Buffer.from(out);
}

function record(offsetDelta: number, tsDelta: number, value = 'x'.repeat(40)): Buffer {
  const v = Buffer.from(value);
  const body = Buffer.concat([Buffer.from([0]), varint(tsDelta), varint(offsetDelta), varint(-1), varint(v.length), v, varint(0)]);
  return Buffer.concat([varint(body.length), body]);
}

interface BatchSpec {
  base: number;
  /** Record timestamps, ms, one per offset from base. */
  ts: number[];
  codec?: number;
  logAppendTime?: boolean;
  control?: boolean;
}

/** A record batch (magic 2) as a broker stores and sends it. */
function batch(b: BatchSpec): Buffer {
  const first = b.ts[0]!;
  let records = Buffer.concat(b.ts.map((t, i) => record(i, t - first)));
  if (b.codec === 1) records = gzipSync(records);
  else if (b.codec) records = Buffer.concat([Buffer.from('not really compressed'), records]);
  const attributes = (b.codec ?? 0) | (b.logAppendTime ? 0x08 : 0) | (b.control ? 0x20 : 0);
  const h = Buffer.alloc(61);
  h.writeBigInt64BE(BigInt(b.base), 0);
  h.writeInt32BE(61 - 12 + records.length, 8);
  h.writeInt32BE(0, 12); // partition leader epoch
  h.writeInt8(2, 16); // magic
  h.writeInt32BE(0, 17); // crc (not checked here)
  h.writeInt16BE(attributes, 21);
  h.writeInt32BE(b.ts.length - 1, 23);
  h.writeBigInt64BE(BigInt(first), 27);
  h.writeBigInt64BE(BigInt(b.logAppendTime ? 9_999 : Math.max(...b.ts)), 35);
  h.writeBigInt64BE(-1n, 43);
  h.writeInt16BE(-1, 51);
  h.writeInt32BE(-1, 53);
  h.writeInt32BE(b.ts.length, 57);
  return Buffer.concat([h, records]);
}

/** 100 records from offset 1000, record i written at 5000 + 7i ms. */
const TS = Array.from({ length: 100 }, (_, i) => 5000 + 7 * i);

test('an uncompressed batch: the exact record, also deep inside; the next record when the offset is a gap', () => {
  const b = batch({ base: 1000, ts: TS });
  assert.equal(findRecordTime(b, 1000), { kind: 'ok', recordOffset: 1000, timestampMs: 5000, exact: true });
  assert.equal(findRecordTime(b, 1063), { kind: 'ok', recordOffset: 1063, timestampMs: 5000 + 7 * 63, exact: true });
  // Two batches: the wanted offset in the second.
  const two = Buffer.concat([b, batch({ base: 1100, ts: [9000, 9100] })]);
  assert.equal(findRecordTime(two, 1101), { kind: 'ok', recordOffset: 1101, timestampMs: 9100, exact: true });
  assert.equal(findRecordTime(two, 1200), { kind: 'none' });
  assert.equal(findRecordTime(Buffer.alloc(0), 0), { kind: 'none' });
});

test('a batch cut short by the byte budget: the header and the records that came; the rest estimated by offset up to the batch\'s max timestamp', () => {
  const b = batch({ base: 1000, ts: TS });
  const cut = b.subarray(0, 61 + 10 * 48); // about 10 records
  const early = findRecordTime(cut, 1003);
  assert.equal(early, { kind: 'ok', recordOffset: 1003, timestampMs: 5021, exact: true });
  const late = findRecordTime(cut, 1050);
  assert.is(late.kind, 'ok');
  if (late.kind !== 'ok') return;
  assert.is(late.exact, false);
  assert.ok(Math.abs(late.timestampMs - (5000 + 7 * 50)) <= 7, `estimated ${late.timestampMs}, written ${5000 + 7 * 50}`);
  // Only the header came: between the first and the max timestamp.
  const header = findRecordTime(b.subarray(0, 61), 1099);
  assert.equal(header, { kind: 'ok', recordOffset: 1099, timestampMs: 5693, exact: false });
  // Not even a header: nothing to say.
  assert.equal(findRecordTime(b.subarray(0, 40), 1000), { kind: 'none' });
});

test('compressed batches: gzip inflated (exact); snappy, lz4, zstd estimated from the header; LogAppendTime exact; control batches skipped', () => {
  assert.equal(findRecordTime(batch({ base: 1000, ts: TS, codec: 1 }), 1042), { kind: 'ok', recordOffset: 1042, timestampMs: 5000 + 7 * 42, exact: true });
  const gzCut = batch({ base: 1000, ts: TS, codec: 1 });
  const est = findRecordTime(gzCut.subarray(0, gzCut.length - 5), 1042);
  assert.ok(est.kind === 'ok' && !est.exact && Math.abs(est.timestampMs - (5000 + 7 * 42)) <= 1, JSON.stringify(est));
  for (const codec of [2, 3, 4]) {
    const r = findRecordTime(batch({ base: 1000, ts: TS, codec }), 1042);
    assert.equal(r, { kind: 'ok', recordOffset: 1042, timestampMs: 5294, exact: false }, `codec ${codec}`);
  }
  assert.equal(findRecordTime(batch({ base: 1000, ts: TS, codec: 3 }), 1000), { kind: 'ok', recordOffset: 1000, timestampMs: 5000, exact: false });
  assert.equal(findRecordTime(batch({ base: 1000, ts: TS, logAppendTime: true, codec: 4 }), 1042), { kind: 'ok', recordOffset: 1042, timestampMs: 9999, exact: true });
  // A transaction marker at the committed offset: the oldest unconsumed record is the next real one.
  const marked = Buffer.concat([batch({ base: 1000, ts: [4000], control: true }), batch({ base: 1001, ts: [6000, 6001] })]);
  assert.equal(findRecordTime(marked, 1000), { kind: 'ok', recordOffset: 1001, timestampMs: 6000, exact: true });
});

test('legacy message sets: magic 1 carries a timestamp (a compressed wrapper\'s is its newest), magic 0 none', () => {
  const message = (offset: number, magic: number, ts: number, attributes = 0): Buffer => {
    const body = Buffer.alloc(4 + 1 + 1 + (magic === 1 ? 8 : 0) + 4 + 4);
    let o = body.writeInt32BE(0, 0);
    o = body.writeInt8(magic, o);
    o = body.writeInt8(attributes, o);
    if (magic === 1) o = body.writeBigInt64BE(BigInt(ts), o);
    o = body.writeInt32BE(-1, o);
    body.writeInt32BE(-1, o);
    const head = Buffer.alloc(12);
    head.writeBigInt64BE(BigInt(offset), 0);
    head.writeInt32BE(body.length, 8);
    return Buffer.concat([head, body]);
  };
  const set = Buffer.concat([message(10, 1, 700), message(11, 1, 800)]);
  assert.equal(findRecordTime(set, 11), { kind: 'ok', recordOffset: 11, timestampMs: 800, exact: true });
  assert.equal(findRecordTime(message(20, 1, 900, 1), 15), { kind: 'ok', recordOffset: 15, timestampMs: 900, exact: false });
  assert.is(findRecordTime(message(10, 0, 0), 10).kind, 'unsupported');
});

test('Fetch v4/v5 on the wire: the request names each partition once at its offset; the answer\'s errors mean deleted, caught up, not allowed, stale leader', () => {
  const req = encodeFetch(5, [{ topic: 'clicks', partition: 3, offset: 1234 }], 1024);
  assert.is(req.readInt32BE(0), -1, 'replica id: a consumer');
  assert.is(req.readInt32BE(4), 0, 'max wait 0: answer at once');
  assert.is(req.readInt32BE(8), 0, 'min bytes 0');
  assert.is(req.readInt8(16), 0, 'read uncommitted');
  assert.is(req.readInt32BE(17), 1);
  assert.is(req.toString('utf8', 23, 29), 'clicks');
  assert.is(req.readInt32BE(33), 3);
  assert.is(Number(req.readBigInt64BE(37)), 1234);
  assert.is(req.readInt32BE(53), 1024);
  assert.is(encodeFetch(4, [{ topic: 'clicks', partition: 3, offset: 1234 }], 1024).length, req.length - 8, 'v4 has no log start offset');

  // An answer: throttle, one topic, two partitions.
  const records = batch({ base: 1000, ts: TS });
  const part = (partition: number, error: number, hw: number, logStart: number, data?: Buffer): Buffer => {
    const p = Buffer.alloc(4 + 2 + 8 + 8 + 8 + 4 + 4);
    let o = p.writeInt32BE(partition, 0);
    o = p.writeInt16BE(error, o);
    o = p.writeBigInt64BE(BigInt(hw), o);
    o = p.writeBigInt64BE(BigInt(hw), o);
    o = p.writeBigInt64BE(BigInt(logStart), o);
    o = p.writeInt32BE(-1, o); // no aborted transactions
    p.writeInt32BE(data ? data.length : -1, o);
    return data ? Buffer.concat([p, data]) : p;
  };
  const name = Buffer.alloc(2 + 6);
  name.writeInt16BE(6, 0);
  name.write('clicks', 2);
  const head = Buffer.alloc(8);
  head.writeInt32BE(0, 0);
  head.writeInt32BE(1, 4);
  const count = Buffer.alloc(4);
  count.writeInt32BE(2, 0);
  const answer = decodeFetch(5, Buffer.concat([head, name, count, part(0, 0, 1100, 900, records), part(1, 1, 1100, 950)]));
  assert.equal(answer.map((p) => [p.topic, p.partition, p.errorCode, p.highWatermark, p.logStart, p.records?.length]), [
    ['clicks', 0, 0, 1100, 900, records.length],
    ['clicks', 1, 1, 1100, 950, undefined],
  ]);
  assert.equal(outcomeOf(answer[0]!, 1010).outcome, { kind: 'ok', recordOffset: 1010, timestampMs: 5070, exact: true });
  assert.equal(outcomeOf(answer[1]!, 900).outcome, { kind: 'deleted', logStart: 950 });
  assert.equal(outcomeOf(answer[1]!, 1100).outcome, { kind: 'none' });
  const p = (errorCode: number): FetchedPartition => ({ topic: 'clicks', partition: 0, errorCode, highWatermark: 10, logStart: 0, records: undefined });
  assert.equal(outcomeOf(p(29), 5), { outcome: { kind: 'failed', reason: 'permission', message: 'not allowed (TOPIC_AUTHORIZATION_FAILED): reading record timestamps needs Read on topic clicks' }, stale: false });
  assert.equal(outcomeOf(p(6), 5), { outcome: { kind: 'failed', reason: 'protocol', message: 'partition clicks/0: NOT_LEADER_OR_FOLLOWER' }, stale: true });
  assert.equal(outcomeOf(p(0), 5).outcome, { kind: 'none' });
  // Two groups on one partition at two offsets: two requests.
  assert.equal(waves([{ topic: 'a', partition: 0, offset: 1 }, { topic: 'a', partition: 1, offset: 1 }, { topic: 'a', partition: 0, offset: 7 }]).map((w) => w.map((r) => `${r.partition}@${r.offset}`)), [['0@1', '1@1'], ['0@7']]);
});

test('what is read each round: lagging partitions only, each offset once, cached while a group is there, the budget to those waiting longest, refused topics set aside', () => {
  const rt = new RecordTimes({ maxReadsPerRound: 2, retryDeniedMs: 60_000 });
  const lag = (topic: string, partition: number, offset: number, l: number) => ({ topic, partition, offset, lag: l });
  // Two groups at the same offset: one read. Budget 2 of 3 wanted: the largest lags first (none read yet).
  let reads = rt.plan([lag('a', 0, 10, 5), lag('a', 0, 10, 50), lag('a', 1, 10, 100), lag('b', 0, 3, 1)], 0);
  assert.equal(reads, [{ topic: 'a', partition: 1, offset: 10 }, { topic: 'a', partition: 0, offset: 10 }]);
  assert.is(rt.stats().deferred, 1);
  rt.absorb([{ ...reads[0]!, outcome: { kind: 'ok', recordOffset: 10, timestampMs: 111, exact: true } }, { ...reads[1]!, outcome: { kind: 'ok', recordOffset: 12, timestampMs: 222, exact: false } }], 0);
  assert.is(rt.lookup('a', 1, 10), 111);
  rt.endRound();
  // Next round: a/1 and a/0 still there (held, not read again); b/0 waited longest: read now.
  reads = rt.plan([lag('a', 0, 10, 50), lag('a', 1, 10, 100), lag('b', 0, 3, 1)], 1000);
  assert.equal(reads, [{ topic: 'b', partition: 0, offset: 3 }]);
  rt.absorb([{ ...reads[0]!, outcome: { kind: 'failed', reason: 'permission', message: 'no' } }], 1000);
  rt.endRound();
  // a/0 moved on (a new offset: a new read); a/1 caught up (its timestamp dropped); b refused: set aside.
  reads = rt.plan([lag('a', 0, 20, 40), lag('b', 0, 3, 1)], 2000);
  assert.equal(reads, [{ topic: 'a', partition: 0, offset: 20 }]);
  rt.endRound();
  assert.is(rt.lookup('a', 1, 10), undefined, 'dropped once no group is there');
  assert.is(rt.lookup('a', 0, 10), undefined);
  const s = rt.stats();
  assert.equal([s.reads, s.exact, s.inexact, s.failed.permission, s.denied, s.deferred, s.cached], [3, 1, 1, 1, 1, 1, 0]);
  // A refused topic is asked again after retryDeniedMs, and reported refused once.
  assert.equal(rt.plan([lag('b', 0, 3, 1)], 61_001), [{ topic: 'b', partition: 0, offset: 3 }]);
  assert.equal(rt.absorb([{ topic: 'b', partition: 0, offset: 3, outcome: { kind: 'failed', reason: 'permission', message: 'no' } }], 61_001), [], 'said once');
  // A client that cannot read records at all: off for good.
  rt.roundFailed('unsupported');
  assert.ok(rt.off);
  assert.equal(rt.plan([lag('a', 0, 30, 1)], 70_000), []);
  // Off by setting.
  assert.equal(new RecordTimes({ maxReadsPerRound: 0, retryDeniedMs: 1 }).plan([lag('a', 0, 1, 1)], 0), []);
});

test.run();
