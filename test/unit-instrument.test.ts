// kafkajs instrumentation without a broker: synthetic kafkajs events (the payloads of kafkajs
// 2.2.4) through the meters with a fake clock, the signs they make and the stage the aggregator's
// observers read them in; then the whole Instrumentation against a stand-in agent intake on
// 127.0.0.1 (NDJSON POSTs, agent away and back, bounded buffer, close()).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Admin, Consumer, Kafka, Producer } from 'kafkajs';
import { Service_Sign, contextProblem, describeSign, signProblem, signalFromJson, subjectProblem, type Signal } from '../proto/index.js';
import { Translator } from '../agent/translate/engine.js';
import { ClientMeter, errorFacts, type CollectEnv } from '../agent/instrument/meter.js';
import { KAFKAJS_RULES, createInstrumentation, instrument, instrumentProducer, type AdminLike, type ConsumerLike, type KafkaLike, type ProducerLike } from '../agent/instrument/index.js';
import { entityOf, parseSubject } from '../proto/index.js';
import { emptyFact, readFact, type Stage } from '../observers/facts.js';
import { FakeAdmin, FakeConsumer, FakeProducer } from './support/fake-kafkajs.js';

// kafkajs' own types satisfy the structural ones (a compile-time check: this file would not build otherwise).
type Assignable<T, U extends T> = U;
export type KafkajsFits = [Assignable<ProducerLike, Producer>, Assignable<ConsumerLike, Consumer>, Assignable<AdminLike, Admin>, Assignable<KafkaLike, Kafka>];

const test = suite('instrument: kafkajs events -> signals');

const B1 = '127.0.0.1:9092';
const B2 = '127.0.0.1:9093';
const POD = 'service/orders/pod/orders-1';

function env(nodes: Record<string, string> = { [B1]: '1', [B2]: '2' }): CollectEnv {
  const names = new Map<string, ClientMeter>();
  return {
    translator: new Translator(KAFKAJS_RULES),
    service: 'orders',
    pod: 'orders-1',
    context: { cluster: 'prod' },
    nodeOf: (a) => nodes[a],
    claim: (role, wanted, meter) => {
      for (let i = 1; ; i++) {
        const n = i === 1 ? wanted : `${wanted}-${i}`;
        const holder = names.get(`${role}/${n}`);
        if (!holder || holder === meter) {
          names.set(`${role}/${n}`, meter);
          return n;
        }
      }
    },
  };
}

const what = (s: Signal): string => `${s.subject.replace(`${POD}/`, '')} ${describeSign(s).replace(/ (TENTATIVE|MEASURED|CONFIRMED)$/, '')}`;

/** The stage and health the aggregator's observers read a signal in. */
function stageOf(s: Signal): { stage: Stage | undefined; unhealthy: boolean } {
  const f = readFact(s, parseSubject(s.subject), emptyFact());
  return { stage: f.stage, unhealthy: f.health === 2 };
}

const request = (broker: string, duration: number, apiName = 'Produce') => ({ broker, clientId: 'orders-app', apiName, duration, pendingDuration: 1, correlationId: 1, size: 10, createdAt: 0, sentAt: 0, apiKey: 0, apiVersion: 7 });

test('request latency per broker: a slow broker makes DIVERGING, with its node-id, in the producer-latency stage', () => {
  const e = env();
  const m = new ClientMeter('producer', undefined);
  const out: Signal[] = [];
  let t = 1_700_000_000_000;
  for (let reading = 0; reading < 12; reading++) {
    const slow = reading >= 6;
    for (let i = 0; i < 20; i++) {
      m.request(request(B1, 2));
      m.request(request(B2, slow ? 300 : 2));
      m.request(request(B2, 480, 'Fetch')); // long polls are left out of the trend
    }
    out.push(...m.collect(t, true, e));
    t += 5000;
  }
  const latency = out.filter((s) => s.subject.includes('request-latency'));
  const b2 = latency.filter((s) => s.subject.endsWith('#request-latency/2'));
  const div = b2.find((s) => what(s).endsWith('status DIVERGING'));
  assert.ok(div, `DIVERGING for broker 2; got ${latency.map(what).join(', ')}`);
  assert.is(div!.subject, `${POD}/producer/orders-app#request-latency/2`, 'named after the client id kafkajs reports');
  assert.is(div!.context['node-id'], '2');
  assert.is(div!.context.broker, B2);
  assert.is(div!.context.metric, 'request-latency-avg');
  assert.is(div!.context.value, '300');
  assert.is(div!.context.cluster, 'prod');
  assert.equal(stageOf(div!), { stage: 'producer-latency', unhealthy: true });
  assert.ok(b2.indexOf(div!) > 0 && what(b2[0]!).endsWith('status STABLE'), 'STABLE before the slowdown');
  assert.not.ok(latency.some((s) => s.subject.endsWith('#request-latency/1') && !what(s).endsWith('STABLE')), 'broker 1 stays STABLE');
  assert.ok(out.length < 12, `a few signals for 720 requests, got ${out.length}`);
});

