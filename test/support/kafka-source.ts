// The Kafka source's own output for tests: its real lag evaluator and signal planner
// (agent/kafka/lag, agent/kafka/signals.ts) fed group offsets round by round as its sensor reads
// them (membership, committed offsets, then log ends), and stamped as the agent stamps signals.
import type { Signal } from '../../proto/index.js';
import { LagEvaluator, type GroupMembers } from '../../agent/kafka/lag/index.js';
import { SignalPlanner } from '../../agent/kafka/signals.js';

export const T0 = 1_740_819_600_000; // ms

export interface Partition {
  topic: string;
  /** Committed offset at round t (s); undefined before the first commit. */
  committed: (t: number) => number | undefined;
  logEnd: (t: number) => number;
  /** The log start at round t (retention at work); undefined: not read. */
  logStart?: (t: number) => number;
}

export interface GroupScript {
  partitions: Partition[];
  members: (t: number) => GroupMembers | undefined;
}

/** Rounds every `poll` s up to `until` s, from `startMs`; the signals as agent `sourceId` of cluster `cluster` sends them. */
export function kafkaSource(groups: Map<string, GroupScript>, until: number, poll: number, o: { startMs?: number; sourceId?: string; cluster?: string } = {}): Signal[] {
  const start = o.startMs ?? T0;
  const sourceId = o.sourceId ?? 'lag-monitor-1';
  const ev = new LagEvaluator();
  const planner = new SignalPlanner({ service: 'lag-monitor', pod: sourceId, cluster: o.cluster ?? 'prod' }, 60_000);
  const out: Signal[] = [];
  let seq = 0n;
  for (let t = 0; t <= until; t += poll) {
    const now = start + t * 1000;
    const round: Signal[] = [];
    for (const [group, g] of groups) {
      ev.members(group, g.members(t));
      for (const p of g.partitions) ev.committed(group, p.topic, 0, p.committed(t), now);
    }
    for (const g of groups.values()) for (const p of g.partitions) ev.logEnd(p.topic, 0, p.logEnd(t), now + 15, p.logStart?.(t));
    for (const group of groups.keys()) planner.group(ev.evaluate(group, now + 20), now + 20, round);
    for (const s of round) {
      seq++;
      out.push({ ...s, sourceId, seq, clock: { [sourceId]: seq } });
    }
  }
  return out;
}
