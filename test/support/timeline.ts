// Builds recorded signal timelines as the agents would have sent them: per-source seq numbers,
// per-source vector clocks (merging another source's clock where a consumer read what a producer
// wrote: the clock travels in record headers), timestamps from each agent's own (possibly skewed)
// clock, and the order of arrival at the aggregator (an agent may deliver late, e.g. after a
// reconnect). The NDJSON it writes is in arrival order, one canonical-JSON Signal per line.
import { Signal } from '../../proto/index.js';

export interface EmitOptions {
  /** This source's agent clock is off by this much (ms): its timestamps say so, arrival does not. */
  skewMs?: number;
  /** Merge the vector clock of this source first (the signal is about something it sent). */
  reads?: string;
}

interface Entry {
  atMs: number;
  arrivalMs: number;
  order: number;
  source: string;
  reads: string | undefined;
  signal: Signal;
}

export class Timeline {
  private readonly entries: Entry[] = [];
  /** Per source: how late its signals reach the aggregator (ms). */
  readonly delays = new Map<string, number>();
  /** Per source: how far its agent's clock is off (ms). */
  readonly skews = new Map<string, number>();

  constructor(readonly baseNs: bigint) {}

  /** Records a signal; seq numbers and vector clocks are given in time order when the timeline is written. */
  emit(atSeconds: number, source: string, subject: string, sign: Partial<Signal>, context: Record<string, string> = {}, opts: EmitOptions = {}): void {
    const skew = opts.skewMs ?? this.skews.get(source) ?? 0;
    const atMs = Math.round(atSeconds * 1000);
    const signal: Signal = { sourceId: source, seq: 0n, subject, timestamp: this.baseNs + BigInt(atMs + skew) * 1_000_000n, context, clock: {}, ...sign };
    this.entries.push({ atMs, arrivalMs: atMs + (this.delays.get(source) ?? 0) + 50, order: this.entries.length, source, reads: opts.reads, signal });
  }

  /** Signals in arrival order, each source numbering its own in the order it emitted them. */
  signals(): Signal[] {
    const seqs = new Map<string, bigint>();
    const clocks = new Map<string, Record<string, bigint>>();
    for (const e of [...this.entries].sort((a, b) => a.atMs - b.atMs || a.order - b.order)) {
      const seq = (seqs.get(e.source) ?? 1000n) + 1n;
      seqs.set(e.source, seq);
      const clock = { ...(clocks.get(e.source) ?? {}) };
      if (e.reads) for (const [k, v] of Object.entries(clocks.get(e.reads) ?? {})) if (!(k in clock) || clock[k]! < v) clock[k] = v;
      clock[e.source] = seq;
      clocks.set(e.source, clock);
      e.signal.seq = seq;
      e.signal.clock = { ...clock };
    }
    return [...this.entries].sort((a, b) => a.arrivalMs - b.arrivalMs || a.order - b.order).map((e) => e.signal);
  }

  ndjson(): string {
    return this.signals().map((s) => JSON.stringify(Signal.toJSON(s))).join('\n') + '\n';
  }
}

/** A small deterministic random source, so regenerated timelines are identical. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
