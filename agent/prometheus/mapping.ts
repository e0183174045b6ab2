// Exporter metric names -> the catalogue. Names as the Prometheus JMX exporter writes them:
// clients with its default naming (kafka_producer_producer_metrics_buffer_available_bytes
// {client_id="..."}), brokers as Strimzi's example rules name them
// (kafka_server_replicamanager_underreplicatedpartitions, ..._messagesin_total), the JVM as the
// exporter's built-in collectors do (jvm_memory_bytes_used{area="heap"} in 0.x,
// jvm_memory_used_bytes in 1.x; jvm_gc_collection_seconds_{sum,count}{gc="..."}).
import {
  CLIENT_GROUPS,
  brokerReading,
  clientReadings,
  gcReadings,
  heapReading,
  requestLatencyReading,
  WATCHED_REQUESTS,
  type BrokerMetric,
  type ClientGroup,
  type Reading,
} from '../sources/catalogue.js';
import type { CollectorName } from '../sources/config.js';
import type { Sample } from './parse.js';

/** Broker gauges: exporter name (lower case) -> catalogue metric, with a scale. */
const BROKER_GAUGES: Record<string, { metric: BrokerMetric; scale?: number }> = {
  kafka_server_replicamanager_underreplicatedpartitions: { metric: 'under-replicated-partitions' },
  kafka_controller_kafkacontroller_offlinepartitionscount: { metric: 'offline-partitions' },
  kafka_server_replicamanager_underminisrpartitioncount: { metric: 'under-min-isr-partitions' },
  kafka_controller_kafkacontroller_activecontrollercount: { metric: 'active-controller-count' },
  kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent: { metric: 'request-handler-idle-percent', scale: 100 },
};

/** Broker counters read as a rate per second between two scrapes. */
const BROKER_COUNTERS: Record<string, BrokerMetric> = {
  kafka_server_brokertopicmetrics_messagesin_total: 'messages-in-per-sec',
  kafka_server_brokertopicmetrics_bytesin_total: 'bytes-in-per-sec',
  kafka_server_brokertopicmetrics_bytesout_total: 'bytes-out-per-sec',
};

const REQUEST_LATENCY = 'kafka_network_requestmetrics_totaltimems';

const clientPrefix = (g: ClientGroup): string => `${CLIENT_GROUPS[g].domain}_${CLIENT_GROUPS[g].type}_`.replace(/[.-]/g, '_');
const CLIENT_ID_LABELS = ['client_id', 'clientId', 'clientid'];

export interface MappedPage {
  readings: Reading[];
  /** Per collector, what was found (client ids, "heap", collector names, broker metrics). */
  found: Record<CollectorName, string[]>;
  brokerId?: string;
  brokerIdFrom?: string;
  /** Counter values of this scrape, for rates at the next. */
  counters: Map<string, number>;
}

/**
 * Maps one scrape. `previous` holds the broker counters of the last scrape and `elapsedMs` the
 * time between the two, so per-second rates come out as JMX's OneMinuteRate would (roughly).
 */
