// The translator: metric readings in, signs out. Pure (no I/O, no clock of its own: every
// reading carries its time), so it runs the same for JMX, Prometheus text and in-process
// instrumentation, and a test can drive it with a fake clock.
//
// For each (rule, subject) there is one small state machine. It emits only when something a
// reader would care about changes — the state, or the confidence in it — and otherwise re-sends
// the unchanged state once per heartbeat, so a metric that does not move makes no storm.
import {
  Counter_Sign,
  Gauge_Sign,
  Probe_Orientation,
  Probe_Sign,
  Queue_Sign,
  Resource_Sign,
  Service_Orientation,
  Service_Sign,
  Status_Condition,
  Status_Confidence,
  type Signal,
} from '../../proto/gen/kafkaobs/v1/signal.js';
// Not proto/index.js: the translator also runs inside services (kafka-obs/instrument), whose heap
// should not hold the aggregator's generated services the index loads.
import { aspect, subjectOf } from '../../proto/subject.js';
import type { ConfidenceSettings, CounterRule, GaugeRule, Rule, RuleSet, SpacingRule, ThresholdRule, TrendRule, VarianceRule } from './rules.js';

/** One reading of one metric series. */
export interface Observation {
  /** The catalogue name, e.g. "producer.buffer-used-percent" (see the README's table). */
  metric: string;
  /** The entity it is about: a client, a JVM, a broker (proto/subject.ts). Each rule names the aspect. */
  entity: string;
  value: number;
  /** When it was read, in unix milliseconds. */
  atMs: number;
  /** Labels (client-id, topic...) and raw values; copied into every signal's context. */
  context?: Record<string, string>;
}

type SignPart = Pick<Signal, 'status' | 'queue' | 'service' | 'probe' | 'resource' | 'gauge' | 'counter'>;

/** Confidence from evidence: how many readings agree with the state, and for how long. */
function confidenceOf(agreeing: number, sinceMs: number, nowMs: number, c: ConfidenceSettings): Status_Confidence {
  if (agreeing >= c.confirmedAfter && nowMs - sinceMs >= c.confirmedAfterMs) return Status_Confidence.CONFIRMED;
  if (agreeing >= c.measuredAfter) return Status_Confidence.MEASURED;
  return Status_Confidence.TENTATIVE;
}

/** "queue.PRESSURE" (validated by the rule schema) as a signal's sign, carrying `value`. */
export function signOf(name: string, value: number, confidence: Status_Confidence): SignPart {
  const [set, sign] = name.split('.') as [string, string];
  switch (set) {
    case 'status':
      return { status: { condition: Status_Condition[sign as keyof typeof Status_Condition], confidence } };
    case 'queue':
      return { queue: { sign: enumValue('queue', sign), units: value } };
    case 'service':
      return { service: { sign: enumValue('service', sign), orientation: Service_Orientation.CALLER } };
    case 'probe':
      return { probe: { sign: enumValue('probe', sign), orientation: Probe_Orientation.OUTBOUND } };
    case 'resource':
      return { resource: { sign: enumValue('resource', sign), units: value } };
    case 'gauge':
      return { gauge: { sign: enumValue('gauge', sign), value } };
    case 'counter':
      return { counter: { sign: enumValue('counter', sign), value } };
    default:
      throw new Error(`unknown sign set in "${name}"`);
  }
}

const ENUMS = { queue: Queue_Sign, service: Service_Sign, probe: Probe_Sign, resource: Resource_Sign, gauge: Gauge_Sign, counter: Counter_Sign } as const;
function enumValue<K extends keyof typeof ENUMS>(set: K, sign: string): number {
  return (ENUMS[set] as unknown as Record<string, number>)[sign]!;
}

/** What a state machine decided for one reading: its state now, and facts for the context. */
interface Verdict {
  /** A sign name such as "queue.PRESSURE", or undefined for "nothing to say yet". */
  state: string | undefined;
  /** The value the sign carries (units, gauge value, counter increase). */
  value: number;
  facts: Record<string, string>;
  /** Send now even if the state did not change (gauges that moved, counters that increased). */
  force?: boolean;
  /** This kind has no confidence (gauges, counters) and no heartbeat for counters. */
  plain?: boolean;
  noHeartbeat?: boolean;
}

interface Series {
  readonly rule: Rule;
  readonly subject: string;
  /** Previous raw value and time, for delta and rate. */
  prevRaw?: number;
  prevAt?: number;
  /** The state last decided, since when, and how many readings agreed with it. */
  state?: string;
  since: number;
  agreeing: number;
  /** What was last sent, and when. */
  sentState?: string;
  sentConfidence?: Status_Confidence;
  sentAt: number;
  lastSeen: number;
  // Kind-specific memory.
  level: number;
  samples: { t: number; v: number }[];
  baseline: number;
  peak: number;
  trough: number;
  events: number[];
  stormRun: number;
  lastEvent: number;
  gaugeSent?: number;
  counterPending: number;
  counterFirst: boolean;
  /** Threshold: since when the value has been back within the current level's clear bound. */
  withinSince?: number;
}

