// The rules a signal must satisfy, shared by the agent (at intake, so the service hears at once)
// and the aggregator (at ingress, because agents are not trusted to be current).
import type { Signal } from './gen/kafkaobs/v1/signal.js';
import { SIGN_FIELDS, SIGN_SETS, enumNames, isKnownEnumValue, type FieldSpec } from './signs.js';
import { subjectProblem } from './subject.js';

export const LIMITS = {
  sourceIdChars: 128,
  contextEntries: 64,
  contextKeyChars: 128,
  contextValueChars: 1024,
  clockEntries: 128,
  /** A timestamp further ahead of the receiver's clock than this is rejected. */
  futureSkewNs: 5n * 60n * 1_000_000_000n,
} as const;

/** 2000-01-01 in unix nanos: below it, a timestamp was almost surely sent in s or ms. */
const MIN_TIMESTAMP_NS = 946_684_800n * 1_000_000_000n;
const SOURCE_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]*$/;

/** The last source id found valid: a batch's signals mostly share one, so the pattern runs once a run. */
let lastValidSourceId = '';

export function sourceIdProblem(id: string): string | undefined {
  if (id === lastValidSourceId && id !== '') return undefined;
  if (id.length === 0) return 'source_id is empty';
  if (id.length > LIMITS.sourceIdChars) return `source_id is more than ${LIMITS.sourceIdChars} characters`;
  if (!SOURCE_ID.test(id)) return `source_id "${id}" may hold only letters, digits and . _ : @ - (and start with a letter or digit)`;
  lastValidSourceId = id;
  return undefined;
}

/** Each set's fields and specs as arrays, built once (checked for every signal: no entries per call). */
const SIGN_SPECS = Object.fromEntries(SIGN_SETS.map((set) => [set, Object.entries(SIGN_FIELDS[set])])) as Record<(typeof SIGN_SETS)[number], [string, FieldSpec][]>;

/** Why the sign part is not acceptable (none, several, unknown enum values), or undefined. */
export function signProblem(s: Signal): string | undefined {
  let found: (typeof SIGN_SETS)[number] | undefined;
  for (const set of SIGN_SETS) {
    if (s[set] === undefined) continue;
    if (found) return `signal sets more than one sign (${found} and ${set}); exactly one is allowed`;
    found = set;
  }
  if (!found) return `signal has no sign: set one of ${SIGN_SETS.join(', ')}`;
  const sign = s[found] as unknown as Record<string, unknown>;
  for (const [field, spec] of SIGN_SPECS[found]) {
    const v = sign[field];
    if (spec === 'number') {
      if (typeof v !== 'number' || !Number.isFinite(v)) return `${found}.${field} must be a finite number`;
      continue;
    }
    if (typeof v !== 'number') return `${found}.${field} is missing`;
    if (v === 0 && spec.optional) continue;
    if (!isKnownEnumValue(spec.enum, v)) {
      const what = v === 0 ? 'is not set' : v === -1 ? 'has an unknown name' : `has unknown value ${v}`;
      return `${found}.${field} ${what} (expected one of ${enumNames(spec.enum).join(', ')})`;
    }
  }
  return undefined;
}

/** The subject check of a caller that has already read the subject as valid. */
const subjectAlreadyRead = (): undefined => undefined;

/**
 * Why the signal must be rejected, or undefined when it is acceptable. `nowNs` is the
 * receiver's clock (injected so tests and replays decide the same way). `subjectRead`: the
 * caller has already read this very subject as valid (the aggregator's tree holds it as a
 * subject cell), so it is not parsed again.
 */
export function signalProblem(s: Signal, nowNs: bigint, subjectRead = false): string | undefined {
  const p = sourceIdProblem(s.sourceId);
  if (p) return p;
  if (s.seq <= 0n) return 'seq must be positive';
  if (s.timestamp === 0n) return 'timestamp is not set (unix nanoseconds)';
  return contentProblem(s, nowNs, subjectRead ? subjectAlreadyRead : subjectProblem);
}

/**
 * What the agent's intake checks before it takes a signal from the service beside it: everything
 * the aggregator checks except what the agent fills in itself (source_id, seq; the timestamp
 * when it is 0). The same code as the aggregator's, so what the agent accepts is accepted.
 * `subjectCheck` is subjectProblem, or one that remembers the subjects it found valid.
 */
export function contentProblem(s: Signal, nowNs: bigint, subjectCheck: (subject: string) => string | undefined = subjectProblem): string | undefined {
  const p = subjectCheck(s.subject) ?? signProblem(s);
  if (p) return p;
  if (s.timestamp !== 0n) {
    if (s.timestamp < MIN_TIMESTAMP_NS) return `timestamp ${s.timestamp} is not unix nanoseconds (before 2000-01-01)${timestampUnit(s.timestamp)}`;
    if (s.timestamp > nowNs + LIMITS.futureSkewNs) return `timestamp is ${(s.timestamp - nowNs) / 1_000_000_000n} s in the future`;
  }
  return contextProblem(s.context) ?? clockProblem(s.clock);
}

/** A guess at the unit a too-small timestamp was written in, for the refusal. */
function timestampUnit(t: bigint): string {
  if (t <= 0n) return '';
  const asMs = t > 946_684_800_000n && t < 32_503_680_000_000n;
  const asS = t > 946_684_800n && t < 32_503_680_000n;
  const asUs = t > 946_684_800_000_000n && t < 32_503_680_000_000_000n;
  return asS ? ': it reads as seconds; multiply by 1e9, or send 0 and the agent stamps it' : asMs ? ': it reads as milliseconds; multiply by 1e6, or send 0 and the agent stamps it' : asUs ? ': it reads as microseconds; multiply by 1e3' : '';
}

export function contextProblem(context: { [k: string]: string }): string | undefined {
  let n = 0;
  for (const k in context) {
    if (++n > LIMITS.contextEntries) return `context has more than ${LIMITS.contextEntries} entries`;
    if (k.length === 0 || k.length > LIMITS.contextKeyChars) return `context key "${k.slice(0, 40)}" must be 1 to ${LIMITS.contextKeyChars} characters`;
    if (context[k]!.length > LIMITS.contextValueChars) return `context value of "${k}" is more than ${LIMITS.contextValueChars} characters`;
  }
  return undefined;
}

function clockProblem(clock: { [k: string]: bigint }): string | undefined {
  let n = 0;
  for (const k in clock) {
    if (++n > LIMITS.clockEntries) return `clock has more than ${LIMITS.clockEntries} entries`;
    if (k.length === 0 || k.length > LIMITS.sourceIdChars) return `clock key must be 1 to ${LIMITS.sourceIdChars} characters`;
  }
  return undefined;
}

export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
