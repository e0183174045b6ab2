// broker-inferred (seed 000's BrokerStateInferrer): on managed Kafka nobody can read a broker's
// JMX, but its clients tell. When many clients fail against one broker in a short window — and
// that broker takes most of the failures, so it is not the clients' own network — the broker is
// inferred DEGRADED: TENTATIVE with a few clients, MEASURED with many, never CONFIRMED. If the
// broker's own metrics say it is healthy, the inference stays TENTATIVE (the path may be at fault).
// Client signals name the broker in context "node-id" and their cluster in "cluster" (the agent
// stamps both; else the default cluster name). Clients are counted by entity: a producer whose
// latency to broker 2 climbs and whose sends to it fail is one failing client.
import { CTX, Status_Condition, Status_Confidence, entity, type Evidence, type Finding } from '../proto/index.js';
import type { HierarchyView } from '../hierarchy/manager.js';
import { Health } from './facts.js';
import { OpenTroubles, type BrokerTrouble, type BrokerTroubleSource } from './broker-health.js';
import { NO_FINDINGS, evidenceOf, finding, type Ids, type Observation, type Observer } from './observer.js';

export interface BrokerInferenceSettings {
  /** Failures count within this window of event time. */
  windowNs: bigint;
  /** Distinct failing clients needed for a TENTATIVE inference ... */
  minClients: number;
  /** ... and for a MEASURED one. */
  measuredClients: number;
  /** Failures needed within the window. */
  minFailures: number;
  /** Share of the cluster's client failures (with a broker named) this broker must take. */
  minShare: number;
  /** Cluster name for clients that do not say theirs. */
  defaultCluster: string;
}

interface ClientRecord {
  failing: boolean;
  /** Timestamps (unix ns) of recent failures, oldest first, bounded. */
  failures: bigint[];
  first: Evidence;
}

interface Suspect extends BrokerTrouble {
  clients: Map<string, ClientRecord>;
  lastArrival: bigint;
  newest: bigint;
  id: string;
  gist: string;
  open: boolean;
  since: Evidence;
  severity: number;
  confidence: Status_Confidence;
  evidence: Evidence[];
  account: string;
  detail: string;
  failures: number;
  failingClients: number;
}

const MAX_FAILURES_KEPT = 64;
const MAX_EVIDENCE = 8;
const DEGRADED = 5;

export class BrokerInferrer implements Observer, BrokerTroubleSource {
  readonly name = 'broker-inferred';
  readonly kinds = ['client'] as const;
  version = 0;
  readonly moved = new Set<string>();
  private readonly suspects = new Map<string, Suspect>();

  constructor(private readonly settings: BrokerInferenceSettings, private readonly ids: Ids) {}

  get count(): number {
    return this.suspects.size;
  }

  troubled(): Iterable<BrokerTrouble> {
    return this.openTroubles.of(this.suspects, this.version);
  }
  private readonly openTroubles = new OpenTroubles<Suspect>();

  observe(o: Observation, tree: HierarchyView, now: bigint): readonly Finding[] {
    const f = o.fact;
    if (f.broker === undefined || f.health === Health.Neutral) return NO_FINDINGS;
    // Failures and latency trouble against a broker count; health resets the client's record.
    const relevant = f.stage === 'producer-errors' || f.stage === 'client-errors' || f.stage === 'producer-latency' || f.stage === 'consumer-latency';
    if (!relevant) return NO_FINDINGS;
    const subject = entity.broker(o.signal.context[CTX.cluster] ?? this.settings.defaultCluster, f.broker);
    const client = o.cell.info.entity;
    let s = this.suspects.get(subject);
    if (f.health === Health.Healthy) {
      const rec = s?.clients.get(client);
      if (!s || !rec || !rec.failing) return NO_FINDINGS;
      rec.failing = false;
    } else {
      if (!s) {
        const parts = subject.split('/');
        const cluster = parts[1]!;
        const broker = parts[3]!;
        s = {
          subject, cluster, broker, since: evidenceOf(o.signal, 'client-errors'), severity: DEGRADED, confidence: Status_Confidence.TENTATIVE,
          evidence: [], inferred: true, silentOnly: false, causes: ['clients'], account: '', detail: '', clients: new Map(), lastArrival: now, newest: 0n, id: '', gist: '', open: false, failures: 0, failingClients: 0,
        };
        this.suspects.set(subject, s);
      }
      let rec = s.clients.get(client);
      if (!rec) s.clients.set(client, (rec = { failing: true, failures: [], first: evidenceOf(o.signal, f.stage!) }));
      rec.failing = true;
      rec.failures.push(o.signal.timestamp);
      if (rec.failures.length > MAX_FAILURES_KEPT) rec.failures.shift();
      if (o.signal.timestamp > s.newest) s.newest = o.signal.timestamp;
    }
    s.lastArrival = now;
    return this.evaluate(s, tree);
  }