test('a latency spike that is over: back to STABLE, and no DIVERGING again while readings are at noise level', () => {
  const e = env();
  const m = new ClientMeter('producer', 'p1');
  const states: string[] = [];
  let t = 1_700_000_000_000;
  for (const d of [0.3, 0.2, 0.3, 0.2, 0.3, 0.2, 251, 8, 0.3, 1, 1, 0.5, 1, 1]) {
    m.request(request(B2, d));
    for (const s of m.collect((t += 250), true, e)) states.push(what(s).replace(/^.* status /, ''));
  }
  assert.equal(states.filter((x, i) => x !== states[i - 1]), ['STABLE', 'DIVERGING', 'CONVERGING', 'STABLE']);
});

test('brokers the metadata does not name are keyed by address (context broker, no node-id)', () => {
  const m = new ClientMeter('producer', 'p1');
  const e = env({});
  const out: Signal[] = [];
  for (let r = 0; r < 3; r++) {
    m.request(request('kafka-7.example:9092', 10));
    out.push(...m.collect(1_700_000_000_000 + r * 5000, true, e));
  }
  assert.is(out.length, 1);
  assert.is(out[0]!.subject, `${POD}/producer/p1#request-latency/kafka-7.example:9092`);
  assert.is(out[0]!.context['node-id'], undefined);
  assert.is(out[0]!.context.broker, 'kafka-7.example:9092');
});

test('send outcomes: one SUCCESS for many sends, FAIL with the error at once, SUCCESS again as soon as sends work', () => {
  const e = env();
  const m = new ClientMeter('producer', 'p1', { successEveryMs: 10_000, heartbeatStallMs: 30_000 });
  let t = 1_700_000_000_000;
  for (let i = 0; i < 5000; i++) m.sendOk(2, 0.5);
  let out = m.collect(t, false, e);
  assert.equal(out.map(what), ['producer/p1#sends service SUCCESS CALLER']);
  assert.is(out[0]!.context.sends, '5000');
  assert.is(out[0]!.context.records, '10000');
  assert.is(out[0]!.context.event, 'send');
  for (let s = 1; s < 10; s++) {
    for (let i = 0; i < 100; i++) m.sendOk(1, 0.5);
    assert.equal(m.collect((t += 1000), false, e), [], 'healthy sends are summarised: nothing before 10 s');
  }
  m.sendOk(1, 0.5);
  out = m.collect((t += 1000), false, e);
  assert.equal(out.map(what), ['producer/p1#sends service SUCCESS CALLER']);
  assert.is(out[0]!.context.sends, '901');

  const unknownTopic = Object.assign(new Error('This server does not host this topic-partition'), { name: 'KafkaJSProtocolError', type: 'UNKNOWN_TOPIC_OR_PARTITION', code: 3 });
  const retries = Object.assign(new Error('This server does not host this topic-partition'), { name: 'KafkaJSNumberOfRetriesExceeded', cause: unknownTopic });
  m.sendOk(1, 0.5);
  m.sendFailed(retries, 'nope');
  m.sendFailed(retries, 'nope');
  out = m.collect((t += 1000), false, e);
  assert.equal(out.map(what), ['producer/p1#sends service FAIL CALLER']);
  assert.equal(
    { failed: out[0]!.context.failed, sends: out[0]!.context.sends, type: out[0]!.context['error-type'], topic: out[0]!.context.topic },
    { failed: '2', sends: '3', type: 'UNKNOWN_TOPIC_OR_PARTITION', topic: 'nope' },
  );
  // Failures, then a send that works, within one window: FAIL, then SUCCESS, so the last word is right.
  m.sendFailed(retries, 'nope');
  m.sendOk(1, 0.5);
  out = m.collect((t += 1000), false, e);
  assert.equal(out.map(what), ['producer/p1#sends service FAIL CALLER', 'producer/p1#sends service SUCCESS CALLER']);
  m.sendFailed(retries, 'nope');
  out = m.collect((t += 1000), false, e);
  assert.equal(stageOf(out[0]!), { stage: 'producer-errors', unhealthy: true });
  m.sendOk(1, 0.5);
  out = m.collect((t += 1000), false, e);
  assert.equal(out.map(what), ['producer/p1#sends service SUCCESS CALLER'], 'recovery is told at once');
  assert.equal(stageOf(out[0]!), { stage: 'producer-errors', unhealthy: false });
});