const fmt = (v: number): string => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6))));

export class Translator {
  private readonly byMetric = new Map<string, Rule[]>();
  private readonly series = new Map<string, Series>();

  constructor(readonly ruleSet: RuleSet) {
    for (const r of ruleSet.rules) {
      const list = this.byMetric.get(r.metric) ?? [];
      list.push(r);
      this.byMetric.set(r.metric, list);
    }
  }

  /** The rules that read a metric (for --check's "metrics mapped"). */
  rulesFor(metric: string): readonly Rule[] {
    return this.byMetric.get(metric) ?? [];
  }

  get seriesCount(): number {
    return this.series.size;
  }

  /** Feeds one reading to every rule of its metric; returns the signals to send (maybe none). */
  observe(o: Observation): Signal[] {
    const rules = this.byMetric.get(o.metric);
    if (!rules || !Number.isFinite(o.value)) return [];
    const out: Signal[] = [];
    for (const rule of rules) {
      const subject = subjectOf(o.entity, aspect(rule.aspect, o.context));
      const key = `${rule.name}\u0000${subject}`;
      let s = this.series.get(key);
      if (!s) {
        s = newSeries(rule, subject);
        this.series.set(key, s);
      }
      const signal = this.step(s, o);
      if (signal) out.push(signal);
    }
    return out;
  }

  /** Forgets series not seen since `olderThanMs` (clients that went away); returns how many. */
  sweep(olderThanMs: number): number {
    let n = 0;
    for (const [k, s] of this.series) {
      if (s.lastSeen < olderThanMs) {
        this.series.delete(k);
        n++;
      }
    }
    return n;
  }

  private step(s: Series, o: Observation): Signal | undefined {
    const rule = s.rule;
    const now = o.atMs;
    s.lastSeen = now;
    // Transforms need two readings; a counter going down (restart) starts over.
    let value = o.value;
    let intervalMs = 0;
    const transform = rule.transform ?? (rule.kind === 'counter' || (rule.kind === 'instability' && rule.mode === 'spacing') ? 'delta' : undefined);
    if (transform) {
      const prev = s.prevRaw;
      const prevAt = s.prevAt;
      s.prevRaw = o.value;
      s.prevAt = now;
      if (prev === undefined || prevAt === undefined || now <= prevAt) return undefined;
      const delta = o.value - prev;
      if (delta < 0) return this.counterReset(s, o);
      intervalMs = now - prevAt;
      value = transform === 'delta' ? delta : delta / (intervalMs / 1000);
    }
    const v = this.decide(s, value, now, o.value, intervalMs);
    if (v.state === undefined) return undefined;
    if (v.state !== s.state) {
      s.state = v.state;
      s.since = now;
      s.agreeing = 1;
    } else {
      s.agreeing++;
    }
    const conf = { ...this.ruleSet.defaults.confidence, ...rule.confidence };
    const confidence = v.plain ? Status_Confidence.CONFIDENCE_UNSPECIFIED : confidenceOf(s.agreeing, s.since, now, conf);
    const heartbeatMs = rule.heartbeatMs ?? this.ruleSet.defaults.heartbeatMs;
    const changed = s.sentState !== v.state || (s.sentConfidence !== undefined && confidence > s.sentConfidence);
    // An unhealthy series keeps reporting its readings, so the aggregator can judge how it moves.
    const unhealthy = !changed && !v.plain && 'normal' in rule && v.state !== rule.normal && now - s.sentAt >= (rule.unhealthyEveryMs ?? this.ruleSet.defaults.unhealthyEveryMs ?? 0);
    const heartbeat = !changed && !v.force && !v.noHeartbeat && !unhealthy && now - s.sentAt >= heartbeatMs;
    if (!changed && !v.force && !heartbeat && !unhealthy) return undefined;
    s.sentState = v.state;
    s.sentConfidence = confidence;
    s.sentAt = now;
    const context: Record<string, string> = {
      ...o.context,
      ...v.facts,
      metric: o.metric,
      rule: rule.name,
      value: fmt(value),
    };
    if (transform) context.raw = fmt(o.value);
    if (!v.plain) context.confidence = Status_Confidence[confidence];
    if (heartbeat) context.heartbeat = 'true';
    return {
      sourceId: '',
      seq: 0n,
      subject: s.subject,
      timestamp: BigInt(Math.round(now)) * 1_000_000n,
      context,
      clock: {},
      ...signOf(v.state, v.value, confidence),
    };
  }

