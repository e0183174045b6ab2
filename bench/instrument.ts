// kafkajs instrumentation overhead (`node dist/bench/instrument.js`, or phase [7] of `npm run bench`):
// what agent/instrument adds to one producer.send on the service's own thread.
//
// What is measured. Two real kafkajs 2.2.4 producers (new Kafka(...).producer(), never
// connected) whose send is replaced by a stand-in with no network: an async function that does
// what kafkajs does per send apart from I/O that the instrumentation can see — it builds the
// payloads of one Produce request's events (REQUEST_QUEUE_SIZE on enqueue, REQUEST on completion,
// REQUEST_QUEUE_SIZE on dequeue: kafkajs sends one Produce request per send() when the messages go
// to one leader, so 1 REQUEST and 2 queue events per send is the realistic worst ratio) and emits
// them through the producer's own kafkajs InstrumentationEventEmitter, then resolves. kafkajs only
// builds an event and calls listeners when someone listens, and wraps each listener call in
// Promise.resolve(...).catch(...): with the instrumentation listening, that cost is counted too.
// One producer is instrumented (createInstrumentation().producer(p), flushing every second to an
// HTTP sink in this process, so collecting, serialising and POSTing are counted as well), the
// other is not. Each round awaits N sends one after another on each producer, alternating, and
// the overhead is the difference of the medians, in ns per send. A second figure sends 100 at a
// time (Promise.all), as a service with many sends in flight would.
//
// Tunables: BENCH_INSTRUMENT_SENDS (200000 per round), BENCH_INSTRUMENT_ROUNDS (7),
// BENCH_INSTRUMENT_MODULE (the file to load instead of kafka-obs/instrument).
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
// Type only: the plain service of the RSS figure forks this file and must not load the instrument
// (what loading it costs is part of what it adds); the timed part imports it when it runs.
import type { Instrumentation } from '../agent/instrument/index.js';

/**
 * What a service gets from `import 'kafka-obs/instrument'` (the package's exports, by Node's
 * self-reference to this package: the bundle, dist/bundle/instrument.mjs); BENCH_INSTRUMENT_MODULE
 * names another file to measure instead (e.g. dist/agent/instrument/index.js, the modules).
 */
type InstrumentModule = typeof import('../agent/instrument/index.js');
const loadInstrument = (): Promise<InstrumentModule> => import(process.env.BENCH_INSTRUMENT_MODULE ?? 'kafka-obs/instrument') as Promise<InstrumentModule>;
import { fork } from 'node:child_process';
import { getHeapSpaceStatistics } from 'node:v8';
import { fileURLToPath } from 'node:url';
import { fmt, fmtInt, nowMs, readRss, sleep } from './common.js';

const envInt = (name: string, dflt: number): number => {
  const n = Number(process.env[name]);
  return Number.isInteger(n) && n > 0 ? n : dflt;
};
const out = (s = ''): void => void process.stdout.write(`${s}\n`);

export const INSTRUMENT_TARGET = { nsPerSend: 5000, addedRssMb: 5 };

export interface InstrumentBenchRow {
  what: string;
  value: string;
  target: string;
  verdict: string;
}

interface Emitter {
  emit(eventName: string, payload: unknown): void;
}

interface BenchProducer {
  send(record: { topic: string; messages: { value: string }[] }): Promise<unknown>;
}

const PRIVATE_CREATE_CLUSTER = 'private:Kafka:createCluster';

