// Orient: observers recognise patterns over signals and the cell tree and say so as findings.
// Pure and synchronous: a signal (already applied to the tree) and the time in, findings out.
// Time is the caller's clock (`now`): the aggregator's wall clock live, a fake clock in tests
// and replays; signal timestamps order evidence and measure windows between signals.
import { describeSign, type CellKind, type Evidence, type Finding, type Signal, type Status_Condition, type Status_Confidence } from '../proto/index.js';
import type { CellState, HierarchyView } from '../hierarchy/manager.js';
import type { Fact, Stage } from './facts.js';

export interface Observation {
  readonly signal: Signal;
  /** The signal's cell, after the signal was applied. */
  readonly cell: CellState;
  /** What the signal says, read once for every observer. Reused: do not keep it. */
  readonly fact: Fact;
}

export interface Observer {
  readonly name: string;
  /** Entity kinds whose signals reach observe(); 'all' for every signal. */
  readonly kinds: readonly CellKind[] | 'all';
  /** Findings opened, updated or resolved by this signal (usually none). */
  observe(o: Observation, tree: HierarchyView, now: bigint): readonly Finding[];
  /** Findings that time opened or resolved (windows ending, evidence expiring). */
  tick(now: bigint, tree: HierarchyView): readonly Finding[];
}

/** The shared empty answer: most signals change nothing. */
export const NO_FINDINGS: readonly Finding[] = Object.freeze([]) as readonly Finding[];

/** Numbers finding ids: "<observer>-<n>", stable for one episode of one pattern on one subject. */
export class Ids {
  private n = 0;
  constructor(private readonly prefix = '') {}
  next(kind: string): string {
    return `${this.prefix}${kind}-${++this.n}`;
  }
}

export function evidenceOf(s: Signal, stage: Stage, detail = detailOf(s)): Evidence {
  return { subject: s.subject, sign: describeSign(s), time: s.timestamp, sourceId: s.sourceId, seq: s.seq, detail, clock: s.clock, stage };
}

/** The context values that matter to a person reading the evidence, e.g. "UnderReplicatedPartitions=14". */
export function detailOf(s: Signal): string {
  const c = s.context;
  const parts: string[] = [];
  if (c.metric !== undefined && c.value !== undefined) parts.push(`${c.metric}=${c.value}`);
  for (const k in c) {
    if (BOOKKEEPING.has(k)) continue;
    if (parts.length >= 4) break;
    parts.push(`${k}=${c[k]}`);
  }
  return parts.join(' ');
}

/** Context keys that say how a signal was made, not what it saw. */
const BOOKKEEPING = new Set(['metric', 'value', 'client-id', 'cluster', 'rule', 'confidence', 'heartbeat', 'threshold', 'clear', 'unit', 'broker-id', 'source', 'sensor', 'window', 'change']);

export interface FindingParts {
  id: string;
  observer: string;
  /** The entity the finding is about. */
  subject: string;
  /** The part of the estate its incident spans (Finding.scope): one story per scope. */
  scope: string;
  condition: Status_Condition;
  confidence: Status_Confidence;
  summary: string;
  evidence: Evidence[];
  resolved?: boolean;
  context?: Record<string, string>;
}

export function finding(p: FindingParts): Finding {
  return { resolved: false, context: {}, ...p };
}

/** What a finding says, for deciding whether a new version is worth emitting. */
export function gist(f: Finding): string {
  return `${f.condition}|${f.confidence}|${f.resolved}|${f.summary}`;
}
