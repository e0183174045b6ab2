// Journal benchmark (phase `journal` of `npm run bench`): a journal of BENCH_JOURNAL_SIGNALS
// (10 million) signals is written, then measured:
//   - bytes on disk per signal (du of the journal directory after it is closed);
//   - replay speed: every block read back and every event indexed (offset, time, kind, subject:
//     what a subscriber filter or a Replay needs), in process, events/s;
//   - recovery: the real `kafka-obs aggregator` started on it, time until it listens, and what
//     its recovery log line says (the tail it fed the pipeline);
//   - catch-up over gRPC: SubscribeBatches from an offset 2 million events back, events/s at a
//     raw grpc-js client (the aggregator serves the stored bytes as they are).
// The signals are those of a mostly healthy estate (BENCH_JOURNAL_SOURCES agents x 20 subjects,
// queue ENQUEUE and status STABLE, one PRESSURE per 100), ~170 bytes each like the ingest load,
// spread evenly over BENCH_JOURNAL_SPAN_MS (2 h) ending now, so the 15-minute recovery window holds
// an eighth of them. Writing uses the aggregator's own EventLog and Journal (sync os: the write
// speed here is not the figure, the reading is).
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, credentials, Metadata } from '@grpc/grpc-js';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { Queue_Sign, Signal, Status_Condition, Status_Confidence, SubscribeRequest } from '../proto/index.js';
import { EventLog } from '../aggregator/event-log.js';
import { Journal } from '../aggregator/journal/journal.js';
import { indexEvents } from '../aggregator/journal/codec.js';
import { CLI, HOST, fmt, fmtInt, freePort, envNumber } from './common.js';

const env = envNumber;

export interface JournalRow {
  what: string;
  value: string;
  target: string;
  verdict: string;
}

const TARGET = { replayPerSec: 1_000_000, recoveryS: 10 };

async function generate(dir: string, n: number, spanMs: number, sources: number, out: (s: string) => void): Promise<{ ms: number; events: bigint }> {
  const t0 = performance.now();
  const journal = new Journal({ path: dir, sync: 'os', retention: { signalsMs: 0, signalsBytes: 0, verdictsMs: 0, verdictsBytes: 0 } });
  const state = await journal.open();
  const log = new EventLog(1000, { journal, nextOffset: state.nextOffset });
  const endNs = BigInt(Date.now()) * 1_000_000n;
  const startNs = endNs - BigInt(spanMs) * 1_000_000n;
  const stepNs = (BigInt(spanMs) * 1_000_000n) / BigInt(n);
  const seqs = new Array<bigint>(sources).fill(1_700_000_000_000_000n);
  const GROUP = 10_000;
  let lastReport = performance.now();
  for (let i = 0; i < n; i++) {
    const src = i % sources;
    const j = Math.floor(i / sources) % 20;
    const sourceId = `bench-agent-${src}`;
    const seq = ++seqs[src]!;
    const time = startNs + BigInt(i) * stepNs;
    const s: Signal = {
      sourceId,
      seq,
      subject: `service/svc-${src % 10}/pod/pod-${src}/producer/p-${j}#buffer`,
      timestamp: time,
      context: { 'client-id': `producer-${src}-${j}`, topic: `orders-events-${j % 5}` },
      clock: { [sourceId]: seq },
    };
    if (i % 100 === 37) s.queue = { sign: Queue_Sign.PRESSURE, units: 85 };
    else if (i % 5 === 4) s.status = { condition: Status_Condition.STABLE, confidence: Status_Confidence.MEASURED };
    else s.queue = { sign: Queue_Sign.ENQUEUE, units: 100 + ((i * 7) % 900) };
    log.appendSignal(s, Signal.encode(s).finish(), time);
    if ((i + 1) % GROUP === 0 || i === n - 1) {
      for (let k = 0; k < sources; k++) log.noteHighWater(`bench-agent-${k}`, seqs[k]!);
      await log.committedAll();
      if (performance.now() - lastReport > 10_000) {
        out(`    ... written ${fmtInt(i + 1)} signals`);
        lastReport = performance.now();
      }
    }
  }
  const events = log.nextOffset - 1n;
  await journal.close();
  return { ms: performance.now() - t0, events };
}

async function readAll(dir: string): Promise<{ events: number; ms: number; signals: number }> {
  const journal = new Journal({ path: dir, sync: 'os', retention: { signalsMs: 0, signalsBytes: 0, verdictsMs: 0, verdictsBytes: 0 }, mustExist: true });
  await journal.open();
  const t0 = performance.now();
  let events = 0;
  let signals = 0;
  for await (const b of journal.blocksFrom(0n)) {
    const idx = indexEvents(b.bytes);
    events += idx.offsets.length;
    for (const k of idx.kinds) if (k === 1) signals++;
  }
  const ms = performance.now() - t0;
  await journal.close();
  return { events, ms, signals };
}

