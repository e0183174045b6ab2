// Partition and broker health from cluster metadata (pure: metadata and time in, judgements out).
// A partition is offline when it has no leader or its leader is not a live broker; under-replicated
// when fewer replicas are in sync than it has — counting a replica on a broker that is not live as
// out of sync even while the ISR the controller reports still names it (the controller shrinks
// the ISR only after replica.lag.time.max.ms, and only if it noticed). A broker is live when the
// cluster lists it and it answers (probe.ts); one that was seen before and is not is named, with
// why: missing from the metadata, or listed but not answering. Leader moves are noted.
import type { ClusterMetadata } from './client.js';

export type PartitionState = 'ok' | 'under-replicated' | 'offline';

export interface PartitionJudgement {
  topic: string;
  partition: number;
  state: PartitionState;
  leader: number;
  replicas: number[];
  /** In-sync replicas on live brokers. */
  isr: number[];
  /** The ISR as the metadata reported it, when it differs from `isr`. */
  reportedIsr?: number[];
  /** Replicas not in sync (or on a broker that has left). */
  outOfSync: number[];
  /** The leader before, when it moved since the last look. */
  leaderMovedFrom?: number;
  /** The state changed since the last look (or this is the first look). */
  changed: boolean;
}

export interface BrokerJudgement {
  id: number;
  /** Listed by the cluster now and answering. */
  alive: boolean;
  /** Why not alive: 'missing' from the metadata, or listed but 'not-answering'. */
  why?: 'missing' | 'not-answering';
  changed: boolean;
  /** Partitions led by it, replicas on it that are out of sync. */
  leads: number;
  outOfSync: number;
}

export interface MetadataJudgement {
  partitions: PartitionJudgement[];
  brokers: BrokerJudgement[];
  controller: number | undefined;
  underReplicated: number;
  offline: number;
  leaderMoves: number;
}

interface Remembered {
  leader: number;
  state: PartitionState;
}

export class PartitionWatch {
  private readonly partitions = new Map<string, Remembered>();
  /** Every broker id the cluster has listed, and whether it was alive at the last look. */
  private readonly brokers = new Map<number, boolean>();

  constructor(private readonly excludeTopics: RegExp) {}

  /** `notAnswering`: brokers the metadata lists that did not answer a probe this round. */
  judge(md: ClusterMetadata, notAnswering: ReadonlySet<number> = new Set()): MetadataJudgement {
    const listed = new Set(md.brokers.map((b) => b.id));
    const alive = new Set([...listed].filter((id) => !notAnswering.has(id)));
    const seen = new Set<string>();
    const leads = new Map<number, number>();
    const outOfSyncOn = new Map<number, number>();
    const partitions: PartitionJudgement[] = [];
    let underReplicated = 0;
    let offline = 0;
    let leaderMoves = 0;
    for (const t of md.topics) {
      if (this.excludeTopics.test(t.name)) continue;
      for (const p of t.partitions) {
        const key = `${t.name}\u0000${p.partition}`;
        seen.add(key);
        for (const r of p.replicas) if (!alive.has(r) && !this.brokers.has(r)) this.brokers.set(r, false);
        const isr = p.isr.filter((r) => alive.has(r) && !p.offlineReplicas.includes(r));
        const outOfSync = p.replicas.filter((r) => !isr.includes(r));
        const hasLeader = p.leader >= 0 && alive.has(p.leader) && !p.offlineReplicas.includes(p.leader);
        const state: PartitionState = !hasLeader ? 'offline' : outOfSync.length > 0 ? 'under-replicated' : 'ok';
        if (state === 'offline') offline++;
        else if (state === 'under-replicated') underReplicated++;
        if (hasLeader) leads.set(p.leader, (leads.get(p.leader) ?? 0) + 1);
        for (const r of outOfSync) outOfSyncOn.set(r, (outOfSyncOn.get(r) ?? 0) + 1);
        const before = this.partitions.get(key);
        const j: PartitionJudgement = { topic: t.name, partition: p.partition, state, leader: hasLeader ? p.leader : -1, replicas: p.replicas, isr, outOfSync, changed: !before || before.state !== state };
        if (isr.length !== p.isr.length) j.reportedIsr = p.isr;
        if (before && hasLeader && before.leader >= 0 && before.leader !== p.leader) {
          j.leaderMovedFrom = before.leader;
          j.changed = true;
          leaderMoves++;
        }
        this.partitions.set(key, { leader: j.leader, state });
        partitions.push(j);
      }
    }
    // Partitions of deleted topics are forgotten.
    if (this.partitions.size > seen.size) for (const k of this.partitions.keys()) if (!seen.has(k)) this.partitions.delete(k);
    const brokers: BrokerJudgement[] = [];
    for (const id of new Set([...this.brokers.keys(), ...alive])) {
      const was = this.brokers.get(id);
      const now = alive.has(id);
      this.brokers.set(id, now);
      const j: BrokerJudgement = { id, alive: now, changed: was === undefined || was !== now, leads: leads.get(id) ?? 0, outOfSync: outOfSyncOn.get(id) ?? 0 };
      if (!now) j.why = listed.has(id) ? 'not-answering' : 'missing';
      brokers.push(j);
    }
    brokers.sort((a, b) => a.id - b.id);
    return { partitions, brokers, controller: md.controller, underReplicated, offline, leaderMoves };
  }
}
