// cascading-failure: the incident the project exists for. A broker in trouble (broker-health's
// direct evidence, or broker-inferred's judgement from clients) and, after it, trouble downstream:
// producers' request latency and failures, their buffers filling, consumer groups falling behind.
// It correlates across the tree (brokers, services, groups) and in time: downstream trouble counts
// when it started after the broker's (less a tolerance for sensors polling at different moments)
// and is in the same cluster (groups by their subject; clients by context "cluster", or any
// cluster when they do not say, or by the broker they name). One finding per cluster episode,
// rooted at the broker whose trouble came first; it lasts until the downstream trouble it
// gathered is over, so a recovering cascade stays one incident.
import { SEVERITY, Status_Condition, Status_Confidence, entity, type Evidence, type Finding } from '../proto/index.js';
import type { HierarchyView } from '../hierarchy/manager.js';
import type { BrokerTrouble, BrokerTroubleSource } from './broker-health.js';
import { stageRank, type Stage } from './facts.js';
import { NO_FINDINGS, finding, type Ids, type Observation, type Observer } from './observer.js';
import type { Episode, SymptomBoard } from './symptoms.js';

export interface CascadeSettings {
  /** Downstream trouble that began up to this long before the broker's still counts. */
  toleranceNs: bigint;
  /** Most downstream subjects listed per stage in the evidence. */
  perStage: number;
}

const PRODUCER_STAGES = new Set<Stage>(['producer-latency', 'producer-errors', 'producer-buffer']);
const CONSUMER_STAGES = new Set<Stage>(['consumer-lag', 'consumer-latency', 'rebalance']);
const DEFECTIVE = SEVERITY[Status_Condition.DEFECTIVE];
const NO_EPISODES: readonly Episode[] = [];

interface Cascade {
  id: string;
  cluster: string;
  root: BrokerTrouble;
  /** What the root broker's trouble amounted to at its worst ("2 under-replicated partitions; request handlers 7 % idle"). */
  account: string;
  /** The kinds of cause that account shows. */
  causes: readonly string[];
  brokers: BrokerTrouble[];
  members: Episode[];
  gist: string;
  /** c.causes joined, for the array it was made of (causes are replaced, never changed in place). */
  causesOf?: readonly string[];
  causesJoined?: string;
  /** What the gist was built from: when none of it changed, neither did the gist (no strings built). */
  said?: { root: string; confidence: Status_Confidence; condition: Status_Condition; causes: string; brokers: readonly BrokerTrouble[]; members: readonly Episode[] };
}

export class CascadingFailure implements Observer {
  readonly name = 'cascading-failure';
  readonly kinds = 'all' as const;
  private readonly cascades = new Map<string, Cascade>();
  private seenBoard = -1;
  private readonly seenSources: number[] = [];
  /** Clusters where something moved since the last correlation. */
  private readonly dirty = new Set<string>();
  /** The sources' troubled brokers, and their clusters, as of the sources' versions in listedAt. */
  private readonly flat: BrokerTrouble[] = [];
  private readonly troubledClusters = new Set<string>();
  private readonly listedAt: number[] = [];
  private lastTroubledClusters = 0;

  constructor(
    private readonly settings: CascadeSettings,
    private readonly ids: Ids,
    private readonly board: SymptomBoard,
    private readonly sources: readonly BrokerTroubleSource[],
  ) {}

  observe(_o: Observation, _tree: HierarchyView, _now: bigint): readonly Finding[] {
    return this.evaluate();
  }

  tick(): readonly Finding[] {
    return this.evaluate();
  }

