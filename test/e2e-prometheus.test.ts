// The Prometheus text source against the JMX source: one agent reads a real JVM over JMX, another
// scrapes a page in the JMX exporter's format served by a node:http server; both are driven
// through the same value steps and must make the same signs for the same subjects.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeSign, EventKind, type Event, type Signal } from '../proto/index.js';
import { agent, aggregator, run, type AgentProc, type AggregatorProc } from './support/procs.js';
import { aggregatorClient, Collector } from './support/client.js';
import { BUFFER_TOTAL, FakeJvm, PRODUCER, URP, bufferUsed, polled } from './support/jvm.js';

const test = suite('Prometheus source: same values, same signs as JMX');

/** What both sources show; starts as FakeKafkaJvm's initial values. */
const state = {
  bufferUsedPercent: 0,
  urp: 0,
  heapPercent: 50,
  recordErrorRate: 0,
  messagesIn: 100_000,
};
const MiB = 1 << 20;

/** The page the JMX exporter java agent would serve for that JVM (default names for clients, Strimzi's for the broker). */
function page(): string {
  const avail = Math.round(BUFFER_TOTAL * (1 - state.bufferUsedPercent / 100));
  const heapMax = 1000 * MiB;
  return `# HELP jvm_memory_bytes_used Used bytes of a given JVM memory area.
# TYPE jvm_memory_bytes_used gauge
jvm_memory_bytes_used{area="heap",} ${Math.round((heapMax * state.heapPercent) / 100)}.0
jvm_memory_bytes_used{area="nonheap",} 5.2428800E7
jvm_memory_bytes_max{area="heap",} ${heapMax}.0
jvm_memory_bytes_committed{area="heap",} ${heapMax}.0
# TYPE jvm_gc_collection_seconds summary
jvm_gc_collection_seconds_count{gc="Scripted",} 0.0
jvm_gc_collection_seconds_sum{gc="Scripted",} 0.0
# HELP kafka_producer_producer_metrics_buffer_available_bytes The total amount of buffer memory that is not being used
# TYPE kafka_producer_producer_metrics_buffer_available_bytes untyped
kafka_producer_producer_metrics_buffer_available_bytes{client_id="p1",} ${avail}.0
kafka_producer_producer_metrics_buffer_total_bytes{client_id="p1",} ${BUFFER_TOTAL}.0
kafka_producer_producer_metrics_buffer_exhausted_total{client_id="p1",} 0.0
kafka_producer_producer_metrics_request_latency_avg{client_id="p1",} 50.0
kafka_producer_producer_metrics_record_error_rate{client_id="p1",} ${state.recordErrorRate}
kafka_producer_producer_metrics_record_send_rate{client_id="p1",} 100.0
kafka_producer_producer_metrics_batch_size_avg{client_id="p1",} 1000.0
kafka_producer_producer_node_metrics_request_latency_avg{client_id="p1",node_id="node-1",} 9999.0
kafka_consumer_consumer_fetch_manager_metrics_records_lag_max{client_id="c1",} 0.0
kafka_consumer_consumer_fetch_manager_metrics_records_lag_max{client_id="c1",topic="orders",} 77777.0
kafka_consumer_consumer_fetch_manager_metrics_fetch_latency_avg{client_id="c1",} 100.0
kafka_consumer_consumer_fetch_manager_metrics_records_consumed_rate{client_id="c1",} 50.0
kafka_consumer_consumer_fetch_manager_metrics_bytes_consumed_rate{client_id="c1",} 5000.0
kafka_consumer_consumer_coordinator_metrics_assigned_partitions{client_id="c1",} 3.0
kafka_consumer_consumer_coordinator_metrics_commit_latency_avg{client_id="c1",} 10.0
kafka_consumer_consumer_coordinator_metrics_rebalance_total{client_id="c1",} 1.0
kafka_consumer_consumer_coordinator_metrics_rebalance_latency_avg{client_id="c1",} 200.0
# TYPE kafka_server_replicamanager_underreplicatedpartitions gauge
kafka_server_replicamanager_underreplicatedpartitions ${state.urp}.0
kafka_server_replicamanager_underminisrpartitioncount 0.0
kafka_controller_kafkacontroller_offlinepartitionscount 0.0
kafka_controller_kafkacontroller_activecontrollercount 1.0
# TYPE kafka_server_brokertopicmetrics_messagesin_total counter
kafka_server_brokertopicmetrics_messagesin_total ${state.messagesIn}.0
kafka_server_brokertopicmetrics_messagesin_total{topic="orders",} 5.0
kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent 0.9
kafka_network_requestmetrics_totaltimems{request="Produce",quantile="0.99",} 20.0
kafka_network_requestmetrics_totaltimems{request="FetchConsumer",quantile="0.99",} 20.0
kafka_network_requestmetrics_totaltimems{request="FetchFollower",quantile="0.99",} 20.0
kafka_network_requestmetrics_totaltimems{request="Metadata",quantile="0.99",} 1.0
process_cpu_seconds_total 12.5
`;
}

