// Observers and the causal chain on small, hand-made signal sequences: the cases the scenarios do
// not isolate — what must not be concluded as much as what must.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Service_Orientation, Service_Sign, Status_Condition as C, Status_Confidence as K, type Evidence, type Signal } from '../proto/index.js';
import { Pipeline } from '../aggregator/pipeline.js';
import { orderChain } from '../reporters/chain.js';
import { fmt } from '../observers/slow-consumer.js';
import { findingsOf, replay, SECOND } from './support/scenarios.js';
import { signal } from './support/client.js';

const test = suite('observers');
const T0 = 1_740_819_600n * SECOND;

const ev = (subject: string, stage: string, t: number, clock: Record<string, bigint> = {}): Evidence => ({
  subject, stage, sign: 'status DEGRADED', time: T0 + BigInt(t) * SECOND, sourceId: subject, seq: 1n, detail: '', clock,
});

test('the chain follows happens-before over timestamps, then the causal story, then time', () => {
  const broker = ev('cluster/p/broker/1', 'broker', 10);
  const producer = ev('service/a/pod/a-1/producer/p', 'producer-latency', 12, { 'a-1': 5n });
  // A consumer whose agent clock runs behind, but whose vector clock has read the producer's entry.
  const consumer = ev('service/b/pod/b-1/consumer/c', 'producer-latency', 8, { 'a-1': 5n, 'b-1': 2n });
  assert.equal(orderChain([consumer, producer, broker]).map((e) => e.subject), [broker.subject, producer.subject, consumer.subject]);
  // Without clocks: the story's order (broker, latency, buffer, lag), then time.
  const lag = ev('cluster/p/group/g', 'consumer-lag', 5);
  const buffer = ev('service/a/pod/a-1/producer/p', 'producer-buffer', 20);
  assert.equal(orderChain([lag, buffer, broker]).map((e) => e.stage), ['broker', 'producer-buffer', 'consumer-lag']);
});

const call = (t: number, pod: string, node: string, sign: Service_Sign): Signal =>
  signal({ sourceId: pod, subject: `service/s/pod/${pod}/producer/p#sends`, timestamp: T0 + BigInt(Math.round(t * 1000)) * 1_000_000n, queue: undefined, service: { sign, orientation: Service_Orientation.CALLER }, context: { 'node-id': node, cluster: 'msk' } });

test('broker inference: failures spread over every broker are the clients\' own trouble, not a broker\'s', () => {
  const signals: Signal[] = [];
  // Six clients whose own network is failing: every request fails, whichever broker it goes to.
  for (let i = 0; i < 12; i++) for (const pod of ['p1', 'p2', 'p3', 'p4', 'p5', 'p6']) for (const node of ['1', '2', '3']) signals.push(call(i * 2 + Number(pod[1]) * 0.1 + Number(node) * 0.01, pod, node, Service_Sign.FAIL));
  const p = new Pipeline();
  const found = findingsOf(replay(p, signals, { from: T0 }));
  assert.not.ok(found.some((f) => f.observer === 'broker-inferred'), found.map((f) => f.summary).join(' | '));
});

test('broker inference stays TENTATIVE when the broker\'s own metrics say it is healthy', () => {
  const signals: Signal[] = [signal({ sourceId: 'kafka-2', subject: 'cluster/msk/broker/2#under-replicated', timestamp: T0, queue: undefined, status: { condition: C.STABLE, confidence: K.CONFIRMED } })];
  for (let i = 0; i < 4; i++) for (const pod of ['p1', 'p2', 'p3', 'p4', 'p5', 'p6']) signals.push(call(1 + i * 2 + Number(pod[1]) * 0.1, pod, '2', Service_Sign.FAIL));
  const p = new Pipeline();
  const inferred = findingsOf(replay(p, signals, { from: T0 })).filter((f) => f.observer === 'broker-inferred');
  assert.ok(inferred.length > 0);
  assert.ok(inferred.every((f) => f.confidence === K.TENTATIVE), inferred.map((f) => `${K[f.confidence]} ${f.summary}`).join(' | '));
  assert.match(inferred.at(-1)!.summary, /though its own metrics look healthy/);
});

// As the Kafka source sends a group's evaluation: WARN (DIVERGING) while it lags, OK when caught up.
const lag = (t: number, total: number, consume?: number, produce?: number): Signal =>
  signal({
    sourceId: 'lag', subject: 'cluster/p/group/g#lag', timestamp: T0 + BigInt(t) * SECOND, queue: undefined,
    status: { condition: total > 0 ? C.DIVERGING : C.STABLE, confidence: K.MEASURED },
    context: { burrow: total > 0 ? 'WARN' : 'OK', 'total-lag': String(total), ...(consume !== undefined ? { 'consume-rate': String(consume), 'produce-rate': String(produce) } : {}) },
  });