  /**
   * Re-correlates when a broker's trouble or a downstream episode started or ended (else costs a
   * few compares), and then only the clusters where something moved since the last time: the
   * board and the trouble sources say which (a cluster's correlation reads nothing else but the
   * count of troubled clusters, which only episodes naming neither cluster nor broker heed). The
   * others would come out as they are (correlate is idempotent on the same inputs), so the
   * findings are those of correlating every cluster, in the same order, at a cost that no longer
   * grows with the estate.
   */
  private evaluate(): readonly Finding[] {
    let moved = this.board.version !== this.seenBoard;
    let troubled = 0;
    for (let i = 0; i < this.sources.length; i++) {
      const s = this.sources[i]!;
      if (s.version !== this.seenSources[i]) moved = true;
      this.seenSources[i] = s.version;
      troubled += s.count;
    }
    this.seenBoard = this.board.version;
    // What moved is kept until a correlation reads it (a superset of what needs it is harmless).
    if (!moved || (troubled === 0 && this.cascades.size === 0)) return NO_FINDINGS;
    return this.recorrelate();
  }

  /** Correlates the clusters where something moved (all of them when that could move everywhere). */
  private recorrelate(): readonly Finding[] {
    const dirty = this.dirty;
    let all = false;
    // (A Set's clear() makes it a new table: only when there is something to clear.)
    if (this.board.moved.size > 0) {
      for (const c of this.board.moved) {
        if (c === undefined) all = true;
        else dirty.add(c);
      }
      this.board.moved.clear();
    }
    let listed = true;
    for (let i = 0; i < this.sources.length; i++) {
      const s = this.sources[i]!;
      if (s.moved.size > 0) {
        for (const c of s.moved) dirty.add(c);
        s.moved.clear();
      }
      if (this.listedAt[i] !== s.version) listed = false;
    }
    // Troubled brokers in the sources' order; the clusters in the order they first appear (the
    // sources' lists move only with their versions: made again only then).
    const flat = this.flat;
    const clusters = this.troubledClusters;
    if (!listed) {
      flat.length = 0;
      if (clusters.size > 0) clusters.clear();
      for (let i = 0; i < this.sources.length; i++) {
        const s = this.sources[i]!;
        for (const t of s.troubled()) {
          flat.push(t);
          clusters.add(t.cluster);
        }
        this.listedAt[i] = s.version;
      }
    }
    const troubledClusters = clusters.size;
    // Downstream episodes naming no cluster: candidates everywhere, in the board's order.
    let unnamed: Episode[] | undefined;
    let unnamedNoBroker = false;
    for (const e of this.board.inClusterOf(undefined)) {
      if (!PRODUCER_STAGES.has(e.stage) && !CONSUMER_STAGES.has(e.stage)) continue;
      (unnamed ??= []).push(e);
      if (e.broker === undefined) unnamedNoBroker = true;
    }
    // Those naming no broker either join a lone troubled cluster: a second one (or the last but one going) moves them all.
    if (unnamedNoBroker && (troubledClusters <= 1) !== (this.lastTroubledClusters <= 1)) all = true;
    this.lastTroubledClusters = troubledClusters;
    let out: Finding[] | undefined;
    // The clusters with troubled brokers, then those with a cascade and none (correlate only ever
    // adds or removes its own cluster's cascade, and adds none without troubles: the same clusters,
    // in the same order, as a set made of both beforehand).
    for (const cluster of clusters) {
      if (!all && !dirty.has(cluster)) continue;
      const f = this.visit(cluster, troubledClusters, unnamed);
      if (f) (out ??= []).push(f);
    }
    for (const cluster of this.cascades.keys()) {
      if (clusters.has(cluster) || (!all && !dirty.has(cluster))) continue;
      const f = this.visit(cluster, troubledClusters, unnamed);
      if (f) (out ??= []).push(f);
    }
    if (dirty.size > 0) dirty.clear();
    return out ?? NO_FINDINGS;
  }

  private visit(cluster: string, troubledClusters: number, unnamed: readonly Episode[] | undefined): Finding | undefined {
    const flat = this.flat;
    const troubles: BrokerTrouble[] = [];
    for (let i = 0; i < flat.length; i++) if (flat[i]!.cluster === cluster) troubles.push(flat[i]!);
    let own: Episode[] | undefined;
    for (const e of this.board.inClusterOf(cluster)) if (PRODUCER_STAGES.has(e.stage) || CONSUMER_STAGES.has(e.stage)) (own ??= []).push(e);
    const candidates = !unnamed ? own ?? NO_EPISODES : !own ? unnamed : inBoardOrder(own, unnamed);
    return this.correlate(cluster, troubles, troubledClusters, candidates);
  }