let agg: AggregatorProc;
let jvm: FakeJvm;
let http: Server;
let viaJmx: AgentProc;
let viaProm: AgentProc;
let sub: Collector;
let pageUrl: string;
let jmxSensor: string;
let promSensor: string;

test.before(async () => {
  http = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('not here');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(page());
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  pageUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/metrics`;
  [agg, jvm] = await Promise.all([aggregator(), FakeJvm.start()]);
  sub = new Collector(aggregatorClient(agg.url).client, { kinds: [EventKind.SIGNAL], fromOffset: 0n });
  const common = { POLL_INTERVAL_MS: '200' };
  [viaJmx, viaProm] = await Promise.all([
    agent('pod-jmx', agg.url, [], { ...common, JMX_URL: `127.0.0.1:${jvm.port}`, SERVICE_NAME: 'svc-jmx', KAFKA_CLUSTER: 'c-jmx' }),
    agent('pod-prom', agg.url, [], { ...common, PROMETHEUS_URL: pageUrl, PROMETHEUS_BROKER_ID: '1', SERVICE_NAME: 'svc-prom', KAFKA_CLUSTER: 'c-prom' }),
  ]);
  jmxSensor = `jmx:127.0.0.1:${jvm.port}`;
  promSensor = `prometheus:127.0.0.1:${(http.address() as AddressInfo).port}`;
});

test.after(async () => {
  await sub?.close();
  await Promise.all([viaJmx?.kill(), viaProm?.kill()]);
  await Promise.all([jvm?.kill(), agg?.kill()]);
  http?.close();
});

/** Both agents have read the current values at least once. */
async function bothPolled(): Promise<void> {
  await Promise.all([polled(viaJmx, jmxSensor), polled(viaProm, promSensor)]);
}

// The JVM both agents read is broker 1's (its app-info, or PROMETHEUS_BROKER_ID): its heap and GC
// are aspects of the broker.
const WATCHED = [
  'producer/p1#buffer', 'producer/p1#record-errors', 'producer/p1#request-latency', 'producer/p1#buffer-exhausted',
  'consumer/c1#lag', 'consumer/c1#fetch-latency', 'consumer/c1#partitions', 'consumer/c1#commits', 'consumer/c1#rebalances', 'consumer/c1#rebalance-latency',
  'broker/1#heap', 'broker/1#gc/Scripted',
  'broker/1#under-replicated', 'broker/1#offline-partitions', 'broker/1#under-min-isr', 'broker/1#active-controller', 'broker/1#request-handler-idle',
  'broker/1#request-latency/Produce',
];

/** Per watched subject (relative to the service's pod or the cluster), its sequence of distinct signs. */
function story(service: string, cluster: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const w of WATCHED) {
    const subject = w.startsWith('broker/') ? `cluster/${cluster}/${w}` : `service/${service}/pod/${service === 'svc-jmx' ? 'pod-jmx' : 'pod-prom'}/${w}`;
    const seq = sub.events.filter((e: Event) => e.signal?.subject === subject).map((e) => sign(e.signal!));
    out[w] = seq.filter((x, i) => i === 0 || x !== seq[i - 1]);
  }
  return out;
}
const sign = (s: Signal): string => describeSign(s).replace(/ (TENTATIVE|MEASURED|CONFIRMED)$/, '').replace(/^(queue \w+) [\d.]+$/, '$1');

test('the same steps through JMX and through the exporter page make the same signs', async () => {
  await bothPolled();
  const steps: { what: string; apply: () => Promise<void> }[] = [
    { what: 'buffer 85 %', apply: async () => { state.bufferUsedPercent = 85; await bufferUsed(jvm, 'p1', 85); } },
    { what: 'buffer 97 %', apply: async () => { state.bufferUsedPercent = 97; await bufferUsed(jvm, 'p1', 97); } },
    { what: 'URP 2', apply: async () => { state.urp = 2; await jvm.set(URP, 'Value', 2); } },
    { what: 'heap 95 %', apply: async () => { state.heapPercent = 95; await jvm.heap(95, 1000 * MiB); } },
    { what: 'record errors', apply: async () => { state.recordErrorRate = 0.5; await jvm.set(PRODUCER('p1'), 'record-error-rate', 0.5); } },
    {
      what: 'all back to normal',
      apply: async () => {
        Object.assign(state, { bufferUsedPercent: 60, urp: 0, heapPercent: 50, recordErrorRate: 0 });
        await Promise.all([bufferUsed(jvm, 'p1', 60), jvm.set(URP, 'Value', 0), jvm.heap(50, 1000 * MiB), jvm.set(PRODUCER('p1'), 'record-error-rate', 0)]);
      },
    },
  ];
  for (const s of steps) {
    await s.apply();
    await bothPolled();
  }
  const jmx = story('svc-jmx', 'c-jmx');
  const prom = story('svc-prom', 'c-prom');
  for (const w of WATCHED) assert.ok(jmx[w]!.length > 0, `JMX made signs for ${w}`);
  assert.equal(prom, jmx);
  // And they are the expected ones.
  assert.equal(jmx['producer/p1#buffer'], ['status STABLE', 'queue PRESSURE', 'queue OVERFLOW', 'status STABLE']);
  assert.equal(jmx['broker/1#under-replicated'], ['status STABLE', 'status DEGRADED', 'status STABLE']);
  assert.equal(jmx['broker/1#heap'], ['status STABLE', 'status DEFECTIVE', 'status STABLE']);
  assert.equal(jmx['producer/p1#record-errors'], ['probe SUCCEED OUTBOUND', 'probe FAIL OUTBOUND', 'probe SUCCEED OUTBOUND']);
});

test('broker counters become rates; per-topic and per-node series are not read as the client\'s', async () => {
  state.messagesIn += 5000;
  await polled(viaProm, promSensor, 2);
  const rates = sub.events.filter((e) => e.signal?.subject === 'cluster/c-prom/broker/1#messages-in').map((e) => e.signal!.gauge!.value);
  assert.ok(rates.some((r) => r > 0), `a messages-in rate was sent (${rates.join(', ')})`);
  const lag = sub.events.filter((e) => e.signal?.subject === 'service/svc-prom/pod/pod-prom/consumer/c1#lag').map((e) => e.signal!.context.value);
  assert.ok(lag.length > 0 && lag.every((v) => v === '0'), 'the per-topic lag (77777) is not the client\'s');
});

test('--check on a Prometheus source lists what it maps; a wrong URL or path is an error', async () => {
  const p = run(['agent', '--check'], 'check', { PROMETHEUS_URL: pageUrl, PROMETHEUS_BROKER_ID: '1' });
  assert.is(await p.exited, 0);
  const out = p.stdout.join('\n');
  assert.match(out, /OK {3}prometheus:127\.0\.0\.1:\d+ \(http:\/\/127\.0\.0\.1:\d+\/metrics\)/);
  assert.match(out, /fetched \d+ samples/);
  assert.match(out, /producer: p1/);
  assert.match(out, /consumer: c1/);
  assert.match(out, /jvm: heap, gc Scripted/);
  assert.match(out, /broker id 1 \(from configuration \(brokerId\)\)/);
  assert.match(out, /metrics mapped to rules: .*broker\.under-replicated-partitions/);

  const wrongPath = run(['agent', '--check'], 'check', { PROMETHEUS_URL: pageUrl.replace('/metrics', '/nope') });
  assert.is(await wrongPath.exited, 1);
  assert.match(wrongPath.stdout.join('\n'), /error: http:\/\/127\.0\.0\.1:\d+\/nope answered HTTP 404 \(is this the exporter's metrics path\?\)/);
  const closed = run(['agent', '--check'], 'check', { PROMETHEUS_URL: 'http://127.0.0.1:1/metrics' });
  assert.is(await closed.exited, 1);
  assert.match(closed.stdout.join('\n'), /error: cannot fetch http:\/\/127\.0\.0\.1:1\/metrics: ECONNREFUSED \(is the exporter running, and is this its port\?\)/);
});

test.run();
