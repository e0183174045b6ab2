// The door (phase `door` of `npm run bench`): what the bounds and the identity check cost, and
// the aggregator's memory per cell (whole process) at 200,000 and 500,000 cells.
//   - RSS of the aggregator holding 5,000 idle signal streams (50 connections x 100 streams, each
//     acknowledged), against the same aggregator before: the memory a stream costs.
//   - The identity check per batch (each source id held to the caller's identity), against what
//     ingesting the same batch costs (ingress + pipeline + event log, in process): the issue asks
//     that it cost at most 5 % of ingest.
// Tunables: BENCH_DOOR_STREAMS (5000), BENCH_DOOR_CONNECTIONS (50), BENCH_DOOR_RETAIN_EVENTS (the
// aggregator's --retain-events while cells are counted; its default otherwise).
// (The ingest compared with is the in-process part only: the gRPC decode and the journal, which the
// real ingest adds, make the check's share smaller still.)
import { setMaxListeners } from 'node:events';
import { createChannel, createClientFactory, type Channel } from 'nice-grpc';
import { AGGREGATOR_DEFAULTS } from '../aggregator/config.js';
import { EventLog } from '../aggregator/event-log.js';
import { Ingress } from '../aggregator/ingress.js';
import { Pipeline } from '../aggregator/pipeline.js';
import { pipelineSettings } from '../aggregator/server.js';
import { SourcePermit } from '../aggregator/identity.js';
import { Signal as SignalCodec, SignalAggregatorDefinition, directDefinition, type Signal, type SignalBatch } from '../proto/index.js';
import { buildEstate } from './pipeline.js';
import { fmt, fmtInt, readRss, waitUntil, type Row, envNumber } from './common.js';
import { startAggregatorProc, stopChild } from './procs.js';

export const DOOR_TARGET = { identityShareOfIngest: 0.05 };


const env = envNumber;

/** Opens `streams` StreamSignals streams over `connections` connections; resolves once each is acknowledged. */
async function holdStreams(address: string, streams: number, connections: number): Promise<{ close(): void }> {
  const abort = new AbortController();
  setMaxListeners(0, abort.signal); // one listener per stream
  const channels: Channel[] = [];
  let acked = 0;
  const perConnection = Math.ceil(streams / connections);
  for (let c = 0; c < connections; c++) {
    // Its own subchannel: a connection of its own, as separate agents would have.
    const channel = createChannel(address, undefined, { 'grpc.use_local_subchannel_pool': 1 });
    channels.push(channel);
    const client = createClientFactory().create(directDefinition(SignalAggregatorDefinition), channel);
    for (let i = 0; i < perConnection && c * perConnection + i < streams; i++) {
      const requests = async function* (): AsyncIterable<SignalBatch> {
        yield { signals: [] };
        await new Promise<void>((r) => abort.signal.addEventListener('abort', () => r(), { once: true }));
      };
      void (async () => {
        try {
          for await (const _ of client.streamSignals(requests(), { signal: abort.signal })) acked++;
        } catch {
          // closed at the end
        }
      })();
    }
  }
  await waitUntil(`${streams} streams acknowledged (have ${acked})`, 120_000, () => (acked >= streams ? true : undefined), 200);
  return {
    close() {
      abort.abort();
      for (const ch of channels) ch.close();
    },
  };
}

/** ns per call of `f`, over at least `minMs`. */
function timePer(f: () => void, minMs = 500): number {
  let n = 0;
  const t0 = process.hrtime.bigint();
  let t = t0;
  while (t - t0 < BigInt(minMs) * 1_000_000n) {
    for (let i = 0; i < 100; i++) f();
    n += 100;
    t = process.hrtime.bigint();
  }
  return Number(t - t0) / n;
}

/**
 * Identity check vs ingest, per batch of `size` signals, in process: the check as StreamSignals
 * does it (a restricted identity's permit, one lookup per run of a source id), and ingesting the
 * recorded incidents' signals (ingress + pipeline + event log, no journal, no gRPC) in batches.
 */
function identityCost(size: number): { checkNs: number; ingestNs: number; signals: number } {
  const estate = buildEstate(1);
  const signals: Signal[] = [];
  for (let i = 0; i < estate.size; i++) signals.push(SignalCodec.decode(estate.bytes.subarray(estate.offsets[i]!, estate.offsets[i + 1]!)));
  const batches: SignalBatch[] = [];
  for (let i = 0; i < signals.length; i += size) batches.push({ signals: signals.slice(i, i + size) });
  let clock = signals.reduce((m, x) => (x.timestamp > m ? x.timestamp : m), 0n) + 1n;
  const pipeline = new Pipeline(pipelineSettings(AGGREGATOR_DEFAULTS, 'n-'), () => {});
  const ingress = new Ingress(pipeline, new EventLog(AGGREGATOR_DEFAULTS.retainEvents), () => clock);
  const t0 = process.hrtime.bigint();
  for (const b of batches) {
    clock += 1000n;
    ingress.ingest(b);
  }
  const ingestNs = Number(process.hrtime.bigint() - t0) / batches.length;

  const permit = new SourcePermit({ name: 'orders-1', via: 'token', sources: ['orders-*'] });
  const one: Signal[] = Array.from({ length: size }, () => ({ ...signals[0]!, sourceId: 'orders-1' }));
  const check = (): void => {
    let last = '';
    for (const x of one) {
      if (x.sourceId === last) continue;
      if (!permit.allows(x.sourceId)) throw new Error('refused');
      last = x.sourceId;
    }
  };
  return { checkNs: timePer(check), ingestNs, signals: signals.length };
}

