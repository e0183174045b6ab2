// rebalance-storm: a consumer group rebalancing over and over. Evidence: rebalance events from
// kafkajs instrumentation (context "event" REBALANCING / GROUP_JOIN), revoked assignments
// (resource DENY), slow rebalances (status DEGRADED with a rebalance metric), a group whose
// status turns ERRATIC, and consumers the JMX sensor already calls ERRATIC (rebalances < 60 s
// apart). The finding is about the group (context "group" / "group-id" / "group.id" names it for
// client signals; "cluster" its cluster) or, when no group is named, the consumer.
import { Status_Condition, Status_Confidence, type Evidence, type Finding } from '../proto/index.js';
import type { HierarchyView } from '../hierarchy/manager.js';
import { segmentOf } from '../hierarchy/subject.js';
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
}

interface GroupState {
  events: bigint[];
  members: Map<string, Member>;
  lastEventAt: bigint;
  newest: bigint;
  slowest: string;
  id: string;
  gist: string;
  open: boolean;
  first: Evidence | undefined;
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
    if (fact.stage !== 'rebalance' || fact.health === Health.Neutral) return NO_FINDINGS;
    const ctx = signal.context;
    const groupName = cell.info.group ?? ctx.group ?? ctx['group-id'] ?? ctx['group.id'];
    const key = cell.info.kind === 'group' ? signal.subject : groupName !== undefined ? `cluster/${segmentOf(ctx.cluster ?? this.settings.defaultCluster)}/group/${segmentOf(groupName)}` : signal.subject;
    let g = this.groups.get(key);
    if (fact.health === Health.Healthy) {
      const m = g?.members.get(signal.subject);
      if (!g || !m?.erratic) return NO_FINDINGS;
      m.erratic = false;
      return this.evaluate(key, g, now);
    }
    if (!g) {
      g = { events: [], members: new Map(), lastEventAt: now, newest: 0n, slowest: '', id: '', gist: '', open: false, first: undefined };
      this.groups.set(key, g);
    }
    const ev = evidenceOf(signal, 'rebalance');
    g.first ??= ev;
    if (cell.info.kind === 'client') {
      const m = g.members.get(signal.subject);
      const erratic = signal.status?.condition === Status_Condition.ERRATIC;
      if (!m) g.members.set(signal.subject, { erratic, first: ev });
      else m.erratic ||= erratic;
    }
    if (/rebalance-latency/.test(ctx.metric ?? '') && ctx.value !== undefined) g.slowest = `${ctx.metric}=${ctx.value}`;
    // An ERRATIC reading is a member's state, not a rebalance; events and revocations are rebalances.
    if (signal.status?.condition !== Status_Condition.ERRATIC) {
      g.events.push(signal.timestamp);
      if (g.events.length > KEEP) g.events.shift();
    }
    g.lastEventAt = now;
    if (signal.timestamp > g.newest) g.newest = signal.timestamp;
    return this.evaluate(key, g, now);
  }

  tick(now: bigint): readonly Finding[] {
    let out: Finding[] | undefined;
    for (const [key, g] of this.groups) {
      if (now - g.lastEventAt < this.settings.calmNs) continue;
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
    const calm = now - g.lastEventAt >= this.settings.calmNs;
    const storm = !calm && (erratic > 0 || recent >= this.settings.minRebalances);
    if (!storm) {
      if (calm || g.events.length === 0) this.groups.delete(key);
      if (!g.open) return NO_FINDINGS;
      g.open = false;
      this.groups.delete(key);
      return [this.findingOf(key, g, recent, erratic, true)];
    }
    const confidence = recent >= this.settings.minRebalances + 2 || erratic >= 2 ? Status_Confidence.CONFIRMED : Status_Confidence.MEASURED;
    const gist = `${confidence}|${g.members.size}`;
    if (gist === g.gist) return NO_FINDINGS;
    if (!g.open) g.id = this.ids.next(this.name);
    g.open = true;
    g.gist = gist;
    return [this.findingOf(key, g, recent, erratic, false, confidence)];
  }

  private findingOf(key: string, g: GroupState, recent: number, erratic: number, resolved: boolean, confidence = Status_Confidence.MEASURED): Finding {
    const name = key.slice(key.lastIndexOf('/') + 1);
    const what = key.includes('/group/') ? `group ${name}` : `consumer ${name}`;
    const members = [...g.members.keys()];
    const window = Number(this.settings.windowNs / 1_000_000_000n);
    const slow = g.slowest ? `; ${g.slowest}` : '';
    return finding({
      id: g.id,
      observer: this.name,
      subject: key,
      condition: Status_Condition.ERRATIC,
      confidence,
      summary: resolved
        ? `${what}: rebalances have calmed down`
        : `${what}: rebalance storm, ${[recent ? `${recent} rebalances within ${window} s` : '', erratic ? `${erratic} member(s) rebalancing less than a minute apart (ERRATIC)` : ''].filter(Boolean).join(', ')}${slow}`,
      evidence: [g.first, ...[...g.members.values()].map((m) => m.first)].filter((e, i, all): e is Evidence => e !== undefined && all.findIndex((x) => x?.subject === e.subject && x?.seq === e.seq) === i).slice(0, 8),
      resolved,
      context: { rebalances: String(recent), members: String(members.length), 'member-subjects': members.slice(0, 10).join(',') },
    });
  }
}
