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
  arrivalMs: number;
  order: number;
  signal: Signal;
}

export class Timeline {
  private readonly entries: Entry[] = [];
  private readonly seqs = new Map<string, bigint>();
  private readonly clocks = new Map<string, Record<string, bigint>>();
  /** Per source: how late its signals reach the aggregator (ms). */
  readonly delays = new Map<string, number>();
  /** Per source: how far its agent's clock is off (ms). */
  readonly skews = new Map<string, number>();

  constructor(readonly baseNs: bigint) {}

  emit(atSeconds: number, source: string, subject: string, sign: Partial<Signal>, context: Record<string, string> = {}, opts: EmitOptions = {}): void {
    const seq = (this.seqs.get(source) ?? 1000n) + 1n;
    this.seqs.set(source, seq);
    const clock = { ...(this.clocks.get(source) ?? {}) };
    if (opts.reads) for (const [k, v] of Object.entries(this.clocks.get(opts.reads) ?? {})) if (!(k in clock) || clock[k]! < v) clock[k] = v;
    clock[source] = seq;
    this.clocks.set(source, clock);
    const skew = opts.skewMs ?? this.skews.get(source) ?? 0;
    const atMs = Math.round(atSeconds * 1000);
    const signal: Signal = {
      sourceId: source,
      seq,
      subject,
      timestamp: this.baseNs + BigInt(atMs + skew) * 1_000_000n,
      context,
      clock: { ...clock },
      ...sign,
    };
    this.entries.push({ arrivalMs: atMs + (this.delays.get(source) ?? 0) + 50, order: this.entries.length, signal });
  }

  /** Signals in arrival order. */
  signals(): Signal[] {
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
