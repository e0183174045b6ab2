// Pipeline benchmark (phase `pipeline` of `npm run bench`): the OODA middle of the aggregator —
// hierarchy, every observer, both reporters (aggregator/pipeline.ts) — fed a replayed stream in
// process, as fast as it takes it, with the aggregator's default settings. No gRPC, and decoding
// happens outside the timed sections: what is measured is what the aggregator spends per signal
// after it has one in hand.
//
// The stream: every recorded scenario of test/fixtures/scenarios (cascade, its late-broker variant,
// slow consumer, rebalance storm, producer exhaustion, GC pauses, managed Kafka, a healthy estate,
// one noisy partition among 300, a silent pod), each copied BENCH_PIPELINE_COPIES times into its
// own part of the estate (cluster "prod" becomes "prod-s0c7", service "order-service" becomes
// "order-service-s0c7", source "order-1" becomes "order-1-s0c7"; client signals that do not name
// their cluster get their copy's, as an agent configured for that cluster would send), each copy
// starting at its own offset so incidents overlap as they would in a large estate, merged in
// arrival order into one "lap" of ~13 minutes of stream time. Laps repeat with time, sequence
// numbers and vector clocks moved on, so the stream is as long as the measurement needs and the
// incidents recur. The clock is the stream's: each signal is ingested at its arrival time (the
// latest timestamp its scenario had reached, as test/support/scenarios.ts replays), and the
// pipeline ticks every second of stream time, as tests do (the live aggregator ticks every 250 ms
// of wall time; at these rates that is far fewer ticks per signal than here, so tick cost is, if
// anything, overstated; it is reported apart). The stream is made of incidents: about one finding
// every 80 signals and a narrative event every 200, far denser than an estate that is mostly well,
// so it is the expensive case.
//
// Three variants, each in a fresh process (--expose-gc, so the heap can be read after a GC):
//   full       Pipeline.ingest + Pipeline.tick (all observers, situations, narratives)
//   hierarchy  HierarchyManager.applyTo + tick alone: the cell tree's share of the cost
//   core       Ingress (validate, dedupe by source/seq) + the pipeline + the EventLog append, in
//              batches of 100 signals: what the aggregator does per signal after decoding
// The lap is kept protobuf-encoded (off the JS heap); signals are decoded outside the timed sections
// in chunks of an agent's batch (its --max-batch, 500) — fresh objects and strings, as the gRPC
// handler hands one SignalBatch at a time to the aggregator — and everything else, GC pauses
// included, is inside. (Chunks of 4096, as before, kept 8 batches' worth of decoded signals alive
// through the pipeline's young-generation collections: a cost of the bench, not of the aggregator.) Throughput = signals / timed seconds, after a
// warm-up; also per CPU second of the process, which the machine's other load moves less.
//
// Then the full pipeline again at other estate sizes (2 s warm-up, 3 s measured each), because the
// cost per signal grows with the estate: more cells and state to reach (cache misses, GC), and more
// clusters for the cascade observer to re-correlate whenever a broker's or a client's trouble moves.
//
// Tunables: BENCH_PIPELINE_CHUNK (500), BENCH_PIPELINE_COPIES (12), BENCH_PIPELINE_WARMUP_MS (3000), BENCH_PIPELINE_MS (6000),
// BENCH_PIPELINE_VARIANTS (full,hierarchy,core), BENCH_PIPELINE_SWEEP (copies: 1,4,28; empty: none; 28 copies are the issue's 14,000 cells),
// BENCH_PIPELINE_NODE_ARGS (node flags for the workers, e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
import { join } from 'node:path';
import { Narrative_State, Signal as SignalCodec, Status_Condition, Status_Confidence, entity, subjectOf, type Signal, type SignalBatch } from '../proto/index.js';
import { Pipeline } from '../aggregator/pipeline.js';
import { pipelineSettings } from '../aggregator/server.js';
import { AGGREGATOR_DEFAULTS } from '../aggregator/config.js';
import { AGENT_DEFAULTS } from '../agent/config.js';
import { EventLog, type EventPayload } from '../aggregator/event-log.js';
import { Ingress } from '../aggregator/ingress.js';
import { HierarchyManager } from '../hierarchy/manager.js';
import { loadScenarioFrom, scenarioIndexIn } from '../demo/scenarios.js';
import type { CellChange } from '../proto/index.js';
import { REPO_ROOT, fmt, fmtInt, readRss, serveIpc } from './common.js';
import { Worker } from './procs.js';

