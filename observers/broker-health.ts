// broker-health: a broker in trouble by direct evidence, whatever aspect and whichever source says
// so — its own JMX (under-replicated, offline, under-min-ISR partitions, the active controller,
// request handler idle, request latency, its JVM's heap and GC), the cluster's metadata (a broker
// no longer listed or answering), partitions whose in-sync replicas lack it (Admin API: context
// "replicas" and "isr", comma-separated broker ids; "leader" "none" when offline), and its sensor
// going silent (the agent that reads its JMX gets no answer: a frozen or dying broker stops
// answering at once — evidence, not absence of evidence). All of it counts for the same broker:
// one episode, one finding, with an account of each cause. The cascade observer starts its chains
// from the brokers this one holds in trouble.
import { ASPECT, CTX, SEVERITY, Status_Condition, Status_Confidence, entity, type Evidence, type Finding, type Signal } from '../proto/index.js';
import type { HierarchyView } from '../hierarchy/manager.js';
import { Health } from './facts.js';
import { NO_FINDINGS, evidenceOf, finding, type Ids, type Observation, type Observer } from './observer.js';

/** A broker in trouble, as the cascade observer reads it (direct or inferred). */
export interface BrokerTrouble {
  /** The broker entity. */
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
  /** Its only evidence is that it stopped answering its sensor. */
  readonly silentOnly: boolean;
  /** A short account, causes first: "2 under-replicated partitions; request handler 7 % idle". */
  readonly account: string;
  /** Which kinds of cause it shows: "replication", "load", "gc", "silent", "unlisted", "controller". */
  readonly causes: readonly string[];
}

/**
 * A trouble source's open episodes as a list, made again only when its version moves (the cascade
 * asks at every signal; which are open changes far less often).
 */
export class OpenTroubles<T extends BrokerTrouble & { readonly open: boolean }> {
  private list: readonly T[] = [];
  private at = 0;
  of(episodes: ReadonlyMap<string, T>, version: number): readonly T[] {
    if (this.at !== version) {
      this.list = [...episodes.values()].filter((e) => e.open);
      this.at = version;
    }
    return this.list;
  }
}

export interface BrokerTroubleSource {
  /** Increases whenever the set of troubled brokers or their condition changes. */
  readonly version: number;
  /** How many brokers are in trouble now. */
  readonly count: number;
  troubled(): Iterable<BrokerTrouble>;
  /**
   * Clusters whose troubled brokers may have changed in any way (which, or what they say), added
   * as it happens: the cascade observer re-correlates those alone, and clears the set.
   */
  readonly moved: Set<string>;
}

interface Part {
  evidence: Evidence;
  severity: number;
  confidence: Status_Confidence;
  lastAsserted: bigint;
  /** What it says, for people: "2 under-replicated partitions". */
  account: string;
  cause: string;
  /** The worst value it read in this episode (the most GC time, the fewest idle handlers...). */
  worst: number | undefined;
}

interface Episode extends BrokerTrouble {
  /** Direct evidence by aspect (the broker's own subjects). */
  direct: Map<string, Part>;
  partitions: Map<string, Part>;
  since: Evidence;
  severity: number;
  confidence: Status_Confidence;
  evidence: Evidence[];
  account: string;
  causes: string[];
  silentOnly: boolean;
  id: string;
  /** What the last finding said (undefined: none yet), for telling whether the next is worth emitting. */
  said: { severity: number; confidence: Status_Confidence; causes: readonly string[]; magnitude: number } | undefined;
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
  readonly moved = new Set<string>();
  private readonly episodes = new Map<string, Episode>();
  /** Which brokers each under-replicated partition counts against. */
  private readonly partitionBrokers = new Map<string, string[]>();

  constructor(private readonly settings: BrokerHealthSettings, private readonly ids: Ids) {}

  get count(): number {
    return this.episodes.size;
  }

  troubled(): Iterable<BrokerTrouble> {
    return this.openTroubles.of(this.episodes, this.version);
  }
  private readonly openTroubles = new OpenTroubles<Episode>();

