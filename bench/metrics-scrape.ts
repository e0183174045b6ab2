// /metrics scrape benchmark (phase `metrics` of `npm run bench`, or `node dist/bench/metrics-scrape.js`):
// a real aggregator holding the Kafka state of 20 000 consumer groups x 10 partitions, scraped
// over HTTP as Prometheus does, with per-partition series off (the default) and on.
//
// The estate is what the Kafka source sends (agent/kafka/signals.ts): per group a #lag signal
// (status, total and max lag, lag in seconds, rates, partition statuses), per group-topic and
// group-partition a #lag signal, per topic-partition a #replicas signal; BENCH_METRICS_GROUPS_PER_TOPIC
// groups read each topic (2: 10 000 topics, 100 000 topic-partitions). The signals go in over
// StreamSignals as an agent's would; then, while scrapes run, the estate keeps changing at
// BENCH_METRICS_RATE signals/s (4 000: every subject re-sent once a minute, as the Kafka source's
// heartbeat does), so each scrape renders changed state. Nothing in a scrape talks to Kafka: the
// aggregator has no Kafka client; a scrape writes what the signals left.
//
// Reported per setting: scrape time (request to last byte) p50 and max over BENCH_METRICS_SCRAPES
// scrapes, plain and gzip (Prometheus asks for gzip), response bytes, series, the render time the
// aggregator measured itself (kafkaobs_exporter_render_seconds), and the aggregator's memory.
//
// Tunables: BENCH_METRICS_GROUPS (20000), BENCH_METRICS_PARTITIONS (10), BENCH_METRICS_GROUPS_PER_TOPIC (2),
// BENCH_METRICS_SCRAPES (10), BENCH_METRICS_RATE (4000).
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { createChannel, createClientFactory } from 'nice-grpc';
import { SignalAggregatorDefinition, Status_Condition, Status_Confidence, directDefinition, type Signal } from '../proto/index.js';
import { fmt, fmtInt, metric, percentile, readRss, sleep, type Row, envNumber } from './common.js';
import { startAggregatorProc, stopChild } from './procs.js';

export const METRICS_TARGET = { scrapeMs: 200 };

const env = (key: string, dflt: number): number => envNumber(key, dflt, true);

const CFG = {
  groups: env('BENCH_METRICS_GROUPS', 20_000),
  partitions: env('BENCH_METRICS_PARTITIONS', 10),
  groupsPerTopic: env('BENCH_METRICS_GROUPS_PER_TOPIC', 2),
  scrapes: env('BENCH_METRICS_SCRAPES', 10),
  rate: env('BENCH_METRICS_RATE', 4000),
};


const C = Status_Condition;
const STATUS = ['OK', 'OK', 'OK', 'OK', 'OK', 'OK', 'OK', 'WARN', 'ERR', 'OK'] as const;

/** The estate's signals, as the Kafka source words them; `round` varies the numbers. */
function* estate(round: number): Generator<Signal> {
  const { groups, partitions, groupsPerTopic } = CFG;
  const topics = Math.ceil(groups / groupsPerTopic);
  const ts = BigInt(Date.now()) * 1_000_000n;
  const sig = (subject: string, condition: Status_Condition, context: Record<string, string>): Signal => ({
    sourceId: 'bench-kafka-source', seq: 0n, subject, timestamp: ts, status: { condition, confidence: Status_Confidence.MEASURED }, context, clock: {},
  });
  for (let t = 0; t < topics; t++) {
    for (let p = 0; p < partitions; p++) {
      const leader = 1 + ((t + p) % 3);
      yield sig(`cluster/prod/topic/topic-${t}/partition/${p}#replicas`, C.STABLE, { topic: `topic-${t}`, partition: String(p), replicas: `${leader},${(leader % 3) + 1},${((leader + 1) % 3) + 1}`, isr: `${leader},${(leader % 3) + 1},${((leader + 1) % 3) + 1}`, leader: String(leader), state: 'ok' });
    }
  }
  for (let g = 0; g < groups; g++) {
    const topic = `topic-${Math.floor(g / groupsPerTopic)}`;
    const group = `cluster/prod/group/consumer-group-${g}`;
    const status = STATUS[g % STATUS.length]!;
    const lag = status === 'OK' ? (g + round) % 50 : 1000 + g + round * 37;
    const condition = status === 'OK' ? C.STABLE : status === 'WARN' ? C.DIVERGING : C.DEGRADED;
    const partStatus = status === 'ERR' ? 'STOP' : status;
    for (let p = 0; p < partitions; p++) {
      const end = 1_000_000 + round * 100 + p;
      yield sig(`${group}/topic/${topic}/partition/${p}#lag`, condition, { burrow: partStatus, lag: String(lag), 'committed-offset': String(end - lag), 'log-end-offset': String(end), 'lag-seconds': (lag / 40).toFixed(1) });
    }
    yield sig(`${group}/topic/${topic}#lag`, condition, { topic, 'total-lag': String(lag * partitions), partitions: String(partitions), 'lag-seconds': (lag / 40).toFixed(1) });
    yield sig(`${group}#lag`, condition, {
      burrow: status, 'total-lag': String(lag * partitions), 'max-lag': String(lag), 'lag-seconds': (lag / 40).toFixed(1), partitions: String(partitions),
      'partition-status': `${partStatus}=${partitions}`, completeness: '1.00', topics: topic, topic, 'max-lag-partition': `${topic}/0`, 'consume-rate': '400.0', 'produce-rate': status === 'OK' ? '400.0' : '520.0',
    });
  }
}

