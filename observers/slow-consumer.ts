// slow-consumer: consumers that fall behind, from what agents really send —
//   - a consumer group judged by the Kafka source (cluster/<c>/group/<g>#lag: the Burrow-style
//     status in context "burrow", the total lag, rates, members): the sensor's verdict drives the
//     words — WARN falling behind, STOP stopped (nobody consumes while records arrive), STALL
//     members connected but no progress, REWIND offsets reset — and a WARN needs lag growing over
//     several readings, or the sensor saying so reading after reading;
//   - a consumer client's lag over JMX or kafkajs (…/consumer/<id>#lag and #lag-trend: the rule's
//     value is records-lag-max, context "consume-rate" the consumption rate), whose readings the
//     agent keeps sending while the lag is unhealthy: lag growing step after step over the
//     evidence window is a slow consumer; growing with consumption at 0 is a stopped one.
// A single WARN, a lag that jumps about, a consumer at the log end of an idle topic, an abandoned
// group whose lag does not move: none of these is a slow consumer. One finding per group or
// client; its scope is the group (or, for a client whose group is not known, its service), so the
// replicas of one consumer falling behind together are one story.
import { CTX, SEVERITY, Status_Condition, Status_Confidence, entity, type Evidence, type Finding, type Signal } from '../proto/index.js';
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

/** What the evidence says the consumer is doing. */
export type LagVerdict = 'falling-behind' | 'stopped' | 'stalled' | 'rewound';

/** The sensor's statuses that are judgements on their own (no trend needed). */
const JUDGED: Record<string, LagVerdict> = { STOP: 'stopped', STALL: 'stalled', REWIND: 'rewound' };

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
  /** The sensor's own status (Burrow's), for groups. */
  status: string;
  verdict: LagVerdict;
  /** Every verdict the episode went through, in order (a rewind stays part of the story). */
  history: LagVerdict[];
  scope: string;
  name: string;
  cluster: string | undefined;
  /** A group judged by the Kafka source (rather than a client's raw lag). */
  group: boolean;
  /** The story at its worst (the highest lag so far): what the finding tells while it holds. */
  worst: { detail: string; consume: number | undefined; produce: number | undefined } | undefined;
  /** A group's unconsumed records deleted or about to be by retention (the Kafka source's latest word). */
  retention: Retention | undefined;
  /** A group's oldest unconsumed record's age, s, when the source read its timestamp (not interpolated). */
  oldest: number | undefined;
}