test('a failure naming a broker is that broker\'s FAIL (node-id); requests answered later heal it', () => {
  const e = env();
  const m = new ClientMeter('producer', 'p1');
  const t = 1_700_000_000_000;
  const conn = Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9093'), { name: 'KafkaJSConnectionError', broker: B2 });
  m.sendFailed(Object.assign(new Error('retries exceeded'), { name: 'KafkaJSNumberOfRetriesExceeded', cause: conn }), 'orders');
  let out = m.collect(t, false, e);
  assert.equal(out.map(what), ['producer/p1#sends service FAIL CALLER']);
  assert.equal({ node: out[0]!.context['node-id'], broker: out[0]!.context.broker, type: out[0]!.context['error-type'] }, { node: '2', broker: B2, type: 'KafkaJSConnectionError' });
  m.request(request(B2, 3));
  m.sendOk(1, 3);
  out = m.collect(t + 1000, false, e);
  assert.equal(out.map((s) => `${what(s)} ${s.context['node-id'] ?? '-'} ${s.context.recovered ?? ''}`.trim()), ['producer/p1#requests service SUCCESS CALLER 2 true', 'producer/p1#sends service SUCCESS CALLER -']);
});

test('REQUEST_TIMEOUT -> service EXPIRE per broker; REQUEST_QUEUE_SIZE -> queue ENQUEUE, PRESSURE, OVERFLOW on request-queue', () => {
  const e = env();
  const m = new ClientMeter('producer', 'p1');
  let t = 1_700_000_000_000;
  m.requestTimeout({ broker: B1, clientId: 'x', apiName: 'Produce', correlationId: 3, createdAt: 0, sentAt: 0, pendingDuration: 0 });
  m.requestTimeout({ broker: B1, clientId: 'x', apiName: 'Produce', correlationId: 4, createdAt: 0, sentAt: 0, pendingDuration: 0 });
  m.requestQueueSize({ broker: B1, clientId: 'x', queueSize: 3 });
  m.requestQueueSize({ broker: B1, clientId: 'x', queueSize: 0 });
  let out = m.collect(t, true, e);
  assert.equal(out.map(what), ['producer/p1#requests service EXPIRE CALLER', 'producer/p1#request-queue queue ENQUEUE 3']);
  assert.equal({ node: out[0]!.context['node-id'], count: out[0]!.context.count, api: out[0]!.context.api, event: out[0]!.context.event }, { node: '1', count: '2', api: 'Produce', event: 'request_timeout' });
  assert.equal(stageOf(out[0]!), { stage: 'producer-errors', unhealthy: true });
  assert.equal(stageOf(out[1]!), { stage: 'producer-buffer', unhealthy: false });
  const queue: string[] = [];
  for (const size of [150, 160, 2000, 700, 400, 40, undefined, undefined]) {
    if (size !== undefined) m.requestQueueSize({ broker: B2, clientId: 'x', queueSize: size });
    queue.push(...m.collect((t += 5000), true, e).filter((s) => s.subject.endsWith('request-queue')).map((s) => what(s).replace(/ \d+$/, '')));
  }
  // The most queued since the last reading (the level held at a reading counts for the next one too).
  assert.equal(queue.filter((x, i) => x !== queue[i - 1]), ['producer/p1#request-queue queue PRESSURE', 'producer/p1#request-queue queue OVERFLOW', 'producer/p1#request-queue queue PRESSURE', 'producer/p1#request-queue queue ENQUEUE']);
  t += 5000;
  assert.equal(stageOf(signalOf(m, e, t, B2, 2000)), { stage: 'producer-buffer', unhealthy: true });
});