export function mapSamples(samples: Sample[], collect: ReadonlySet<CollectorName>, previous: ReadonlyMap<string, number> | undefined, elapsedMs: number): MappedPage {
  const out: MappedPage = { readings: [], found: { producer: [], consumer: [], jvm: [], broker: [] }, counters: new Map() };
  const clients = new Map<string, Map<string, number>>(); // "group\0clientId" -> attribute -> value
  const heap: { used?: number; max?: number; committed?: number } = {};
  const gcs = new Map<string, { time?: number; count?: number }>();
  const groups = (Object.keys(CLIENT_GROUPS) as ClientGroup[]).filter((g) => collect.has(CLIENT_GROUPS[g].role));
  for (const s of samples) {
    const name = s.name.toLowerCase();
    const labelKeys = Object.keys(s.labels);
    // Clients: only the per-client series (labels: the client id alone), not per topic or node.
    if (name.startsWith('kafka_producer_') || name.startsWith('kafka_consumer_')) {
      const idLabel = CLIENT_ID_LABELS.find((l) => s.labels[l] !== undefined);
      if (!idLabel || labelKeys.length !== 1) continue;
      for (const g of groups) {
        const prefix = clientPrefix(g);
        if (!name.startsWith(prefix)) continue;
        const attr = name.slice(prefix.length).replace(/_/g, '-');
        const key = `${g}\u0000${s.labels[idLabel]}`;
        let m = clients.get(key);
        if (!m) clients.set(key, (m = new Map()));
        if (Number.isFinite(s.value)) m.set(attr, s.value);
      }
      continue;
    }
    if (collect.has('jvm') && name.startsWith('jvm_')) {
      const heapArea = s.labels.area === 'heap';
      if (heapArea && (name === 'jvm_memory_bytes_used' || name === 'jvm_memory_used_bytes')) heap.used = s.value;
      else if (heapArea && (name === 'jvm_memory_bytes_max' || name === 'jvm_memory_max_bytes')) heap.max = s.value;
      else if (heapArea && (name === 'jvm_memory_bytes_committed' || name === 'jvm_memory_committed_bytes')) heap.committed = s.value;
      else if (s.labels.gc !== undefined && (name === 'jvm_gc_collection_seconds_sum' || name === 'jvm_gc_collection_seconds_count')) {
        const g = gcs.get(s.labels.gc) ?? {};
        if (name.endsWith('_sum')) g.time = s.value * 1000;
        else g.count = s.value;
        gcs.set(s.labels.gc, g);
      }
      continue;
    }
    if (!collect.has('broker')) continue;
    if (/app_?info/.test(name) && (s.labels.broker_id ?? s.labels.id) !== undefined && name.startsWith('kafka_server')) {
      out.brokerId ??= s.labels.broker_id ?? s.labels.id;
      out.brokerIdFrom ??= `${s.name}{${s.labels.broker_id !== undefined ? 'broker_id' : 'id'}}`;
      continue;
    }
    const gauge = BROKER_GAUGES[name];
    if (gauge && labelKeys.length === 0 && Number.isFinite(s.value)) {
      out.readings.push(brokerReading(gauge.metric, s.value * (gauge.scale ?? 1)));
      out.found.broker.push(gauge.metric);
      continue;
    }
    const counter = BROKER_COUNTERS[name];
    if (counter && labelKeys.length === 0 && Number.isFinite(s.value)) {
      out.counters.set(name, s.value);
      out.found.broker.push(counter);
      const prev = previous?.get(name);
      if (prev !== undefined && s.value >= prev && elapsedMs > 0) out.readings.push(brokerReading(counter, (s.value - prev) / (elapsedMs / 1000)));
      continue;
    }
    if (name === REQUEST_LATENCY && s.labels.quantile === '0.99' && s.labels.request && (WATCHED_REQUESTS as readonly string[]).includes(s.labels.request) && Number.isFinite(s.value)) {
      out.readings.push(requestLatencyReading(s.labels.request, s.value));
      out.found.broker.push(`request-latency ${s.labels.request}`);
    }
  }
  for (const [key, values] of clients) {
    const [group, clientId] = key.split('\u0000') as [ClientGroup, string];
    out.readings.push(...clientReadings(group, clientId, values));
    const role = CLIENT_GROUPS[group].role;
    if (!out.found[role].includes(clientId)) out.found[role].push(clientId);
  }
  if (heap.used !== undefined && heap.max !== undefined) {
    const r = heapReading({ used: heap.used, max: heap.max, committed: heap.committed });
    if (r) {
      out.readings.push(r);
      out.found.jvm.push('heap');
    }
  }
  for (const [gc, v] of gcs) {
    out.readings.push(...gcReadings(gc, v.time, v.count));
    out.found.jvm.push(`gc ${gc}`);
  }
  return out;
}
