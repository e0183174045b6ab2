// What one signal says, read once for all observers: the entity it is about, which part of the
// Kafka picture (its stage) its aspect belongs to, whether it reports trouble or health there, how
// bad and how sure, and which broker it names. Entities and aspects come from the subject grammar
// (proto/subject.ts, proto/aspects.ts): observers reason about entities; the aspect is data.
import { ASPECT, CTX, SEVERITY, Resource_Sign, Service_Sign, Status_Condition, Status_Confidence, aspectKind, assess, type Assessment, type Signal, type SubjectInfo } from '../proto/index.js';

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
  /** The broker a client signal names (its context node-id), or a broker subject's id. */
  broker: string | undefined;
  /** The first part of the aspect ("gc" for "gc/G1_Old_Generation"; "" for none). */
  aspect: string;
  /** A rebalance a member went through (kafkajs membership event, a revoked assignment). */
  rebalance: boolean;
}

export function emptyFact(): Fact {
  return { stage: undefined, health: Health.Neutral, severity: 0, confidence: Status_Confidence.CONFIDENCE_UNSPECIFIED, broker: undefined, aspect: '', rebalance: false };
}

const DIVERGING = SEVERITY[Status_Condition.DIVERGING];

/** The broker a client signal names (Kafka's node id), if any. */
export function brokerOf(context: { readonly [k: string]: string }): string | undefined {
  return context[CTX.nodeId] ?? context['broker-id'];
}

/** Aspects of a producer client, by stage. */
const PRODUCER: Record<string, Stage> = {
  [ASPECT.buffer]: 'producer-buffer',
  [ASPECT.bufferExhausted]: 'producer-buffer',
  [ASPECT.requestQueue]: 'producer-buffer',
  [ASPECT.requestLatency]: 'producer-latency',
  [ASPECT.recordErrors]: 'producer-errors',
  [ASPECT.sends]: 'producer-errors',
  [ASPECT.requests]: 'producer-errors',
  [ASPECT.connection]: 'client-errors',
};

/** Aspects of a consumer client, by stage. */
const CONSUMER: Record<string, Stage> = {
  [ASPECT.lag]: 'consumer-lag',
  [ASPECT.lagTrend]: 'consumer-lag',
  [ASPECT.fetchLatency]: 'consumer-latency',
  [ASPECT.requestLatency]: 'consumer-latency',
  [ASPECT.requestQueue]: 'consumer-latency',
  [ASPECT.rebalances]: 'rebalance',
  [ASPECT.rebalanceLatency]: 'rebalance',
  [ASPECT.partitions]: 'rebalance',
  [ASPECT.membership]: 'rebalance',
  [ASPECT.heartbeat]: 'rebalance',
  [ASPECT.commits]: 'client-errors',
  [ASPECT.crashes]: 'client-errors',
  [ASPECT.requests]: 'client-errors',
  [ASPECT.sends]: 'client-errors',
  [ASPECT.connection]: 'client-errors',
};

/** Reads `s` (about the entity `info`) into `out` (reused: the hot path allocates nothing). */
export function readFact(s: Signal, info: SubjectInfo, out: Fact): Fact {
  return readAssessedFact(s, info, assess(s), out);
}

/** readFact with the signal's assessment already made (`assess(s)`: the hierarchy makes it first). */
export function readAssessedFact(s: Signal, info: SubjectInfo, a: Assessment | undefined, out: Fact): Fact {
  out.stage = undefined;
  out.health = Health.Neutral;
  out.severity = 0;
  out.confidence = Status_Confidence.CONFIDENCE_UNSPECIFIED;
  out.broker = undefined;
  out.rebalance = false;
  const kind = aspectKind(info.aspect);
  out.aspect = kind;
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
      if (info.role === 'producer') out.stage = PRODUCER[kind];
      else if (info.role === 'consumer') consumerFact(s, kind, out);
      else if (s.service || s.probe) out.stage = 'client-errors';
      return out;
    default:
      return out;
  }
}

function consumerFact(s: Signal, kind: string, out: Fact): void {
  out.stage = CONSUMER[kind];
  if (kind === ASPECT.membership) {
    // A member going through a rebalance (kafkajs REBALANCING: unsettling) and joining again
    // (GROUP_JOIN: settled): both are rebalance events for the storm count.
    out.rebalance = s.service?.sign === Service_Sign.SUSPEND || s.resource?.sign === Resource_Sign.GRANT;
    if (s.service?.sign === Service_Sign.SUSPEND) unhealthy(out, Status_Condition.ERRATIC);
  } else if (kind === ASPECT.partitions && (s.resource?.sign === Resource_Sign.DENY || s.resource?.sign === Resource_Sign.TIMEOUT)) {
    // No partitions assigned: revoked in a rebalance.
    out.rebalance = true;
    unhealthy(out, Status_Condition.ERRATIC);
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

  /** The first of the keys (up to three: no rest array on a path taken per signal) with a readable number. */
  read(context: { readonly [k: string]: string }, k1: string, k2?: string, k3?: string): number | undefined {
    let n = this.one(context, k1);
    if (n === undefined && k2 !== undefined) n = this.one(context, k2);
    if (n === undefined && k3 !== undefined) n = this.one(context, k3);
    return n;
  }

  private one(context: { readonly [k: string]: string }, k: string): number | undefined {
    const v = context[k];
    if (v === undefined) return undefined;
    const n = Number(v.endsWith('%') ? v.slice(0, -1) : v);
    if (v.trim() !== '' && Number.isFinite(n)) return n;
    this.unreadable.set(k, (this.unreadable.get(k) ?? 0) + 1);
    return undefined;
  }
}