  observe(o: Observation, _tree: HierarchyView, now: bigint): readonly Finding[] {
    const { fact, signal, cell } = o;
    if (fact.health === Health.Neutral) return NO_FINDINGS;
    const cluster = cell.info.cluster!;
    // Made with the first finding (most signals make none).
    let out: Finding[] | undefined;
    if (cell.info.kind === 'broker') {
      const subject = cell.info.entity;
      let e = this.episodes.get(subject);
      const aspect = signal.subject;
      if (fact.health === Health.Unhealthy) {
        e ??= this.start(subject, cluster, cell.info.broker!, evidenceOf(signal, 'broker'));
        // A broker that stopped answering its sensor may be frozen, or the agent cut off from it:
        // trouble, not (yet) known to be DOWN.
        if (fact.aspect === ASPECT.sensor) fact.severity = Math.min(fact.severity, DEGRADED);
        const known = e.direct.get(aspect);
        const worst = worstOf(fact.aspect, known?.worst, num(signal.context[CTX.value]));
        const { account, cause } = describe(signal, fact.aspect, worst);
        if (known) {
          known.severity = fact.severity;
          known.confidence = fact.confidence;
          known.lastAsserted = now;
          known.account = account;
          known.worst = worst;
        } else {
          const ev = evidenceOf(signal, 'broker');
          addEvidence(e.evidence, ev);
          e.direct.set(aspect, { evidence: ev, severity: fact.severity, confidence: fact.confidence, lastAsserted: now, account, cause, worst });
        }
      } else if (e?.direct.delete(aspect) !== true) {
        return NO_FINDINGS;
      }
      if (e) this.settle(e, (out ??= []));
      return out ?? NO_FINDINGS;
    }
    // A partition: the brokers missing from its ISR carry it.
    const path = cell.info.entity;
    const previous = this.partitionBrokers.get(path);
    // A healthy partition no broker was missing from: nothing to move.
    if (previous === undefined && fact.health !== Health.Unhealthy) return NO_FINDINGS;
    const missing = fact.health === Health.Unhealthy ? missingReplicas(signal.context) : [];
    const missingSubjects = missing.map((id) => entity.broker(cluster, id));
    for (const b of previous ?? []) {
      if (missingSubjects.includes(b)) continue;
      const e = this.episodes.get(b);
      if (e?.partitions.delete(path)) this.settle(e, (out ??= []));
    }
    if (missing.length === 0) {
      this.partitionBrokers.delete(path);
      return out ?? NO_FINDINGS;
    }
    const offline = /^(-1|none|)$/.test(signal.context.leader ?? 'x');
    for (const id of missing) {
      const subject = entity.broker(cluster, id);
      const e = this.episodes.get(subject) ?? this.start(subject, cluster, id, evidenceOf(signal, 'partition'));
      const known = e.partitions.get(path);
      const part: Part = { evidence: known?.evidence ?? evidenceOf(signal, 'partition'), severity: offline ? DEFECTIVE : Math.max(fact.severity, DEGRADED), confidence: Status_Confidence.MEASURED, lastAsserted: now, account: '', cause: 'replication', worst: undefined };
      e.partitions.set(path, part);
      if (!known) addEvidence(e.evidence, part.evidence);
      this.settle(e, (out ??= []));
    }
    this.partitionBrokers.set(path, missingSubjects);
    return out ?? NO_FINDINGS;
  }

  tick(now: bigint): readonly Finding[] {
    let out: Finding[] | undefined;
    // Evidence asserted at or before the cutoff has expired (one subtraction a tick, not one a part;
    // forEach: no entry arrays).
    const cutoff = now - this.settings.ttlNs;
    let changed = false;
    const expire = (part: Part, k: string, parts: Map<string, Part>): void => {
      if (part.lastAsserted <= cutoff) {
        parts.delete(k);
        changed = true;
      }
    };
    for (const e of this.episodes.values()) {
      changed = false;
      e.direct.forEach(expire);
      e.partitions.forEach(expire);
      if (changed) this.settle(e, (out ??= []));
    }
    return out ?? NO_FINDINGS;
  }

