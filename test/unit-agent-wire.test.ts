// The agent's SignalBatch encoder (agent/wire.ts) writes exactly the bytes of the generated one.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Ack, SignalAggregatorDefinition, SignalBatch, type Signal } from '../proto/index.js';
import { encodeSignalBatch } from '../agent/wire.js';
import { STREAM_SIGNALS } from '../agent/link.js';

const test = suite('agent wire');

const base = (over: Partial<Signal> = {}): Signal => ({
  sourceId: 'pod-1',
  seq: 1_733_000_000_000_000n,
  subject: 'service/orders/pod/orders-1/producer/order-producer#buffer',
  timestamp: 1_733_000_000_123_456_789n,
  status: undefined,
  queue: undefined,
  service: undefined,
  probe: undefined,
  resource: undefined,
  gauge: undefined,
  counter: undefined,
  context: {},
  clock: { 'pod-1': 1_733_000_000_000_000n },
  ...over,
});

const same = (signals: Signal[], what: string): void => {
  const want = SignalBatch.encode({ signals }).finish();
  const got = encodeSignalBatch({ signals });
  assert.equal(Buffer.from(got).toString('hex'), Buffer.from(want).toString('hex'), what);
  assert.equal(SignalBatch.decode(got), SignalBatch.decode(want), `${what}: decodes alike`);
};

test('every sign, with and without its values', () => {
  same([base({ status: { condition: 5, confidence: 3 } })], 'status');
  same([base({ status: { condition: 0, confidence: 0 } })], 'status of zeros');
  same([base({ queue: { sign: 5, units: 85 } })], 'queue');
  same([base({ queue: { sign: 1, units: -0 } })], 'queue, units -0 (left out, as generated)');
  same([base({ queue: { sign: 1, units: Number.NaN } })], 'queue, units NaN');
  same([base({ service: { sign: 16, orientation: 2 } })], 'service');
  same([base({ probe: { sign: 6, orientation: 1 } })], 'probe');
  same([base({ resource: { sign: 2, units: 0.125 } })], 'resource');
  same([base({ gauge: { sign: 3, value: -1e300 } })], 'gauge');
  same([base({ gauge: { sign: 3, value: Number.POSITIVE_INFINITY } })], 'gauge, infinite');
  same([base({ counter: { sign: 1, value: 12345678901 } })], 'counter (field 16: a two-byte tag)');
  same([base({ counter: { sign: -1, value: 1 } })], 'a negative enum: ten bytes');
  same([base({ gauge: { sign: 1, value: 2 }, counter: { sign: 2, value: 3 } })], 'two signs set');
});

test('numbers at their edges, empty fields', () => {
  same([base({ seq: 0n, timestamp: 0n, sourceId: '', subject: '', clock: {} })], 'all default');
  same([base({ seq: (1n << 64n) - 1n, timestamp: (1n << 63n) - 1n })], 'largest');
  same([base({ timestamp: -1n })], 'negative timestamp');
  same([base({ timestamp: -(1n << 63n) })], 'smallest timestamp');
  same([base({ seq: 127n, timestamp: 128n })], 'one- and two-byte varints');
  assert.throws(() => encodeSignalBatch({ signals: [base({ seq: 1n << 64n })] }), /uint64 too large/);
  assert.throws(() => encodeSignalBatch({ signals: [base({ seq: -1n })] }), /uint64 too large/);
  assert.throws(() => encodeSignalBatch({ signals: [base({ timestamp: 1n << 63n })] }), /int64 too large/);
});

test('strings: ASCII, UTF-8, lone surrogates, long ones', () => {
  same([base({ subject: 'service/caf\u00e9/pod/\u{1f680}', context: { 'cl\u00e9': '\u2603 snow' } })], 'UTF-8');
  same([base({ subject: 'bad \ud800 half', context: { k: '\udfff' } })], 'lone surrogates become U+FFFD, as TextEncoder does');
  same([base({ subject: 'x'.repeat(42) })], '42 units: one byte of length');
  same([base({ subject: '\u20ac'.repeat(42) })], '42 three-byte characters: 126 bytes');
  same([base({ subject: '\u20ac'.repeat(43) })], '43 three-byte characters');
  same([base({ subject: 'y'.repeat(200) })], '200 units');
  same([base({ subject: 'z'.repeat(70_000), context: { big: '\u00e9'.repeat(40_000) } })], 'longer than 16 KiB: three bytes of length, the buffer grows');
  same([base({ context: { '': 'empty key', k: '' } })], 'empty key and value are left out of the entry');
});

test('maps: context and clock, in their order', () => {
  const clock: Record<string, bigint> = {};
  for (let i = 0; i < 64; i++) clock[`source-${i}`] = BigInt(i) * 1_000_003n;
  clock['zero'] = 0n;
  same([base({ context: { topic: 'orders', partition: '7', '10': 'integer-like key', client: 'c-1' }, clock })], 'many entries');
  assert.throws(() => encodeSignalBatch({ signals: [base({ clock: { a: -5n } })] }), /uint64 too large/);
});

test('batches: empty, many, one after another (the buffer is reused)', () => {
  same([], 'empty (keepalive)');
  const many = Array.from({ length: 500 }, (_, i) => base({ seq: 10n + BigInt(i), gauge: { sign: 1, value: i / 7 }, context: { i: String(i) } }));
  same(many, '500 signals');
  const a = encodeSignalBatch({ signals: many.slice(0, 3) });
  const copy = Buffer.from(a).toString('hex');
  encodeSignalBatch({ signals: many.slice(3, 9) });
  assert.is(Buffer.from(a).toString('hex'), copy, 'a batch already returned is not overwritten by the next');
  assert.throws(() => encodeSignalBatch({ signals: [base({ seq: -1n })] }));
  same(many.slice(0, 2), 'after a failed batch');
});

test("the link's StreamSignals is the generated service's method", () => {
  const def = SignalAggregatorDefinition;
  const m = def.methods.streamSignals;
  assert.is(STREAM_SIGNALS.path, `/${def.fullName}/${m.name}`);
  assert.is(STREAM_SIGNALS.requestStream, m.requestStream);
  assert.is(STREAM_SIGNALS.responseStream, m.responseStream);
  const batch: SignalBatch = { signals: [base({ gauge: { sign: 1, value: 2 } })] };
  assert.equal(STREAM_SIGNALS.requestDeserialize(STREAM_SIGNALS.requestSerialize(batch)), batch);
  const ack: Ack = { sourceId: 'pod-1', ackedSeq: 42n, rejections: [{ seq: 41n, reason: 'no', subject: 's' }], accepted: 3, duplicates: 1 };
  assert.equal(STREAM_SIGNALS.responseDeserialize(Buffer.from(m.responseType.encode(ack).finish())), ack);
  assert.equal(Buffer.from(STREAM_SIGNALS.responseSerialize(ack)), Buffer.from(m.responseType.encode(ack).finish()));
});

test.run();