/** Counts events arriving on SubscribeBatches from `fromOffset` until `until` events or `ms` pass. */
function catchUp(address: string, fromOffset: bigint, until: number, ms: number): Promise<{ events: number; ms: number }> {
  return new Promise((resolve) => {
    const client = new Client(address, credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc-node.flow_control_window': 8 * 1024 * 1024 });
    const req = SubscribeRequest.encode({ kinds: [], subjectPrefix: '', fromOffset }).finish();
    const t0 = performance.now();
    let events = 0;
    let lastAt = t0;
    let done = false;
    const call = client.makeServerStreamRequest<Uint8Array, Uint8Array>('/kafkaobs.v1.SignalAggregator/SubscribeBatches', () => Buffer.from(req), (b: Buffer) => b, req, new Metadata());
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const elapsed = lastAt - t0;
      call.cancel();
      client.close();
      resolve({ events, ms: elapsed });
    };
    const timer = setTimeout(finish, ms);
    call.on('data', (b: Uint8Array) => {
      const r = new BinaryReader(b);
      while (r.pos < r.len) {
        const tag = r.uint32();
        if (tag === 0x0a) {
          const len = r.uint32();
          r.pos += len;
          events++;
        } else r.skip(tag & 7);
      }
      lastAt = performance.now();
      if (events >= until) finish();
    });
    call.on('error', finish);
    call.on('end', finish);
  });
}

export async function journalBench(out: (s?: string) => void, aggregatorArgs: string[]): Promise<JournalRow[]> {
  const n = env('BENCH_JOURNAL_SIGNALS', 10_000_000);
  const spanMs = env('BENCH_JOURNAL_SPAN_MS', 2 * 3600 * 1000);
  const sources = env('BENCH_JOURNAL_SOURCES', 200);
  const dataDir = mkdtempSync(join(tmpdir(), 'kafka-obs-bench-journal-'));
  const dir = join(dataDir, 'journal');
  const rows: JournalRow[] = [];
  try {
    out(`  writing ${fmtInt(n)} signals (${sources} sources, spread over ${fmt(spanMs / 3_600_000, 1)} h) through EventLog + Journal`);
    const g = await generate(dir, n, spanMs, sources, (s) => out(s));
    out(`    written in ${fmt(g.ms / 1000, 1)} s (${fmtInt(n / (g.ms / 1000))} signals/s, sync os, one writer thread)`);
    const bytes = Number(execFileSync('du', ['-sb', dir]).toString().split('\t')[0]);
    out(`  bytes on disk            ${fmt(bytes / n, 1)} B per signal (${fmt(bytes / 1024 / 1024, 0)} MiB for ${fmtInt(n)}; RocksDB, ZSTD; a signal is ~170 B encoded)`);
    rows.push({ what: 'journal bytes on disk per signal', value: `${fmt(bytes / n, 1)} B`, target: '', verdict: '' });

    const r = await readAll(dir);
    const perSec = r.events / (r.ms / 1000);
    out(`  replay (read + index)    ${fmtInt(perSec).padStart(10)} events/s   (${fmtInt(r.events)} events in ${fmt(r.ms / 1000, 2)} s: every block read, every event's offset, time, kind and subject found)`);
    rows.push({ what: 'journal replay speed (read + index)', value: `${fmtInt(perSec)} events/s`, target: `≥ ${fmtInt(TARGET.replayPerSec)}/s`, verdict: perSec >= TARGET.replayPerSec ? 'meets' : 'MISSES' });

    // Recovery: the real aggregator on this data directory.
    const grpcPort = await freePort();
    const httpPort = await freePort();
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, 'aggregator', '--grpc-host', HOST, '--grpc-port', String(grpcPort), '--http-host', HOST, '--http-port', String(httpPort), '--data-dir', dataDir, ...aggregatorArgs], { env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] });
    const killOnExit = (): void => void child.kill('SIGKILL');
    process.once('exit', killOnExit); // never left behind, even if the bench dies
    let recovered: Record<string, unknown> | undefined;
    let listeningMs: number | undefined;
    let buf = '';
    const ready = new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (c: Buffer) => {
        buf += c.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          try {
            const j = JSON.parse(line) as { msg?: string };
            if (j.msg === 'journal opened and pipeline recovered') recovered = j as Record<string, unknown>;
            if (j.msg === 'aggregator listening') {
              listeningMs = performance.now() - t0;
              resolve();
            }
          } catch {
            // not JSON
          }
        }
      });
      child.once('exit', (code) => reject(new Error(`aggregator exited (${code}) before listening: ${buf.slice(-300)}`)));
    });
    try {
      await ready;
      out(`  recovery                 ${fmt(listeningMs! / 1000, 2)} s from start to listening (recovery itself ${fmt(Number(recovered?.ms) / 1000, 2)} s: ${fmtInt(Number(recovered?.tailSignals))} signals of the last 15 min fed to the pipeline from offset ${String(recovered?.tailFromOffset)}; ${String(recovered?.cells)} cells${recovered?.capped ? '; capped by --recovery-max-events' : ''})`);
      rows.push({ what: `recovery, journal of ${fmtInt(n)} signals`, value: `${fmt(listeningMs! / 1000, 2)} s`, target: `≤ ${TARGET.recoveryS} s`, verdict: listeningMs! / 1000 <= TARGET.recoveryS ? 'meets' : 'MISSES' });
      const back = 2_000_000n;
      const from = g.events > back ? g.events - back : 1n;
      const c = await catchUp(`${HOST}:${grpcPort}`, from, Number(g.events - from + 1n), 30_000);
      const cps = c.events / (c.ms / 1000);
      out(`  catch-up over gRPC       ${fmtInt(cps).padStart(10)} events/s   (SubscribeBatches from ${fmtInt(Number(g.events - from + 1n))} events back: ${fmtInt(c.events)} in ${fmt(c.ms / 1000, 2)} s, stored bytes served as they are)`);
      rows.push({ what: 'journal catch-up, SubscribeBatches', value: `${fmtInt(cps)} events/s`, target: '', verdict: '' });
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      process.removeListener('exit', killOnExit);
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  return rows;
}
