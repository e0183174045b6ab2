// The symptom board: which clients, groups and JVMs are in trouble right now, at which stage,
// since when. An episode belongs to an entity and a stage (a producer's buffer stage, whatever
// aspects speak for it: its buffer filling, its exhaustions, its request queue). It starts at the
// first unhealthy signal, lasts while any of its aspects is unhealthy, ends when each has said it
// is healthy again, and expires when nothing has re-asserted it for `ttlNs` (a sensor that went
// quiet does not keep an incident open for ever). Correlating observers (cascading-failure,
// gc-pause) read it; it emits no findings itself. Brokers are tracked by broker-health.
import { CTX, type Evidence, type Finding, type Status_Confidence, type SubjectInfo } from '../proto/index.js';
import type { HierarchyView } from '../hierarchy/manager.js';
import { Health, type Stage } from './facts.js';
import { NO_FINDINGS, evidenceOf, type Observation, type Observer } from './observer.js';

export interface Episode {
  /** The entity in trouble. */
  readonly subject: string;
  readonly info: SubjectInfo;
  readonly stage: Stage;
  /** The signal that started it. */
  readonly first: Evidence;
  severity: number;
  confidence: Status_Confidence;
  /** Clock time it was last asserted. */
  lastAsserted: bigint;
  /** The broker its signals name, if any. */
  broker: string | undefined;
  /** The cluster it is in: its subject's, or the one its signals name (context "cluster"). */
  readonly cluster: string | undefined;
  /** Held by an observer that judged it (e.g. slow-consumer from lag arithmetic): only it ends it. */
  held: boolean;
  /** Its unhealthy aspects (full subjects), with when each was last asserted. */
  readonly aspects: Map<string, bigint>;
  /** Its place in the board's order (`active`'s): later episodes have larger numbers. */
  order: number;
}

const TRACKED = new Set<Stage>(['jvm', 'producer-latency', 'producer-errors', 'consumer-latency', 'client-errors', 'producer-buffer', 'rebalance', 'consumer-lag']);

export interface SymptomSettings {
  /** An episode not re-asserted for this long ends. */
  ttlNs: bigint;
}

export class SymptomBoard implements Observer {
  readonly name = 'symptoms';
  readonly kinds = ['client', 'jvm', 'group', 'group-topic', 'group-partition'] as const;
  /** entity -> stage (per broker for calls) -> episode. */
  private readonly byEntity = new Map<string, Map<string, Episode>>();
  private readonly byPod = new Map<string, Set<Episode>>();
  /** For each pod with episodes, the version at which its episodes last started or ended. */
  private readonly podStamps = new Map<string, number>();
  readonly active = new Set<Episode>();
  /** The active episodes by the cluster they are in (undefined: naming none), each in the board's order. */
  private readonly inCluster = new Map<string | undefined, Set<Episode>>();
  /** Increases whenever an episode starts or ends, so readers can tell nothing moved. */
  version = 0;
  /**
   * Clusters whose episodes started, ended or changed what a correlating reader sees (confidence,
   * the broker named), undefined for an episode naming no cluster, added as it happens: the
   * cascade observer re-correlates those alone, and clears the set.
   */
  readonly moved = new Set<string | undefined>();
  private added = 0;

  constructor(private readonly settings: SymptomSettings) {}

  observe(o: Observation, _tree: HierarchyView, now: bigint): readonly Finding[] {
    const f = o.fact;
    if (f.stage === undefined || !TRACKED.has(f.stage)) return NO_FINDINGS;
    const info = o.cell.info;
    // Partition and topic lag are for slow-consumer's arithmetic; the group's own status speaks for it here.
    if (info.kind === 'group-partition' || info.kind === 'group-topic') return NO_FINDINGS;
    const entity = info.entity;
    // Calls are judged per broker: a success against broker 1 does not end failures against broker 2.
    const key = keyOf(f.stage, f.broker);
    const stages = this.byEntity.get(entity);
    const current = stages?.get(key);
    const aspect = o.signal.subject;
    if (f.health === Health.Unhealthy) {
      if (current) {
        // A change of confidence is news to correlating observers (a suspicion corroborated).
        if (f.confidence !== current.confidence) {
          this.version++;
          this.moved.add(current.cluster);
        }
        current.severity = f.severity;
        current.confidence = f.confidence;
        current.lastAsserted = now;
        current.aspects.set(aspect, now);
        if (f.broker !== undefined && !PER_BROKER.has(f.stage) && current.broker !== f.broker) {
          current.broker = f.broker;
          this.moved.add(current.cluster);
        }
        return NO_FINDINGS;
      }
      const cluster = info.cluster ?? o.signal.context[CTX.cluster];
      this.add({ subject: entity, info, stage: f.stage, first: evidenceOf(o.signal, f.stage), severity: f.severity, confidence: f.confidence, lastAsserted: now, broker: f.broker, cluster, held: false, aspects: new Map([[aspect, now]]), order: 0 }, key);
    } else if (f.health === Health.Healthy && current && !current.held && current.aspects.delete(aspect) && current.aspects.size === 0) {
      this.end(current);
    }
    return NO_FINDINGS;
  }

