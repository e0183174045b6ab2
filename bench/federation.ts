// Federation (issue 16): two leaf aggregators forwarding to one upstream, all real CLI processes.
//   - throughput: signals streamed as fast as acks allow into both leaves (status signals whose
//     entity cells flip, so every signal is decided into cell changes), with raw signals forwarded
//     too (--upstream-signals): events/s the upstream takes from the two leaves, until caught up;
//   - the upstream's CPU per leaf event (its process CPU over the events it took);
//   - lag: at a paced rate, from a leaf deciding an event (the leaf's event time) to a subscriber of
//     the upstream receiving it, p50/p99.
// Tunables: BENCH_FED_SIGNALS (per leaf, 60 000), BENCH_FED_RATE (paced, per leaf, 1 000/s), BENCH_FED_LAG_MS (5 000).
import { setMaxListeners } from 'node:events';
import { createChannel, createClientFactory, type Channel } from 'nice-grpc';
import { EventKind, SignalAggregatorDefinition, Status_Condition, Status_Confidence, directDefinition, type Signal, type SignalBatch } from '../proto/index.js';
import { fmt, fmtInt, httpGet, percentile, readCpuMs, waitUntil, type Row, envNumber } from './common.js';
import { startAggregatorProc, stopChild, type AggregatorProc } from './procs.js';

export const FEDERATION_TARGET = { eventsPerSec: 20_000, lagP99Ms: 1000 };


const env = envNumber;

type Client = ReturnType<typeof clientOf>;
const clientOf = (channel: Channel) => createClientFactory().create(directDefinition(SignalAggregatorDefinition), channel);

/** Status signals on 200 brokers of the leaf's cluster, each flipping STABLE/DEGRADED: every one changes cells. */
function signalsFor(leaf: string, seq0: bigint, from: number, n: number): Signal[] {
  const out: Signal[] = [];
  const ts = BigInt(Date.now()) * 1_000_000n;
  for (let i = from; i < from + n; i++) {
    out.push({
      sourceId: `bench-${leaf}`,
      seq: seq0 + BigInt(i),
      subject: `cluster/${leaf}/broker/${i % 200}#under-replicated`,
      timestamp: ts,
      status: { condition: Math.floor(i / 200) % 2 === 0 ? Status_Condition.DEGRADED : Status_Condition.STABLE, confidence: Status_Confidence.MEASURED },
      context: {},
      clock: {},
    });
  }
  return out;
}

/** Streams `total` signals in batches of 100, at most 8 unacknowledged, optionally paced to `rate`/s. */
async function pump(client: Client, leaf: string, total: number, rate?: number): Promise<void> {
  const seq0 = BigInt(Date.now()) * 1000n;
  let acked = 0;
  let sent = 0;
  let room: (() => void) | undefined;
  const started = Date.now();
  async function* requests(): AsyncGenerator<SignalBatch> {
    while (sent < total) {
      while (sent - acked >= 800) await new Promise<void>((r) => (room = r));
      if (rate) {
        const due = started + (sent / rate) * 1000;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      }
      const n = Math.min(100, total - sent);
      const signals = signalsFor(leaf, seq0, sent, n);
      sent += n;
      yield { signals };
    }
  }
  for await (const ack of client.streamSignals(requests())) {
    acked += ack.accepted + ack.duplicates + ack.rejections.length;
    room?.();
    room = undefined;
    if (acked >= total) break;
  }
}