  private counterReset(s: Series, o: Observation): Signal | undefined {
    // The source restarted (a counter cannot go down otherwise): start over from this reading.
    resetMemory(s);
    if (s.rule.kind !== 'counter') return undefined;
    return {
      sourceId: '', seq: 0n, subject: s.subject, timestamp: BigInt(Math.round(o.atMs)) * 1_000_000n, clock: {},
      context: { ...o.context, metric: o.metric, rule: s.rule.name, value: fmt(o.value) },
      counter: { sign: Counter_Sign.RESET, value: o.value },
    };
  }

  private decide(s: Series, value: number, now: number, raw: number, intervalMs: number): Verdict {
    const rule = s.rule;
    switch (rule.kind) {
      case 'threshold':
        return threshold(s, rule, value, now);
      case 'trend':
        return trend(s, rule, value, now);
      case 'instability':
        return rule.mode === 'spacing' ? spacing(s, rule, value, now, intervalMs) : variance(s, rule, value, now);
      case 'gauge':
        return gauge(s, rule, value);
      case 'counter':
        return counter(s, rule, value, now, raw);
    }
  }
}

function newSeries(rule: Rule, subject: string): Series {
  return {
    rule, subject, since: 0, agreeing: 0, sentAt: -Infinity, lastSeen: 0,
    level: -1, samples: [], baseline: 0, peak: 0, trough: 0, events: [], stormRun: 0, lastEvent: -Infinity, counterPending: 0, counterFirst: true,
  };
}

function resetMemory(s: Series): void {
  s.samples = [];
  s.events = [];
  s.stormRun = 0;
  s.lastEvent = -Infinity;
  s.counterPending = 0;
}

function threshold(s: Series, r: ThresholdRule, v: number, now: number): Verdict {
  const above = r.direction === 'above';
  const past = (x: number, bound: number): boolean => (above ? x > bound : x < bound);
  const within = (x: number, bound: number): boolean => (above ? x <= bound : x >= bound);
  // Leave levels whose clear bound the value is back within (for holdMs, when set), then climb as
  // far as it reaches.
  if (s.level >= 0 && within(v, r.levels[s.level]!.clear)) {
    s.withinSince ??= now;
    if (!r.holdMs || now - s.withinSince >= r.holdMs) {
      while (s.level >= 0 && within(v, r.levels[s.level]!.clear)) s.level--;
      s.withinSince = undefined;
    }
  } else {
    s.withinSince = undefined;
  }
  while (s.level + 1 < r.levels.length && past(v, r.levels[s.level + 1]!.at)) s.level++;
  const level = r.levels[s.level];
  const facts: Record<string, string> = level ? { threshold: `${above ? '>' : '<'} ${fmt(level.at)}`, clear: `${above ? '<=' : '>='} ${fmt(level.clear)}` } : {};
  return { state: level ? level.sign : r.normal, value: v, facts };
}

/** Least-squares line through the window: its value at the window's start and end. */
function fit(samples: { t: number; v: number }[]): { start: number; end: number } {
  const n = samples.length;
  let mt = 0;
  let mv = 0;
  for (const p of samples) {
    mt += p.t;
    mv += p.v;
  }
  mt /= n;
  mv /= n;
  let num = 0;
  let den = 0;
  for (const p of samples) {
    num += (p.t - mt) * (p.v - mv);
    den += (p.t - mt) * (p.t - mt);
  }
  const slope = den === 0 ? 0 : num / den;
  return { start: mv + slope * (samples[0]!.t - mt), end: mv + slope * (samples[n - 1]!.t - mt) };
}