  tick(now: bigint): readonly Finding[] {
    // Asserted at or before the cutoff: expired (one subtraction a tick, not one an aspect).
    const cutoff = now - this.settings.ttlNs;
    for (const e of this.active) {
      if (e.aspects.size > 0) e.aspects.forEach((at, aspect, aspects) => {
        if (at <= cutoff) aspects.delete(aspect);
      });
      if (e.lastAsserted <= cutoff || (!e.held && e.aspects.size === 0)) this.end(e);
    }
    return NO_FINDINGS;
  }

  /**
   * Keeps an episode open on an observer's word, e.g. a group whose lag keeps growing while its
   * sensor still says OK; healthy signals do not end it, release() (or the TTL) does.
   */
  hold(entity: string, info: SubjectInfo, stage: Stage, first: Evidence, severity: number, confidence: Status_Confidence, now: bigint): void {
    const e = this.get(entity, stage);
    if (e) {
      e.held = true;
      e.severity = Math.max(e.severity, severity);
      e.lastAsserted = now;
      return;
    }
    this.add({ subject: entity, info, stage, first, severity, confidence, lastAsserted: now, broker: undefined, cluster: info.cluster, held: true, aspects: new Map(), order: 0 }, stage);
  }

  release(entity: string, stage: Stage): void {
    const e = this.get(entity, stage);
    if (e?.held) this.end(e);
  }

  /**
   * When the pod's episodes last started or ended (a version; undefined: it has none): readers of
   * inPod() can tell nothing moved there, whatever moved elsewhere.
   */
  podStamp(podPath: string): number | undefined {
    return this.podStamps.get(podPath);
  }

  /** Episodes in the pod at service/<s>/pod/<p>. */
  inPod(podPath: string): ReadonlySet<Episode> {
    return this.byPod.get(podPath) ?? EMPTY;
  }

  /** The active episodes in `cluster` (undefined: those naming none), in the board's order. */
  inClusterOf(cluster: string | undefined): ReadonlySet<Episode> {
    return this.inCluster.get(cluster) ?? EMPTY;
  }

  get(entity: string, stage: Stage): Episode | undefined {
    return this.byEntity.get(entity)?.get(stage);
  }

  private add(e: Episode, key: string): void {
    let stages = this.byEntity.get(e.subject);
    if (!stages) this.byEntity.set(e.subject, (stages = new Map()));
    stages.set(key, e);
    e.order = ++this.added;
    this.active.add(e);
    let peers = this.inCluster.get(e.cluster);
    if (!peers) this.inCluster.set(e.cluster, (peers = new Set()));
    peers.add(e);
    this.moved.add(e.cluster);
    const pod = e.info.podPath;
    this.version++;
    if (pod !== undefined) {
      let set = this.byPod.get(pod);
      if (!set) this.byPod.set(pod, (set = new Set()));
      set.add(e);
      this.podStamps.set(pod, this.version);
    }
  }

  private end(e: Episode): void {
    const stages = this.byEntity.get(e.subject);
    stages?.delete(keyOf(e.stage, PER_BROKER.has(e.stage) ? e.broker : undefined));
    if (stages?.size === 0) this.byEntity.delete(e.subject);
    this.active.delete(e);
    const peers = this.inCluster.get(e.cluster);
    peers?.delete(e);
    if (peers?.size === 0) this.inCluster.delete(e.cluster);
    this.moved.add(e.cluster);
    const pod = e.info.podPath;
    this.version++;
    if (pod !== undefined) {
      const set = this.byPod.get(pod);
      set?.delete(e);
      if (set?.size === 0) {
        this.byPod.delete(pod);
        this.podStamps.delete(pod);
      } else this.podStamps.set(pod, this.version);
    }
  }
}

const EMPTY: ReadonlySet<Episode> = new Set();

const PER_BROKER = new Set<Stage>(['producer-errors', 'client-errors']);

function keyOf(stage: Stage, broker: string | undefined): string {
  return broker !== undefined && PER_BROKER.has(stage) ? `${stage}@${broker}` : stage;
}
