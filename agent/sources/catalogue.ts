// The metric catalogue of ARCHITECTURE.md §4, shared by every JVM source: JMX and Prometheus
// text both reduce what they read to these readings, so the same values make the same signs
// whichever way they were read. Metric names are those the rules (translate/default-rules.yaml)
// refer to.
import type { Observation } from '../translate/index.js';
import type { SubjectNames } from '../sensor.js';
import { subjects, type ClientRole } from '../subjects.js';

/** What a reading is about, before names turn it into a subject. */
export type Scope =
  | { kind: 'client'; role: ClientRole; clientId: string }
  | { kind: 'jvm' }
  | { kind: 'broker' }
  /** A user-defined bean: subject under the pod. */
  | { kind: 'pod'; path: string };

export interface Reading {
  scope: Scope;
  metric: string;
  value: number;
  /** Labels and raw values for the signal's context. */
  context: Record<string, string>;
}

export type ClientGroup = 'producer' | 'consumer-fetch' | 'consumer-coordinator';

/** Kafka client metric groups: their MBean type, the attributes read, the exporter's prefix. */
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
    attributes: ['assigned-partitions', 'commit-latency-avg', 'rebalance-total', 'rebalance-latency-avg'],
    // Kept as evidence in the context of the rebalance signals.
    extra: ['rebalance-rate-per-hour', 'last-rebalance-seconds-ago'],
  },
};

/** The ObjectName pattern of a client group: one bean per client-id (not the per-topic ones). */
export const clientPattern = (g: ClientGroup): string => `${CLIENT_GROUPS[g].domain}:type=${CLIENT_GROUPS[g].type},client-id=*`;

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
    const v = values.get(attr);
    if (v === undefined) continue;
    if (attr === 'buffer-available-bytes' || attr === 'buffer-total-bytes') continue;
    out.push({ scope, metric: `${g.role}.${attr}`, value: v, context: { ...base, ...(attr.startsWith('rebalance') ? evidence : {}) } });
  }
  if (group === 'producer') {
    const avail = values.get('buffer-available-bytes');
    const total = values.get('buffer-total-bytes');
    if (avail !== undefined && total !== undefined && total > 0) {
      out.push({
        scope,
        metric: 'producer.buffer-used-percent',
        value: 100 * (1 - avail / total),
        context: { ...base, 'buffer-available-bytes': fmt(avail), 'buffer-total-bytes': fmt(total) },
      });
    }
  }
  return out;
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
  return {
    scope: { kind: 'jvm' },
    metric: 'jvm.heap-used-percent',
    value: (100 * h.used) / limit,
    context: { 'heap-used-bytes': fmt(h.used), 'heap-max-bytes': fmt(h.max), ...(h.committed !== undefined ? { 'heap-committed-bytes': fmt(h.committed) } : {}) },
  };
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

export function brokerReading(metric: BrokerMetric, value: number): Reading {
  return { scope: { kind: 'broker' }, metric: `broker.${metric}`, value, context: {} };
}

export function requestLatencyReading(request: string, p99Ms: number): Reading {
  return { scope: { kind: 'broker' }, metric: 'broker.request-latency-p99-ms', value: p99Ms, context: { request } };
}

/** A reading as the translator's observation: the scope becomes a subject. */
export function toObservation(r: Reading, names: SubjectNames, brokerId: string | undefined, atMs: number): Observation | undefined {
  let subject: string;
  switch (r.scope.kind) {
    case 'client':
      subject = subjects.client(names, r.scope.role, r.scope.clientId);
      break;
    case 'jvm':
      subject = subjects.jvm(names);
      break;
    case 'broker':
      if (brokerId === undefined) return undefined;
      subject = subjects.broker(names, brokerId);
      return { metric: r.metric, subject, value: r.value, atMs, context: { ...r.context, 'broker-id': brokerId } };
    case 'pod':
      subject = `${subjects.pod(names)}/${r.scope.path}`;
      break;
  }
  return { metric: r.metric, subject, value: r.value, atMs, context: r.context };
}