/** One more reading with a queue of `size` on `broker`, returning the request-queue signal. */
function signalOf(m: ClientMeter, e: CollectEnv, t: number, broker: string, size: number): Signal {
  m.requestQueueSize({ broker, clientId: 'x', queueSize: size });
  return m.collect(t, true, e).find((s) => s.subject.endsWith('request-queue'))!;
}

test('consumer: join, rebalancing, a storm of joins, commits, lag, a heartbeat stall, a crash and the recovery', () => {
  const e = env();
  const m = new ClientMeter('consumer', 'c1', { successEveryMs: 10_000, heartbeatStallMs: 30_000 }, 'billing');
  let t = 1_700_000_000_000;
  const all: Signal[] = [];
  const step = (ms: number, reading = true): Signal[] => {
    const out = m.collect((t += ms), reading, e);
    all.push(...out);
    return out;
  };
  m.connect();
  m.groupJoin({ duration: 120, groupId: 'billing', isLeader: true, leaderId: 'm-1', memberId: 'm-1', groupProtocol: 'RoundRobinAssigner', memberAssignment: { orders: [0, 1, 2] } }, t);
  let out = step(1000);
  const join = out.find((s) => s.context.event === 'group_join')!;
  assert.ok(join, out.map(what).join(', '));
  assert.is(what(join), 'consumer/c1#membership resource GRANT 3');
  assert.equal({ group: join.context.group, partitions: join.context.partitions, duration: join.context['duration-ms'], member: join.context['member-id'] }, { group: 'billing', partitions: '3', duration: '120', member: 'm-1' });
  // A join is a rebalance event (rebalance-storm counts it) but no trouble by itself: the first join is every consumer's start.
  assert.equal(stageOf(join), { stage: 'rebalance', unhealthy: false });

  m.heartbeat(t);
  m.rebalancing({ groupId: 'billing', memberId: 'm-1' });
  out = step(1000);
  const reb = out.find((s) => s.context.event === 'rebalancing')!;
  assert.is(what(reb), 'consumer/c1#membership service SUSPEND CALLER');
  assert.equal(stageOf(reb), { stage: 'rebalance', unhealthy: true });

  // Joins 20 s apart: the third in a row under 60 s is a storm (as the JMX rule for rebalance-total).
  for (let i = 0; i < 3; i++) {
    step(19_000);
    m.groupJoin({ duration: i === 2 ? 7000 : 100, groupId: 'billing', isLeader: false, leaderId: 'm-0', memberId: 'm-1', groupProtocol: 'RoundRobinAssigner', memberAssignment: { orders: [0] } }, t);
    m.heartbeat(t);
    step(1000);
  }
  const erratic = all.find((s) => s.subject.endsWith('#rebalances') && what(s).endsWith('status ERRATIC'));
  assert.ok(erratic, `ERRATIC on rebalances; got ${all.filter((s) => s.subject.endsWith('#rebalances')).map(what).join(', ')}`);
  assert.is(erratic!.context.metric, 'rebalance-total');
  assert.equal(stageOf(erratic!), { stage: 'rebalance', unhealthy: true });
  const slow = all.find((s) => s.subject.endsWith('#rebalance-latency') && what(s).endsWith('DEGRADED'));
  assert.ok(slow, 'a 7 s join is a slow rebalance');

  // Commits are summarised; lag goes through the JMX lag thresholds.
  m.commitOffsets({ groupId: 'billing', memberId: 'm-1', groupGenerationId: 4, topics: [{ topic: 'orders', partitions: [{ partition: '0', offset: '10' }] }] });
  m.heartbeat(t);
  m.batch({ topic: 'orders', partition: 0, offsetLag: '25000', batchSize: 10 }, false);
  m.batch({ topic: 'orders', partition: 0, offsetLag: '25000', batchSize: 10, duration: 4 }, true);
  out = step(1000);
  const commit = out.find((s) => s.subject.endsWith('#commits'))!;
  assert.is(what(commit), 'consumer/c1#commits service SUCCESS CALLER');
  assert.is(commit.context.partitions, '1');
  const lag = out.find((s) => s.subject.endsWith('#lag'))!;
  assert.is(what(lag), 'consumer/c1#lag queue OVERFLOW 25000');
  assert.equal({ lag: lag.context.lag, topic: lag.context.topic, partition: lag.context.partition }, { lag: '25000', topic: 'orders', partition: '0' });
  assert.equal(stageOf(lag), { stage: 'consumer-lag', unhealthy: true });

  // No heartbeat for more than 30 s while in the group: resource TIMEOUT, then GRANT when they resume.
  out = step(31_000);
  const stall = out.find((s) => s.context.metric === 'heartbeat-age-ms')!;
  assert.is(what(stall), 'consumer/c1#heartbeat resource TIMEOUT');
  assert.equal(stageOf(stall), { stage: 'rebalance', unhealthy: true });
  m.heartbeat(t);
  out = step(1000);
  assert.is(what(out.find((s) => s.context.metric === 'heartbeat-age-ms')!), 'consumer/c1#heartbeat resource GRANT 1');

  // A crash: FAIL event=crash with the error; the next join says it recovered.
  const crashError = Object.assign(new Error('boom from eachMessage'), { name: 'KafkaJSNumberOfRetriesExceeded', cause: new Error('boom from eachMessage') });
  m.disconnect();
  m.crash({ error: crashError, groupId: 'billing', restart: false }, t);
  out = step(1, false);
  const crash = out.find((s) => s.context.event === 'crash')!;
  assert.is(what(crash), 'consumer/c1#crashes service FAIL CALLER');
  assert.equal({ restart: crash.context.restart, error: crash.context.error, type: crash.context['error-type'] }, { restart: 'false', error: 'boom from eachMessage', type: 'Error' });
  assert.equal(stageOf(crash), { stage: 'client-errors', unhealthy: true });
  m.connect();
  m.groupJoin({ duration: 80, groupId: 'billing', isLeader: true, leaderId: 'm-2', memberId: 'm-2', groupProtocol: 'RoundRobinAssigner', memberAssignment: { orders: [0, 1, 2] } }, t);
  out = step(1000);
  const back = out.find((s) => s.context.event === 'recovered')!;
  assert.is(what(back), 'consumer/c1#crashes service SUCCESS CALLER');
  assert.equal(stageOf(back), { stage: 'client-errors', unhealthy: false });

  for (const s of all) {
    assert.is(subjectProblem(s.subject) ?? signProblem(s) ?? contextProblem(s.context), undefined, `${what(s)} is a valid signal`);
  }
});

