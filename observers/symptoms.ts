// The symptom board: which clients, groups and JVMs are in trouble right now, at which stage,
// since when. An episode starts at the first unhealthy signal of a (subject, stage), ends at a
// healthy one, and expires when it has not been re-asserted for `ttlNs` (a sensor that went
// quiet does not keep an incident open for ever). Correlating observers (cascading-failure,
// gc-pause) read it; it emits no findings itself. Brokers are tracked by broker-health.
import { type Evidence, type Finding, type Status_Confidence } from '../proto/index.js';
import type { HierarchyView } from '../hierarchy/manager.js';
import type { SubjectInfo } from '../hierarchy/subject.js';
import { Health, type Stage } from './facts.js';
import { NO_FINDINGS, evidenceOf, type Observation, type Observer } from './observer.js';

export interface Episode {
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
  /** The cluster its signals name (context "cluster"), or its subject's. */
  readonly cluster: string | undefined;
  /** Held by an observer that judged it (e.g. slow-consumer from lag arithmetic): only it ends it. */
  held: boolean;
}

const TRACKED = new Set<Stage>(['jvm', 'producer-latency', 'producer-errors', 'consumer-latency', 'client-errors', 'producer-buffer', 'rebalance', 'consumer-lag']);

export interface SymptomSettings {
  /** An episode not re-asserted for this long ends. */
  ttlNs: bigint;
}

export class SymptomBoard implements Observer {
  readonly name = 'symptoms';
  readonly kinds = ['client', 'jvm', 'group', 'group-topic', 'group-partition'] as const;
  /** subject -> stage (per broker for calls) -> episode. */
  private readonly bySubject = new Map<string, Map<string, Episode>>();
  private readonly byPod = new Map<string, Set<Episode>>();
  readonly active = new Set<Episode>();
  /** Increases whenever an episode starts or ends, so readers can tell nothing moved. */
  version = 0;

  constructor(private readonly settings: SymptomSettings) {}

  observe(o: Observation, _tree: HierarchyView, now: bigint): readonly Finding[] {
    const f = o.fact;
    if (f.stage === undefined || !TRACKED.has(f.stage)) return NO_FINDINGS;
    // Partition-level lag is for slow-consumer's arithmetic; the group's own status speaks for it here.
    if (o.cell.info.kind === 'group-partition') return NO_FINDINGS;
    const subject = o.signal.subject;
    let stages = this.bySubject.get(subject);
    // Calls are judged per broker: a success against broker 1 does not end failures against broker 2.
    const key = keyOf(f.stage, f.broker);
    const current = stages?.get(key);
    if (f.health === Health.Unhealthy) {
      if (current) {
        current.severity = f.severity;
        current.confidence = f.confidence;
        current.lastAsserted = now;
        if (f.broker !== undefined && !PER_BROKER.has(f.stage)) current.broker = f.broker;
        return NO_FINDINGS;
      }
      const e: Episode = { subject, info: o.cell.info, stage: f.stage, first: evidenceOf(o.signal, f.stage), severity: f.severity, confidence: f.confidence, lastAsserted: now, broker: f.broker, cluster: o.cell.info.cluster ?? o.signal.context.cluster, held: false };
      if (!stages) this.bySubject.set(subject, (stages = new Map()));
      stages.set(key, e);
      this.active.add(e);
      const pod = e.info.podPath;
      if (pod !== undefined) {
        let set = this.byPod.get(pod);
        if (!set) this.byPod.set(pod, (set = new Set()));
        set.add(e);
      }
      this.version++;
    } else if (f.health === Health.Healthy && current && !current.held) {
      this.end(current);
    }
    return NO_FINDINGS;
  }

  tick(now: bigint): readonly Finding[] {
    for (const e of this.active) if (now - e.lastAsserted >= this.settings.ttlNs) this.end(e);
    return NO_FINDINGS;
  }

  /**
   * Keeps an episode open on an observer's word, e.g. a group whose lag keeps growing while its
   * sensor still says OK; healthy signals do not end it, release() (or the TTL) does.
   */
  hold(subject: string, info: SubjectInfo, stage: Stage, first: Evidence, severity: number, confidence: Status_Confidence, now: bigint): void {
    const e = this.get(subject, stage);
    if (e) {
      e.held = true;
      e.severity = Math.max(e.severity, severity);
      e.lastAsserted = now;
      return;
    }
    let stages = this.bySubject.get(subject);
    if (!stages) this.bySubject.set(subject, (stages = new Map()));
    const held: Episode = { subject, info, stage, first, severity, confidence, lastAsserted: now, broker: undefined, cluster: info.cluster, held: true };
    stages.set(stage, held);
    this.active.add(held);
    this.version++;
  }

  release(subject: string, stage: Stage): void {
    const e = this.get(subject, stage);
    if (e?.held) this.end(e);
  }

  /** Episodes in the pod at service/<s>/pod/<p>. */
  inPod(podPath: string): ReadonlySet<Episode> {
    return this.byPod.get(podPath) ?? EMPTY;
  }

  get(subject: string, stage: Stage): Episode | undefined {
    return this.bySubject.get(subject)?.get(stage);
  }

  private end(e: Episode): void {
    const stages = this.bySubject.get(e.subject);
    stages?.delete(keyOf(e.stage, e.broker));
    if (stages?.size === 0) this.bySubject.delete(e.subject);
    this.active.delete(e);
    const pod = e.info.podPath;
    if (pod !== undefined) {
      const set = this.byPod.get(pod);
      set?.delete(e);
      if (set?.size === 0) this.byPod.delete(pod);
    }
    this.version++;
  }
}

const EMPTY: ReadonlySet<Episode> = new Set();

const PER_BROKER = new Set<Stage>(['producer-errors', 'client-errors']);

function keyOf(stage: Stage, broker: string | undefined): string {
  return broker !== undefined && PER_BROKER.has(stage) ? `${stage}@${broker}` : stage;
}