  private correlate(cluster: string, troubles: BrokerTrouble[], troubledClusters: number, candidates: readonly Episode[]): Finding | undefined {
    const current = this.cascades.get(cluster);
    // The root: the broker whose trouble came first (direct evidence before inferred at a tie).
    troubles.sort((a, b) => (a.since.time < b.since.time ? -1 : a.since.time > b.since.time ? 1 : Number(a.inferred) - Number(b.inferred)));
    const root = current && troubles.some((t) => t.subject === current.root.subject) ? troubles.find((t) => t.subject === current.root.subject)! : troubles[0] ?? current?.root;
    if (!root) return undefined;
    const since = root.since.time - this.settings.toleranceNs;
    const brokerIds = new Set((troubles.length ? troubles : [root]).map((t) => t.broker));
    const members: Episode[] = [];
    // Candidates: the downstream episodes (producer and consumer stages) naming this cluster or none.
    for (const e of candidates) {
      if (e.first.time < since) continue;
      const sameCluster = e.cluster === cluster || (e.cluster === undefined && (e.broker === undefined ? troubledClusters <= 1 || this.cascades.has(cluster) : brokerIds.has(e.broker)));
      if (!sameCluster) continue;
      // A client naming a healthy broker is someone else's story.
      if (e.broker !== undefined && e.cluster === undefined && !brokerIds.has(e.broker)) continue;
      members.push(e);
    }
    if (!current) {
      // No cascade without downstream trouble; the broker alone is broker-health's finding.
      if (troubles.length === 0 || members.length === 0) return undefined;
      const c: Cascade = { id: this.ids.next(this.name), cluster, root, account: root.account, causes: root.causes, brokers: troubles, members, gist: '' };
      this.cascades.set(cluster, c);
      return this.update(c);
    }
    current.root = root;
    if (troubles.length) current.brokers = troubles;
    // The account says what the broker showed at its worst (the most causes at once): a recovery
    // that clears one cause before another does not rewrite what started the incident.
    if (troubles.includes(root) && root.causes.length >= current.causes.length) {
      current.account = root.account;
      current.causes = root.causes;
    }
    // Recovering: the broker is fine again, the trouble it caused downstream is not yet.
    current.members = troubles.length ? members : members.filter((m) => current.members.includes(m));
    if (current.members.length === 0) {
      this.cascades.delete(cluster);
      return this.findingOf(current, true);
    }
    return this.update(current);
  }

  private update(c: Cascade): Finding | undefined {
    const condition = this.condition(c);
    const said = c.said;
    const causes = c.causes === c.causesOf ? c.causesJoined! : ((c.causesOf = c.causes), (c.causesJoined = c.causes.join(',')));
    const confidence = this.confidence(c);
    if (said && said.root === c.root.subject && said.confidence === confidence && said.condition === condition && said.causes === causes && sameItems(said.brokers, c.brokers) && sameItems(said.members, c.members)) return undefined;
    c.said = { root: c.root.subject, confidence, condition, causes, brokers: c.brokers, members: c.members };
    const gist = `${c.root.subject}|${confidence}|${condition}|${causes}|${c.brokers.map((b) => b.subject).join(',')}|${c.members.map((m) => `${m.subject}:${m.stage}`).sort().join(',')}`;
    if (gist === c.gist) return undefined;
    c.gist = gist;
    return this.findingOf(c, false);
  }