async function received(up: AggregatorProc): Promise<number> {
  const text = (await httpGet(`${up.metricsUrl}`)).body;
  let n = 0;
  for (const m of text.matchAll(/^kafkaobs_federation_received_total\{leaf="[^"]+",outcome="accepted"\} (\d+)/gm)) n += Number(m[1]);
  return n;
}

async function forwardedBehind(leaf: AggregatorProc): Promise<number> {
  const text = (await httpGet(leaf.metricsUrl)).body;
  return Number(/^kafkaobs_federation_upstream_behind_events (\d+)/m.exec(text)?.[1] ?? NaN);
}

export async function federationBench(out: (s: string) => void): Promise<Row[]> {
  const perLeaf = env('BENCH_FED_SIGNALS', 60_000);
  const rate = env('BENCH_FED_RATE', 1000);
  const lagMs = env('BENCH_FED_LAG_MS', 5000);
  const rows: Row[] = [];
  const up = await startAggregatorProc(['--metrics-open']);
  const leaves = await Promise.all(['east', 'west'].map((name) => startAggregatorProc(['--metrics-open', '--upstream', `grpc://${up.address}`, '--leaf-name', name, '--upstream-signals'])));
  const channels: Channel[] = [];
  try {
    const leafClients = leaves.map((l) => {
      const ch = createChannel(l.address, undefined, { 'grpc.use_local_subchannel_pool': 1 });
      channels.push(ch);
      return clientOf(ch);
    });
    await waitUntil('leaves connected upstream', 15_000, async () => {
      for (const l of leaves) if (!/^kafkaobs_federation_upstream_connected 1/m.test((await httpGet(l.metricsUrl)).body)) return undefined;
      return true;
    });

    // 1. Throughput, and the upstream's CPU per leaf event.
    const cpu0 = readCpuMs(up.child.pid!) ?? NaN;
    const before = await received(up);
    const t0 = Date.now();
    await Promise.all(leafClients.map((c, i) => pump(c, ['east', 'west'][i]!, perLeaf)));
    const ingestMs = Date.now() - t0;
    await waitUntil('the upstream to catch up', 120_000, async () => {
      for (const l of leaves) if ((await forwardedBehind(l)) !== 0) return undefined;
      return true;
    }, 50);
    const ms = Date.now() - t0;
    const events = (await received(up)) - before;
    const cpu = (readCpuMs(up.child.pid!) ?? NaN) - cpu0;
    const perSec = events / (ms / 1000);
    out(`  ${fmtInt(2 * perLeaf)} signals into 2 leaves in ${fmt(ingestMs / 1000, 1)} s; the upstream took ${fmtInt(events)} events (signals + decided) and was caught up after ${fmt(ms / 1000, 1)} s`);
    rows.push({ what: 'federation: leaf -> upstream, 2 leaves', value: `${fmtInt(perSec)} events/s`, target: `≥ ${fmtInt(FEDERATION_TARGET.eventsPerSec)}/s`, verdict: perSec >= FEDERATION_TARGET.eventsPerSec ? 'ok' : 'BELOW' });
    rows.push({ what: 'federation: signals into the leaves', value: `${fmtInt((2 * perLeaf) / (ingestMs / 1000))} signals/s`, target: '', verdict: `${fmt(events / (2 * perLeaf), 2)} upstream events per signal` });
    rows.push({ what: 'federation: upstream CPU per leaf event', value: `${fmt((cpu * 1000) / events, 2)} µs`, target: '', verdict: `${fmt(cpu / 1000, 1)} s CPU` });

    // 2. Lag from a leaf's decision to an upstream subscriber, at a paced rate.
    const upChannel = createChannel(up.address);
    channels.push(upChannel);
    const abort = new AbortController();
    setMaxListeners(0, abort.signal);
    const decided = new Map<string, bigint>(); // leaf/offset -> leaf event time (ns)
    const arrivals: { key: string; atNs: bigint }[] = [];
    const kinds = [EventKind.CELL_CHANGE, EventKind.FINDING, EventKind.SITUATION, EventKind.NARRATIVE];
    const subs = [
      (async () => {
        for await (const e of clientOf(upChannel).subscribe({ kinds, subjectPrefix: '' }, { signal: abort.signal })) {
          if (e.leaf && e.leafOffset) arrivals.push({ key: `${e.leaf}/${e.leafOffset}`, atNs: BigInt(Date.now()) * 1_000_000n });
        }
      })().catch(() => {}),
      ...leafClients.map((c, i) =>
        (async () => {
          for await (const e of c.subscribe({ kinds, subjectPrefix: '' }, { signal: abort.signal })) decided.set(`${['east', 'west'][i]}/${e.offset}`, e.time);
        })().catch(() => {}),
      ),
    ];
    await new Promise((r) => setTimeout(r, 300)); // the subscriptions open (live only)
    await Promise.all(leafClients.map((c, i) => pump(c, ['east', 'west'][i]!, Math.round((rate * lagMs) / 1000), rate)));
    await waitUntil('the upstream to catch up', 30_000, async () => {
      for (const l of leaves) if ((await forwardedBehind(l)) !== 0) return undefined;
      return true;
    }, 50);
    await new Promise((r) => setTimeout(r, 200));
    abort.abort();
    await Promise.all(subs);
    const lags = arrivals.filter((a) => decided.has(a.key)).map((a) => Number(a.atNs - decided.get(a.key)!) / 1e6).sort((a, b) => a - b);
    if (lags.length === 0) throw new Error('no decided event of a leaf reached the upstream subscriber');
    const p50 = percentile(lags, 50);
    const p99 = percentile(lags, 99);
    out(`  paced ${fmtInt(rate)} signals/s per leaf for ${fmt(lagMs / 1000, 1)} s: ${fmtInt(lags.length)} decided events matched upstream; lag p50 ${fmt(p50, 1)} ms, p99 ${fmt(p99, 1)} ms, max ${fmt(lags.at(-1)!, 1)} ms`);
    rows.push({ what: 'federation: decision -> upstream sub p50/p99', value: `${fmt(p50, 1)} / ${fmt(p99, 1)} ms`, target: `p99 ≤ ${FEDERATION_TARGET.lagP99Ms} ms`, verdict: p99 <= FEDERATION_TARGET.lagP99Ms ? 'ok' : 'ABOVE' });
    return rows;
  } finally {
    for (const c of channels) c.close();
    for (const l of leaves) await stopChild(l.child, 3000);
    await stopChild(up.child, 3000);
  }
}
