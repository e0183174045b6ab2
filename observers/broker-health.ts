// broker-health: a broker in trouble by direct evidence — its own status (broker JMX:
// UnderReplicatedPartitions, OfflinePartitionsCount, request handler idle...) or partitions whose
// in-sync replicas lack it (Admin API metadata: context "replicas" and "isr", comma-separated
// broker ids; "leader" -1 or "none" when offline). One finding per broker episode; the cascade
// observer starts its chains from the brokers this one holds in trouble.
import { SEVERITY, Status_Condition, Status_Confidence, type Evidence, type Finding } from '../proto/index.js';
import type { HierarchyView } from '../hierarchy/manager.js';
import { Health } from './facts.js';
import { NO_FINDINGS, evidenceOf, finding, type Ids, type Observation, type Observer } from './observer.js';

/** A broker in trouble, as the cascade observer reads it (direct or inferred). */
export interface BrokerTrouble {
  readonly subject: string;
  readonly cluster: string;
  readonly broker: string;
  /** The first evidence of this episode. */
  readonly since: Evidence;
  readonly severity: number;
  readonly confidence: Status_Confidence;
  /** The evidence so far, first first (bounded). */
  readonly evidence: readonly Evidence[];
  /** Judged from clients' failures, not reported by the broker or the cluster's metadata. */
  readonly inferred: boolean;
  /** A short account: "UnderReplicatedPartitions=14; 6 partitions out of ISR". */
  readonly account: string;
}

export interface BrokerTroubleSource {
  /** Increases whenever the set of troubled brokers or their condition changes. */
  readonly version: number;
  /** How many brokers are in trouble now. */
  readonly count: number;
  troubled(): Iterable<BrokerTrouble>;
}

interface Part {
  evidence: Evidence;
  severity: number;
  confidence: Status_Confidence;
  lastAsserted: bigint;
}

interface Episode extends BrokerTrouble {
  direct: Part | undefined;
  partitions: Map<string, Part>;
  since: Evidence;
  severity: number;
  confidence: Status_Confidence;
  evidence: Evidence[];
  account: string;
  directAccount: string;
  id: string;
  gist: string;
  open: boolean;
}

export interface BrokerHealthSettings {
  /** Evidence not re-asserted for this long no longer counts. */
  ttlNs: bigint;
}

const DEGRADED = SEVERITY[Status_Condition.DEGRADED];
const DEFECTIVE = SEVERITY[Status_Condition.DEFECTIVE];
const MAX_EVIDENCE = 8;

export class BrokerHealth implements Observer, BrokerTroubleSource {
  readonly name = 'broker-health';
  readonly kinds = ['broker', 'partition'] as const;
  version = 0;
  private readonly episodes = new Map<string, Episode>();
  /** Which brokers each under-replicated partition counts against. */
  private readonly partitionBrokers = new Map<string, string[]>();

  constructor(private readonly settings: BrokerHealthSettings, private readonly ids: Ids) {}

  get count(): number {
    return this.episodes.size;
  }

  troubled(): Iterable<BrokerTrouble> {
    return [...this.episodes.values()].filter((e) => e.open);
  }

  observe(o: Observation, _tree: HierarchyView, now: bigint): readonly Finding[] {
    const { fact, signal, cell } = o;
    if (fact.health === Health.Neutral) return NO_FINDINGS;
    const cluster = cell.info.cluster ?? 'default';
    const out: Finding[] = [];
    if (cell.info.kind === 'broker') {
      const subject = signal.subject;
      let e = this.episodes.get(subject);
      if (fact.health === Health.Unhealthy) {
        e ??= this.start(subject, cluster, cell.info.broker!, evidenceOf(signal, 'broker'));
        if (e.direct) {
          e.direct.severity = fact.severity;
          e.direct.confidence = fact.confidence;
          e.direct.lastAsserted = now;
        } else {
          const ev = e.since.stage === 'broker' && e.evidence.length === 0 ? e.since : evidenceOf(signal, 'broker');
          if (!e.evidence.some((x) => x.stage === 'broker')) e.evidence.unshift(ev);
          e.direct = { evidence: ev, severity: fact.severity, confidence: fact.confidence, lastAsserted: now };
        }
        const metric = signal.context.metric;
        e.directAccount = metric && signal.context.value !== undefined ? `${metric}=${signal.context.value}` : `status ${Status_Condition[conditionOf(fact.severity)]}`;
      } else if (e?.direct) {
        e.direct = undefined;
      }
      if (e) this.settle(e, out);
      return out;
    }
    // A partition: the brokers missing from its ISR carry it.
    const path = signal.subject;
    const previous = this.partitionBrokers.get(path);
    const missing = fact.health === Health.Unhealthy ? missingReplicas(signal.context) : [];
    const missingSubjects = missing.map((id) => `cluster/${cluster}/broker/${id}`);
    for (const b of previous ?? []) {
      if (missingSubjects.includes(b)) continue;
      const e = this.episodes.get(b);
      if (e?.partitions.delete(path)) this.settle(e, out);
    }
    if (missing.length === 0) {
      this.partitionBrokers.delete(path);
      return out;
    }
    const offline = /^(-1|none|)$/.test(signal.context.leader ?? 'x');
    for (const id of missing) {
      const subject = `cluster/${cluster}/broker/${id}`;
      const e = this.episodes.get(subject) ?? this.start(subject, cluster, id, evidenceOf(signal, 'partition'));
      const known = e.partitions.get(path);
      e.partitions.set(path, { evidence: known?.evidence ?? evidenceOf(signal, 'partition'), severity: offline ? DEFECTIVE : Math.max(fact.severity, DEGRADED), confidence: Status_Confidence.MEASURED, lastAsserted: now });
      if (!known && e.evidence.length < MAX_EVIDENCE) e.evidence.push(e.partitions.get(path)!.evidence);
      this.settle(e, out);
    }
    this.partitionBrokers.set(path, missingSubjects);
    return out;
  }

