// The shared language: strict JSON, validation rules, sign -> condition mapping, vector clocks.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Queue_Sign,
  Service_Sign,
  Signal,
  SignalJsonError,
  Status_Condition,
  Status_Confidence,
  assess,
  boundClock,
  compareClocks,
  describeSign,
  mergeClock,
  signalFromJson,
  signalProblem,
} from '../proto/index.js';
import { signal } from './support/client.js';

const json = suite('signal JSON');
json('reads the documented example', () => {
  const s = signalFromJson({ subject: 'service/orders/pod/orders-1/producer/order-producer', queue: { sign: 'OVERFLOW', units: 95 }, context: { 'client-id': 'order-producer' } });
  assert.is(s.queue!.sign, Queue_Sign.OVERFLOW);
  assert.is(s.queue!.units, 95);
  assert.is(s.context['client-id'], 'order-producer');
  assert.is(s.seq, 0n, 'left for the agent to fill');
  assert.equal(Signal.toJSON(signalFromJson(Signal.toJSON(s))), Signal.toJSON(s), 'round trip');
});
json('names what is wrong', () => {
  assert.throws(() => signalFromJson({ subject: 'x', queue: { sign: 'OVERFLOWW' } }), (e: Error) => e instanceof SignalJsonError && /queue\.sign: unknown value "OVERFLOWW" \(expected one of ENQUEUE/.test(e.message));
  assert.throws(() => signalFromJson({ subjct: 'x' }), /unknown field "subjct"/);
  assert.throws(() => signalFromJson({ subject: 'x', status: { condition: 'DEGRADED', confidance: 'MEASURED' } }), /unknown field "status\.confidance"/);
  assert.throws(() => signalFromJson({ subject: 'x', context: { n: 5 } }), /context\["n"\] must be a string/);
  assert.throws(() => signalFromJson({ subject: 'x', seq: 'abc' }), /seq must be an integer/);
  assert.throws(() => signalFromJson([1]), /must be a JSON object/);
});
json('64-bit fields keep full precision (nanosecond timestamps)', () => {
  const s = signalFromJson({ subject: 'a', gauge: { sign: 'INCREMENT', value: 1 }, timestamp: '1795356386545001123' });
  assert.is(s.timestamp, 1795356386545001123n);
  assert.is((Signal.toJSON(s) as { timestamp: string }).timestamp, '1795356386545001123');
});
json.run();

const rules = suite('validation');
// Read when each test runs, never at import: uvu may run this suite minutes after loading it.
const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;
rules('accepts a good signal', () => {
  const now = nowNs();
  assert.is(signalProblem(signal(), now), undefined);
});
rules('rejects with a precise reason', () => {
  const now = nowNs();
  const cases: [Partial<Signal>, RegExp][] = [
    [{ subject: '' }, /subject is empty/],
    [{ subject: 'cluster//broker/1' }, /empty name/],
    [{ subject: 'cluster/prod/broker/1 2' }, /whitespace/],
    [{ subject: 'cluster/prod/broker/1/under-replicated' }, /not about a known entity: a broker is cluster\/<c>\/broker\/<id>; put the metric after "#" \(cluster\/prod\/broker\/1#under-replicated\)/],
    [{ timestamp: 1_700_000_000n }, /reads as seconds/],
    [{ sourceId: '' }, /source_id is empty/],
    [{ sourceId: 'has space' }, /source_id "has space" may hold only/],
    [{ seq: 0n }, /seq must be positive/],
    [{ timestamp: 1_700_000_000_000n }, /not unix nanoseconds/],
    [{ timestamp: now + 3_600_000_000_000n }, /3600 s in the future/],
    [{ queue: undefined }, /signal has no sign/],
    [{ service: { sign: Service_Sign.FAIL, orientation: 0 } }, /more than one sign \(queue and service\)/],
    [{ queue: { sign: 0, units: 1 } }, /queue\.sign is not set/],
    [{ queue: { sign: Queue_Sign.OVERFLOW, units: Number.NaN } }, /queue\.units must be a finite number/],
    [{ context: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }, /more than 64 entries/],
  ];
  for (const [over, reason] of cases) assert.match(signalProblem(signal(over), now) ?? 'accepted', reason, JSON.stringify(Object.keys(over)));
});
rules.run();

const signs = suite('signs and conditions');
signs('Serventis mappings and the project queue mapping', () => {
  const cond = (over: Partial<Signal>) => assess(signal({ queue: undefined, ...over }))?.condition;
  assert.is(cond({ service: { sign: Service_Sign.SUCCESS, orientation: 0 } }), Status_Condition.STABLE);
  assert.is(cond({ service: { sign: Service_Sign.REJECT, orientation: 0 } }), Status_Condition.DEGRADED);
  assert.is(cond({ service: { sign: Service_Sign.CALL, orientation: 0 } }), undefined);
  assert.is(cond({ queue: { sign: Queue_Sign.PRESSURE, units: 85 } }), Status_Condition.DIVERGING);
  assert.is(cond({ queue: { sign: Queue_Sign.OVERFLOW, units: 97 } }), Status_Condition.DEGRADED);
  assert.equal(assess(signal({ queue: undefined, status: { condition: Status_Condition.DOWN, confidence: Status_Confidence.CONFIRMED } })), { condition: Status_Condition.DOWN, confidence: Status_Confidence.CONFIRMED });
  assert.is(describeSign(signal({ queue: { sign: Queue_Sign.OVERFLOW, units: 95 } })), 'queue OVERFLOW 95');
});
signs.run();

const clocks = suite('vector clocks');
clocks('orders by happens-before', () => {
  assert.is(compareClocks({ a: 1n }, { a: 2n }), 'before');
  assert.is(compareClocks({ a: 2n, b: 1n }, { a: 2n }), 'after');
  assert.is(compareClocks({ a: 2n }, { b: 1n }), 'concurrent');
  assert.is(compareClocks({ a: 1n }, { a: 1n }), 'equal');
  assert.equal(mergeClock({ a: 1n, b: 5n }, { a: 3n, c: 1n }), { a: 3n, b: 5n, c: 1n });
  assert.equal(boundClock({ me: 1n, x: 9n, y: 2n, z: 5n }, 3, 'me'), { me: 1n, x: 9n, z: 5n });
});
clocks.run();
