// What a narrative says in words: its one-line situation, its root cause, and a recommendation
// concrete enough to act on (which setting, which broker, which group). Written from the
// incident's findings, the root finding first; the numbers come from the findings' context and
// are rendered for people (whole percents, counts as counts). A sentence states only what is
// established: the brokers "look fine" only when they are observed and healthy; when nobody
// reads them, the text says so.
import { CTX, Situation_Level, Status_Condition, Status_Confidence, entityOf, parseCellPath, type Evidence, type Finding, type SubjectInfo } from '../proto/index.js';
import type { HierarchyView } from '../hierarchy/manager.js';
import { fmt } from '../observers/slow-consumer.js';

export interface Explanation {
  situation: string;
  rootCause: string;
  recommendation: string;
}

/** How much a finding says about where an incident starts: a higher rank roots the incident. */
export const ROOT_RANK: Record<string, number> = {
  'cascading-failure': 3,
  'broker-health': 2,
  'broker-inferred': 2,
  'gc-pause': 2,
  'producer-backpressure': 1,
  'slow-consumer': 1,
  'rebalance-storm': 1,
  oscillation: 0,
};

export const rootRank = (f: Finding): number => ROOT_RANK[f.observer] ?? 0;

/** Situations (Serventis): WARNING ⇐ DIVERGING/ERRATIC/DEGRADED, CRITICAL ⇐ DEFECTIVE/DOWN; TENTATIVE findings only observe. */
export function levelOf(f: Finding): Situation_Level {
  if (f.resolved || f.confidence === Status_Confidence.TENTATIVE) return Situation_Level.NORMAL;
  switch (f.condition) {
    case Status_Condition.DEFECTIVE:
    case Status_Condition.DOWN:
      return Situation_Level.CRITICAL;
    case Status_Condition.DIVERGING:
    case Status_Condition.ERRATIC:
    case Status_Condition.DEGRADED:
      return Situation_Level.WARNING;
    default:
      return Situation_Level.NORMAL;
  }
}

interface Cast {
  /** service -> its producer clients in the story. */
  producers: Map<string, SubjectInfo[]>;
  groups: Set<string>;
  consumers: Map<string, SubjectInfo[]>;
  buffers: Finding[];
  lag: Finding[];
}

