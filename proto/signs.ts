// The sign sets of ARCHITECTURE.md §3, as data: which oneof member a signal uses, the fields of
// each set with their enums, and the condition each sign implies for the hierarchy.
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
} from './gen/kafkaobs/v1/signal.js';

export const SIGN_SETS = ['status', 'queue', 'service', 'probe', 'resource', 'gauge', 'counter'] as const;
export type SignSet = (typeof SIGN_SETS)[number];

/** A generated enum object: NAME -> number and number -> NAME. */
export type EnumObject = Record<string, string | number>;
/** How one field of a sign set is typed: an enum (required unless `optional`) or a number. */
export type FieldSpec = { enum: EnumObject; optional?: boolean } | 'number';

/** The fields of each sign set, in the order they print. */
export const SIGN_FIELDS: Record<SignSet, Record<string, FieldSpec>> = {
  status: { condition: { enum: Status_Condition }, confidence: { enum: Status_Confidence } },
  queue: { sign: { enum: Queue_Sign }, units: 'number' },
  service: { sign: { enum: Service_Sign }, orientation: { enum: Service_Orientation, optional: true } },
  probe: { sign: { enum: Probe_Sign }, orientation: { enum: Probe_Orientation, optional: true } },
  resource: { sign: { enum: Resource_Sign }, units: 'number' },
  gauge: { sign: { enum: Gauge_Sign }, value: 'number' },
  counter: { sign: { enum: Counter_Sign }, value: 'number' },
};

/** The enum's value names, without the zero "unspecified" value and ts-proto's UNRECOGNIZED. */
export function enumNames(e: EnumObject): string[] {
  return Object.keys(e).filter((k) => Number.isNaN(Number(k)) && e[k] !== 0 && e[k] !== -1);
}

export function isKnownEnumValue(e: EnumObject, v: number): boolean {
  return v !== 0 && v !== -1 && typeof e[v] === 'string';
}

/** How many sign sets the signal sets (a valid signal sets exactly one). */
export function signCount(s: Signal): number {
  let n = 0;
  for (const k of SIGN_SETS) if (s[k] !== undefined) n++;
  return n;
}

export function signSetOf(s: Signal): SignSet | undefined {
  for (const k of SIGN_SETS) if (s[k] !== undefined) return k;
  return undefined;
}

/** "queue OVERFLOW 95", "status DEGRADED MEASURED": how a sign reads to a person. */
export function describeSign(s: Signal): string {
  const set = signSetOf(s);
  if (!set) return 'no sign';
  const sign = s[set] as unknown as Record<string, number>;
  const parts: string[] = [set];
  for (const [field, spec] of Object.entries(SIGN_FIELDS[set])) {
    const v = sign[field];
    if (spec === 'number') {
      // Six significant digits: 87.99999952316284 reads 88.
      if (v !== 0) parts.push(Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6))));
    } else if (v !== 0) {
      parts.push(String(spec.enum[v] ?? v));
    }
  }
  return parts.join(' ');
}

/** Worst-of ordering: a higher number is worse. UNSPECIFIED (nothing known) is lowest. */
export const SEVERITY: Record<Status_Condition, number> = {
  [Status_Condition.CONDITION_UNSPECIFIED]: 0,
  [Status_Condition.STABLE]: 1,
  [Status_Condition.CONVERGING]: 2,
  [Status_Condition.DIVERGING]: 3,
  [Status_Condition.ERRATIC]: 4,
  [Status_Condition.DEGRADED]: 5,
  [Status_Condition.DEFECTIVE]: 6,
  [Status_Condition.DOWN]: 7,
  [Status_Condition.UNRECOGNIZED]: 0,
};

export interface Assessment {
  condition: Status_Condition;
  confidence: Status_Confidence;
}

const C = Status_Condition;
const measured = (condition: Status_Condition): Assessment => ({ condition, confidence: Status_Confidence.MEASURED });

/**
 * The condition a sign implies, or undefined when it implies none (gauges, counters, CALL...).
 * Serventis' own mappings for services, probes and resources; for queues, which Serventis leaves
 * open, the project's: ENQUEUE/DEQUEUE/UNDERFLOW are a working queue (STABLE), PRESSURE (≥ 80 %
 * full) is DIVERGING, OVERFLOW is DEGRADED. A gauge leaving its bounds is DIVERGING.
 */
export function assess(s: Signal): Assessment | undefined {
  if (s.status) return { condition: s.status.condition, confidence: s.status.confidence };
  if (s.queue) {
    switch (s.queue.sign) {
      case Queue_Sign.ENQUEUE:
      case Queue_Sign.DEQUEUE:
      case Queue_Sign.UNDERFLOW:
        return measured(C.STABLE);
      case Queue_Sign.PRESSURE:
        return measured(C.DIVERGING);
      case Queue_Sign.OVERFLOW:
        return measured(C.DEGRADED);
      default:
        return undefined;
    }
  }
  if (s.service) {
    switch (s.service.sign) {
      case Service_Sign.SUCCESS:
        return measured(C.STABLE);
      case Service_Sign.FAIL:
      case Service_Sign.DISCONNECT:
      case Service_Sign.REJECT:
      case Service_Sign.EXPIRE:
      case Service_Sign.RECOURSE:
        return measured(C.DEGRADED);
      default:
        return undefined;
    }
  }
  if (s.probe) {
    if (s.probe.sign === Probe_Sign.SUCCEED) return measured(C.STABLE);
    if (s.probe.sign === Probe_Sign.FAIL) return measured(C.DEGRADED);
    return undefined;
  }
  if (s.resource) {
    if (s.resource.sign === Resource_Sign.GRANT) return measured(C.STABLE);
    if (s.resource.sign === Resource_Sign.DENY || s.resource.sign === Resource_Sign.TIMEOUT) return measured(C.DEGRADED);
    return undefined;
  }
  if (s.gauge) {
    if (s.gauge.sign === Gauge_Sign.OVERFLOW || s.gauge.sign === Gauge_Sign.UNDERFLOW) return measured(C.DIVERGING);
    return undefined;
  }
  return undefined;
}