/** A real kafkajs producer with a send that emits what a Produce request emits, and no network. */
function benchProducer(): BenchProducer {
  const kafka = new Kafka({ clientId: 'bench-app', brokers: ['127.0.0.1:1'], logLevel: logLevel.NOTHING });
  const k = kafka as unknown as Record<symbol, unknown>;
  const sym = Object.getOwnPropertySymbols(kafka).find((s) => s.description === PRIVATE_CREATE_CLUSTER);
  if (sym === undefined || typeof k[sym] !== 'function') throw new Error('kafkajs internals changed: cannot reach the instrumentation emitter');
  const create = k[sym] as (o: { instrumentationEmitter: Emitter }) => unknown;
  let emitter: Emitter | undefined;
  k[sym] = (o: { instrumentationEmitter: Emitter }) => {
    emitter = o.instrumentationEmitter;
    return create(o);
  };
  const producer = kafka.producer();
  const em = emitter!;
  const broker = '127.0.0.1:9092';
  const meta = [{ topicName: 'orders', partition: 0, errorCode: 0, baseOffset: '0', logAppendTime: '-1', logStartOffset: '0' }];
  let correlationId = 0;
  // As kafkajs' producer.send: async; as its RequestQueue and SocketRequest: payload objects built
  // whether or not anyone listens, emitted through the InstrumentationEventEmitter.
  const send = async (record: { topic: string; messages: { value: string }[] }): Promise<unknown> => {
    if (record.messages.length === 0) return [];
    const createdAt = Date.now();
    em.emit('network.request_queue_size', { broker, clientId: 'bench-app', queueSize: 1 });
    em.emit('network.request', {
      broker, clientId: 'bench-app', correlationId: correlationId++, size: 120, createdAt, sentAt: createdAt,
      pendingDuration: 0, duration: 1, apiName: 'Produce', apiKey: 0, apiVersion: 7,
    });
    em.emit('network.request_queue_size', { broker, clientId: 'bench-app', queueSize: 0 });
    return meta;
  };
  (producer as unknown as { send: typeof send }).send = send;
  return producer as unknown as BenchProducer;
}

async function sequential(p: BenchProducer, n: number): Promise<number> {
  const record = { topic: 'orders', messages: [{ value: 'order-created' }] };
  const t0 = nowMs();
  for (let i = 0; i < n; i++) await p.send(record);
  return ((nowMs() - t0) * 1e6) / n;
}

async function concurrent(p: BenchProducer, n: number): Promise<number> {
  const record = { topic: 'orders', messages: [{ value: 'order-created' }] };
  const inFlight: Promise<unknown>[] = new Array<Promise<unknown>>(100);
  const t0 = nowMs();
  for (let i = 0; i < n; i += 100) {
    for (let j = 0; j < 100; j++) inFlight[j] = p.send(record);
    await Promise.all(inFlight);
  }
  return ((nowMs() - t0) * 1e6) / n;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

export interface InstrumentBenchResult {
  plainNs: number;
  instrumentedNs: number;
  overheadNs: number;
  plainConcurrentNs: number;
  instrumentedConcurrentNs: number;
  overheadConcurrentNs: number;
  sends: number;
  signals: number;
  posts: number;
  failedPosts: number;
}

/** Measures the per-send overhead; see the header for what exactly. */
export async function measureInstrumentOverhead(sends = envInt('BENCH_INSTRUMENT_SENDS', 200_000), rounds = envInt('BENCH_INSTRUMENT_ROUNDS', 7)): Promise<InstrumentBenchResult> {
  const sink = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"accepted":0,"dropped":0,"rejections":[]}'));
  });
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  let obs: Instrumentation | undefined;
  try {
    const plain = benchProducer();
    const instrumented = benchProducer();
    const { createInstrumentation } = await loadInstrument();
    obs = createInstrumentation({ agent: `http://127.0.0.1:${(sink.address() as AddressInfo).port}`, service: 'bench', pod: 'bench-1', flushIntervalMs: 1000 });
    obs.producer(instrumented as unknown as Parameters<Instrumentation['producer']>[0]);
    // Warm-up: both paths optimised before anything is timed.
    for (let i = 0; i < 3; i++) {
      await sequential(plain, 20_000);
      await sequential(instrumented, 20_000);
      await concurrent(plain, 20_000);
      await concurrent(instrumented, 20_000);
    }
    const p: number[] = [];
    const q: number[] = [];
    const pc: number[] = [];
    const qc: number[] = [];
    for (let r = 0; r < rounds; r++) {
      // Alternate the order so drift (GC, the flush timer, the other core) falls on both.
      if (r % 2 === 0) {
        p.push(await sequential(plain, sends));
        q.push(await sequential(instrumented, sends));
      } else {
        q.push(await sequential(instrumented, sends));
        p.push(await sequential(plain, sends));
      }
      pc.push(await concurrent(plain, sends));
      qc.push(await concurrent(instrumented, sends));
    }
    const st = await obs.flush(2000);
    const res: InstrumentBenchResult = {
      plainNs: median(p),
      instrumentedNs: median(q),
      overheadNs: median(q) - median(p),
      plainConcurrentNs: median(pc),
      instrumentedConcurrentNs: median(qc),
      overheadConcurrentNs: median(qc) - median(pc),
      sends: rounds * sends * 2 + 3 * 40_000,
      signals: st.signals,
      posts: st.posts,
      failedPosts: st.failedPosts,
    };
    return res;
  } finally {
    await obs?.close(500);
    sink.closeAllConnections();
    sink.close();
  }
}