test('admin clients: network events only; odd payloads are skipped, never thrown', () => {
  const e = env();
  const m = new ClientMeter('admin', 'ops');
  for (const p of [null, undefined, 42, 'x', {}, { broker: 7 }, { broker: B1, duration: 'slow' }, { broker: B1, duration: -1 }]) {
    m.request(p);
    m.requestTimeout(p);
    m.requestQueueSize(p);
    m.batch(p, true);
    m.groupJoin(p, 0);
    m.commitOffsets(p);
    m.sendFailed(p, '');
  }
  m.crash(undefined, 0);
  const out = [...m.collect(1_700_000_000_000, true, e), ...m.collect(1_700_000_005_000, true, e)];
  for (const s of out) assert.is(subjectProblem(s.subject) ?? signProblem(s) ?? contextProblem(s.context), undefined);
  assert.ok(out.every((s) => s.subject.startsWith(`${POD}/admin/ops`)));
});

test('errorFacts: the root cause\'s type, the top message, the broker it names', () => {
  const conn = Object.assign(new Error('connect ECONNREFUSED'), { name: 'KafkaJSConnectionError', broker: 'b:1' });
  assert.equal(errorFacts(Object.assign(new Error('top'), { cause: conn })), { type: 'KafkaJSConnectionError', message: 'top', broker: 'b:1' });
  assert.equal(errorFacts('just a string'), { type: 'Error', message: 'just a string', broker: undefined });
  assert.is(errorFacts(new Error('x'.repeat(2000))).message.length, 300);
});

// --- the whole Instrumentation against a stand-in intake ---------------------------------------

interface Intake {
  server: Server;
  url: string;
  bodies: { contentType: string; lines: unknown[] }[];
  status: number;
  close(): Promise<void>;
  waitFor(test: (signals: Signal[]) => boolean, what: string): Promise<Signal[]>;
}

