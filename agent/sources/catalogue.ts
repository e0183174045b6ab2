// The metric catalogue of ARCHITECTURE.md §4, shared by every JVM source: JMX and Prometheus
// text both reduce what they read to these readings, so the same values make the same signs
// whichever way they were read. Metric names are those the rules (translate/default-rules.yaml)
// refer to.
import type { Observation } from '../translate/index.js';
import type { SubjectNames } from '../sensor.js';
import { CTX, entity, type ClientRole } from '../../proto/index.js';

/** What a reading is about, before names turn it into a subject. */
export type Scope =
  | { kind: 'client'; role: ClientRole; clientId: string }
  | { kind: 'jvm' }
  | { kind: 'broker' }
  /** A user-defined bean: about the pod (its rule names the aspect, from the bean's key properties). */
  | { kind: 'pod' };

export interface Reading {
  scope: Scope;
  metric: string;
  value: number;
  /** Labels and raw values for the signal's context. */
  context: Record<string, string>;
}

export type ClientGroup = 'producer' | 'consumer-fetch' | 'consumer-coordinator';

/**
 * Kafka client metric groups: their MBean type, the attributes read, the exporter's prefix.
 *
 * Client versions differ (measured on real clients, ARCHITECTURE.md §12): 2.2 coordinators expose
 * join-total and join-time-avg and none of rebalance-total, rebalance-latency-avg,
 * rebalance-rate-per-hour, last-rebalance-seconds-ago, which came with KIP-429 in 2.4. Each
 * catalogue metric is read from the first attribute of its `from` list the client has, so the
 * rules serve 2.x and 3.x clients alike; the context names the attribute used.
 */
export const CLIENT_GROUPS: Record<ClientGroup, { role: 'producer' | 'consumer'; domain: string; type: string; attributes: readonly string[]; extra: readonly string[] }> = {
  producer: {
    role: 'producer',
    domain: 'kafka.producer',
    type: 'producer-metrics',
    attributes: ['buffer-available-bytes', 'buffer-total-bytes', 'buffer-exhausted-total', 'request-latency-avg', 'record-error-rate', 'record-send-rate', 'batch-size-avg'],
    extra: [],
  },
  'consumer-fetch': {
    role: 'consumer',
    domain: 'kafka.consumer',
    type: 'consumer-fetch-manager-metrics',
    attributes: ['records-lag-max', 'fetch-latency-avg', 'records-consumed-rate', 'bytes-consumed-rate'],
    extra: [],
  },
  'consumer-coordinator': {
    role: 'consumer',
    domain: 'kafka.consumer',
    type: 'consumer-coordinator-metrics',
    attributes: ['assigned-partitions', 'commit-latency-avg', 'rebalance-total', 'rebalance-latency-avg', 'join-total', 'join-time-avg'],
    // Kept as evidence in the context of the rebalance signals.
    extra: ['rebalance-rate-per-hour', 'last-rebalance-seconds-ago', 'join-rate'],
  },
};

/** Catalogue metrics read from whichever attribute the client version has (newest first). */
const FALLBACKS: Record<string, readonly string[]> = {
  'rebalance-total': ['rebalance-total', 'join-total'],
  'rebalance-latency-avg': ['rebalance-latency-avg', 'join-time-avg'],
};
/** Attributes that only stand in for a catalogue metric (not readings of their own). */
const STAND_INS = new Set(['join-total', 'join-time-avg']);

/** The ObjectName pattern of a client group: one bean per client-id (not the per-topic ones). */
export const clientPattern = (g: ClientGroup): string => `${CLIENT_GROUPS[g].domain}:type=${CLIENT_GROUPS[g].type},client-id=*`;

/** Per-broker request latency of a client (producer-node-metrics / consumer-node-metrics, node-id=node-<id>). */
export const NODE_GROUPS = {
  producer: { domain: 'kafka.producer', type: 'producer-node-metrics' },
  consumer: { domain: 'kafka.consumer', type: 'consumer-node-metrics' },
} as const;
export const nodePattern = (role: 'producer' | 'consumer'): string => `${NODE_GROUPS[role].domain}:type=${NODE_GROUPS[role].type},client-id=*,node-id=*`;

const fmt = (v: number): string => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6))));