  /**
   * The root's confidence, raised to MEASURED when downstream trouble that began after the broker's
   * corroborates a suspicion (a broker that only went silent, or one judged from a few clients).
   * An inferred root is never CONFIRMED.
   */
  private confidence(c: Cascade): Status_Confidence {
    let confidence = c.root.confidence;
    if (confidence < Status_Confidence.MEASURED && c.members.some((m) => m.confidence >= Status_Confidence.MEASURED)) confidence = Status_Confidence.MEASURED;
    if (c.root.inferred && confidence > Status_Confidence.MEASURED) confidence = Status_Confidence.MEASURED;
    return confidence;
  }

  private condition(c: Cascade): Status_Condition {
    const producers = c.members.some((m) => PRODUCER_STAGES.has(m.stage));
    const consumers = c.members.some((m) => CONSUMER_STAGES.has(m.stage));
    return (producers && consumers) || c.root.severity >= DEFECTIVE ? Status_Condition.DEFECTIVE : Status_Condition.DEGRADED;
  }

  private findingOf(c: Cascade, resolved: boolean): Finding {
    const stages = new Map<Stage, Episode[]>();
    for (const m of c.members) {
      const list = stages.get(m.stage);
      if (list) list.push(m);
      else stages.set(m.stage, [m]);
    }
    const evidence: Evidence[] = [...c.root.evidence];
    for (const b of c.brokers) if (b.subject !== c.root.subject) evidence.push(...b.evidence.slice(0, 2));
    const ordered = [...stages.entries()].sort((a, b) => stageRank(a[0]) - stageRank(b[0]));
    for (const [, list] of ordered) {
      list.sort((a, b) => (a.first.time < b.first.time ? -1 : a.first.time > b.first.time ? 1 : 0));
      for (const m of list.slice(0, this.settings.perStage)) evidence.push(m.first);
    }
    const confidence = this.confidence(c);
    const names = (stage: Stage): string[] => [...new Set((stages.get(stage) ?? []).map(nameOf))];
    const steps = [`broker ${c.root.broker}${c.root.inferred ? ' (inferred)' : ''}`];
    const lat = [...new Set([...names('producer-latency'), ...names('producer-errors')])];
    if (lat.length) steps.push(`producer latency/errors in ${lat.join(', ')}`);
    if (names('producer-buffer').length) steps.push(`buffers filling in ${names('producer-buffer').join(', ')}`);
    const cons = [...new Set([...names('consumer-latency'), ...names('rebalance'), ...names('consumer-lag')])];
    if (cons.length) steps.push(`consumers falling behind in ${cons.join(', ')}`);
    return finding({
      id: c.id,
      observer: this.name,
      subject: c.root.subject,
      scope: entity.cluster(c.cluster),
      condition: this.condition(c),
      confidence,
      summary: resolved ? `cascade from broker ${c.root.broker} (cluster ${c.cluster}) is over` : `cascade in cluster ${c.cluster}: ${steps.join(' -> ')}`,
      evidence,
      resolved,
      context: {
        cluster: c.cluster,
        root: c.root.subject,
        broker: c.root.broker,
        inferred: String(c.root.inferred),
        'root-account': c.account,
        'root-causes': c.causes.join(','),
        brokers: c.brokers.map((b) => b.broker).join(','),
        stages: ordered.map(([s]) => s).join(','),
      },
    });
  }
}

/** Two lists of the board's episodes, each in the board's order, merged into that order. */
function inBoardOrder(a: readonly Episode[], b: readonly Episode[]): Episode[] {
  const merged: Episode[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) merged.push(a[i]!.order < b[j]!.order ? a[i++]! : b[j++]!);
  while (i < a.length) merged.push(a[i++]!);
  while (j < b.length) merged.push(b[j++]!);
  return merged;
}

/** The same objects in the same order (episodes' subject and stage never change, nor brokers' subject). */
function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** How a downstream subject reads in a sentence: "order-service/order-1 producer order-producer", "group billing". */
export function nameOf(e: { info: { kind: string; service?: string; pod?: string; role?: string; clientId?: string; group?: string }; subject: string }): string {
  const i = e.info;
  if (i.kind === 'client') return `${i.service}`;
  if (i.group !== undefined) return `group ${i.group}`;
  return e.subject;
}