/** Who is involved, in causal order: the chain's entities, then the findings' own. */
function castOf(findings: Iterable<Finding>, chain: readonly Evidence[], tree: HierarchyView): Cast {
  const cast: Cast = { producers: new Map(), groups: new Set(), consumers: new Map(), buffers: [], lag: [] };
  const seen = new Set<string>();
  const add = (subject: string): void => {
    const e = entityOf(subject);
    if (seen.has(e)) return;
    seen.add(e);
    // The tree has read the entity already (every evidence subject is a cell of it, or was).
    const i = tree.state(e)?.info ?? parseCellPath(e);
    if (!i) return;
    if (i.kind === 'client' && i.role === 'producer') push(cast.producers, i.service!, i);
    else if (i.kind === 'client' && i.role === 'consumer') push(cast.consumers, i.service!, i);
    else if (i.group !== undefined) cast.groups.add(i.group);
  };
  for (const e of chain) add(e.subject);
  for (const f of findings) {
    add(f.subject);
    if (f.observer === 'producer-backpressure') cast.buffers.push(f);
    if (f.observer === 'slow-consumer') cast.lag.push(f);
  }
  return cast;
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

const list = (xs: Iterable<string>): string => {
  const a = [...xs];
  return a.length <= 1 ? (a[0] ?? '') : `${a.slice(0, -1).join(', ')} and ${a.at(-1)}`;
};

function clients(m: Map<string, SubjectInfo[]>): string {
  return list([...m.entries()].map(([svc, infos]) => `${svc} (${[...new Set(infos.map((i) => i.clientId))].join(', ')})`));
}

const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

export function explain(root: Finding, findings: Finding[], chain: readonly Evidence[], tree: HierarchyView): Explanation {
  const cast = castOf(findings, chain, tree);
  switch (root.observer) {
    case 'cascading-failure':
      return cascade(root, cast);
    case 'broker-health':
      return brokerAlone(root);
    case 'broker-inferred':
      return inferredAlone(root, cast);
    case 'gc-pause':
      return gc(root);
    case 'producer-backpressure':
      return producer(root, findings, tree);
    case 'slow-consumer':
      return slowConsumer(root, tree);
    case 'rebalance-storm':
      return rebalance(root, findings);
    default:
      return {
        situation: `${root.subject} is flapping`,
        rootCause: root.summary,
        recommendation: `${root.subject}: look at what makes it come and go (restarts, reconnects, a metric sitting right at its threshold); widen the hysteresis of that threshold in the agent's rules if the metric is simply noisy there.`,
      };
  }
}

/** What to do about a broker, by what it shows. */
function brokerAdvice(cluster: string, broker: string, causes: readonly string[], inferred: boolean): string {
  if (inferred) {
    return `Broker ${broker} (cluster ${cluster}) is judged from its clients — no broker metrics are read here: look at it in your provider's console (on MSK: CloudWatch UnderReplicatedPartitions, CpuUser, KafkaDataLogsDiskUsed and network for broker ${broker}) and open a case with the provider if the fault is theirs; clients keep retrying meanwhile (keep retries high and delivery.timeout.ms generous).`;
  }
  const advice: string[] = [];
  if (causes.includes('silent')) {
    advice.push(`Broker ${broker} (cluster ${cluster}) stopped answering: check that its process is alive and not frozen (jstack or a GC log showing a long pause, the host's CPU steal, memory and disk I/O); if it does not come back within the session timeout, restart it — its partitions' leadership moves to the other replicas once the controller drops it.`);
  }
  if (causes.includes('gc') || causes.includes('heap')) {
    advice.push(`Broker ${broker}: its JVM spends seconds in garbage collection — a broker needs a modest heap and the page cache (KAFKA_HEAP_OPTS="-Xms6g -Xmx6g" is typical), G1 with a short pause goal (-XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35), and no swap; look at its GC log for what fills the old generation.`);
  }
  if (causes.includes('replication') || causes.includes('load') || causes.includes('latency') || causes.includes('unlisted') || causes.includes('controller') || advice.length === 0) {
    advice.push(`Broker ${broker} (cluster ${cluster}): check its disk (space and I/O wait), network and request handler load, and which partitions lost it from their ISR (kafka-topics.sh --describe --under-replicated-partitions); if it does not catch up, restart it, or move its leaderships away (kafka-leader-election.sh) while you repair it.`);
  }
  return advice.join(' ');
}

/** "broker 1 (2 under-replicated partitions; request handlers 7 % idle)". */
function brokerPhrase(broker: string, account: string, inferred: boolean): string {
  if (inferred) return `broker ${broker} (inferred from ${account || 'its clients failing'})`;
  return account ? `broker ${broker} (${account})` : `broker ${broker}`;
}

function cascade(root: Finding, cast: Cast): Explanation {
  const cluster = root.context.cluster ?? '';
  const broker = root.context.broker ?? root.subject.split('/').pop()!;
  const inferred = root.context.inferred === 'true';
  const account = root.context['root-account'] ?? '';
  const causes = (root.context['root-causes'] ?? '').split(',').filter(Boolean);
  const steps = [brokerPhrase(broker, account, inferred)];
  if (cast.producers.size) steps.push(`produce latency in ${list(cast.producers.keys())}`);
  // A buffer that overflowed is exhaustion; one under pressure is only filling: the words follow the finding.
  const full = new Set(cast.buffers.filter((b) => b.context.buffer !== 'pressure').map((b) => b.context.service ?? ''));
  const filling = new Set(cast.buffers.filter((b) => b.context.buffer === 'pressure' && !full.has(b.context.service ?? '')).map((b) => b.context.service ?? ''));
  full.delete('');
  filling.delete('');
  if (full.size || filling.size) steps.push([full.size ? `buffer exhaustion in ${list(full)}` : '', filling.size ? `buffers filling in ${list(filling)}` : ''].filter(Boolean).join(', '));
  if (cast.groups.size || cast.consumers.size) steps.push(`consumer lag in ${list([...[...cast.groups].map((g) => `group ${g}`), ...cast.consumers.keys()])}`);
  const advice = [brokerAdvice(cluster, broker, causes, inferred)];
  if (cast.producers.size) {
    const used = cast.buffers.map((b) => b.context['buffer-used-percent']).filter((x): x is string => x !== undefined);
    advice.push(`Producers in ${clients(cast.producers)}: ride it out in memory rather than fail sends — raise buffer.memory${used.length ? ` (buffers at ${used.map((u) => `${u} %`).join(', ')})` : ''} and delivery.timeout.ms, keep retries on and acks=all; do not lower linger.ms until broker ${broker} recovers (smaller batches mean more requests to a slow broker).`);
  }
  if (cast.groups.size || cast.consumers.size) {
    const groups = cast.groups.size ? `Group ${list(cast.groups)}` : `Consumers in ${list(cast.consumers.keys())}`;
    advice.push(`${groups}: do not restart or scale the consumers (that only adds rebalances); the lag drains once broker ${broker} recovers — watch it fall.`);
  }
  const victims = [cast.producers.size ? `producers in ${list(cast.producers.keys())}` : '', cast.groups.size ? `consumer group ${list(cast.groups)}` : cast.consumers.size ? `consumers in ${list(cast.consumers.keys())}` : ''].filter(Boolean);
  const what = causes.includes('silent') ? ' (not answering)' : causes.includes('gc') ? ' (GC pauses)' : causes.includes('replication') ? ' (under-replicated)' : inferred ? ' (inferred)' : '';
  return {
    situation: `Cascading failure in cluster ${cluster}: broker ${broker}${what} degrades ${victims.join(', and ') || 'its clients'}`,
    rootCause: steps.join(' -> '),
    recommendation: advice.join(' '),
  };
}

function brokerAlone(root: Finding): Explanation {
  const cluster = root.context.cluster ?? '';
  const broker = root.context.broker ?? '';
  const account = root.context.account ?? root.summary.replace(/^broker \S+ \(cluster \S+\): /, '');
  const causes = (root.context.causes ?? '').split(',').filter(Boolean);
  const what = causes.includes('silent') && causes.length === 1 ? 'not answering' : causes.includes('gc') ? 'GC pauses' : causes.includes('replication') ? 'under-replicated partitions' : causes.includes('load') ? 'request handlers saturated' : `${Status_Condition[root.condition]}`;
  return {
    situation: `Broker ${broker} of cluster ${cluster}: ${what}`,
    rootCause: `broker ${broker}: ${account}`,
    recommendation: brokerAdvice(cluster, broker, causes, false),
  };
}

function inferredAlone(root: Finding, cast: Cast): Explanation {
  const cluster = root.context.cluster ?? '';
  const broker = root.context.broker ?? '';
  const n = root.context['failing-clients'] ?? '?';
  const who = cast.producers.size || cast.consumers.size ? ` (${list([...cast.producers.keys(), ...cast.consumers.keys()])})` : '';
  return {
    situation: `Broker ${broker} of cluster ${cluster} looks degraded, inferred from ${n} failing clients`,
    rootCause: `broker ${broker} (inferred): ${root.summary.replace(/^.*inferred degraded: /, '')}${who}`,
    recommendation: brokerAdvice(cluster, broker, [], true),
  };
}

function gc(root: Finding): Explanation {
  const service = root.context.service ?? '';
  const pod = root.context.pod ?? '';
  const pauseMs = Number(root.context['longest-pause-ms'] ?? NaN);
  const heap = root.context['heap-used-percent'];
  const follow = root.summary.split('; its Kafka clients follow: ')[1];
  const paused = Number.isFinite(pauseMs);
  return {
    situation: paused ? `GC pauses in ${service}/${pod} degrade its Kafka clients` : `The JVM of ${service}/${pod} is running out of heap`,
    rootCause: `JVM of ${service}/${pod}: ${root.summary.replace(/^JVM of \S+ /, '').split('; its Kafka clients')[0]}${follow ? ` -> ${follow}` : ''}`,
    recommendation:
      `${service} pod ${pod}: the JVM stops for seconds in garbage collection${heap ? ` with the heap ${heap} % full` : ''} — give it more heap (-Xmx) or find what allocates (a heap dump, or the allocation profile of a recent release), and prefer G1 or ZGC with a pause goal (-XX:MaxGCPauseMillis=200). ` +
      `Meanwhile keep its consumers in their group through the pauses: session.timeout.ms above the longest pause${paused ? ` (${(pauseMs / 1000).toFixed(1)} s so far)` : ''}, and max.poll.interval.ms with room to spare.`,
  };
}

/** What is known of the brokers of `cluster` (all clusters when unknown): the contrast a client-side cause rests on. */
export function brokersSeen(tree: HierarchyView, cluster: string | undefined): { healthy: string[]; troubled: string[] } {
  const healthy: string[] = [];
  const troubled: string[] = [];
  for (const c of tree.children('cluster')) {
    if (cluster !== undefined && c.info.cluster !== cluster) continue;
    for (const b of tree.children(`${c.path}/broker`)) {
      // Observed: heard recently, with a condition (a stale or silent cell is not "fine").
      if (b.stale || b.condition === Status_Condition.CONDITION_UNSPECIFIED) continue;
      const id = cluster === undefined ? `${b.info.broker} (${b.info.cluster})` : b.info.broker!;
      if (b.condition === Status_Condition.STABLE || b.condition === Status_Condition.CONVERGING) healthy.push(id);
      else troubled.push(id);
    }
  }
  return { healthy, troubled };
}

/** A sentence about the brokers, from what is established only. */
function brokerSentence(tree: HierarchyView, cluster: string | undefined): { clause: string; fine: boolean } {
  const { healthy, troubled } = brokersSeen(tree, cluster);
  const where = cluster !== undefined ? ` of cluster ${cluster}` : '';
  if (troubled.length) return { clause: `broker${troubled.length === 1 ? '' : 's'} ${list(troubled)}${where} ${troubled.length === 1 ? 'is' : 'are'} not healthy either`, fine: false };
  if (healthy.length) return { clause: `the brokers${where} are healthy (${list(healthy)} observed STABLE)`, fine: true };
  return { clause: `no broker${where} is observed here (no broker JMX or Admin API agent reports them), so they cannot be ruled out`, fine: false };
}

function producer(root: Finding, findings: Finding[], tree: HierarchyView): Explanation {
  const service = root.context.service ?? '';
  const clientId = root.context['client-id'] ?? '';
  const pod = root.context.pod ?? '';
  const used = root.context['buffer-used-percent'];
  const exhaustions = root.context.exhaustions;
  const latency = root.context.latency === 'diverging';
  const brokers = brokerSentence(tree, root.context.cluster);
  const full = root.context.buffer === 'exhausted' ? 'exhausted' : root.condition === Status_Condition.DEGRADED ? 'full' : 'filling up';
  const others = [...new Set(findings.filter((f) => f.observer === 'producer-backpressure' && f.id !== root.id).map((f) => `${f.context['client-id']} (pod ${f.context.pod})`))];
  const where = `producer ${clientId} of ${service} (pod ${pod}${others.length ? `; also ${list(others)}` : ''})`;
  const sends = exhaustions ? `${exhaustions} send${exhaustions === '1' ? '' : 's'} found it full` : '';
  const state = `buffer.memory ${full}${used ? ` (up to ${used} % used${sends ? `, ${sends}` : ''})` : sends ? ` (${sends})` : ''}`;
  const rootCause = latency
    ? `${where}: ${state} while request latency climbs, and ${brokers.clause}: ${brokers.fine ? `the path from ${service} to the brokers is slow, or its requests are too large` : 'the brokers or the path to them are slow'}`
    : `${where}: ${state} while request latency is flat, and ${brokers.clause}: it produces faster than it can send`;
  const brokerNote = brokers.fine ? ' The brokers themselves are observed healthy: nothing to do there.' : /not observed/.test(brokers.clause) ? ' Nobody reads the brokers here: check them too (or run a broker sidecar or an Admin API agent).' : ` Look at ${brokers.clause.replace(/ are not healthy either| is not healthy either/, '')} first.`;
  const recommendation = latency
    ? `Producer ${clientId} in ${service}: look at the network between ${pod} and the brokers (retransmits, bandwidth, TLS handshakes); keep requests reasonable (max.request.size, batch.size 64-128 KB) and compress them (compression.type=lz4 or zstd); raise buffer.memory to ride out bursts.${brokerNote}`
    : `Producer ${clientId} in ${service}: raise buffer.memory (the default 32 MB is small for this rate — double it), let batches leave fuller and sooner (batch.size 64-128 KB, linger.ms 5-20), and compress them (compression.type=lz4); if sends still outpace it, add partitions or slow the producer (max.block.ms makes send() wait instead of failing).${brokerNote}`;
  return { situation: `Producer buffer exhaustion in ${service}`, rootCause, recommendation };
}

function slowConsumer(root: Finding, tree: HierarchyView): Explanation {
  const i = parseCellPath(root.subject);
  const who = i?.group !== undefined ? `group ${i.group}` : `consumer ${i?.clientId} of ${i?.service}`;
  const topic = root.context.topic;
  const on = topic ? ` on ${topic}` : '';
  const consume = root.context['consume-rate'];
  const produce = root.context['produce-rate'];
  const members = root.context.members;
  const partitions = root.context.partitions;
  const verdict = root.context.verdict ?? 'falling-behind';
  const rewound = (root.context.verdicts ?? '').split(',').includes('rewound');
  const evidence = root.summary.split(': ').slice(1).join(': ');
  const rates = consume && produce ? `consumes ${num(consume)} records/s while ${topic ? `${topic} receives` : 'its topics receive'} ${num(produce)}/s` : consume ? `consumes ${num(consume)} records/s, slower than its topics receive` : 'consumes slower than its topics receive';
  const brokers = brokerSentence(tree, root.context.cluster);
  // Retention closing on unconsumed records is the most urgent thing to say: first.
  const urgent = retentionSentence(root);
  const explained = (e: Explanation): Explanation => (urgent ? { ...e, recommendation: `${urgent} ${e.recommendation}` } : e);
  switch (verdict) {
    case 'stopped':
      return explained({
        situation: `${cap(who)} has stopped consuming${on}`,
        rootCause: `${who}${members === '0' ? ' has no member left' : members ? ` has ${members} member(s) but none consumes` : ' commits nothing'} while ${topic ?? 'its topics'} keep receiving records: ${evidence}`,
        recommendation: `${cap(who)}: start its consumers again, or find why they stopped (a crash loop, an OOM kill, a deployment scaled to 0, a consumer that left the group after max.poll.interval.ms); until then its lag grows with every record written${topic ? ` to ${topic}` : ''}, and unconsumed records age towards the topic's retention.`,
      });
    case 'stalled':
      return explained({
        situation: `${cap(who)} is stuck${on}`,
        rootCause: `${who}: its members are connected but its committed offsets do not move: ${evidence}`,
        recommendation: `${cap(who)}: look for a stuck poll loop, a poison record that fails processing again and again, or errors in its members' logs; restart one member to see whether the partition moves on.`,
      });
    case 'rewound':
      return explained({
        situation: `${cap(who)} was reset backwards${on}`,
        rootCause: `${who}: its committed offsets went backwards (an offset reset or a replay): ${evidence}`,
        recommendation: `${cap(who)}: if the reset was intended (kafka-consumer-groups.sh --reset-offsets), let it re-read — it catches up at its consumption rate; if it was not, find who reset it (the group's commit log, an application starting with auto.offset.reset=earliest and no committed offsets) and reset it forward to where it was.`,
      });
    default: {
      const scale = members && partitions ? ` (${members} member(s) for ${partitions} partitions: up to ${partitions} consumers help)` : partitions ? ` (up to ${partitions} consumers help)` : '';
      return explained({
        situation: `${cap(who)} is falling behind${on}${rewound ? ' after its offsets were reset' : ''}`,
        rootCause: `${who} ${rates}${rewound ? ', re-reading after its offsets were reset backwards' : ''}: ${evidence}`,
        recommendation: `${cap(who)}: add consumers${scale}, or make each one faster — less work per record, fewer round trips per batch (max.poll.records, fetch.min.bytes), processing in parallel within a partition where order allows.${brokers.fine ? ' The brokers are observed healthy: nothing to do there.' : /not observed/.test(brokers.clause) ? ' Nobody reads the brokers here, so check that fetches are not slow on their side.' : ` Note that ${brokers.clause}.`}`,
      });
    }
  }
}

/** A sentence for the recommendation when retention is deleting, or about to delete, a group's unconsumed records. */
function retentionSentence(root: Finding): string {
  const where = root.context['retention-partition'] || 'its partitions';
  const left = Number(root.context[CTX.retentionSecondsLeft]);
  if (root.context.retention === 'at-risk') {
    return `Unconsumed records of ${where} will be deleted by retention${Number.isFinite(left) ? ` in ~${duration(left)}` : ' soon'}: get a consumer reading before then, or raise the topic's retention.ms (or retention.bytes) for now.`;
  }
  if (root.context.retention === 'lost') {
    return `Unconsumed records of ${where} were already deleted by retention: the group resumes at the log start (auto.offset.reset); replay them from their source if they matter, and raise the topic's retention before it happens again.`;
  }
  return '';
}

function duration(seconds: number): string {
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

function rebalance(root: Finding, findings: Finding[]): Explanation {
  const i = parseCellPath(root.subject);
  const who = i?.kind === 'group' ? `group ${i.group}` : `the consumers of ${i?.service}`;
  const lag = findings.find((f) => f.observer === 'slow-consumer' && !f.resolved);
  return {
    situation: `Rebalance storm in ${who}`,
    rootCause: `${who}: ${root.summary.split(': ').slice(1).join(': ')}${lag ? ` -> ${lag.summary}` : ''}`,
    recommendation:
      `${cap(who)}: members keep leaving and rejoining — if processing a batch takes long, raise max.poll.interval.ms or lower max.poll.records; if pauses or network hiccups cut heartbeats, raise session.timeout.ms (and heartbeat.interval.ms to a third of it); ` +
      `for rolling restarts give each member a group.instance.id (static membership); and use partition.assignment.strategy=CooperativeStickyAssignor so a rebalance does not stop the whole group.`,
  };
}

function num(v: string): string {
  const n = Number(v);
  return Number.isFinite(n) ? (n >= 10 ? fmt(n) : String(Number(n.toPrecision(2)))) : v;
}