/** One StreamSignals stream, at most `window` batches unacknowledged. */
function pump(address: string) {
  const channel = createChannel(address, undefined, { 'grpc.max_send_message_length': 16 * 1024 * 1024 });
  const client = createClientFactory().create(directDefinition(SignalAggregatorDefinition), channel);
  const queue: Signal[][] = [];
  let wake: (() => void) | undefined;
  let acked = 0;
  let sent = 0;
  let seq = 0n;
  const waiters: (() => void)[] = [];
  async function* requests() {
    for (;;) {
      while (queue.length === 0) await new Promise<void>((r) => (wake = r));
      const signals = queue.shift()!;
      sent++;
      yield { signals };
    }
  }
  const done = (async () => {
    for await (const _ of client.streamSignals(requests())) {
      acked++;
      while (waiters.length) waiters.shift()!();
    }
  })().catch(() => undefined);
  return {
    async send(signals: Signal[]): Promise<void> {
      for (const s of signals) s.seq = ++seq;
      queue.push(signals);
      wake?.();
      while (sent + queue.length - acked > 8) await new Promise<void>((r) => waiters.push(r));
    },
    async drain(): Promise<void> {
      while (queue.length > 0 || acked < sent) await new Promise<void>((r) => waiters.push(r));
    },
    close(): void {
      channel.close();
      void done;
    },
  };
}

interface Scrape {
  ms: number;
  bytes: number;
  text: string;
}