// ---------------------------------------------------------------------------------------------
// What the instrumentation adds to a service's resident memory: the same service twice, each in
// a fresh process — kafkajs loaded, one producer sending 5,000 records/s through the stand-in
// above for 8 s — once plain, once instrumented (kafka-obs/instrument loaded, the producer
// instrumented, flushing every second to an HTTP intake in the parent). Both sample their own
// VmRSS every 10 ms after a 3 s warm-up; the figure is the difference of the means over that
// window (the peaks' difference beside it: they move with when each process collects garbage). BENCH_INSTRUMENT_RSS_RATE (5000), BENCH_INSTRUMENT_RSS_MS (5000).

interface RssSample {
  peakMb: number;
  meanMb: number;
  endMb: number;
  sends: number;
  /** V8's young generation (new space) and the rest of its heap at the end, MB: where the difference sits. */
  newSpaceMb: number;
  otherHeapMb: number;
}

async function rssService(instrumented: boolean, agentUrl: string, rate: number, measureMs: number): Promise<RssSample> {
  const producer = benchProducer();
  let obs: Instrumentation | undefined;
  if (instrumented) {
    const mod = await loadInstrument();
    obs = mod.createInstrumentation({ agent: agentUrl, service: 'bench', pod: 'bench-1', flushIntervalMs: 1000 });
    obs.producer(producer as unknown as Parameters<Instrumentation['producer']>[0]);
  }
  const record = { topic: 'orders', messages: [{ value: 'order-created' }] };
  const perTick = Math.max(1, Math.round(rate / 100));
  let sends = 0;
  let peak = 0;
  let last = 0;
  let sum = 0;
  let samples = 0;
  const started = Date.now();
  const warmupMs = 3000;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      for (let i = 0; i < perTick; i++) void producer.send(record);
      sends += perTick;
      const t = Date.now() - started;
      if (t >= warmupMs) {
        last = readRss(process.pid)?.rssMb ?? NaN;
        peak = Math.max(peak, last);
        sum += last;
        samples++;
      }
      if (t >= warmupMs + measureMs) {
        clearInterval(timer);
        resolve();
      }
    }, 10);
  });
  const spaces = getHeapSpaceStatistics();
  const newSpace = spaces.filter((x) => x.space_name === 'new_space').reduce((a, x) => a + x.space_size, 0) / 1048576;
  const otherHeap = spaces.filter((x) => x.space_name !== 'new_space').reduce((a, x) => a + x.space_size, 0) / 1048576;
  await obs?.close(1000);
  return { peakMb: peak, meanMb: sum / samples, endMb: last, sends, newSpaceMb: newSpace, otherHeapMb: otherHeap };
}

async function measureAddedRss(): Promise<{ plain: RssSample; instrumented: RssSample; signals: number }> {
  let signals = 0;
  const sink = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const n = body.split('\n').filter((l) => l.trim() !== '').length;
      signals += n;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: n, dropped: 0, rejections: [] }));
    });
  });
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  const url = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
  const run = async (mode: 'plain' | 'instrumented'): Promise<RssSample> => {
    const child = fork(fileURLToPath(import.meta.url), ['rss-service', mode, url], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
    const [reply] = (await once(child, 'message')) as [RssSample];
    await once(child, 'exit');
    return reply;
  };
  try {
    const plain = await run('plain');
    await sleep(200);
    const instrumented = await run('instrumented');
    return { plain, instrumented, signals };
  } finally {
    sink.closeAllConnections();
    sink.close();
  }
}