async function intake(port = 0): Promise<Intake> {
  const bodies: Intake['bodies'] = [];
  const waiters: { test: (s: Signal[]) => boolean; resolve: (s: Signal[]) => void }[] = [];
  const all = (): Signal[] => bodies.flatMap((b) => b.lines.map((l) => signalFromJson(l)));
  const i: Intake = {
    server: createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (i.status !== 200) {
          res.writeHead(i.status).end('{"error":"not now"}');
          return;
        }
        const lines = Buffer.concat(chunks).toString().split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
        bodies.push({ contentType: req.headers['content-type'] ?? '', lines });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: lines.length, dropped: 0, rejections: [] }));
        for (const w of [...waiters]) {
          const s = all();
          if (w.test(s)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(s);
          }
        }
      });
    }),
    url: '',
    bodies,
    status: 200,
    close: () => new Promise<void>((r) => {
      i.server.closeAllConnections();
      i.server.close(() => r());
    }),
    waitFor: (test, what) => {
      const s = all();
      if (test(s)) return Promise.resolve(s);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; have ${all().map((x) => `${x.subject} ${describeSign(x)}`).join('; ')}`)), 10_000);
        waiters.push({ test, resolve: (x) => { clearTimeout(timer); resolve(x); } });
      });
    },
  };
  await new Promise<void>((r) => i.server.listen(port, '127.0.0.1', r));
  i.url = `http://127.0.0.1:${(i.server.address() as AddressInfo).port}`;
  return i;
}

test('instrumentProducer: send is wrapped transparently; events and sends reach the intake as NDJSON, a few signals', async () => {
  const a = await intake();
  const p = new FakeProducer();
  const obs = instrumentProducer(p, { agent: a.url, service: 'orders', pod: 'orders-1', flushIntervalMs: 50, readingIntervalMs: 50 });
  try {
    const meta = [{ topicName: 'orders', partition: 0, errorCode: 0 }];
    p.outcome = { ok: true, value: meta };
    p.emit('CONNECT', null);
    for (let i = 0; i < 2000; i++) {
      assert.is(await p.send({ topic: 'orders', messages: [{ value: 'x' }] }), meta, 'the value kafkajs resolved with');
      if (i % 10 === 0) p.request(B1, 2);
    }
    const boom = new Error('boom');
    p.outcome = { ok: false, error: boom };
    try {
      await p.send({ topic: 'orders', messages: [{ value: 'x' }] });
      assert.unreachable('should reject');
    } catch (e) {
      assert.is(e, boom, 'the error kafkajs rejected with');
    }
    await a.waitFor((s) => s.some((x) => x.service?.sign === Service_Sign.FAIL), 'the FAIL');
    p.outcome = { ok: true, value: meta };
    await p.send({ topic: 'orders', messages: [{ value: 'x' }] });
    const signals = await a.waitFor((s) => s.some((x, i) => x.service?.sign === Service_Sign.SUCCESS && s.slice(0, i).some((y) => y.service?.sign === Service_Sign.FAIL)), 'SUCCESS after the FAIL');
    assert.ok(a.bodies.every((b) => b.contentType === 'application/x-ndjson'));
    const mine = signals.filter((s) => entityOf(s.subject) === `${POD}/producer/orders-app`);
    assert.ok(mine.some((s) => describeSign(s) === 'service SUCCESS CALLER'), 'SUCCESS');
    assert.ok(signals.length < 20, `2002 sends and 200 requests made ${signals.length} signals`);
    for (const s of signals) assert.is(s.sourceId, '', 'the agent fills source and seq');
    const st = obs.stats();
    assert.is(st.clients, 1);
    assert.ok(st.sent >= 2 && st.failedPosts === 0 && st.dropped === 0, JSON.stringify(st));
  } finally {
    await obs.close();
    await a.close();
  }
  assert.is(p.listeners(), 0, 'close() removes the listeners');
  assert.ok(Object.prototype.hasOwnProperty.call(p, 'send') === false, 'close() restores send');
});

