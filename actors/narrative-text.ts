// A narrative in words, shared by the actors that tell people (log, Slack, PagerDuty, EXPLAIN).
import { Situation_Level, type Evidence, type Narrative } from '../proto/index.js';
import { confidenceName, type Transition } from './policy.js';

export function isoTime(ns: bigint): string {
  return ns > 0n ? new Date(Number(ns / 1_000_000n)).toISOString() : '';
}

export function levelName(n: Narrative): string {
  return n.level === Situation_Level.LEVEL_UNSPECIFIED ? 'UNSPECIFIED' : (Situation_Level[n.level] ?? String(n.level));
}

export function confidenceOf(n: Narrative): string {
  return confidenceName(n.confidence);
}

/** "2024-05-01T14:02:03.120Z cluster/prod/broker/1 status DEGRADED (3 under-replicated)". */
export function evidenceLine(e: Evidence): string {
  const time = isoTime(e.time);
  return `${time ? `${time} ` : ''}${e.subject} ${e.sign}${e.detail ? ` (${e.detail})` : ''}`;
}

/** The causal chain as lines, the first `max` of them and a count of the rest. */
export function chainLines(n: Narrative, max: number): string[] {
  const lines = n.causalChain.slice(0, max).map(evidenceLine);
  if (n.causalChain.length > max) lines.push(`... and ${n.causalChain.length - max} more`);
  return lines;
}

export function headline(n: Narrative, t: Transition): string {
  const what = n.situation || `narrative ${n.id}`;
  switch (t) {
    case 'open':
      return `[${levelName(n)}] ${what}`;
    case 'update':
      return `[${levelName(n)}] update: ${what}`;
    case 'resolve':
      return `[RESOLVED] ${what}${n.resolvedAt > 0n && n.openedAt > 0n ? ` (after ${duration(n.resolvedAt - n.openedAt)})` : ''}`;
  }
}

export function duration(ns: bigint): string {
  const s = Number(ns / 1_000_000_000n);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** Cuts to `max` characters (receivers have limits: Slack headers 150, PagerDuty summary 1024). */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
