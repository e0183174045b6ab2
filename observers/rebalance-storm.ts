// rebalance-storm: a consumer group rebalancing over and over. Evidence: members the agent calls
// ERRATIC (their rebalances-aspect rule: rebalances less than a minute apart, from rebalance-total,
// or join-total on clients before 2.4), rebalance events from kafkajs (membership aspect:
// REBALANCING, GROUP_JOIN) and revoked assignments (partitions aspect: DENY), a group the Kafka
// source calls ERRATIC, and slow rebalances (rebalance-latency DEGRADED) as detail. The storm lasts
// while a member is still ERRATIC (the agent keeps saying so until it has been quiet for its
// quietMs) or events keep coming; it is over when every member has calmed down and no event came
// for calmNs. One finding per group: named by the signals (context "group") or the group entity;
// when JMX does not say which group a consumer is in, its service stands for the group (the
// replicas of one consumer are the members of one group in practice).
import { ASPECT, CTX, Status_Condition, Status_Confidence, entity, type Evidence, type Finding } from '../proto/index.js';
import type { HierarchyView } from '../hierarchy/manager.js';
import { Health } from './facts.js';
import { NO_FINDINGS, evidenceOf, finding, type Ids, type Observation, type Observer } from './observer.js';

export interface RebalanceSettings {
  /** Rebalances within `windowNs` (event time) that make a storm. */
  minRebalances: number;
  windowNs: bigint;
  /** A storm ends after this long without a rebalance and with no member ERRATIC. */
  calmNs: bigint;
  defaultCluster: string;
}

interface Member {
  erratic: boolean;
  first: Evidence;
  /** Its last slow-rebalance reading ("rebalance-latency-avg=7200"), if any. */
  slow: string;
}

interface GroupState {
  events: bigint[];
  members: Map<string, Member>;
  lastEventAt: bigint;
  newest: bigint;
  id: string;
  gist: string;
  open: boolean;
  first: Evidence | undefined;
  name: string;
  /** The most members ERRATIC at once, and the most rebalances in a window, in this storm: its story at its worst. */
  peakErratic: number;
  peakRebalances: number;
}

const KEEP = 32;
/** Members report the same group rebalance within seconds of each other: that is one rebalance. */
const SAME_REBALANCE_NS = 5_000_000_000n;

function distinctRebalances(events: bigint[], cutoff: bigint): number {
  const sorted = events.filter((t) => t >= cutoff).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let n = 0;
  let last: bigint | undefined;
  for (const t of sorted) {
    if (last === undefined || t - last > SAME_REBALANCE_NS) n++;
    last = t;
  }
  return n;
}

export class RebalanceStorm implements Observer {
  readonly name = 'rebalance-storm';
  readonly kinds = ['client', 'group'] as const;
  private readonly groups = new Map<string, GroupState>();

  constructor(private readonly settings: RebalanceSettings, private readonly ids: Ids) {}

  observe(o: Observation, _tree: HierarchyView, now: bigint): readonly Finding[] {
    const { fact, signal, cell } = o;
    if (fact.stage !== 'rebalance' || (fact.health === Health.Neutral && !fact.rebalance)) return NO_FINDINGS;
    const info = cell.info;
    const ctx = signal.context;
    const groupName = info.group ?? ctx[CTX.group];
    const key = info.kind === 'group' ? info.entity : groupName !== undefined ? entity.group(ctx[CTX.cluster] ?? this.settings.defaultCluster, groupName) : entity.service(info.service!);
    let g = this.groups.get(key);
    const member = info.entity;
    const erratic = signal.status?.condition === Status_Condition.ERRATIC;
    if (!fact.rebalance && fact.health === Health.Healthy) {
      // A member calming down (its rebalances rule back to STABLE), or a rebalance that was quick.
      const m = g?.members.get(member);
      if (!g || !m) return NO_FINDINGS;
      if (fact.aspect === ASPECT.rebalanceLatency) m.slow = '';
      else if (fact.aspect === ASPECT.rebalances || info.kind === 'group') m.erratic = false;
      else return NO_FINDINGS;
      return this.evaluate(key, g, now);
    }
    if (!g) {
      if (!fact.rebalance && !erratic) return NO_FINDINGS; // a slow rebalance alone is no storm
      g = { events: [], members: new Map(), lastEventAt: now, newest: 0n, id: '', gist: '', open: false, first: undefined, peakErratic: 0, peakRebalances: 0, name: groupName !== undefined || info.kind === 'group' ? `group ${groupName ?? info.group}` : `consumers of ${info.service}` };
      this.groups.set(key, g);
    }
    // The evidence is written only when kept (the group's first signal, a member's).
    let ev = g.first === undefined ? (g.first = evidenceOf(signal, 'rebalance')) : undefined;
    let m = g.members.get(member);
    if (!m) g.members.set(member, (m = { erratic: false, first: (ev ??= evidenceOf(signal, 'rebalance')), slow: '' }));
    if (erratic) m.erratic = true;
    if (fact.aspect === ASPECT.rebalanceLatency && ctx[CTX.value] !== undefined) m.slow = `rebalances taking ${seconds(Number(ctx[CTX.value]))}`;
    // An ERRATIC reading is a member's state, not a rebalance; events and revocations are rebalances.
    if (fact.rebalance) {
      g.events.push(signal.timestamp);
      if (g.events.length > KEEP) g.events.shift();
    }
    g.lastEventAt = now;
    if (signal.timestamp > g.newest) g.newest = signal.timestamp;
    return this.evaluate(key, g, now);
  }