  private start(subject: string, cluster: string, broker: string, since: Evidence): Episode {
    const e: Episode = {
      subject, cluster, broker, since, severity: 0, confidence: Status_Confidence.CONFIDENCE_UNSPECIFIED, evidence: [since], inferred: false, silentOnly: false,
      account: '', causes: [], direct: new Map(), partitions: new Map(), id: this.ids.next(this.name), said: undefined, open: false,
    };
    this.episodes.set(subject, e);
    return e;
  }

  /** Recomputes the episode's condition and emits a finding when what it says changed. */
  private settle(e: Episode, out: Finding[]): void {
    this.moved.add(e.cluster);
    let severity = 0;
    let confidence: Status_Confidence = Status_Confidence.CONFIDENCE_UNSPECIFIED;
    for (const p of e.direct.values()) {
      severity = Math.max(severity, p.severity);
      if (p.confidence > confidence) confidence = p.confidence;
    }
    for (const p of e.partitions.values()) severity = Math.max(severity, p.severity);
    if (severity === 0) {
      this.episodes.delete(e.subject);
      this.version++;
      if (e.open) out.push(this.findingOf(e, true));
      return;
    }
    // Causes in a fixed order (replication, load, gc...), each account once: the parts taken cause
    // by cause in that order, each cause's in the map's order (a stable sort, without one).
    const causes = this.causes;
    const accounts = this.accounts;
    causes.length = 0;
    accounts.length = 0;
    if (e.direct.size > 0) {
      for (let k = 0; k < CAUSE_ORDER.length; k++) {
        const cause = CAUSE_ORDER[k]!;
        for (const p of e.direct.values()) {
          if (p.cause !== cause) continue;
          if (!causes.includes(cause)) causes.push(cause);
          if (!accounts.includes(p.account)) accounts.push(p.account);
        }
      }
    }
    if (e.partitions.size > 0) {
      if (!causes.includes('replication')) causes.push('replication');
      accounts.push(`${e.partitions.size} partition(s) without it in their ISR`);
    }
    const silentOnly = causes.length === 1 && causes[0] === 'silent';
    // Two sources agreeing (its own metrics and the cluster's metadata) is confirmation; a sensor
    // that went silent alone only raises a suspicion.
    e.confidence = silentOnly ? Status_Confidence.TENTATIVE : e.direct.size > 0 && e.partitions.size > 0 ? Status_Confidence.CONFIRMED : e.direct.size > 0 ? confidence : Status_Confidence.MEASURED;
    e.severity = severity;
    e.silentOnly = silentOnly;
    // The list is replaced when it changes, never changed in place (readers keep it).
    if (!sameStrings(e.causes, causes)) e.causes = causes.slice();
    e.account = accounts.length === 1 ? accounts[0]! : accounts.join('; ');
    // Updates only when the condition, the confidence, the causes or the order of magnitude of partitions moves.
    const size = magnitude(e.partitions.size);
    const said = e.said;
    if (said && said.severity === severity && said.confidence === e.confidence && said.causes === e.causes && said.magnitude === size) return;
    e.said = { severity, confidence: e.confidence, causes: e.causes, magnitude: size };
    e.open = true;
    this.version++;
    out.push(this.findingOf(e, false));
  }
  /** Scratch lists of settle (copied when kept). */
  private readonly causes: string[] = [];
  private readonly accounts: string[] = [];

  private findingOf(e: Episode, resolved: boolean): Finding {
    return finding({
      id: e.id,
      observer: this.name,
      subject: e.subject,
      scope: e.subject,
      condition: conditionOf(e.severity),
      confidence: e.confidence,
      summary: resolved ? `broker ${e.broker} (cluster ${e.cluster}) healthy again` : `broker ${e.broker} (cluster ${e.cluster}): ${e.account}`,
      evidence: e.evidence.slice(0, MAX_EVIDENCE),
      resolved,
      context: { cluster: e.cluster, broker: e.broker, partitions: String(e.partitions.size), causes: e.causes.join(','), account: e.account },
    });
  }
}