/** Prints the figures; returns summary rows for run.ts. */
export async function instrumentBench(print: (s?: string) => void = out): Promise<InstrumentBenchRow[]> {
  const r = await measureInstrumentOverhead();
  const ok = r.overheadNs <= INSTRUMENT_TARGET.nsPerSend;
  print(`    send, awaited one by one     ${fmt(r.plainNs, 0)} ns plain, ${fmt(r.instrumentedNs, 0)} ns instrumented: +${fmt(r.overheadNs, 0)} ns per send`);
  print(`    send, 100 in flight          ${fmt(r.plainConcurrentNs, 0)} ns plain, ${fmt(r.instrumentedConcurrentNs, 0)} ns instrumented: +${fmt(r.overheadConcurrentNs, 0)} ns per send`);
  print(`    (each send: 1 REQUEST + 2 REQUEST_QUEUE_SIZE events; ${fmtInt(r.sends)} instrumented sends made ${fmtInt(r.signals)} signals in ${fmtInt(r.posts)} POSTs${r.failedPosts ? `, ${r.failedPosts} failed POSTs` : ''})`);
  const m = await measureAddedRss();
  const added = m.instrumented.meanMb - m.plain.meanMb;
  print(`    service rss, ${fmtInt(envInt('BENCH_INSTRUMENT_RSS_RATE', 5000))} sends/s  ${fmt(m.plain.meanMb, 1)} MB plain, ${fmt(m.instrumented.meanMb, 1)} MB instrumented (means over ${envInt('BENCH_INSTRUMENT_RSS_MS', 5000) / 1000} s): +${fmt(added, 1)} MB   target ≤ ${INSTRUMENT_TARGET.addedRssMb} MB`);
  print(`      peaks ${fmt(m.plain.peakMb, 1)} / ${fmt(m.instrumented.peakMb, 1)} MB (+${fmt(m.instrumented.peakMb - m.plain.peakMb, 1)}), at the end ${fmt(m.plain.endMb, 1)} / ${fmt(m.instrumented.endMb, 1)} MB`);
  print(`      V8 heap at the end: young generation ${fmt(m.plain.newSpaceMb, 1)} / ${fmt(m.instrumented.newSpaceMb, 1)} MB, the rest ${fmt(m.plain.otherHeapMb, 1)} / ${fmt(m.instrumented.otherHeapMb, 1)} MB`);
  print(`      (kafkajs and one producer in both; ${fmtInt(m.signals)} signals reached the intake)`);
  return [
    { what: 'instrument: rss added to a service', value: `+${fmt(added, 1)} MB (${fmt(m.plain.meanMb, 1)} -> ${fmt(m.instrumented.meanMb, 1)})`, target: `≤ ${INSTRUMENT_TARGET.addedRssMb} MB`, verdict: added <= INSTRUMENT_TARGET.addedRssMb ? 'meets' : 'MISSES' },
    { what: 'instrument: overhead per send', value: `+${fmt(r.overheadNs, 0)} ns (${fmt(r.plainNs, 0)} -> ${fmt(r.instrumentedNs, 0)})`, target: `≤ ${fmtInt(INSTRUMENT_TARGET.nsPerSend)} ns`, verdict: ok ? 'meets' : 'MISSES' },
    { what: 'instrument: overhead, 100 in flight', value: `+${fmt(r.overheadConcurrentNs, 0)} ns`, target: `≤ ${fmtInt(INSTRUMENT_TARGET.nsPerSend)} ns`, verdict: r.overheadConcurrentNs <= INSTRUMENT_TARGET.nsPerSend ? 'meets' : 'MISSES' },
  ];
}

if (process.argv[2] === 'rss-service') {
  rssService(process.argv[3] === 'instrumented', process.argv[4]!, envInt('BENCH_INSTRUMENT_RSS_RATE', 5000), envInt('BENCH_INSTRUMENT_RSS_MS', 5000)).then(
    (r) => process.send!(r, () => process.exit(0)),
    (e: Error) => {
      process.stderr.write(`rss-service failed: ${e.stack ?? e.message}\n`);
      process.exit(1);
    },
  );
} else if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  out('[7] instrument: kafkajs instrumentation overhead per producer.send (in process)');
  instrumentBench().then((rows) => {
    for (const r of rows) out(`  ${r.what.padEnd(38)}${r.value.padEnd(28)}${r.target.padEnd(18)}${r.verdict}`);
    process.exit(0);
  }, (e: Error) => {
    out(`instrument bench failed: ${e.stack ?? e.message}`);
    process.exit(1);
  });
}