/** One client's values of one group (attribute name -> number) as catalogue readings. */
export function clientReadings(group: ClientGroup, clientId: string, values: ReadonlyMap<string, number>): Reading[] {
  const g = CLIENT_GROUPS[group];
  const scope: Scope = { kind: 'client', role: g.role, clientId };
  const base = { 'client-id': clientId };
  const out: Reading[] = [];
  const evidence: Record<string, string> = {};
  for (const k of g.extra) {
    const v = values.get(k);
    if (v !== undefined) evidence[k] = fmt(v);
  }
  for (const attr of g.attributes) {
    if (STAND_INS.has(attr)) continue;
    if (attr === 'buffer-available-bytes' || attr === 'buffer-total-bytes') continue;
    const from = (FALLBACKS[attr] ?? [attr]).find((a) => values.has(a));
    if (from === undefined) continue;
    const v = values.get(from)!;
    const context: Record<string, string> = { ...base, ...(attr.startsWith('rebalance') ? evidence : {}) };
    if (from !== attr) context.attribute = from;
    // The lag goes out with the consumption rate beside it: a growing lag at a steady rate is a slow consumer.
    if (attr === 'records-lag-max') {
      const rate = values.get('records-consumed-rate');
      if (rate !== undefined) context[CTX.consumeRate] = fmt(rate);
    }
    out.push({ scope, metric: `${g.role}.${attr}`, value: v, context });
  }
  if (group === 'producer') {
    const avail = values.get('buffer-available-bytes');
    const total = values.get('buffer-total-bytes');
    if (avail !== undefined && total !== undefined && total > 0) {
      out.push(
        inRange({
          scope,
          metric: 'producer.buffer-used-percent',
          value: 100 * (1 - avail / total),
          context: { ...base, 'buffer-available-bytes': fmt(avail), 'buffer-total-bytes': fmt(total), [CTX.unit]: 'percent' },
        }, 0, 100),
      );
    }
  }
  return out;
}

/** One client's request latency to one broker (node-id "node-2" -> broker 2; bootstrap ids < 0 are skipped). */
export function nodeReading(role: 'producer' | 'consumer', clientId: string, nodeId: string, latencyMs: number | undefined): Reading | undefined {
  const id = /^node-(\d+)$/.exec(nodeId)?.[1];
  if (id === undefined || latencyMs === undefined || !Number.isFinite(latencyMs)) return undefined;
  return { scope: { kind: 'client', role, clientId }, metric: `${role}.node-request-latency-avg`, value: latencyMs, context: { 'client-id': clientId, [CTX.nodeId]: id } };
}

/**
 * A value within its range, or clamped to it with the value as read kept in the context: a
 * reading out of range (RequestHandlerAvgIdlePercent read 101.7 % after a broker froze) is
 * flagged, never trusted as it is.
 */
export function inRange(r: Reading, min: number, max: number): Reading {
  if (r.value >= min && r.value <= max) return r;
  return { ...r, value: r.value < min ? min : max, context: { ...r.context, [CTX.clampedFrom]: fmt(r.value) } };
}

export interface HeapValues {
  used: number;
  max: number;
  committed?: number;
}

/** Heap use as a percentage of max (of committed when max is undefined, -1, as JMX says). */
export function heapReading(h: HeapValues): Reading | undefined {
  const limit = h.max > 0 ? h.max : h.committed ?? 0;
  if (!(limit > 0)) return undefined;
  return inRange({
    scope: { kind: 'jvm' },
    metric: 'jvm.heap-used-percent',
    value: (100 * h.used) / limit,
    context: { 'heap-used-bytes': fmt(h.used), 'heap-max-bytes': fmt(h.max), ...(h.committed !== undefined ? { 'heap-committed-bytes': fmt(h.committed) } : {}), [CTX.unit]: 'percent' },
  }, 0, 100);
}

/** One garbage collector: total collection time (ms) and count, both counters. */
export function gcReadings(name: string, timeMs: number | undefined, count: number | undefined): Reading[] {
  const out: Reading[] = [];
  const context = { gc: name, ...(count !== undefined ? { 'collection-count': fmt(count) } : {}) };
  if (timeMs !== undefined) out.push({ scope: { kind: 'jvm' }, metric: 'jvm.gc-collection-time-ms', value: timeMs, context });
  if (count !== undefined) out.push({ scope: { kind: 'jvm' }, metric: 'jvm.gc-collection-count', value: count, context: { gc: name } });
  return out;
}

