// gc-pause: a service's JVM in trouble (service/<s>/pod/<p>/jvm, its gc/<collector> or heap
// aspect DEGRADED or worse: long GC pauses, heap nearly full) and what follows in the same pod —
// its producers' latency, its consumers kicked out of their group (rebalances), lag. The JVM is
// the root: a stop-the-world pause stops every client in the process at once. (A broker's own JVM
// is an aspect of the broker: broker-health tells it.) The account comes from each aspect's value.
import { ASPECT, CTX, SEVERITY, Status_Condition, entity, type Evidence, type Finding, type Signal, type Status_Confidence } from '../proto/index.js';
import type { HierarchyView } from '../hierarchy/manager.js';
import { conditionOf, percent, seconds } from './broker-health.js';
import { Health } from './facts.js';
import { NO_FINDINGS, evidenceOf, finding, type Ids, type Observation, type Observer } from './observer.js';
import type { Episode, SymptomBoard } from './symptoms.js';

export interface GcSettings {
  /** Client trouble that started this long before the JVM's still counts as following it (sensors poll at different moments). */
  toleranceNs: bigint;
  /** Without a JVM reading for this long, the episode ends. */
  ttlNs: bigint;
}

interface JvmState {
  first: Evidence;
  severity: number;
  confidence: Status_Confidence;
  account: string;
  /** What each aspect said last, for people: "gc/G1_Old_Generation" -> "3.4 s in G1 Old Generation". */
  details: Map<string, string>;
  /** The longest GC time between two readings seen in the episode, ms. */
  longestPauseMs: number;
  heapPercent: number | undefined;
  service: string;
  pod: string;
  lastAsserted: bigint;
  podPath: string;
  id: string;
  gist: string;
  followers: Episode[];
  /** The board's stamp of its pod when the followers were last read (-1: never). */
  boardVersion: number | undefined;
}

const DEGRADED = SEVERITY[Status_Condition.DEGRADED];

export class GcPause implements Observer {
  readonly name = 'gc-pause';
  readonly kinds = ['jvm', 'client'] as const;
  private readonly jvms = new Map<string, JvmState>();
  private readonly byPod = new Map<string, JvmState>();

  constructor(private readonly settings: GcSettings, private readonly ids: Ids, private readonly board: SymptomBoard) {}

  observe(o: Observation, _tree: HierarchyView, now: bigint): readonly Finding[] {
    const { cell, fact, signal } = o;
    if (cell.info.kind === 'client') {
      // A client's trouble may follow a pause of its JVM.
      const j = this.byPod.get(cell.info.podPath!);
      return j && j.boardVersion !== this.board.podStamp(j.podPath) ? this.settle(j.first.subject, j) : NO_FINDINGS;
    }
    const subject = cell.info.entity;
    let j = this.jvms.get(subject);
    if (fact.health === Health.Unhealthy && fact.severity >= DEGRADED) {
      if (!j) {
        j = {
          first: evidenceOf(signal, 'jvm'), severity: 0, confidence: fact.confidence, account: '', details: new Map(), longestPauseMs: 0, heapPercent: undefined,
          service: cell.info.service!, pod: cell.info.pod!, lastAsserted: now, podPath: cell.info.podPath!, id: this.ids.next(this.name), gist: '', followers: [], boardVersion: -1,
        };
        this.jvms.set(subject, j);
        this.byPod.set(j.podPath, j);
      }
      j.severity = Math.max(j.severity, fact.severity);
      j.confidence = fact.confidence;
      j.lastAsserted = now;
      // What the JVM said, one entry per aspect (the heap and each collector speak separately).
      j.details.set(signal.subject, this.describe(signal, fact.aspect, j));
      j.account = [...j.details.values()].slice(-3).join('; ');
      return this.settle(subject, j);
    }
    if (fact.health === Health.Healthy && j && j.details.delete(signal.subject) && j.details.size === 0) return this.end(subject, j);
    return NO_FINDINGS;
  }