const CAUSE_ORDER = ['unlisted', 'silent', 'controller', 'replication', 'load', 'latency', 'gc', 'heap', 'other'];

/** Aspects whose worst reading is the lowest (idle handlers); for the others it is the highest. */
const LOWER_IS_WORSE = new Set<string>([ASPECT.requestHandlerIdle]);

function worstOf(aspect: string, before: number | undefined, now: number | undefined): number | undefined {
  if (now === undefined) return before;
  if (before === undefined) return now;
  return LOWER_IS_WORSE.has(aspect) ? Math.min(before, now) : Math.max(before, now);
}

/** What a broker's unhealthy signal says, in words (its worst reading in the episode), and the kind of cause. */
function describe(s: Signal, aspect: string, v: number | undefined): { account: string; cause: string } {
  const c = s.context;
  switch (aspect) {
    case ASPECT.underReplicated:
      return { account: `${count(v, 'under-replicated partition')}`, cause: 'replication' };
    case ASPECT.offlinePartitions:
      return { account: `${count(v, 'offline partition')}`, cause: 'replication' };
    case ASPECT.underMinIsr:
      return { account: `${count(v, 'partition')} under min.insync.replicas`, cause: 'replication' };
    case ASPECT.activeController:
      return { account: `active controller count ${v ?? '?'} (should be 1 in the cluster)`, cause: 'controller' };
    case ASPECT.requestHandlerIdle:
      return { account: `request handlers ${v === undefined ? 'busy' : `${percent(v)} idle`}${c[CTX.clampedFrom] ? ` (read ${c[CTX.clampedFrom]}, out of range)` : ''}`, cause: 'load' };
    case ASPECT.requestLatency: {
      const request = s.context.request ?? /request-latency\/(.+)$/.exec(s.subject)?.[1] ?? 'request';
      return { account: `${request} latency ${v === undefined ? 'rising' : `${ms(v)} (p99) and rising`}`, cause: 'latency' };
    }
    case ASPECT.gc: {
      const gc = s.context.gc ?? 'the collector';
      return { account: `its JVM paused ${v === undefined ? 'long' : seconds(v)} in GC (${gc}) between two readings`, cause: 'gc' };
    }
    case ASPECT.heap:
      return { account: `its JVM heap ${v === undefined ? 'nearly full' : `${percent(v)} full`}`, cause: 'heap' };
    case ASPECT.sensor:
      return { account: `stopped answering its JMX sensor${c[CTX.reason] ? ` (${c[CTX.reason]})` : ''}`, cause: 'silent' };
    case ASPECT.metadata:
      return { account: c[CTX.reason] ?? 'missing from the cluster metadata', cause: 'unlisted' };
    default:
      return { account: `${aspect || 'status'} ${Status_Condition[s.status?.condition ?? 0] ?? 'unhealthy'}`, cause: 'other' };
  }
}

/** Adds `ev` unless the same signal is there already (or the list is full). */
function addEvidence(list: Evidence[], ev: Evidence): void {
  if (list.length >= MAX_EVIDENCE || list.some((x) => x.sourceId === ev.sourceId && x.seq === ev.seq && x.subject === ev.subject)) return;
  list.push(ev);
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function num(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** "2 under-replicated partitions", "1 offline partition". */
export function count(n: number | undefined, what: string): string {
  if (n === undefined) return `${what}s`;
  const k = Math.round(n);
  return `${k} ${what}${k === 1 ? '' : 's'}`;
}

/** A percentage for people: "7 %", "0.4 %", "83 %". */
export function percent(v: number): string {
  return `${v > 0 && v < 1 ? v.toFixed(1) : Math.round(v)} %`;
}

export function ms(v: number): string {
  return v >= 1000 ? seconds(v) : `${Math.round(v)} ms`;
}

export function seconds(vMs: number): string {
  return `${(vMs / 1000).toFixed(vMs < 10_000 ? 1 : 0)} s`;
}

function missingReplicas(context: { readonly [k: string]: string }): string[] {
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
