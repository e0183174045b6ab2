// What a narrative says in words: its one-line situation, its root cause, and a recommendation
// concrete enough to act on (which setting, which broker, which group). Written from the
// incident's findings, the root finding first; the numbers come from the findings' context.
import { Situation_Level, Status_Condition, Status_Confidence, type Evidence, type Finding } from '../proto/index.js';
import type { HierarchyView } from '../hierarchy/manager.js';
import { parseSubject, type SubjectInfo } from '../hierarchy/subject.js';

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
  producers: Map<string, SubjectInfo[]>;
  groups: Set<string>;
  consumers: Map<string, SubjectInfo[]>;
  buffers: Finding[];
  lag: Finding[];
}

/** Who is involved, in causal order: the chain's subjects, then the findings' own. */
function castOf(findings: Iterable<Finding>, chain: readonly Evidence[]): Cast {
  const cast: Cast = { producers: new Map(), groups: new Set(), consumers: new Map(), buffers: [], lag: [] };
  const seen = new Set<string>();
  const add = (subject: string): void => {
    if (seen.has(subject)) return;
    seen.add(subject);
    const i = parseSubject(subject);
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

export function explain(root: Finding, findings: Finding[], chain: readonly Evidence[], tree: HierarchyView): Explanation {
  const cast = castOf(findings, chain);
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
      return producer(root, tree);
    case 'slow-consumer':
      return slowConsumer(root);
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

function brokerAdvice(cluster: string, broker: string, inferred: boolean): string {
  return inferred
    ? `Broker ${broker} (cluster ${cluster}) is judged from its clients — no broker metrics are read here: look at it in your provider's console (on MSK: CloudWatch UnderReplicatedPartitions, CpuUser, KafkaDataLogsDiskUsed and network for broker ${broker}) and open a case with the provider if the fault is theirs; clients keep retrying meanwhile (keep retries high and delivery.timeout.ms generous).`
    : `Broker ${broker} (cluster ${cluster}): check its disk (space and I/O wait), network and request handler load, and which partitions lost it from their ISR (kafka-topics.sh --describe --under-replicated-partitions); if it does not catch up, restart it, or move its leaderships away (kafka-leader-election.sh) while you repair it.`;
}

function cascade(root: Finding, cast: Cast): Explanation {
  const cluster = root.context.cluster ?? '';
  const broker = root.context.broker ?? root.subject.split('/').pop()!;
  const inferred = root.context.inferred === 'true';
  const account = root.context['root-account'] ?? '';
  const steps = [inferred ? `broker ${broker} (inferred from ${account || 'its clients failing'})` : `broker ${broker}${account ? ` ${shortAccount(account)}` : ''}`];
  if (cast.producers.size) steps.push(`produce latency in ${list(cast.producers.keys())}`);
  if (cast.buffers.length) steps.push(`buffer exhaustion in ${list(new Set(cast.buffers.map((b) => parseSubject(b.subject).service!)))}`);
  if (cast.groups.size || cast.consumers.size) steps.push(`consumer lag in ${list([...[...cast.groups].map((g) => `group ${g}`), ...cast.consumers.keys()])}`);
  const advice = [brokerAdvice(cluster, broker, inferred)];
  if (cast.producers.size) {
    const used = cast.buffers.map((b) => b.context['buffer-used-pct']).filter(Boolean);
    advice.push(`Producers in ${clients(cast.producers)}: ride it out in memory rather than fail sends — raise buffer.memory${used.length ? ` (buffers at ${used.join('%, ')}%)` : ''} and delivery.timeout.ms, keep retries on and acks=all; do not lower linger.ms until broker ${broker} recovers (smaller batches mean more requests to a slow broker).`);
  }
  if (cast.groups.size || cast.consumers.size) {
    const groups = cast.groups.size ? `Group ${list(cast.groups)}` : `Consumers in ${list(cast.consumers.keys())}`;
    advice.push(`${groups}: do not restart or scale the consumers (that only adds rebalances); the lag drains once broker ${broker} recovers — watch it fall.`);
  }
  const victims = [cast.producers.size ? `producers in ${list(cast.producers.keys())}` : '', cast.groups.size ? `consumer group ${list(cast.groups)}` : cast.consumers.size ? `consumers in ${list(cast.consumers.keys())}` : ''].filter(Boolean);
  return {
    situation: `Cascading failure in cluster ${cluster}: broker ${broker}${inferred ? ' (inferred)' : ''} degrades ${victims.join(', and ') || 'its clients'}`,
    rootCause: steps.join(' -> '),
    recommendation: advice.join(' '),
  };
}

function shortAccount(account: string): string {
  const m = /UnderReplicatedPartitions=(\d+)/.exec(account);
  if (m) return `under-replicated partitions (${m[1]})`;
  if (/OfflinePartitions/.test(account)) return `offline partitions (${account})`;
  return `(${account})`;
}

function brokerAlone(root: Finding): Explanation {
  const cluster = root.context.cluster ?? '';
  const broker = root.context.broker ?? '';
  const account = root.summary.replace(/^broker \S+ \(cluster \S+\): /, '');
  const what = /UnderReplicated|ISR/.test(account) ? 'under-replicated partitions' : /Offline/.test(account) ? 'offline partitions' : `is ${Status_Condition[root.condition]}`;
  return {
    situation: `Broker ${broker} of cluster ${cluster}: ${what}`,
    rootCause: `broker ${broker}: ${account}`,
    recommendation: brokerAdvice(cluster, broker, false),
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
    recommendation: brokerAdvice(cluster, broker, true),
  };
}

function gc(root: Finding): Explanation {
  const i = parseSubject(root.subject);
  const pause = /gc-pause-ms=(\d+)/.exec(root.summary)?.[1];
  const heap = /heap-used-pct=(\d+)/.exec(root.summary)?.[1];
  const follow = root.summary.split('; its Kafka clients follow: ')[1];
  return {
    situation: pause ? `GC pauses in ${i.service}/${i.pod} degrade its Kafka clients` : `The JVM of ${i.service}/${i.pod} is running out of heap`,
    rootCause: `JVM of ${i.service}/${i.pod}: ${root.summary.replace(/^JVM of \S+ /, '').split('; its Kafka clients')[0]}${follow ? ` -> ${follow}` : ''}`,
    recommendation:
      `${i.service} pod ${i.pod}: the JVM stops for seconds in garbage collection${heap ? ` with the heap ${heap}% full` : ''} — give it more heap (-Xmx) or find what allocates (a heap dump, or the allocation profile of a recent release), and prefer G1 or ZGC with a pause goal (-XX:MaxGCPauseMillis=200). ` +
      `Meanwhile keep its consumers in their group through the pauses: session.timeout.ms above the longest pause${pause ? ` (${(Number(pause) / 1000).toFixed(1)} s now)` : ''}, and max.poll.interval.ms with room to spare.`,
  };
}

function producer(root: Finding, tree: HierarchyView): Explanation {
  const i = parseSubject(root.subject);
  const used = root.context['buffer-used-pct'];
  const latency = root.context.latency === 'diverging';
  const brokers = brokerHealth(tree);
  const full = root.condition === Status_Condition.DEGRADED ? 'exhausted' : 'filling up';
  const where = `producer ${i.clientId} of ${i.service} (pod ${i.pod})`;
  const rootCause = latency
    ? `${where}: buffer.memory ${full}${used ? ` (${used}% used)` : ''} while request latency climbs, and ${brokers}: the path from ${i.service} to the brokers is slow, or its requests are too large`
    : `${where}: buffer.memory ${full}${used ? ` (${used}% used)` : ''} while request latency is flat and ${brokers}: it produces faster than it can send`;
  const recommendation = latency
    ? `Producer ${i.clientId} in ${i.service}: look at the network between ${i.pod} and the brokers (retransmits, bandwidth, TLS handshakes); keep requests reasonable (max.request.size, batch.size 64-128 KB) and compress them (compression.type=lz4 or zstd); raise buffer.memory to ride out bursts. Brokers themselves look fine: nothing to do there.`
    : `Producer ${i.clientId} in ${i.service}: raise buffer.memory (the default 32 MB is small for this rate — double it), let batches leave fuller and sooner (batch.size 64-128 KB, linger.ms 5-20), and compress them (compression.type=lz4); if sends still outpace it, add partitions or slow the producer (max.block.ms makes send() wait instead of failing). Brokers look fine: nothing to do there.`;
  return { situation: `Producer buffer exhaustion in ${i.service}`, rootCause, recommendation };
}

/** "brokers are healthy (1, 2, 3 STABLE)" or "no broker trouble is seen" — the contrast a producer root cause rests on. */
function brokerHealth(tree: HierarchyView): string {
  const healthy: string[] = [];
  const troubled: string[] = [];
  for (const cluster of tree.children('cluster')) {
    for (const b of tree.children(`${cluster.path}/broker`)) {
      if (b.own === Status_Condition.STABLE || b.own === Status_Condition.CONVERGING) healthy.push(b.info.broker ?? b.path);
      else if (b.own !== Status_Condition.CONDITION_UNSPECIFIED) troubled.push(b.info.broker ?? b.path);
    }
  }
  if (healthy.length && !troubled.length) return `brokers are healthy (${healthy.join(', ')} STABLE)`;
  if (troubled.length) return `brokers ${troubled.join(', ')} are not healthy either`;
  return 'no broker trouble is seen';
}

function slowConsumer(root: Finding): Explanation {
  const i = parseSubject(root.subject);
  const who = i.group !== undefined ? `group ${i.group}` : `consumer ${i.clientId} of ${i.service}`;
  const topic = root.context.topic;
  const consume = root.context['consume-rate'];
  const produce = root.context['produce-rate'];
  const stalled = root.context.stalled === 'true';
  const rates = consume && produce ? `consumes ${consume} records/s while ${topic ? `${topic} receives` : 'its topics receive'} ${produce}/s` : 'consumes slower than its topics receive';
  const members = root.context.members;
  const partitions = root.context.partitions;
  const scale = members && partitions ? ` (${members} members for ${partitions} partitions: up to ${partitions} consumers help)` : partitions ? ` (up to ${partitions} consumers help)` : '';
  return {
    situation: `Consumer ${who} is falling behind${topic ? ` on ${topic}` : ''}`,
    rootCause: stalled ? `${who} has stopped consuming while ${topic ?? 'its topics'} still receive records: ${root.summary.split(': ').slice(1).join(': ')}` : `${who} ${rates}: ${root.summary.split(': ').slice(1).join(': ')}`,
    recommendation: stalled
      ? `${cap(who)}: its consumers are connected but not committing — look for a stuck poll loop, a poison record, or errors in their logs; restart one member to see whether the partition moves on.`
      : `${cap(who)}: add consumers${scale}, or make each one faster — less work per record, fewer round trips per batch (max.poll.records, fetch.min.bytes), processing in parallel within a partition where order allows; brokers and producers look fine.`,
  };
}

function rebalance(root: Finding, findings: Finding[]): Explanation {
  const i = parseSubject(root.subject);
  const who = i.group !== undefined ? `group ${i.group}` : `consumer ${i.clientId}`;
  const lag = findings.find((f) => f.observer === 'slow-consumer' && !f.resolved);
  return {
    situation: `Rebalance storm in ${who}`,
    rootCause: `${who}: ${root.summary.split(': ').slice(1).join(': ')}${lag ? ` -> ${lag.summary}` : ''}`,
    recommendation:
      `${cap(who)}: members keep leaving and rejoining — if processing a batch takes long, raise max.poll.interval.ms or lower max.poll.records; if pauses or network hiccups cut heartbeats, raise session.timeout.ms (and heartbeat.interval.ms to a third of it); ` +
      `for rolling restarts give each member a group.instance.id (static membership); and use partition.assignment.strategy=CooperativeStickyAssignor so a rebalance does not stop the whole group.`,
  };
}

const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