export const PIPELINE_TARGET_PER_SEC = 200_000;
/** Issue 15 ("Fast and small"): ≥ 300,000 signals per CPU-second at 14,000 cells (28 copies: 14,002). */
export const ISSUE_TARGET_PER_CPU_SEC = 300_000;
const ISSUE_COPIES = 28;
export const SCENARIO_DIR = join(REPO_ROOT, 'test', 'fixtures', 'scenarios');

const SECOND = 1_000_000_000n;
export const TICK_NS = SECOND;
/** Signals decoded at a time: an agent's batch (BENCH_PIPELINE_CHUNK to change). */
const CHUNK = Number(process.env.BENCH_PIPELINE_CHUNK ?? AGENT_DEFAULTS.maxBatch);
const BATCH = 100;
/** Sequence numbers (and clock entries) move on by this much per lap. */
const SEQ_PER_LAP = 1_000_000n;
/** Where lap 0 starts (2025-03-01T09:00:00Z, as the recordings). */
export const EPOCH_NS = 1_740_819_600n * SECOND;

// ---------------------------------------------------------------------------------------------
// The stream

export interface Estate {
  /** Every signal of one lap, protobuf-encoded back to back, in arrival order (off the JS heap). */
  bytes: Uint8Array;
  /** Signal i is bytes[offsets[i], offsets[i + 1]). */
  offsets: Int32Array;
  /** When signal i arrives, from the lap's start. */
  arrivalNs: BigInt64Array;
  /** Its timestamp, from the lap's start (late or skewed agents keep their lateness). */
  tsNs: BigInt64Array;
  size: number;
  lapNs: bigint;
  copies: number;
  scenarios: string[];
  /**
   * What to take off every seq for the ingress (core): recordings number signals from their
   * agents' clocks in µs, months after the stream's clock, and the ingress refuses a seq more than
   * 5 min ahead of its clock. Taken off the seqs alike, so each source's order is kept.
   */
  seqShift: bigint;
}