/** A JMX consumer's lag as its agent sends it: records-lag-max as the rule's value, the consumption rate beside it. */
const clientLag = (t: number, lag: number, consume: number): Signal =>
  signal({
    sourceId: 'b-1', subject: 'service/billing/pod/b-1/consumer/c#lag-trend', timestamp: T0 + BigInt(t) * SECOND, queue: undefined,
    status: { condition: C.DIVERGING, confidence: K.MEASURED }, context: { metric: 'consumer.records-lag-max', value: String(lag), 'consume-rate': String(consume), cluster: 'p' },
  });

test('slow consumer from raw lag readings: a lag that jumps once is not a slow consumer; steady growth is', () => {
  const slow = (signals: Signal[]) => findingsOf(replay(new Pipeline(), signals, { from: T0 })).filter((f) => f.observer === 'slow-consumer');
  assert.equal(slow([clientLag(0, 400, 50), clientLag(10, 420, 50), clientLag(20, 9000, 50), clientLag(30, 9100, 50)]), [], 'one jump');
  const found = slow([clientLag(0, 400, 600), clientLag(10, 2400, 600), clientLag(20, 4400, 600), clientLag(30, 6400, 600)]);
  assert.is(found.length, 1);
  assert.match(found[0]!.summary, /consumer c \(billing, pod b-1\) is falling behind: lag 400 -> 4,400 in 20 s; consuming 600\/s/);
  assert.is(found[0]!.scope, 'service/billing', 'its group unknown (JMX does not say it): its service is the story');
});

test('slow group from the Kafka source: its WARN over the evidence window is a finding; consumption keeping up, or a caught-up group, is not', () => {
  const slow = (signals: Signal[]) => findingsOf(replay(new Pipeline(), signals, { from: T0 })).filter((f) => f.observer === 'slow-consumer');
  assert.equal(slow([lag(0, 400, 900, 900), lag(10, 1500, 900, 900), lag(20, 2600, 900, 900), lag(30, 3700, 900, 900)]), [], 'consumption equals production');
  assert.equal(slow([lag(0, 0), lag(10, 0), lag(20, 0), lag(30, 0)]), [], 'caught up, e.g. an idle topic');
  assert.equal(slow([lag(0, 400, 600, 800), lag(10, 2400, 600, 800), lag(15, 0)]), [], 'WARN for 10 s, then OK');
  const found = slow([lag(0, 400, 600, 800), lag(10, 2400, 600, 800), lag(20, 4400, 600, 800), lag(30, 6400, 600, 800)]);
  assert.is(found.length, 1);
  assert.match(found[0]!.summary, /group g is falling behind: lag 400 -> 4,400 in 20 s; consuming 600\/s, producing 800\/s/);
  assert.is(found[0]!.scope, 'cluster/p/group/g');
});

test('slow consumer from a sensor reading every 500 ms: judged over the same 20 s, not three readings 1 s apart', () => {
  const slow = (signals: Signal[]) => findingsOf(replay(new Pipeline(), signals, { from: T0 })).filter((f) => f.observer === 'slow-consumer');
  const fast = (seconds: number): Signal[] =>
    Array.from({ length: seconds * 2 + 1 }, (_, i) =>
      signal({ ...lag(0, 1000 + i * 40, 40, 120), timestamp: T0 + BigInt(i) * 500_000_000n }));
  assert.equal(slow(fast(15)), [], '15 s of growth is not yet the 20 s the rule asks for');
  const found = slow(fast(25));
  assert.is(found.length, 1, 'after 20 s it is');
  assert.ok(found[0]!.evidence[0]!.time >= T0 + 20n * SECOND, 'and not before');
  assert.match(found[0]!.summary, /group g is falling behind: lag 1,000 -> 2,600 in 20 s/);
});

test('unreadable context values are counted, not fatal', () => {
  const p = new Pipeline();
  replay(p, [lag(0, 100), signal({ sourceId: 'lag', subject: 'cluster/p/group/g#lag', timestamp: T0 + 10n * SECOND, queue: undefined, status: { condition: C.DIVERGING, confidence: K.MEASURED }, context: { 'total-lag': 'lots' } })], { from: T0 });
  assert.is(p.observerSet.numbers.unreadable.get('total-lag'), 1);
  assert.equal([...p.stats.observerErrors], []);
});

test('lag counts read as en-US writes them (the fast path agrees with toLocaleString)', () => {
  const values = [0, -0, 0.4, -0.4, 7, 999, 999.5, 1000, -1000, 12_345, -12_345.6, 1_000_000, 123_456_789, 2 ** 53 + 10, -(2 ** 60), Infinity, -Infinity, NaN];
  for (let x = 1; x < 1e15; x *= 7.3) values.push(x, -x);
  for (const v of values) assert.is(fmt(v), Math.round(v).toLocaleString('en-US'), String(v));
});

test.run();