function scrape(url: string, gzip: boolean): Promise<Scrape> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(url, { headers: gzip ? { 'accept-encoding': 'gzip' } : {}, agent: false, timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = performance.now() - t0;
        const body = Buffer.concat(chunks);
        const text = (res.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8');
        resolve({ ms, bytes: body.length, text });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

interface SettingResult {
  label: string;
  signals: number;
  loadSeconds: number;
  plain: { p50: number; max: number; bytes: number };
  gzip: { p50: number; max: number; bytes: number };
  series: number;
  leftOut: number;
  renderMs: { p50: number; max: number };
  rssMb: number;
  hwmMb: number;
}

async function runSetting(label: string, short: string, args: string[], out: (s?: string) => void): Promise<SettingResult & { short: string }> {
  const agg = await startAggregatorProc(['--journal-sync', 'os', ...args]);
  const p = pump(agg.address);
  try {
    const t0 = performance.now();
    let batch: Signal[] = [];
    let signals = 0;
    for (const s of estate(0)) {
      batch.push(s);
      signals++;
      if (batch.length === 500) {
        await p.send(batch);
        batch = [];
      }
    }
    if (batch.length) await p.send(batch);
    await p.drain();
    const loadSeconds = (performance.now() - t0) / 1000;
    out(`    ${label}: ${fmtInt(signals)} signals in ${fmt(loadSeconds, 1)} s; scraping while ${fmtInt(CFG.rate)} signals/s keep changing the estate`);
    // The estate keeps changing during the scrapes, as it would under the Kafka source's heartbeats.
    let stop = false;
    const background = (async () => {
      let round = 1;
      let it = estate(round);
      while (!stop) {
        const tick = performance.now();
        const b: Signal[] = [];
        while (b.length < CFG.rate / 10) {
          const n = it.next();
          if (n.done) it = estate(++round);
          else b.push(n.value);
        }
        await p.send(b);
        await sleep(Math.max(0, 100 - (performance.now() - tick)));
      }
    })();
    const plain: Scrape[] = [];
    const zipped: Scrape[] = [];
    const render: number[] = [];
    for (let i = 0; i < CFG.scrapes; i++) {
      await sleep(500);
      plain.push(await scrape(agg.metricsUrl, false));
      await sleep(500);
      const z = await scrape(agg.metricsUrl, true);
      zipped.push(z);
      render.push((metric(z.text, 'kafkaobs_exporter_render_seconds') ?? NaN) * 1000);
    }
    stop = true;
    await background;
    const last = zipped.at(-1)!.text;
    const stat = (xs: Scrape[]) => {
      const ms = xs.map((x) => x.ms).sort((a, b) => a - b);
      return { p50: percentile(ms, 0.5), max: ms.at(-1)!, bytes: xs.at(-1)!.bytes };
    };
    const rs = render.filter(Number.isFinite).sort((a, b) => a - b);
    const rss = readRss(agg.child.pid!);
    return {
      label, short, signals, loadSeconds, plain: stat(plain), gzip: stat(zipped),
      series: metric(last, 'kafkaobs_exporter_series') ?? 0, leftOut: metric(last, 'kafkaobs_exporter_series_left_out') ?? 0,
      renderMs: { p50: percentile(rs, 0.5), max: rs.at(-1) ?? NaN }, rssMb: rss?.rssMb ?? NaN, hwmMb: rss?.hwmMb ?? NaN,
    };
  } finally {
    p.close();
    await stopChild(agg.child, 5000);
  }
}

function print(out: (s?: string) => void, r: SettingResult & { short: string }, target?: number): Row[] {
  out(`    ${r.label}: scrape plain p50 ${fmt(r.plain.p50, 0)} ms, max ${fmt(r.plain.max, 0)} ms, ${fmt(r.plain.bytes / 1e6, 1)} MB; gzip p50 ${fmt(r.gzip.p50, 0)} ms, max ${fmt(r.gzip.max, 0)} ms, ${fmt(r.gzip.bytes / 1e6, 2)} MB`);
  out(`      ${fmtInt(r.series)} Kafka and cell series (${fmtInt(r.leftOut)} left out by the cap); render in the aggregator p50 ${fmt(r.renderMs.p50, 0)} ms, max ${fmt(r.renderMs.max, 0)} ms; aggregator ${fmt(r.rssMb, 0)} MB resident (peak ${fmt(r.hwmMb, 0)} MB)`);
  const verdict = (v: number): string => (target === undefined ? '' : v <= target ? 'meets' : 'MISSES');
  return [
    { what: `/metrics ${r.short}: scrape p50 / max`, value: `${fmt(r.plain.p50, 0)} / ${fmt(r.plain.max, 0)} ms, ${fmt(r.plain.bytes / 1e6, 1)} MB`, target: target ? `≤ ${target} ms` : '', verdict: verdict(r.plain.p50) },
    { what: `/metrics ${r.short}: gzip p50 / max`, value: `${fmt(r.gzip.p50, 0)} / ${fmt(r.gzip.max, 0)} ms, ${fmt(r.gzip.bytes / 1e6, 2)} MB`, target: target ? `≤ ${target} ms` : '', verdict: verdict(r.gzip.p50) },
    { what: `/metrics ${r.short}: series, render p50`, value: `${fmtInt(r.series)}, ${fmt(r.renderMs.p50, 0)} ms`, target: '', verdict: `${fmt(r.rssMb, 0)} MB rss` },
  ];
}

export async function metricsBench(out: (s?: string) => void): Promise<Row[]> {
  const { groups, partitions } = CFG;
  const off = await runSetting(`${fmtInt(groups)} groups x ${partitions}, partitions off`, 'partitions off', [], out);
  const rows = print(out, off, METRICS_TARGET.scrapeMs);
  const on = await runSetting(`${fmtInt(groups)} groups x ${partitions}, partitions on`, 'partitions on', ['--metrics-partitions', '--metrics-max-series', '5000000'], out);
  rows.push(...print(out, on));
  return rows;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const out = (s = ''): void => void process.stdout.write(`${s}\n`);
  out('[11] metrics: /metrics of an aggregator holding 20 000 groups x 10 partitions');
  metricsBench(out).then(
    (rows) => {
      for (const r of rows) out(`    ${r.what.padEnd(44)}${r.value.padEnd(30)}${r.target.padEnd(12)}${r.verdict}`);
      process.exit(0);
    },
    (e: Error) => {
      out(`metrics bench failed: ${e.stack ?? e.message}`);
      process.exit(1);
    },
  );
}
