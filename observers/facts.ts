// What one signal says, read once for all observers: which part of the Kafka picture it is
// about (its stage), whether it reports trouble or health there, how bad and how sure, and which
// broker it names. The reading relies on the subject naming scheme (hierarchy/subject.ts), the
// sign, and a few context keys the sensors fill (the README lists them):
//   metric                  the catalogue metric a status/counter was derived from; picks the stage
//                           when a client sends several kinds of status ("request-latency-avg",
//                           "rebalance-latency-avg", "records-lag-max", "buffer-exhausted-total")
//   event                   kafkajs instrumentation event ("REBALANCING", "GROUP_JOIN", "CRASH")
//   node-id | broker-id | broker.id | broker    the broker a client signal is about
import { SEVERITY, Counter_Sign, Resource_Sign, Status_Condition, Status_Confidence, assess, type Signal } from '../proto/index.js';
import type { SubjectInfo } from '../hierarchy/subject.js';

export type Stage =
  | 'broker'
  | 'partition'
  | 'jvm'
  | 'producer-latency'
  | 'producer-errors'
  | 'consumer-latency'
  | 'client-errors'
  | 'producer-buffer'
  | 'rebalance'
  | 'consumer-lag'
  | 'other';

/** Where a stage sits in the causal story of a Kafka incident: causes first, impact last. */
export const STAGE_RANK: Record<string, number> = {
  broker: 0,
  partition: 0,
  jvm: 0,
  'producer-latency': 1,
  'producer-errors': 1,
  'client-errors': 1,
  'producer-buffer': 2,
  'consumer-latency': 3,
  rebalance: 3,
  'consumer-lag': 4,
  other: 5,
};

export function stageRank(stage: string): number {
  return STAGE_RANK[stage] ?? 5;
}

export const enum Health {
  Neutral = 0,
  Healthy = 1,
  Unhealthy = 2,
}

export interface Fact {
  stage: Stage | undefined;
  health: Health;
  /** SEVERITY of the condition the sign implies (0: none). */
  severity: number;
  confidence: Status_Confidence;
  /** The broker a client signal names (from its context), or a broker subject's id. */
  broker: string | undefined;
}

export function emptyFact(): Fact {
  return { stage: undefined, health: Health.Neutral, severity: 0, confidence: Status_Confidence.CONFIDENCE_UNSPECIFIED, broker: undefined };
}

const DIVERGING = SEVERITY[Status_Condition.DIVERGING];

/** The broker named in a client signal's context, if any. */
export function brokerOf(context: { [k: string]: string }): string | undefined {
  return context['node-id'] ?? context['broker-id'] ?? context['broker.id'] ?? context.broker;
}

/** Reads `s` (on the cell `info`) into `out` (reused: the hot path allocates nothing). */
export function readFact(s: Signal, info: SubjectInfo, out: Fact): Fact {
  out.stage = undefined;
  out.health = Health.Neutral;
  out.severity = 0;
  out.confidence = Status_Confidence.CONFIDENCE_UNSPECIFIED;
  out.broker = undefined;
  const a = assess(s);
  if (a) {
    out.severity = SEVERITY[a.condition] ?? 0;
    out.confidence = a.confidence;
    out.health = out.severity >= DIVERGING ? Health.Unhealthy : out.severity > 0 ? Health.Healthy : Health.Neutral;
  }
  switch (info.kind) {
    case 'broker':
      out.stage = 'broker';
      out.broker = info.broker;
      return out;
    case 'partition':
      out.stage = 'partition';
      return out;
    case 'group':
    case 'group-topic':
    case 'group-partition':
      out.stage = s.status?.condition === Status_Condition.ERRATIC ? 'rebalance' : 'consumer-lag';
      return out;
    case 'jvm':
      out.stage = 'jvm';
      return out;
    case 'client':
      out.broker = brokerOf(s.context);
      if (info.role === 'producer') producerFact(s, out);
      else if (info.role === 'consumer') consumerFact(s, out);
      else if (s.service || s.probe) out.stage = 'client-errors';
      return out;
    default:
      return out;
  }
}

function producerFact(s: Signal, out: Fact): void {
  const metric = s.context.metric ?? '';
  if (s.queue) {
    out.stage = 'producer-buffer';
  } else if (s.counter) {
    if (s.counter.sign === Counter_Sign.OVERFLOW || /exhaust/.test(metric)) {
      out.stage = 'producer-buffer';
      if (s.counter.sign !== Counter_Sign.RESET) unhealthy(out, Status_Condition.DEGRADED);
    } else if (/error|fail/.test(metric) && s.counter.sign === Counter_Sign.INCREMENT) {
      out.stage = 'producer-errors';
      unhealthy(out, Status_Condition.DEGRADED);
    }
  } else if (s.status) {
    out.stage = /buffer/.test(metric) ? 'producer-buffer' : /error/.test(metric) ? 'producer-errors' : 'producer-latency';
  } else if (s.service || s.probe) {
    out.stage = 'producer-errors';
  }
}

function consumerFact(s: Signal, out: Fact): void {
  const metric = s.context.metric ?? '';
  const event = s.context.event ?? '';
  if (/rebalanc|group_join/i.test(event)) {
    out.stage = 'rebalance';
    unhealthy(out, Status_Condition.ERRATIC);
    return;
  }
  if (/crash/i.test(event)) {
    out.stage = 'client-errors';
    unhealthy(out, Status_Condition.DEGRADED);
    return;
  }
  if (s.queue) {
    out.stage = 'consumer-lag';
  } else if (s.status) {
    if (/rebalanc|join|sync|heartbeat/.test(metric) || (metric === '' && s.status.condition === Status_Condition.ERRATIC)) out.stage = 'rebalance';
    else if (/fetch|latency/.test(metric) && !/lag/.test(metric)) out.stage = 'consumer-latency';
    else out.stage = 'consumer-lag';
  } else if (s.resource) {
    if (s.resource.sign === Resource_Sign.DENY || s.resource.sign === Resource_Sign.TIMEOUT) {
      out.stage = 'rebalance';
      unhealthy(out, Status_Condition.ERRATIC);
    }
  } else if (s.service || s.probe) {
    out.stage = 'client-errors';
  }
}

function unhealthy(out: Fact, c: Status_Condition): void {
  out.health = Health.Unhealthy;
  out.severity = Math.max(out.severity, SEVERITY[c] ?? 0);
  if (out.confidence === Status_Confidence.CONFIDENCE_UNSPECIFIED) out.confidence = Status_Confidence.MEASURED;
}

/** A number from the signal's context, or undefined when absent or unreadable (counted). */
export class ContextNumbers {
  /** Unreadable values by key: the sensor sent something that is not a number. */
  readonly unreadable = new Map<string, number>();

  read(context: { [k: string]: string }, ...keys: string[]): number | undefined {
    for (const k of keys) {
      const v = context[k];
      if (v === undefined) continue;
      const n = Number(v.endsWith('%') ? v.slice(0, -1) : v);
      if (v.trim() !== '' && Number.isFinite(n)) return n;
      this.unreadable.set(k, (this.unreadable.get(k) ?? 0) + 1);
    }
    return undefined;
  }
}
