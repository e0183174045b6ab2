// slow-consumer: a consumer group (cluster/<c>/group/<g>, from the Admin API lag sensor) or a
// consumer client (records-lag-max over JMX) whose lag keeps growing — consumption slower than
// production — across several readings, or whose sensor keeps calling it lagging (Burrow WARN/ERR)
// reading after reading. A single WARN, a lag that jumps about, a consumer at the log end of an
// idle topic: none of these is a slow consumer.
// Context keys read: lag ("total-lag", "lag", "records-lag-max", "max-lag"; else a queue sign's
// units), rates ("consume-rate" / "records-consumed-rate", "produce-rate"), "topic"/"topics",
// "partitions", "members", "lag-seconds".
import { SEVERITY, Status_Condition, Status_Confidence, type Evidence, type Finding, type Signal } from '../proto/index.js';
import type { HierarchyView } from '../hierarchy/manager.js';
import { ContextNumbers, Health } from './facts.js';
import { NO_FINDINGS, evidenceOf, finding, type Ids, type Observation, type Observer } from './observer.js';
import type { SymptomBoard } from './symptoms.js';

export interface SlowConsumerSettings {
  /** Readings in a row with lag not falling (and growing overall) that make a finding. */
  readings: number;
  /** ... spanning at least this much event time. */
  minSpanNs: bigint;
  /** Lag below this is never slow (records). */
  minLag: number;
  /** Overall growth needed across those readings: this share of the first reading, at least minLag / 2 records. */
  minGrowth: number;
  /** Lag at or above this makes it DEGRADED rather than DIVERGING. */
  degradedLag: number;
  /** Without a reading for this long, the episode ends. */
  ttlNs: bigint;
}

interface Sample {
  ts: bigint;
  lag: number;
  consume: number | undefined;
  produce: number | undefined;
  unhealthy: boolean;
}

interface ConsumerState {
  samples: Sample[];
  peak: number;
  first: Evidence | undefined;
  /** The latest reading's signal: its evidence is written only when a finding goes out (its detail formats numbers). */
  latest: Signal | undefined;
  falling: number;
  lastAsserted: bigint;
  id: string;
  gist: string;
  open: boolean;
  topic: string;
  partitions: string;
  members: string;
}

/** Samples kept at most; and at most what spans three times the evidence window (fast sensors). */
const KEEP = 256;

export class SlowConsumer implements Observer {
  readonly name = 'slow-consumer';
  readonly kinds = ['group', 'client'] as const;
  private readonly consumers = new Map<string, ConsumerState>();

  /** The symptom board learns of lag found by arithmetic, so correlating observers see it too. */
  constructor(private readonly settings: SlowConsumerSettings, private readonly ids: Ids, private readonly numbers: ContextNumbers, private readonly board: SymptomBoard) {}

  observe(o: Observation, _tree: HierarchyView, now: bigint): readonly Finding[] {
    const { signal, fact, cell } = o;
    if (fact.stage !== 'consumer-lag') return NO_FINDINGS;
    if (cell.info.kind === 'client' && cell.info.role !== 'consumer') return NO_FINDINGS;
    const lag = this.lagOf(signal);
    if (lag === undefined) return NO_FINDINGS;
    const subject = signal.subject;
    let c = this.consumers.get(subject);
    if (!c) {
      if (lag === 0) return NO_FINDINGS; // caught up: nothing to follow
      c = { samples: [], peak: 0, first: undefined, latest: undefined, falling: 0, lastAsserted: now, id: '', gist: '', open: false, topic: '', partitions: '', members: '' };
      this.consumers.set(subject, c);
    }
    c.lastAsserted = now;
    const ctx = signal.context;
    c.topic = ctx.topic ?? ctx.topics ?? c.topic;
    c.partitions = ctx.partitions ?? c.partitions;
    c.members = ctx.members ?? c.members;
    const prev = c.samples.at(-1);
    const sample: Sample = {
      ts: signal.timestamp,
      lag,
      consume: this.numbers.read(ctx, 'consume-rate', 'records-consumed-rate'),
      produce: this.numbers.read(ctx, 'produce-rate'),
      unhealthy: fact.health === Health.Unhealthy,
    };
    if (prev && sample.ts <= prev.ts) return NO_FINDINGS; // a late or repeated reading adds nothing
    c.samples.push(sample);
    const keepFrom = sample.ts - 3n * this.settings.minSpanNs;
    while (c.samples.length > KEEP || (c.samples.length > this.settings.readings && c.samples[1]!.ts <= keepFrom)) c.samples.shift();
    if (c.open && lag > c.peak) c.peak = lag;
    c.falling = prev && lag < prev.lag ? c.falling + 1 : 0;
    if (!c.open) {
      if (!this.slow(c)) {
        if (lag === 0) this.consumers.delete(subject);
        return NO_FINDINGS;
      }
      c.first = evidenceOf(signal, 'consumer-lag', this.detail(c));
      c.id = this.ids.next(this.name);
      c.open = true;
      c.peak = lag;
    }
    c.latest = signal;
    // Over when lag falls reading after reading, or is small again.
    if (c.falling >= 2 || lag < this.settings.minLag / 2) {
      this.consumers.delete(subject);
      this.board.release(subject, 'consumer-lag');
      return [this.findingOf(subject, c, true)];
    }
    this.board.hold(subject, cell.info, 'consumer-lag', c.first!, SEVERITY[this.condition(c)], this.confidence(c), now);
    const gist = `${this.condition(c)}|${this.confidence(c)}|${this.stalled(c)}`;
    if (gist === c.gist) return NO_FINDINGS;
    c.gist = gist;
    return [this.findingOf(subject, c, false)];
  }