test('the send wrapper keeps an ignored rejection unhandled, as without instrumentation', async () => {
  const a = await intake();
  const p = new FakeProducer();
  const obs = createInstrumentation({ agent: a.url, flushIntervalMs: 1000 });
  obs.producer(p);
  const seen: unknown[] = [];
  const onUnhandled = (e: unknown): void => void seen.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const err = new Error('nobody listens');
    p.outcome = { ok: false, error: err };
    void p.send({ topic: 't', messages: [] });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(seen, [err]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await obs.close();
    await a.close();
  }
});

test('agent away: nothing thrown, the buffer is bounded (drops counted), one onError; delivered once it is back', async () => {
  const a = await intake();
  const port = Number(new URL(a.url).port);
  await a.close(); // nobody listens there now
  const errors: Error[] = [];
  const c = new FakeConsumer();
  const obs = createInstrumentation({ agent: `http://127.0.0.1:${port}`, service: 'billing', pod: 'b-1', flushIntervalMs: 20, readingIntervalMs: 20, maxBuffered: 5, backoffMinMs: 20, backoffMaxMs: 40, successEveryMs: 0, onError: (e) => errors.push(e) });
  obs.consumer(c, { clientId: 'c1', groupId: 'billing' });
  try {
    c.emit('CONNECT', null);
    for (let i = 0; i < 10; i++) {
      c.emit('COMMIT_OFFSETS', { groupId: 'billing', memberId: 'm', groupGenerationId: 1, topics: [] });
      c.emit('REBALANCING', { groupId: 'billing', memberId: 'm' });
      await new Promise((r) => setTimeout(r, 25));
    }
    const st = obs.stats();
    assert.ok(st.failedPosts >= 2, JSON.stringify(st));
    assert.ok(st.buffered <= 5, `bounded: ${st.buffered}`);
    assert.ok(st.dropped > 0, 'drops are counted');
    assert.is(errors.length, 1, `told once per outage: ${errors.map((e) => e.message).join(' | ')}`);
    assert.match(errors[0]!.message, /cannot reach the agent/);
    // The agent comes back on the same port.
    const back = await intake(port);
    try {
      c.emit('CRASH', { error: new Error('boom'), groupId: 'billing', restart: true });
      const got = await back.waitFor((s) => s.some((x) => x.context.event === 'crash'), 'the crash after the agent came back');
      assert.ok(got.every((s) => s.subject.startsWith('service/billing/pod/b-1/consumer/c1')), got.map((s) => s.subject).join(', '));
      assert.ok((await obs.flush()).sent > 0, 'counted once the agent answered');
    } finally {
      await obs.close();
      await back.close();
    }
  } finally {
    await obs.close();
  }
});

test('instrument(kafka): clients from its factories are instrumented, named uniquely, and close() flushes and unwraps', async () => {
  const a = await intake();
  const producers: FakeProducer[] = [];
  const fakeKafka = {
    producer: (): FakeProducer => {
      const p = new FakeProducer();
      producers.push(p);
      return p;
    },
    consumer: (_config: { groupId: string }): FakeConsumer => new FakeConsumer(),
    admin: (): FakeAdmin => new FakeAdmin(),
  };
  const obs = instrument(fakeKafka, { agent: a.url, service: 'orders', pod: 'orders-1', flushIntervalMs: 60_000, readingIntervalMs: 60_000 });
  const p1 = fakeKafka.producer();
  const p2 = fakeKafka.producer();
  const admin = fakeKafka.admin();
  for (const p of [p1, p2]) {
    p.emit('CONNECT', null);
    p.request(B1, 2);
    await p.send({ topic: 'orders', messages: [1, 2, 3] });
  }
  admin.emit('CONNECT', null);
  const st = await obs.close();
  assert.is(st.buffered, 0, 'close() sent everything');
  const subjects = new Set(a.bodies.flatMap((b) => b.lines.map((l) => entityOf(signalFromJson(l).subject))));
  assert.ok(subjects.has(`${POD}/producer/orders-app`) && subjects.has(`${POD}/producer/orders-app-2`), [...subjects].join(', '));
  assert.ok(subjects.has(`${POD}/admin/kafkajs`), 'an admin with no request yet: the kafkajs default client id');
  assert.ok(!Object.prototype.hasOwnProperty.call(fakeKafka, 'producer') || fakeKafka.producer.name === 'producer', 'factories restored');
  const p3 = fakeKafka.producer();
  assert.is(p3.listeners(), 0, 'after close(), new clients are not instrumented');
  await a.close();
});

test.run();