/** What the Kafka source says of retention on a group's partition most at risk. */
interface Retention {
  state: 'at-risk' | 'lost';
  partition: string;
  secondsLeft: number | undefined;
  headroom: number | undefined;
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
    const info = cell.info;
    if (info.kind === 'client' && info.role !== 'consumer') return NO_FINDINGS;
    const lag = this.lagOf(signal);
    if (lag === undefined) return NO_FINDINGS;
    const key = info.entity;
    const ctx = signal.context;
    // A group's ERR says which in its worst partition's status (STOP, STALL, REWIND).
    const status = ctx[CTX.lagWorst] ?? ctx[CTX.lagStatus] ?? '';
    let c = this.consumers.get(key);
    if (!c) {
      // Caught up, or a healthy group: nothing to follow.
      if (lag === 0 || (fact.health !== Health.Unhealthy && info.kind === 'group')) return NO_FINDINGS;
      const group = info.group ?? ctx[CTX.group];
      const cluster = info.cluster ?? ctx[CTX.cluster];
      c = {
        samples: [], peak: 0, first: undefined, latest: undefined, falling: 0, lastAsserted: now, id: '', gist: '', open: false, topic: '', partitions: '', members: '', status: '',
        verdict: 'falling-behind', history: [], cluster, group: info.kind === 'group', worst: undefined, retention: undefined, oldest: undefined,
        scope: info.kind === 'group' ? key : group !== undefined && cluster !== undefined ? entity.group(cluster, group) : entity.service(info.service!),
        name: info.kind === 'group' ? `group ${info.group}` : `consumer ${info.clientId} (${info.service}, pod ${info.pod})${group !== undefined ? ` in group ${group}` : ''}`,
      };
      this.consumers.set(key, c);
    }
    c.lastAsserted = now;
    c.topic = ctx[CTX.topic] ?? ctx.topics ?? c.topic;
    c.partitions = ctx.partitions ?? c.partitions;
    c.members = ctx[CTX.members] ?? c.members;
    if (info.kind === 'group') {
      c.status = status;
      const r = ctx.retention;
      c.retention = r === 'at-risk' || r === 'lost' ? { state: r, partition: ctx['retention-partition'] ?? '', secondsLeft: this.numbers.read(ctx, CTX.retentionSecondsLeft), headroom: this.numbers.read(ctx, CTX.retentionHeadroom) } : undefined;
      c.oldest = ctx[CTX.lagSecondsFrom] === 'record-timestamp' ? this.numbers.read(ctx, CTX.lagSeconds) : undefined;
    }
    const prev = c.samples.at(-1);
    const sample: Sample = {
      ts: signal.timestamp,
      lag,
      consume: this.numbers.read(ctx, CTX.consumeRate),
      produce: this.numbers.read(ctx, CTX.produceRate),
      unhealthy: fact.health === Health.Unhealthy,
    };
    // A late or repeated reading adds nothing (a client's lag and lag-trend aspects read the same poll).
    if (prev && sample.ts <= prev.ts) return NO_FINDINGS;
    c.samples.push(sample);
    const keepFrom = sample.ts - 3n * this.settings.minSpanNs;
    while (c.samples.length > KEEP || (c.samples.length > this.settings.readings && c.samples[1]!.ts <= keepFrom)) c.samples.shift();
    if (c.open && lag > c.peak) c.peak = lag;
    c.falling = prev && lag < prev.lag ? c.falling + 1 : 0;
    const judged = info.kind === 'group' ? JUDGED[status] : undefined;
    // A group's words follow the Kafka source's verdict (it has the commit history and the
    // membership: a batch committer between commits consumes "0/s" and is not stopped); a client's
    // raw readings are judged here.
    const verdict: LagVerdict | undefined = judged ?? (this.slow(c) ? (!c.group && this.stopped(c) ? 'stopped' : 'falling-behind') : c.open && c.group && status === 'WARN' ? 'falling-behind' : undefined);
    if (!c.open) {
      if (verdict === undefined) {
        if (lag === 0) this.consumers.delete(key);
        return NO_FINDINGS;
      }
      c.first = evidenceOf(signal, 'consumer-lag', this.detail(c));
      c.id = this.ids.next(this.name);
      c.open = true;
      c.peak = lag;
    }
    if (verdict !== undefined && verdict !== c.verdict) c.verdict = verdict;
    if (c.history.at(-1) !== c.verdict) c.history.push(c.verdict);
    c.latest = signal;
    // Told at its worst: a recovery under way does not rewrite how far it fell behind.
    if (lag >= c.peak || c.worst === undefined) {
      const last = c.samples.at(-1)!;
      c.worst = { detail: this.detail(c), consume: last.consume, produce: last.produce };
    }
    // Over when the sensor says OK again (groups), or lag falls reading after reading, or is small again.
    const recovered = info.kind === 'group' ? status === 'OK' || (fact.health === Health.Healthy && status === '') : c.falling >= 2 || lag < this.settings.minLag / 2;
    if (recovered) {
      this.consumers.delete(key);
      this.board.release(key, 'consumer-lag');
      return [this.findingOf(key, c, true)];
    }
    this.board.hold(key, info, 'consumer-lag', c.first!, SEVERITY[this.condition(c)], this.confidence(c), now);
    const gist = `${this.condition(c)}|${this.confidence(c)}|${c.verdict}|${c.retention?.state ?? ''}`;
    if (gist === c.gist) return NO_FINDINGS;
    c.gist = gist;
    return [this.findingOf(key, c, false)];
  }

  tick(now: bigint): readonly Finding[] {
    let out: Finding[] | undefined;
    // Unheard since the cutoff: over (one subtraction a tick; forEach: no entry arrays).
    const cutoff = now - this.settings.ttlNs;
    this.consumers.forEach((c, key) => {
      if (c.lastAsserted > cutoff) return;
      this.consumers.delete(key);
      this.board.release(key, 'consumer-lag');
      if (c.open) (out ??= []).push(this.findingOf(key, c, true));
    });
    return out ?? NO_FINDINGS;
  }

  private lagOf(s: Signal): number | undefined {
    // A group's total lag; a client's records-lag-max (the rule's value); kafkajs' offsetLag.
    const n = this.numbers.read(s.context, CTX.totalLag, CTX.value, CTX.lag);
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
    // A group the source calls OK (unhealthy only for retention, say) is not falling behind.
    if (c.group && c.status === 'OK') return false;
    if (last.consume !== undefined && last.produce !== undefined && last.consume >= last.produce && last.consume > 0) return false;
    // The Kafka source saying "lagging" reading after reading is evidence on its own: its WARN
    // comes from the commit history (lag never fell). A client's raw lag is judged by arithmetic.
    const tail = this.spaced(c);
    if (c.group && tail.length === readings && tail.every((x) => x.unhealthy) && last.ts - tail[0]!.ts >= minSpanNs) return true;
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

  /** Lag growing while nothing is consumed (where the rate is known). */
  private stopped(c: ConsumerState): boolean {
    const last = c.samples.at(-1)!;
    return last.consume === 0 && (last.produce === undefined || last.produce > 0);
  }

  private condition(c: ConsumerState): Status_Condition {
    return c.verdict !== 'falling-behind' || c.retention !== undefined || Math.max(c.peak, c.samples.at(-1)!.lag) >= this.settings.degradedLag ? Status_Condition.DEGRADED : Status_Condition.DIVERGING;
  }

  private confidence(c: ConsumerState): Status_Confidence {
    // The sensor's own judgement (it has the commit history and the membership), or evidence
    // over two spacings more than the window needs (5 readings 10 s apart): sure.
    if (c.verdict !== 'falling-behind') return Status_Confidence.MEASURED;
    const { readings, minSpanNs } = this.settings;
    const span = c.samples.at(-1)!.ts - c.samples[0]!.ts;
    return span * BigInt(Math.max(1, readings - 1)) >= minSpanNs * BigInt(readings + 1) ? Status_Confidence.CONFIRMED : Status_Confidence.MEASURED;
  }

  private detail(c: ConsumerState): string {
    const first = c.samples[0]!;
    const last = c.samples.at(-1)!;
    const span = Number((last.ts - first.ts) / 1_000_000_000n);
    // A stopped consumer's rate is history: only the producers' rate says something now.
    const rates = c.verdict === 'stopped' ? (last.produce !== undefined ? `; producing ${fmt(last.produce)}/s` : '') : last.consume !== undefined && last.produce !== undefined ? `; consuming ${fmt(last.consume)}/s, producing ${fmt(last.produce)}/s` : last.consume !== undefined ? `; consuming ${fmt(last.consume)}/s` : '';
    return span > 0 ? `lag ${fmt(first.lag)} -> ${fmt(last.lag)} in ${span} s${rates}` : `lag ${fmt(last.lag)}${rates}`;
  }

  private findingOf(key: string, c: ConsumerState, resolved: boolean): Finding {
    const on = c.topic ? ` on ${c.topic}` : '';
    const detail = c.worst?.detail ?? this.detail(c);
    const members = c.members !== '' ? ` (${c.members} member${c.members === '1' ? '' : 's'})` : '';
    const what: Record<LagVerdict, string> = {
      'falling-behind': `is falling behind: ${detail}`,
      stopped: `has stopped consuming${members}: ${detail}`,
      stalled: `is not making progress though members are connected${members}: ${detail}`,
      rewound: `had its committed offsets reset backwards: ${detail}`,
    };
    // What the source established on top: the oldest record's age (read, not interpolated) and retention.
    const age = c.oldest !== undefined && c.verdict !== 'rewound' ? `; the oldest unconsumed record is ${duration(c.oldest)} old` : '';
    const r = c.retention;
    const deleted = r === undefined ? '' : r.state === 'lost' ? `; ${r.headroom !== undefined ? `${fmt(-r.headroom)} ` : ''}unconsumed records of ${r.partition} were deleted by retention` : `; unconsumed records of ${r.partition} will be deleted${r.secondsLeft !== undefined ? ` in ~${duration(r.secondsLeft)}` : ' soon'}`;
    const summary = resolved ? `${c.name}${on}: lag falling again (${fmt(c.samples.at(-1)!.lag)} now, ${fmt(c.peak)} at worst)` : `${c.name}${on} ${what[c.verdict]}${age}${deleted}`;
    const last = c.samples.at(-1)!;
    // The samples are still those of the latest reading: its evidence reads as it would have then.
    const latest = c.latest ? evidenceOf(c.latest, 'consumer-lag', detail) : undefined;
    return finding({
      id: c.id,
      observer: this.name,
      subject: key,
      scope: c.scope,
      condition: this.condition(c),
      confidence: this.confidence(c),
      summary,
      evidence: [c.first, latest].filter((e): e is Evidence => e !== undefined && (e === c.first || e.seq !== c.first?.seq)),
      resolved,
      context: {
        lag: String(last.lag),
        'peak-lag': String(c.peak),
        verdict: c.verdict,
        verdicts: c.history.join(','),
        ...(c.status ? { 'lag-status': c.status } : {}),
        ...(c.worst?.consume !== undefined ? { 'consume-rate': String(c.worst.consume) } : {}),
        ...(c.worst?.produce !== undefined ? { 'produce-rate': String(c.worst.produce) } : {}),
        ...(c.topic ? { topic: c.topic } : {}),
        ...(c.partitions ? { partitions: c.partitions } : {}),
        ...(c.members ? { members: c.members } : {}),
        ...(c.cluster !== undefined ? { cluster: c.cluster } : {}),
        ...(r ? { retention: r.state, 'retention-partition': r.partition } : {}),
        ...(r?.secondsLeft !== undefined ? { [CTX.retentionSecondsLeft]: String(Math.round(r.secondsLeft)) } : {}),
        ...(r?.headroom !== undefined ? { [CTX.retentionHeadroom]: String(r.headroom) } : {}),
        ...(c.oldest !== undefined ? { [CTX.lagSeconds]: c.oldest.toFixed(1) } : {}),
      },
    });
  }
}

/** A count as en-US writes it ("12,345"), as toLocaleString('en-US') would, without its cost (ICU, per reading). */
export function fmt(n: number): string {
  const r = Math.round(n);
  if (!Number.isSafeInteger(r) || Object.is(r, -0)) return r.toLocaleString('en-US');
  const digits = String(r < 0 ? -r : r);
  if (digits.length <= 3) return r < 0 ? `-${digits}` : digits;
  const head = digits.length % 3 || 3;
  let out = digits.slice(0, head);
  for (let i = head; i < digits.length; i += 3) out += `,${digits.slice(i, i + 3)}`;
  return r < 0 ? `-${out}` : out;
}

/** "45 s", "12 min", "3.5 h", "2.0 days". */
function duration(seconds: number): string {
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}