function trend(s: Series, r: TrendRule, v: number, now: number): Verdict {
  s.samples.push({ t: now, v });
  while (s.samples.length > 0 && s.samples[0]!.t < now - r.windowMs) s.samples.shift();
  const prev = s.state;
  if (s.samples.length < r.minSamples) return { state: prev ?? undefined, value: v, facts: {} };
  const line = fit(s.samples);
  const base = Math.max(Math.abs(line.start), r.floor);
  const change = Math.max(Math.abs(line.start), Math.abs(line.end)) < r.floor ? 0 : (line.end - line.start) / (base === 0 ? 1 : base);
  const diverging = 'status.DIVERGING';
  const converging = 'status.CONVERGING';
  const settled = (x: number): boolean => x <= Math.max(s.baseline, r.floor) * (1 + r.settle);
  let state = prev === diverging || prev === converging ? prev : r.normal;
  if (state === r.normal) {
    // Climbing: remember where it came from (the window's lowest reading) and how high it gets.
    // The reading itself must be past the floor: a spike still inside the window, followed by
    // readings back at a noise level, tilts the fitted line but is no trend now.
    if (change >= r.rise && v >= r.floor) {
      state = diverging;
      s.baseline = Math.min(...s.samples.map((p) => p.v));
      s.peak = v;
    }
  } else if (state === diverging) {
    s.peak = Math.max(s.peak, v);
    if (settled(v)) state = r.normal;
    else if (v <= s.peak * (1 - r.fall)) {
      state = converging;
      s.trough = v;
    }
  } else {
    s.trough = Math.min(s.trough, v);
    if (settled(v)) state = r.normal;
    else if (v >= Math.max(s.trough, r.floor) * (1 + r.rise)) {
      state = diverging;
      s.peak = v;
    } else if (Math.abs(change) < r.settle) state = r.normal; // stopped falling: its new level is the normal
  }
  return { state, value: v, facts: { change: `${fmt(change * 100)}%`, window: `${s.samples.length} readings over ${fmt((now - s.samples[0]!.t) / 1000)} s`, ...(state === r.normal ? {} : { baseline: fmt(s.baseline) }) } };
}

function spacing(s: Series, r: SpacingRule, increase: number, now: number, intervalMs: number): Verdict {
  // `increase` events happened since the last reading (the rule reads a counter's delta).
  const events = Math.max(0, Math.round(increase));
  if (events > 0) {
    for (let i = 0; i < events; i++) {
      // Several in one interval: spread them evenly across it (the counter cannot tell when).
      const t = now - intervalMs + (intervalMs * (i + 1)) / events;
      if (t - s.lastEvent < r.spacingMs) s.stormRun = Math.max(s.stormRun, 1) + 1;
      else s.stormRun = 1;
      s.lastEvent = t;
      s.events.push(t);
    }
    if (s.events.length > 20) s.events.splice(0, s.events.length - 20);
  }
  const inStorm = s.state === r.sign;
  let state: string;
  if (s.stormRun >= r.minEvents && now - s.lastEvent < r.quietMs) state = r.sign;
  else if (inStorm && now - s.lastEvent < r.quietMs) state = r.sign;
  else {
    state = r.normal;
    if (now - s.lastEvent >= r.quietMs) s.stormRun = 0;
  }
  const recent = s.events.filter((t) => t >= now - r.quietMs);
  const gaps = recent.slice(1).map((t, i) => t - recent[i]!);
  const facts: Record<string, string> = { 'events-recent': String(recent.length), 'storm-run': String(s.stormRun) };
  if (gaps.length) facts['min-spacing-ms'] = fmt(Math.round(Math.min(...gaps)));
  return { state, value: recent.length, facts };
}

function variance(s: Series, r: VarianceRule, v: number, now: number): Verdict {
  s.samples.push({ t: now, v });
  while (s.samples.length > 0 && s.samples[0]!.t < now - r.windowMs) s.samples.shift();
  if (s.samples.length < r.minSamples) return { state: s.state, value: v, facts: {} };
  const mean = s.samples.reduce((a, p) => a + p.v, 0) / s.samples.length;
  const sd = Math.sqrt(s.samples.reduce((a, p) => a + (p.v - mean) ** 2, 0) / s.samples.length);
  const cv = Math.abs(mean) < r.floor || mean === 0 ? 0 : sd / Math.abs(mean);
  const erratic = s.state === r.sign ? cv > r.exit : cv > r.enter;
  return { state: erratic ? r.sign : r.normal, value: v, facts: { cv: fmt(cv), mean: fmt(mean), stddev: fmt(sd) } };
}

function gauge(s: Series, r: GaugeRule, v: number): Verdict {
  const last = s.gaugeSent;
  const moved = last === undefined || (Math.abs(v - last) >= r.minDelta && Math.abs(v - last) > Math.abs(last) * r.change);
  const sign = last === undefined || v >= last ? 'gauge.INCREMENT' : 'gauge.DECREMENT';
  if (!moved) return { state: s.state, value: last!, facts: {}, plain: true };
  s.gaugeSent = v;
  // A distinct state per value so the send logic sees a change; the sign is the direction.
  return { state: sign, value: v, facts: last === undefined ? {} : { previous: fmt(last) }, force: true, plain: true };
}

function counter(s: Series, r: CounterRule, increase: number, now: number, raw: number): Verdict {
  s.counterPending += increase;
  const due = s.counterPending > 0 && (s.counterFirst || now - s.sentAt >= r.everyMs);
  if (!due) return { state: undefined, value: 0, facts: {} };
  const total = s.counterPending;
  s.counterPending = 0;
  s.counterFirst = false;
  return { state: r.sign, value: total, facts: { total: fmt(raw) }, force: true, plain: true, noHeartbeat: true };
}