/** Broker metrics, by catalogue name (without "broker."). */
export const BROKER_METRICS = [
  'under-replicated-partitions',
  'offline-partitions',
  'under-min-isr-partitions',
  'active-controller-count',
  'messages-in-per-sec',
  'bytes-in-per-sec',
  'bytes-out-per-sec',
  'request-handler-idle-percent',
] as const;
export type BrokerMetric = (typeof BROKER_METRICS)[number];

/** Broker MBeans: ObjectName, attribute, catalogue metric, and a scale (fractions to percent). */
export const BROKER_BEANS: readonly { bean: string; attribute: string; metric: BrokerMetric; scale?: number }[] = [
  { bean: 'kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions', attribute: 'Value', metric: 'under-replicated-partitions' },
  { bean: 'kafka.controller:type=KafkaController,name=OfflinePartitionsCount', attribute: 'Value', metric: 'offline-partitions' },
  { bean: 'kafka.server:type=ReplicaManager,name=UnderMinIsrPartitionCount', attribute: 'Value', metric: 'under-min-isr-partitions' },
  { bean: 'kafka.controller:type=KafkaController,name=ActiveControllerCount', attribute: 'Value', metric: 'active-controller-count' },
  { bean: 'kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec', attribute: 'OneMinuteRate', metric: 'messages-in-per-sec' },
  { bean: 'kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec', attribute: 'OneMinuteRate', metric: 'bytes-in-per-sec' },
  { bean: 'kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec', attribute: 'OneMinuteRate', metric: 'bytes-out-per-sec' },
  { bean: 'kafka.server:type=KafkaRequestHandlerPool,name=RequestHandlerAvgIdlePercent', attribute: 'OneMinuteRate', metric: 'request-handler-idle-percent', scale: 100 },
];
export const BROKER_ID_PATTERN = 'kafka.server:type=app-info,id=*';
export const REQUEST_LATENCY_PATTERN = 'kafka.network:type=RequestMetrics,name=TotalTimeMs,request=*';
/** Request types whose latency is watched (the broker has dozens). */
export const WATCHED_REQUESTS = ['Produce', 'FetchConsumer', 'FetchFollower'] as const;

/** Broker metrics with a range: a value outside it is clamped and flagged (inRange). */
const BROKER_RANGES: Partial<Record<BrokerMetric, [number, number]>> = { 'request-handler-idle-percent': [0, 100] };

export function brokerReading(metric: BrokerMetric, value: number): Reading {
  const r: Reading = { scope: { kind: 'broker' }, metric: `broker.${metric}`, value, context: {} };
  const range = BROKER_RANGES[metric];
  return range ? inRange(r, range[0], range[1]) : r;
}

export function requestLatencyReading(request: string, p99Ms: number): Reading {
  return { scope: { kind: 'broker' }, metric: 'broker.request-latency-p99-ms', value: p99Ms, context: { request } };
}

/**
 * A reading as the translator's observation: the scope becomes an entity (proto/subject.ts). A
 * JVM that turned out to be a broker's (`brokerId` known) is that broker's: its heap and GC are
 * aspects of the broker. Every reading carries the cluster the agent watches, so clients can be
 * told apart by cluster.
 */
export function toObservation(r: Reading, names: SubjectNames, brokerId: string | undefined, atMs: number): Observation | undefined {
  const context = { ...r.context, [CTX.cluster]: names.cluster };
  switch (r.scope.kind) {
    case 'client':
      return { metric: r.metric, entity: entity.client(names.service, names.pod, r.scope.role, r.scope.clientId), value: r.value, atMs, context };
    case 'jvm':
      if (brokerId !== undefined) return { metric: r.metric, entity: entity.broker(names.cluster, brokerId), value: r.value, atMs, context: { ...context, 'broker-id': brokerId } };
      return { metric: r.metric, entity: entity.jvm(names.service, names.pod), value: r.value, atMs, context };
    case 'broker':
      if (brokerId === undefined) return undefined;
      return { metric: r.metric, entity: entity.broker(names.cluster, brokerId), value: r.value, atMs, context: { ...context, 'broker-id': brokerId } };
    case 'pod':
      return { metric: r.metric, entity: entity.pod(names.service, names.pod), value: r.value, atMs, context };
  }
}