/**
 * The aggregator's RSS as its estate grows to each of `marks` cells (partitions of many topics,
 * each with an aspect), streamed in by one client: memory per cell with everything that hangs on
 * a cell (hierarchy, observers' state, the event ring of the default size).
 */
async function cellsRss(marks: number[], out: (s?: string) => void): Promise<{ cells: number; rssMb: number }[]> {
  const max = marks.at(-1)!;
  const retain = process.env.BENCH_DOOR_RETAIN_EVENTS;
  const agg = await startAggregatorProc(['--max-cells', String(max + 10_000), ...(retain ? ['--retain-events', retain] : [])]);
  const results: { cells: number; rssMb: number }[] = [];
  try {
    const channel = createChannel(agg.address);
    const client = createClientFactory().create(directDefinition(SignalAggregatorDefinition), channel);
    const before = readRss(agg.child.pid!)!;
    results.push({ cells: 0, rssMb: before.rssMb });
    let seq = 1n;
    let i = 0;
    const cellsNow = async (): Promise<number> => {
      const m = await httpGetText(agg.metricsUrl);
      return Number(/^kafkaobs_hierarchy_cells (\d+)/m.exec(m)?.[1] ?? 0);
    };
    for (const mark of marks) {
      // Two cells a signal (the partition and its aspect), plus a topic every 100.
      async function* batches(): AsyncIterable<SignalBatch> {
        yield { signals: [] };
        while (i < mark / 2) {
          const now = BigInt(Date.now()) * 1_000_000n;
          const signals: Signal[] = [];
          for (let k = 0; k < 1000 && i < mark / 2; k++, i++) {
            signals.push({ sourceId: 'estate', seq: seq++, timestamp: now, subject: `cluster/big/topic/t${Math.floor(i / 100)}/partition/${i % 100}#replicas`, context: {}, clock: {}, status: { condition: 2, confidence: 3 } } as Signal);
          }
          yield { signals };
        }
      }
      for await (const ack of client.streamSignals(batches())) if (ack.sourceId === 'estate' && i >= mark / 2 && ack.ackedSeq === seq - 1n) break;
      await waitUntil(`${mark} cells`, 60_000, async () => ((await cellsNow()) >= mark ? true : undefined), 200);
      await new Promise((r) => setTimeout(r, 1000));
      const r = readRss(agg.child.pid!)!;
      const cells = await cellsNow();
      results.push({ cells, rssMb: r.rssMb });
      out(`    ${fmtInt(cells)} cells: aggregator rss ${fmt(r.rssMb, 1)} MB (${fmt(((r.rssMb - before.rssMb) * 1024 * 1024) / cells, 0)} B a cell over idle)`);
    }
    channel.close();
  } finally {
    await stopChild(agg.child, 3000);
  }
  return results;
}

async function httpGetText(url: string): Promise<string> {
  return (await fetch(url)).text();
}

export async function doorBench(out: (s?: string) => void): Promise<Row[]> {
  const streams = env('BENCH_DOOR_STREAMS', 5000);
  const connections = env('BENCH_DOOR_CONNECTIONS', 50);
  const rows: Row[] = [];
  const agg = await startAggregatorProc(['--max-streams', String(streams + 100), '--max-connections', String(connections + 100)]);
  try {
    const before = readRss(agg.child.pid!)!;
    const held = await holdStreams(agg.address, streams, connections);
    // Let allocation settle: the aggregator is idle now.
    await new Promise((r) => setTimeout(r, 2000));
    const after = readRss(agg.child.pid!)!;
    held.close();
    const perStream = ((after.rssMb - before.rssMb) * 1024) / streams;
    out(`    aggregator rss: ${fmt(before.rssMb, 1)} MB idle, ${fmt(after.rssMb, 1)} MB holding ${fmtInt(streams)} idle streams over ${connections} connections (${fmt(perStream, 1)} KB a stream)`);
    rows.push({ what: `aggregator rss, ${fmtInt(streams)} idle streams`, value: `${fmt(after.rssMb, 1)} MB`, target: '', verdict: `${fmt(perStream, 1)} KB/stream (idle ${fmt(before.rssMb, 1)} MB)` });
  } finally {
    await stopChild(agg.child, 3000);
  }
  const marks = cellsRss([200_000, 500_000], out);
  const grown = await marks;
  const idle = grown[0]!.rssMb;
  for (const g of grown.slice(1)) {
    const perCell = ((g.rssMb - idle) * 1024 * 1024) / g.cells;
    rows.push({ what: `aggregator rss at ${fmtInt(g.cells)} cells`, value: `${fmt(g.rssMb, 1)} MB`, target: '≤ 1 KB/cell', verdict: `${fmt(perCell, 0)} B/cell ${perCell <= 1024 ? 'meets' : 'MISSES'}` });
  }
  const { checkNs, ingestNs, signals } = identityCost(100);
  const share = checkNs / ingestNs;
  out(`    identity check: ${fmt(checkNs / 1000, 2)} µs per 100-signal batch; ingesting a batch of the recorded incidents (${fmtInt(signals)} signals; ingress, pipeline, event log in process, no journal, no gRPC): ${fmt(ingestNs / 1000, 1)} µs: ${fmt(share * 100, 2)} % of ingest`);
  rows.push({ what: 'identity check per 100-signal batch', value: `${fmt(checkNs / 1000, 2)} µs = ${fmt(share * 100, 2)} % of ingest`, target: `≤ ${DOOR_TARGET.identityShareOfIngest * 100} %`, verdict: share <= DOOR_TARGET.identityShareOfIngest ? 'meets' : 'MISSES' });
  return rows;
}