  tick(now: bigint): readonly Finding[] {
    let out: Finding[] | undefined;
    // Calm since the cutoff (one subtraction a tick, not one a group).
    const cutoff = now - this.settings.calmNs;
    for (const key of this.groups.keys()) {
      const g = this.groups.get(key)!;
      if (g.lastEventAt > cutoff) continue;
      // Nothing heard of rebalances for a while, not even an ERRATIC reading: it is over.
      g.events.length = 0;
      for (const m of g.members.values()) m.erratic = false;
      const f = this.evaluate(key, g, now);
      if (f.length) (out ??= []).push(...f);
    }
    return out ?? NO_FINDINGS;
  }

  private evaluate(key: string, g: GroupState, now: bigint): readonly Finding[] {
    const recent = distinctRebalances(g.events, g.newest - this.settings.windowNs);
    let erratic = 0;
    for (const m of g.members.values()) if (m.erratic) erratic++;
    const quiet = now - g.lastEventAt >= this.settings.calmNs;
    g.peakErratic = Math.max(g.peakErratic, erratic);
    g.peakRebalances = Math.max(g.peakRebalances, recent);
    const storm = erratic > 0 || (!quiet && recent >= this.settings.minRebalances);
    if (!storm) {
      // Calm once no member is ERRATIC and no event came for calmNs (or none are left to count).
      if (!g.open) {
        if (quiet || recent === 0) this.groups.delete(key);
        return NO_FINDINGS;
      }
      if (!quiet && recent > 0) return NO_FINDINGS;
      this.groups.delete(key);
      return [this.findingOf(key, g, true)];
    }
    const confidence = recent >= this.settings.minRebalances + 2 || erratic >= 2 ? Status_Confidence.CONFIRMED : Status_Confidence.MEASURED;
    const gist = `${confidence}|${g.members.size}`;
    if (gist === g.gist) return NO_FINDINGS;
    if (!g.open) g.id = this.ids.next(this.name);
    g.open = true;
    g.gist = gist;
    return [this.findingOf(key, g, false, confidence)];
  }

  private findingOf(key: string, g: GroupState, resolved: boolean, confidence = Status_Confidence.MEASURED): Finding {
    // Told at its worst: members calming one by one do not make the storm smaller than it was.
    const recent = g.peakRebalances;
    const erratic = g.peakErratic;
    const members = [...g.members.keys()];
    const window = Number(this.settings.windowNs / 1_000_000_000n);
    const slow = [...new Set([...g.members.values()].map((m) => m.slow).filter(Boolean))];
    return finding({
      id: g.id,
      observer: this.name,
      subject: key,
      scope: key,
      condition: Status_Condition.ERRATIC,
      confidence,
      summary: resolved
        ? `${g.name}: rebalances have calmed down`
        : `${g.name}: rebalance storm, ${[recent ? `${recent} rebalances within ${window} s` : '', erratic ? `${erratic} of ${members.length} member${members.length === 1 ? '' : 's'} rebalancing less than a minute apart` : ''].filter(Boolean).join(', ')}${slow.length ? `; ${slow.join(', ')}` : ''}`,
      evidence: [g.first, ...[...g.members.values()].map((m) => m.first)].filter((e, i, all): e is Evidence => e !== undefined && all.findIndex((x) => x?.subject === e.subject && x?.seq === e.seq) === i).slice(0, 8),
      resolved,
      context: { rebalances: String(recent), members: String(members.length), 'member-subjects': members.slice(0, 10).join(','), ...(slow.length ? { slow: slow.join(', ') } : {}) },
    });
  }
}

function seconds(ms: number): string {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : 'long';
}