  tick(now: bigint): readonly Finding[] {
    let out: Finding[] | undefined;
    for (const [subject, j] of this.jvms) {
      if (now - j.lastAsserted >= this.settings.ttlNs) (out ??= []).push(...this.end(subject, j));
      else if (j.boardVersion !== this.board.podStamp(j.podPath)) (out ??= []).push(...this.settle(subject, j));
    }
    return out ?? NO_FINDINGS;
  }

  private settle(subject: string, j: JvmState): readonly Finding[] {
    // Its followers are the pod's episodes: only a change there can change them.
    j.boardVersion = this.board.podStamp(j.podPath);
    const since = j.first.time - this.settings.toleranceNs;
    j.followers = [...this.board.inPod(j.podPath)].filter((e) => e.stage !== 'jvm' && e.first.time >= since).sort((a, b) => (a.first.time < b.first.time ? -1 : 1));
    const gist = `${j.severity}|${j.confidence}|${j.followers.map((e) => `${e.subject}:${e.stage}`).join(',')}`;
    if (gist === j.gist) return NO_FINDINGS;
    j.gist = gist;
    return [this.findingOf(subject, j, false)];
  }

  private end(subject: string, j: JvmState): readonly Finding[] {
    this.jvms.delete(subject);
    if (this.byPod.get(j.podPath) === j) this.byPod.delete(j.podPath);
    return [this.findingOf(subject, j, true)];
  }

  /** One aspect's reading in words, remembering the worst pause and the heap's fill. */
  private describe(s: Signal, aspect: string, j: JvmState): string {
    const v = Number(s.context[CTX.value]);
    if (aspect === ASPECT.heap && Number.isFinite(v)) {
      j.heapPercent = v;
      return `heap ${percent(v)} full`;
    }
    if (aspect === ASPECT.gc && Number.isFinite(v)) {
      j.longestPauseMs = Math.max(j.longestPauseMs, v);
      return `${seconds(v)} in GC (${s.context.gc ?? 'collector'}) between two readings`;
    }
    return `${aspect || 'status'} ${Status_Condition[s.status?.condition ?? 0] ?? 'unhealthy'}`;
  }

  /** What the JVM is going through, in words: its collector pausing, its heap filling, or both. */
  private state(j: JvmState): string {
    const gc = [...j.details.keys()].some((k) => k.includes(`#${ASPECT.gc}/`));
    const heap = [...j.details.keys()].some((k) => k.endsWith(`#${ASPECT.heap}`));
    const full = j.severity > DEGRADED ? 'nearly out of heap' : 'heap filling';
    return gc && heap ? `pausing in GC, ${full}` : gc ? 'pausing in GC' : heap ? full : 'in trouble';
  }

  private findingOf(subject: string, j: JvmState, resolved: boolean): Finding {
    const { service, pod } = j;
    const follows = j.followers.map((e) => `${e.info.role ?? e.info.kind} ${e.info.clientId ?? ''} ${e.stage.replace(/^(producer|consumer)-/, '')}`.replace(/\s+/g, ' ').trim());
    const summary = resolved
      ? `JVM of ${service}/${pod} healthy again`
      : `JVM of ${service}/${pod} ${this.state(j)} (${j.account || 'status ' + Status_Condition[conditionOf(j.severity)]})${follows.length ? `; its Kafka clients follow: ${follows.join(', ')}` : ''}`;
    return finding({
      id: j.id,
      observer: this.name,
      subject,
      scope: entity.service(service),
      condition: conditionOf(j.severity),
      confidence: j.confidence,
      summary,
      evidence: [j.first, ...j.followers.map((e) => e.first)].slice(0, 10),
      resolved,
      context: {
        service,
        pod,
        followers: String(j.followers.length),
        ...(j.longestPauseMs > 0 ? { 'longest-pause-ms': String(Math.round(j.longestPauseMs)) } : {}),
        ...(j.heapPercent !== undefined ? { 'heap-used-percent': String(Math.round(j.heapPercent)) } : {}),
      },
    });
  }
}