/** Every scenario, `copies` times, each copy in its own clusters and services, merged by arrival. */
export function buildEstate(copies: number): Estate {
  const metas = scenarioIndexIn(SCENARIO_DIR);
  const all: { signal: Signal; arrivalNs: bigint; tsNs: bigint; order: number }[] = [];
  let lapNs = 0n;
  let order = 0;
  metas.forEach((meta, si) => {
    const sc = loadScenarioFrom(SCENARIO_DIR, meta.name);
    const clusters = new Set<string>();
    for (const s of sc.signals) if (s.subject.startsWith('cluster/')) clusters.add(s.subject.split('/')[1]!);
    const only = clusters.size === 1 ? [...clusters][0]! : undefined;
    for (let c = 0; c < copies; c++) {
      const suffix = `-s${si}c${c}`;
      // Copies start 0-295 s into the lap, spread so that incidents of different copies overlap.
      const offsetNs = BigInt(((c * 7 + si * 3) % 60) * 5) * SECOND;
      let latest = sc.startNs;
      for (const s of sc.signals) {
        if (s.timestamp > latest) latest = s.timestamp;
        const parts = s.subject.split('/');
        if ((parts[0] === 'cluster' || parts[0] === 'service') && parts.length > 1) parts[1] += suffix;
        let context = s.context;
        if (context.cluster !== undefined) context = { ...context, cluster: context.cluster + suffix };
        else if (parts[0] === 'service' && only !== undefined) context = { ...context, cluster: only + suffix };
        const clock: { [k: string]: bigint } = {};
        for (const k in s.clock) clock[k + suffix] = s.clock[k]!;
        const tsNs = offsetNs + (s.timestamp - sc.startNs);
        all.push({
          signal: { ...s, sourceId: s.sourceId + suffix, subject: parts.join('/'), context, clock, timestamp: EPOCH_NS + tsNs },
          arrivalNs: offsetNs + (latest - sc.startNs),
          tsNs,
          order: order++,
        });
      }
      const end = offsetNs + BigInt(meta.durationSeconds) * SECOND;
      if (end > lapNs) lapNs = end;
    }
  });
  all.sort((a, b) => (a.arrivalNs < b.arrivalNs ? -1 : a.arrivalNs > b.arrivalNs ? 1 : a.order - b.order));
  const encoded = all.map((x) => SignalCodec.encode(x.signal).finish());
  const offsets = new Int32Array(all.length + 1);
  for (let i = 0; i < encoded.length; i++) offsets[i + 1] = offsets[i]! + encoded[i]!.length;
  const bytes = new Uint8Array(offsets[all.length]!);
  for (let i = 0; i < encoded.length; i++) bytes.set(encoded[i]!, offsets[i]!);
  return {
    bytes,
    offsets,
    arrivalNs: BigInt64Array.from(all, (x) => x.arrivalNs),
    tsNs: BigInt64Array.from(all, (x) => x.tsNs),
    size: all.length,
    lapNs: lapNs + 30n * SECOND,
    copies,
    scenarios: metas.map((m) => m.name),
    seqShift: (() => {
      let max = 0n;
      for (const x of all) if (x.signal.seq > max) max = x.signal.seq;
      const shift = max - EPOCH_NS / 1000n;
      return shift > 0n ? shift : 0n;
    })(),
  };
}

/**
 * Signal i of lap `lap`, decoded as the aggregator's gRPC handler would (fresh objects, fresh
 * strings), with its time, sequence number and clock moved on by the lap.
 */