  tick(now: bigint): readonly Finding[] {
    let out: Finding[] | undefined;
    for (const [subject, c] of this.consumers) {
      if (now - c.lastAsserted < this.settings.ttlNs) continue;
      this.consumers.delete(subject);
      this.board.release(subject, 'consumer-lag');
      if (c.open) (out ??= []).push(this.findingOf(subject, c, true));
    }
    return out ?? NO_FINDINGS;
  }

  private lagOf(s: Signal): number | undefined {
    const n = this.numbers.read(s.context, 'total-lag', 'lag', 'records-lag-max', 'max-lag');
    if (n !== undefined) return Math.max(0, n);
    if (s.queue) return Math.max(0, s.queue.units);
    return undefined;
  }

  /**
   * The last `readings` samples rise step after step — not in one jump, which is a burst or a
   * noisy partition — grow enough overall, span enough time and end high; and where the sensor
   * gives rates, consumption is below production.
   */
  private slow(c: ConsumerState): boolean {
    const { readings, minSpanNs, minLag, minGrowth } = this.settings;
    const last = c.samples.at(-1)!;
    if (last.lag < minLag) return false;
    if (last.consume !== undefined && last.produce !== undefined && last.consume >= last.produce) return false;
    // The sensor saying "lagging" reading after reading is evidence on its own (Burrow's WARN: lag never fell).
    const tail = this.spaced(c);
    if (tail.length === readings && tail.every((x) => x.unhealthy) && last.ts - tail[0]!.ts >= minSpanNs) return true;
    if (tail.length < readings) return false;
    let biggestStep = 0;
    for (let i = 1; i < tail.length; i++) {
      const step = tail[i]!.lag - tail[i - 1]!.lag;
      if (step <= 0) return false;
      if (step > biggestStep) biggestStep = step;
    }
    const growth = last.lag - tail[0]!.lag;
    return last.ts - tail[0]!.ts >= minSpanNs && growth >= Math.max(minLag / 2, minGrowth * tail[0]!.lag) && biggestStep < 0.8 * growth;
  }

  /**
   * The latest `readings` samples at least minSpanNs / (readings - 1) apart, the latest included:
   * a sensor reading every 500 ms is judged over the same stretch of time as one reading every 10 s.
   */
  private spaced(c: ConsumerState): Sample[] {
    const { readings, minSpanNs } = this.settings;
    const spacing = minSpanNs / BigInt(Math.max(1, readings - 1));
    const s = c.samples;
    const out: Sample[] = [s.at(-1)!];
    for (let i = s.length - 2; i >= 0 && out.length < readings; i--) if (out[0]!.ts - s[i]!.ts >= spacing) out.unshift(s[i]!);
    return out;
  }

  private stalled(c: ConsumerState): boolean {
    const last = c.samples.at(-1)!;
    return last.consume === 0 && (last.produce === undefined || last.produce > 0);
  }

  private condition(c: ConsumerState): Status_Condition {
    return this.stalled(c) || c.samples.at(-1)!.lag >= this.settings.degradedLag ? Status_Condition.DEGRADED : Status_Condition.DIVERGING;
  }

  private confidence(c: ConsumerState): Status_Confidence {
    // Evidence over two spacings more than the window needs (5 readings 10 s apart): sure.
    const { readings, minSpanNs } = this.settings;
    const span = c.samples.at(-1)!.ts - c.samples[0]!.ts;
    return span * BigInt(Math.max(1, readings - 1)) >= minSpanNs * BigInt(readings + 1) ? Status_Confidence.CONFIRMED : Status_Confidence.MEASURED;
  }

  private detail(c: ConsumerState): string {
    const first = c.samples[0]!;
    const last = c.samples.at(-1)!;
    const span = Number((last.ts - first.ts) / 1_000_000_000n);
    const rates = last.consume !== undefined && last.produce !== undefined ? `; consuming ${fmt(last.consume)}/s, producing ${fmt(last.produce)}/s` : last.consume === 0 ? '; not consuming' : '';
    return `lag ${fmt(first.lag)} -> ${fmt(last.lag)} in ${span} s${rates}`;
  }

  private findingOf(subject: string, c: ConsumerState, resolved: boolean): Finding {
    const name = subject.slice(subject.lastIndexOf('/') + 1);
    const what = subject.includes('/group/') ? `group ${name}` : `consumer ${name}`;
    const on = c.topic ? ` on ${c.topic}` : '';
    const detail = this.detail(c);
    const summary = resolved
      ? `${what}${on}: lag falling again (${fmt(c.samples.at(-1)!.lag)} now, ${fmt(c.peak)} at worst)`
      : `${what}${on} is falling behind: ${this.stalled(c) ? 'it has stopped consuming; ' : ''}${detail}`;
    const last = c.samples.at(-1)!;
    // The samples are still those of the latest reading: its evidence reads as it would have then.
    const latest = c.latest ? evidenceOf(c.latest, 'consumer-lag', detail) : undefined;
    return finding({
      id: c.id,
      observer: this.name,
      subject,
      condition: this.condition(c),
      confidence: this.confidence(c),
      summary,
      evidence: [c.first, latest].filter((e): e is Evidence => e !== undefined && (e === c.first || e.seq !== c.first?.seq)),
      resolved,
      context: {
        lag: String(last.lag),
        ...(last.consume !== undefined ? { 'consume-rate': String(last.consume) } : {}),
        ...(last.produce !== undefined ? { 'produce-rate': String(last.produce) } : {}),
        ...(c.topic ? { topic: c.topic } : {}),
        ...(c.partitions ? { partitions: c.partitions } : {}),
        ...(c.members ? { members: c.members } : {}),
        stalled: String(this.stalled(c)),
      },
    });
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