  tick(now: bigint): readonly Finding[] {
    let out: Finding[] | undefined;
    for (const e of this.episodes.values()) {
      let changed = false;
      if (e.direct && now - e.direct.lastAsserted >= this.settings.ttlNs) {
        e.direct = undefined;
        changed = true;
      }
      for (const [p, part] of e.partitions) {
        if (now - part.lastAsserted >= this.settings.ttlNs) {
          e.partitions.delete(p);
          changed = true;
        }
      }
      if (changed) this.settle(e, (out ??= []));
    }
    return out ?? NO_FINDINGS;
  }

  private start(subject: string, cluster: string, broker: string, since: Evidence): Episode {
    const e: Episode = {
      subject, cluster, broker, since, severity: 0, confidence: Status_Confidence.CONFIDENCE_UNSPECIFIED, evidence: [], inferred: false,
      account: '', directAccount: '', direct: undefined, partitions: new Map(), id: this.ids.next(this.name), gist: '', open: false,
    };
    if (since.stage === 'partition') e.evidence.push(since);
    this.episodes.set(subject, e);
    return e;
  }

  /** Recomputes the episode's condition and emits a finding when what it says changed. */
  private settle(e: Episode, out: Finding[]): void {
    let severity = e.direct?.severity ?? 0;
    for (const p of e.partitions.values()) severity = Math.max(severity, p.severity);
    if (severity === 0) {
      this.episodes.delete(e.subject);
      this.version++;
      if (e.open) out.push(this.findingOf(e, true));
      return;
    }
    const both = e.direct !== undefined && e.partitions.size > 0;
    e.severity = severity;
    e.confidence = both ? Status_Confidence.CONFIRMED : e.direct ? e.direct.confidence : Status_Confidence.MEASURED;
    const parts = e.partitions.size > 0 ? `${e.partitions.size} partition(s) without it in their ISR` : '';
    e.account = e.direct ? (parts ? `${e.directAccount}; ${parts}` : e.directAccount) : parts;
    // Updates only when the condition, the confidence or the order of magnitude of partitions moves.
    const gist = `${severity}|${e.confidence}|${e.direct ? 1 : 0}|${magnitude(e.partitions.size)}`;
    if (gist === e.gist) return;
    e.gist = gist;
    e.open = true;
    this.version++;
    out.push(this.findingOf(e, false));
  }

  private findingOf(e: Episode, resolved: boolean): Finding {
    return finding({
      id: e.id,
      observer: this.name,
      subject: e.subject,
      condition: conditionOf(e.severity),
      confidence: e.confidence,
      summary: resolved ? `broker ${e.broker} (cluster ${e.cluster}) healthy again` : `broker ${e.broker} (cluster ${e.cluster}): ${e.account}`,
      evidence: e.evidence.slice(0, MAX_EVIDENCE),
      resolved,
      context: { cluster: e.cluster, broker: e.broker, partitions: String(e.partitions.size) },
    });
  }
}

function missingReplicas(context: { [k: string]: string }): string[] {
  const replicas = idList(context.replicas);
  if (replicas.length === 0) return [];
  const isr = new Set(idList(context.isr));
  return replicas.filter((r) => !isr.has(r));
}

function idList(v: string | undefined): string[] {
  return v ? v.split(/[\s,;[\]]+/).filter(Boolean) : [];
}

function magnitude(n: number): number {
  return n <= 2 ? n : Math.floor(Math.log2(n)) + 1;
}

export function conditionOf(severity: number): Status_Condition {
  for (const [c, s] of Object.entries(SEVERITY)) if (s === severity && Number(c) > 0) return Number(c) as Status_Condition;
  return Status_Condition.CONDITION_UNSPECIFIED;
}