  tick(now: bigint, tree: HierarchyView): readonly Finding[] {
    let out: Finding[] | undefined;
    for (const s of this.suspects.values()) {
      // Nothing heard against this broker for a whole window: what was counted is over.
      if (now - s.lastArrival < this.settings.windowNs) continue;
      s.clients.clear();
      const f = this.evaluate(s, tree);
      if (f.length) (out ??= []).push(...f);
    }
    return out ?? NO_FINDINGS;
  }

  private evaluate(s: Suspect, tree: HierarchyView): readonly Finding[] {
    // Its evidence, account and confidence are rewritten here, findings or not.
    this.moved.add(s.cluster);
    const cutoff = s.newest - this.settings.windowNs;
    let failing = 0;
    let failures = 0;
    for (const rec of s.clients.values()) {
      const recent = countSince(rec.failures, cutoff);
      failures += recent;
      if (rec.failing && recent > 0) failing++;
    }
    // Failures against every broker of the cluster in the same window: is this one singled out?
    let clusterFailures = 0;
    for (const other of this.suspects.values()) {
      if (other.cluster !== s.cluster) continue;
      for (const rec of other.clients.values()) clusterFailures += countSince(rec.failures, cutoff);
    }
    const { minClients, measuredClients, minFailures, minShare } = this.settings;
    const holds = failing >= minClients && failures >= minFailures && failures >= minShare * clusterFailures;
    s.failures = failures;
    s.failingClients = failing;
    if (!holds) {
      if (s.clients.size === 0 || [...s.clients.values()].every((r) => !r.failing)) this.suspects.delete(s.subject);
      if (!s.open) return NO_FINDINGS;
      s.open = false;
      s.gist = '';
      this.version++;
      return [this.findingOf(s, true, false)];
    }
    // The broker's own metrics, where someone reads them, may contradict the clients: its reported
    // aspects (not the condition this very inference gave its cell) all current and healthy.
    const contradicted = reportedHealthy(tree, s.subject);
    s.confidence = !contradicted && failing >= measuredClients ? Status_Confidence.MEASURED : Status_Confidence.TENTATIVE;
    s.account = `${failing} clients failing against it`;
    s.detail = `${failing} clients failed ${failures} times against it within ${Number(this.settings.windowNs / 1_000_000_000n)} s (${Math.round((failures / Math.max(1, clusterFailures)) * 100)}% of the cluster's client failures)${contradicted ? ', though its own metrics look healthy' : ''}`;
    const clients = [...s.clients.values()].filter((r) => r.failing).map((r) => r.first).sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    // The inference itself leads the evidence: no signal speaks for the broker, the aggregator does.
    const judged: Evidence = { subject: s.subject, sign: 'inferred DEGRADED', time: clients[0]?.time ?? s.newest, sourceId: 'aggregator', seq: 0n, detail: s.account, clock: {}, stage: 'broker' };
    s.evidence = [judged, ...clients.slice(0, MAX_EVIDENCE - 1)];
    const gist = `${s.confidence}|${contradicted}|${bucket(failing)}`;
    if (gist === s.gist) return NO_FINDINGS;
    if (!s.open) {
      s.id = this.ids.next(this.name);
      s.since = s.evidence[0] ?? s.since;
    }
    s.gist = gist;
    s.open = true;
    this.version++;
    return [this.findingOf(s, false, contradicted)];
  }

  private findingOf(s: Suspect, resolved: boolean, contradicted: boolean): Finding {
    return finding({
      id: s.id,
      observer: this.name,
      subject: s.subject,
      scope: s.subject,
      condition: Status_Condition.DEGRADED,
      confidence: s.confidence,
      summary: resolved ? `broker ${s.broker} (cluster ${s.cluster}): clients no longer failing against it` : `broker ${s.broker} (cluster ${s.cluster}) inferred degraded: ${s.detail}`,
      evidence: s.evidence,
      resolved,
      context: { cluster: s.cluster, broker: s.broker, inferred: 'true', 'failing-clients': String(s.failingClients), failures: String(s.failures), contradicted: String(contradicted) },
    });
  }
}

function reportedHealthy(tree: HierarchyView, broker: string): boolean {
  let reported = 0;
  const own = tree.state(broker);
  if (own && !own.ownStale && own.own !== Status_Condition.CONDITION_UNSPECIFIED) {
    if (own.own !== Status_Condition.STABLE && own.own !== Status_Condition.CONVERGING) return false;
    reported++;
  }
  for (const aspect of tree.children(broker)) {
    if (aspect.stale || aspect.condition === Status_Condition.CONDITION_UNSPECIFIED) continue;
    if (aspect.condition !== Status_Condition.STABLE && aspect.condition !== Status_Condition.CONVERGING) return false;
    reported++;
  }
  return reported > 0;
}

function countSince(ts: bigint[], cutoff: bigint): number {
  let n = 0;
  for (let i = ts.length - 1; i >= 0 && ts[i]! >= cutoff; i--) n++;
  return n;
}

function bucket(n: number): number {
  return n < 8 ? n : 8 + Math.floor(Math.log2(n / 8));
}