export function instantiate(e: Estate, i: number, lap: number, lapBase: bigint): Signal {
  const s = SignalCodec.decode(e.bytes.subarray(e.offsets[i]!, e.offsets[i + 1]!));
  s.timestamp = lapBase + e.tsNs[i]!;
  if (lap > 0) {
    const bump = BigInt(lap) * SEQ_PER_LAP;
    s.seq += bump;
    for (const k in s.clock) s.clock[k]! += bump;
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// The measurement (in a worker process)

export type Variant = 'full' | 'hierarchy' | 'core';

export interface PipelineArgs {
  variant: Variant;
  copies: number;
  warmupMs: number;
  measureMs: number;
}

export interface PipelineResult {
  variant: Variant;
  copies: number;
  templatesPerLap: number;
  lapSeconds: number;
  buildMs: number;
  /** Measured window (after the warm-up). */
  signals: number;
  timedSeconds: number;
  perSec: number;
  /** The same per CPU second of this process (all its threads, GC helpers included) while timed: what the machine's other load does not move much. */
  cpuSeconds: number;
  perCpuSec: number;
  ticks: number;
  tickSeconds: number;
  /** Events out, by kind, per signal ingested (ticks' events included). */
  eventsPerSignal: Record<string, number>;
  laps: number;
  cells: number;
  /** Narratives opened in each complete lap (full and core). */
  openedPerLap: number[];
  observerErrors: number;
  lastObserverError: string;
  heapUsedMb: number;
  heapAfterGcMb: number;
  /** The encoded stream alone (after a full GC, before the first signal): not the pipeline's. */
  heapTemplatesMb: number;
  rssMb: number;
  hwmMb: number;
}

interface Sink {
  ingest(chunk: Signal[], arrivals: bigint[], n: number, tick: (upTo: bigint) => void): void;
  tick(now: bigint): void;
  events: Map<string, number>;
  opened: () => number;
  cells: () => number;
  errors: () => { n: number; last: string };
}

function kindOf(e: EventPayload): string {
  return e.cellChange ? 'cellChange' : e.finding ? 'finding' : e.situation ? 'situation' : e.narrative ? 'narrative' : e.signal ? 'signal' : 'other';
}

function sinkFor(variant: Variant): Sink {
  const events = new Map<string, number>();
  const count = (out: EventPayload[]): void => {
    for (let i = 0; i < out.length; i++) {
      const k = kindOf(out[i]!);
      events.set(k, (events.get(k) ?? 0) + 1);
    }
  };
  if (variant === 'hierarchy') {
    const h = new HierarchyManager(pipelineSettings(AGGREGATOR_DEFAULTS, 'n-').hierarchy);
    const changes: CellChange[] = [];
    let n = 0;
    return {
      events,
      ingest(chunk, arrivals, len, tick) {
        for (let i = 0; i < len; i++) {
          tick(arrivals[i]!);
          h.applyTo(chunk[i]!, arrivals[i]!, changes);
          n += changes.length;
          changes.length = 0;
        }
        events.set('cellChange', n);
      },
      tick(now) {
        h.tick(now, changes);
        n += changes.length;
        changes.length = 0;
        events.set('cellChange', n);
      },
      opened: () => 0,
      cells: () => h.size,
      errors: () => ({ n: 0, last: '' }),
    };
  }
  let opened = 0;
  const pipeline = new Pipeline(pipelineSettings(AGGREGATOR_DEFAULTS, 'n-'), (n) => {
    if (n.state === Narrative_State.OPEN) opened++;
  });
  const errors = () => ({ n: [...pipeline.stats.observerErrors.values()].reduce((a, b) => a + b, 0), last: pipeline.stats.lastObserverError });
  if (variant === 'full') {
    const out: EventPayload[] = [];
    return {
      events,
      ingest(chunk, arrivals, len, tick) {
        for (let i = 0; i < len; i++) {
          tick(arrivals[i]!);
          pipeline.ingest(chunk[i]!, arrivals[i]!, out);
          if (out.length > 0) {
            count(out);
            out.length = 0;
          }
        }
      },
      tick(now) {
        pipeline.tick(now, out);
        count(out);
        out.length = 0;
      },
      opened: () => opened,
      cells: () => pipeline.hierarchy.size,
      errors,
    };
  }
  // core: the aggregator's ingress with its event log; the clock is the stream's.
  const log = new EventLog(AGGREGATOR_DEFAULTS.retainEvents);
  let clock = 0n;
  const ingress = new Ingress(pipeline, log, () => clock);
  const batch: SignalBatch = { signals: [] };
  return {
    events,
    ingest(chunk, arrivals, len, tick) {
      for (let i = 0; i < len; i += BATCH) {
        const end = Math.min(len, i + BATCH);
        tick(arrivals[i]!);
        batch.signals = chunk.slice(i, end);
        clock = arrivals[end - 1]!;
        ingress.ingest(batch);
      }
      events.set('log', Number(log.nextOffset - 1n));
    },
    tick(now) {
      clock = now;
      ingress.tick();
      events.set('log', Number(log.nextOffset - 1n));
    },
    opened: () => opened,
    cells: () => pipeline.hierarchy.size,
    errors,
  };
}

export function measurePipeline(a: PipelineArgs): PipelineResult {
  const b0 = performance.now();
  const estate = buildEstate(a.copies);
  const buildMs = performance.now() - b0;
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heapTemplatesMb = process.memoryUsage().heapUsed / 2 ** 20;
  const sink = sinkFor(a.variant);
  const chunk: Signal[] = new Array(CHUNK);
  const arrivals: bigint[] = new Array(CHUNK);
  let lap = 0;
  let lapBase = EPOCH_NS;
  let next = 0;
  let nextTick = lapBase + TICK_NS;
  let ticks = 0;
  let tickMs = 0;
  let tickAt = 0;
  const tick = (upTo: bigint): void => {
    if (upTo < nextTick) return;
    const t0 = performance.now();
    while (nextTick <= upTo) {
      sink.tick(nextTick);
      nextTick += TICK_NS;
      ticks++;
    }
    tickMs += performance.now() - t0;
  };
  let timedMs = 0;
  let cpuUs = 0;
  let signals = 0;
  let measuring = false;
  let from = { signals: 0, timedMs: 0, cpuUs: 0, ticks: 0, tickMs: 0, events: new Map<string, number>() };
  const cpuNow = (): number => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
  const openedPerLap: number[] = [];
  let openedAtLapStart = 0;
  for (;;) {
    const n = Math.min(CHUNK, estate.size - next);
    for (let i = 0; i < n; i++) {
      chunk[i] = instantiate(estate, next + i, lap, lapBase);
      if (a.variant === 'core') chunk[i]!.seq -= estate.seqShift;
      arrivals[i] = lapBase + estate.arrivalNs[next + i]!;
    }
    const c0 = cpuNow();
    const t0 = performance.now();
    sink.ingest(chunk, arrivals, n, tick);
    timedMs += performance.now() - t0;
    cpuUs += cpuNow() - c0;
    signals += n;
    next += n;
    if (next >= estate.size) {
      // The lap's quiet end: time passes to the next lap's start.
      const c1 = cpuNow();
      const t1 = performance.now();
      tick(lapBase + estate.lapNs);
      timedMs += performance.now() - t1;
      cpuUs += cpuNow() - c1;
      openedPerLap.push(sink.opened() - openedAtLapStart);
      openedAtLapStart = sink.opened();
      lap++;
      lapBase += estate.lapNs;
      next = 0;
    }
    if (!measuring && timedMs >= a.warmupMs) {
      measuring = true;
      from = { signals, timedMs, cpuUs, ticks, tickMs, events: new Map(sink.events) };
    }
    if (measuring && timedMs - from.timedMs >= a.measureMs) break;
  }
  chunk.fill(undefined as unknown as Signal);
  const m = signals - from.signals;
  const seconds = (timedMs - from.timedMs) / 1000;
  const perSignal: Record<string, number> = {};
  for (const [k, v] of sink.events) perSignal[k] = (v - (from.events.get(k) ?? 0)) / m;
  const heapUsedMb = process.memoryUsage().heapUsed / 2 ** 20;
  gc?.();
  const heapAfterGcMb = process.memoryUsage().heapUsed / 2 ** 20;
  const rss = readRss(process.pid);
  const errors = sink.errors();
  return {
    variant: a.variant,
    copies: a.copies,
    templatesPerLap: estate.size,
    lapSeconds: Number(estate.lapNs / SECOND),
    buildMs,
    signals: m,
    timedSeconds: seconds,
    perSec: m / seconds,
    cpuSeconds: (cpuUs - from.cpuUs) / 1e6,
    perCpuSec: m / ((cpuUs - from.cpuUs) / 1e6),
    ticks: ticks - from.ticks,
    tickSeconds: (tickMs - from.tickMs) / 1000,
    eventsPerSignal: perSignal,
    laps: lap + next / estate.size,
    cells: sink.cells(),
    openedPerLap: a.variant === 'hierarchy' ? [] : openedPerLap,
    observerErrors: errors.n,
    lastObserverError: errors.last.slice(0, 300),
    heapUsedMb,
    heapAfterGcMb,
    heapTemplatesMb,
    rssMb: rss?.rssMb ?? NaN,
    hwmMb: rss?.hwmMb ?? NaN,
  };
}

// ---------------------------------------------------------------------------------------------
// The phase (in bench/run.ts's process)

const env = (name: string, dflt: number): number => {
  const n = Number(process.env[name]);
  return Number.isFinite(n) && n > 0 ? n : dflt;
};

export interface BenchRow {
  what: string;
  value: string;
  target: string;
  verdict: string;
}

/** "84 in each of 11 laps", or the list when they differ. */
function lapCounts(xs: number[]): string {
  if (xs.length === 0) return 'no complete lap';
  return xs.every((x) => x === xs[0]) ? `${xs[0]} in each of ${xs.length}` : xs.join(', ');
}

const LABEL: Record<Variant, string> = {
  full: 'pipeline (hierarchy + observers + reporters)',
  hierarchy: 'hierarchy alone',
  core: 'ingress + pipeline + event log',
};

export async function pipelineBench(out: (s?: string) => void): Promise<BenchRow[]> {
  const copies = env('BENCH_PIPELINE_COPIES', 12);
  const warmupMs = env('BENCH_PIPELINE_WARMUP_MS', 3000);
  const measureMs = env('BENCH_PIPELINE_MS', 6000);
  const variants = (process.env.BENCH_PIPELINE_VARIANTS ?? 'full,hierarchy,core').split(',').map((s) => s.trim()).filter((v): v is Variant => v === 'full' || v === 'hierarchy' || v === 'core');
  const rows: BenchRow[] = [];
  const results = new Map<Variant, PipelineResult>();
  for (const variant of variants) {
    const w = new Worker(`pipeline-${variant}`, 'pipeline.js', ['pipeline-worker'], ['--expose-gc', ...(process.env.BENCH_PIPELINE_NODE_ARGS ?? '').split(' ').filter(Boolean)]);
    let r: PipelineResult;
    try {
      r = await w.call<PipelineResult>('run', { variant, copies, warmupMs, measureMs } satisfies PipelineArgs, warmupMs + measureMs + 60_000);
    } finally {
      await w.stop();
    }
    results.set(variant, r);
    if (results.size === 1) {
      out(`    stream                 ${r.copies} copies of each of the 10 scenarios, ${fmtInt(r.templatesPerLap)} signals per lap of ${r.lapSeconds} s stream time (built in ${fmt(r.buildMs / 1000, 1)} s), ticks every 1 s of stream time`);
    }
    out(`    ${LABEL[variant].padEnd(46)} ${fmtInt(r.perSec).padStart(9)} signals/s   (${fmtInt(r.signals)} signals in ${fmt(r.timedSeconds, 2)} s timed, after ${warmupMs / 1000} s warm-up; ${fmt(r.laps, 1)} laps)`);
    out(`      per CPU second         ${fmtInt(r.perCpuSec).padStart(9)} signals/s   (${fmt(r.cpuSeconds, 2)} s of CPU in the timed ${fmt(r.timedSeconds, 2)} s: ${fmt((r.cpuSeconds / r.timedSeconds) * 100, 0)} % of a core, GC threads included)`);
    const ev = Object.entries(r.eventsPerSignal).map(([k, v]) => `${k} ${fmt(v, 3)}`).join(', ');
    out(`      events out per signal  ${ev || 'none'}${variant === 'core' ? ' (the log holds the signal itself too)' : ''}`);
    out(`      ticks                  ${fmtInt(r.ticks)} in the window (one per ${fmtInt(r.signals / Math.max(1, r.ticks))} signals; live, at 200,000/s, one per 50,000), ${fmt((r.tickSeconds / r.timedSeconds) * 100, 1)} % of the timed time; without them ${fmtInt(r.signals / (r.timedSeconds - r.tickSeconds))} signals/s`);
    out(`      tree                   ${fmtInt(r.cells)} cells at the end${r.openedPerLap.length ? `; narratives opened per complete lap: ${lapCounts(r.openedPerLap)} (the scenarios alone: ${r.copies} copies × 7 incidents = ${r.copies * 7})` : ''}${r.observerErrors ? `; ${r.observerErrors} OBSERVER ERRORS (${r.lastObserverError})` : ''}`);
    out(`      memory                 heap ${fmt(r.heapAfterGcMb - r.heapTemplatesMb, 0)} MB after a full GC (beyond the ${fmt(r.heapTemplatesMb, 0)} MB the process held before the first signal); process rss ${fmt(r.rssMb, 0)} MB, peak ${fmt(r.hwmMb, 0)} MB`);
  }
  const full = results.get('full');
  const hier = results.get('hierarchy');
  const core = results.get('core');
  // Per CPU second: the variants ran one after the other, under whatever else the machine was doing.
  const us = (r: PipelineResult): number => 1e6 / r.perCpuSec;
  if (full && hier) out(`    cost per signal        pipeline ${fmt(us(full), 2)} µs of CPU, of which hierarchy ~${fmt(us(hier), 2)} µs (${fmt((us(hier) / us(full)) * 100, 0)} %), observers + reporters ~${fmt(us(full) - us(hier), 2)} µs${core ? `; ingress + event log add ~${fmt(us(core) - us(full), 2)} µs` : ''}`);
  const both = (r: PipelineResult): string => `${fmtInt(r.perSec)}/s (${fmtInt(r.perCpuSec)} per CPU-s)`;
  if (full) {
    const verdict = full.perSec >= PIPELINE_TARGET_PER_SEC ? 'meets' : full.perCpuSec >= PIPELINE_TARGET_PER_SEC ? `meets per CPU-s only (got ${fmt((full.cpuSeconds / full.timedSeconds) * 100, 0)} % of a core)` : 'MISSES';
    rows.push({ what: `pipeline, replayed scenarios (${fmtInt(full.cells)} cells)`, value: both(full), target: `≥ ${fmtInt(PIPELINE_TARGET_PER_SEC)}/s`, verdict });
    rows.push({ what: 'pipeline, time in ticks left out', value: `${fmtInt(full.signals / (full.timedSeconds - full.tickSeconds))}/s`, target: '', verdict: `ticks ${fmt((full.tickSeconds / full.timedSeconds) * 100, 0)} % of the time` });
  }
  if (hier) rows.push({ what: 'hierarchy alone, same stream', value: both(hier), target: '', verdict: '' });
  if (core) rows.push({ what: 'ingress + pipeline + event log', value: both(core), target: '', verdict: '' });
  if (full) rows.push({ what: 'pipeline state on the heap', value: `${fmt(full.heapAfterGcMb - full.heapTemplatesMb, 0)} MB`, target: '', verdict: `${fmtInt(full.cells)} cells` });

  // How the cost grows with the estate (the full pipeline, shorter windows).
  const sweep = (process.env.BENCH_PIPELINE_SWEEP ?? `1,4,${ISSUE_COPIES}`).split(',').map(Number).filter((c) => Number.isInteger(c) && c > 0 && c !== copies);
  if (sweep.length && variants.includes('full')) {
    const points: PipelineResult[] = full ? [full] : [];
    for (const c of sweep) {
      const w = new Worker(`pipeline-sweep-${c}`, 'pipeline.js', ['pipeline-worker'], ['--expose-gc']);
      try {
        points.push(await w.call<PipelineResult>('run', { variant: 'full', copies: c, warmupMs: 2000, measureMs: 3000 } satisfies PipelineArgs, 90_000));
      } finally {
        await w.stop();
      }
    }
    points.sort((a, b) => a.copies - b.copies);
    out(`    by estate size         ${points.map((r) => `${r.copies} ${r.copies === 1 ? 'copy' : 'copies'} (${fmtInt(r.cells)} cells, ${fmtInt(r.copies * 7)} incidents/lap): ${fmtInt(r.perSec)}/s, ${fmtInt(r.perCpuSec)} per CPU-s`).join('; ')}`);
    rows.push({ what: 'pipeline by estate size, per CPU-s', value: points.map((r) => `${Math.round(r.perCpuSec / 1000)}k`).join(' / ') + ' /s', target: '', verdict: `${points.map((r) => fmtInt(r.cells)).join(' / ')} cells` });
    // The issue's figure: per CPU-second at 14,000 cells (a shorter window, as the other sizes).
    const at14k = points.find((r) => r.copies === ISSUE_COPIES);
    if (at14k) rows.push({ what: `pipeline at ${fmtInt(at14k.cells)} cells, per CPU-s`, value: `${fmtInt(at14k.perCpuSec)}/s`, target: `≥ ${fmtInt(ISSUE_TARGET_PER_CPU_SEC)}/s`, verdict: at14k.perCpuSec >= ISSUE_TARGET_PER_CPU_SEC ? 'meets' : 'MISSES' });
  }
  const cellTarget = env('BENCH_PIPELINE_CELLS', 500_000);
  const w = new Worker('pipeline-cells', 'pipeline.js', ['pipeline-worker'], ['--expose-gc']);
  try {
    const m = await w.call<CellMemory>('cells', cellTarget, 120_000);
    out(`    hierarchy memory       ${fmtInt(m.bytesPerCell)} bytes per cell at ${fmtInt(m.cells)} cells (${fmt(m.heapMb, 0)} MB of heap; each cell heard once; built in ${fmt(m.buildSeconds, 1)} s)   target ≤ ${fmtInt(CELL_BYTES_TARGET)} B`);
    rows.push({ what: `hierarchy memory per cell (${fmtInt(m.cells)} cells)`, value: `${fmtInt(m.bytesPerCell)} B`, target: `≤ ${fmtInt(CELL_BYTES_TARGET)} B`, verdict: m.bytesPerCell <= CELL_BYTES_TARGET ? 'meets' : 'MISSES' });
  } finally {
    await w.stop();
  }
  return rows;
}

/** Issue 14: at most 1 KB of memory per hierarchy cell. */
export const CELL_BYTES_TARGET = 1024;

// ---------------------------------------------------------------------------------------------
// Memory per cell (issue 14): the hierarchy alone grown to BENCH_PIPELINE_CELLS cells (500,000)
// of a large estate's shape — partitions of 4,000 topics, consumer groups' partitions, and
// services' pods with producer and consumer clients and their aspects — each cell having heard
// one signal (a cell that never hears is cheaper). Heap after a full GC, less the heap before,
// over the cells: the paths (each cell keeps its own) included.

export interface CellMemory {
  cells: number;
  bytesPerCell: number;
  heapMb: number;
  buildSeconds: number;
}

export function measureCellMemory(target: number): CellMemory {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('the cell-memory worker needs --expose-gc');
  gc();
  const before = process.memoryUsage().heapUsed;
  const h = new HierarchyManager({ maxCells: target + 1000 });
  const changes: CellChange[] = [];
  const status = { condition: Status_Condition.STABLE, confidence: Status_Confidence.MEASURED };
  const t0 = performance.now();
  let seq = 0n;
  const hear = (subject: string): void => {
    const s: Signal = { sourceId: 'bench', seq: ++seq, subject, timestamp: EPOCH_NS + seq, context: {}, clock: {}, status: { ...status } };
    h.applyTo(s, s.timestamp, changes);
    changes.length = 0;
  };
  for (let i = 0; h.size < target; i++) {
    switch (i % 5) {
      case 0:
      case 1:
        hear(entity.partition('prod', `topic-${i % 4000}`, Math.floor(i / 4000)));
        break;
      case 2:
      case 3:
        hear(entity.groupPartition('prod', `group-${i % 500}`, `topic-${(i >> 3) % 4000}`, Math.floor(i / 4000)));
        break;
      default: {
        const pod = `pod-${Math.floor(i / 40)}`;
        const service = `service-${Math.floor(i / 400)}`;
        const role = i % 2 === 0 ? 'producer' : 'consumer';
        hear(subjectOf(entity.client(service, pod, role, `${role}-1`), (i >> 1) % 4 === 0 ? 'buffer' : (i >> 1) % 4 === 1 ? 'request-latency' : (i >> 1) % 4 === 2 ? 'records-lag-max' : 'fetch-latency'));
      }
    }
  }
  const buildSeconds = (performance.now() - t0) / 1000;
  gc();
  const heap = process.memoryUsage().heapUsed - before;
  if (h.size === 0) throw new Error('no cells');
  return { cells: h.size, bytesPerCell: heap / h.size, heapMb: heap / 2 ** 20, buildSeconds };
}

if (process.argv[2] === 'pipeline-worker') {
  serveIpc({ run: (a: PipelineArgs) => measurePipeline(a), cells: (n: number) => measureCellMemory(n) });
}
