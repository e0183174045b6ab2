// The Prometheus text parser and the exporter-name mapping, on pages as exporters write them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parsePrometheusText } from '../agent/prometheus/parse.js';
import { mapSamples } from '../agent/prometheus/mapping.js';
import { COLLECTORS } from '../agent/sources/config.js';

const test = suite('prometheus text');
const ALL = new Set(COLLECTORS);

test('parses samples, labels with escapes and commas, special values, timestamps; skips comments', () => {
  const p = parsePrometheusText([
    '# HELP a_metric A help text with "quotes"',
    '# TYPE a_metric gauge',
    'a_metric 1',
    'a_metric{x="1",y="two words",} 2.5e3',
    'b{path="C:\\\\dir\\"q\\"",n="line\\nbreak"} +Inf 1712345678000',
    'c NaN',
    'd{a="x, y"} -1.5',
    '',
    '# EOF',
  ].join('\n'));
  assert.equal(p.errors, []);
  assert.is(p.samples.length, 5);
  assert.equal(p.samples[1], { name: 'a_metric', labels: { x: '1', y: 'two words' }, value: 2500 });
  assert.equal(p.samples[2]!.labels, { path: 'C:\\dir"q"', n: 'line\nbreak' });
  assert.is(p.samples[2]!.value, Infinity);
  assert.ok(Number.isNaN(p.samples[3]!.value));
  assert.equal(p.samples[4]!.labels, { a: 'x, y' });
});

test('a bad line is reported with its number and skipped', () => {
  const p = parsePrometheusText('ok 1\nbad{x=1} 2\nworse{x="1" 3\n9starts_with_digit 1\nno_value\nnot_a_number abc\nfine 2');
  assert.equal(p.samples.map((s) => s.name), ['ok', 'fine']);
  assert.is(p.badLines, 5);
  assert.equal(p.errors, [
    'line 2: expected \'"\' to open the value of label x',
    'line 3: expected \',\' or \'}\' after the value of label x',
    'line 4: expected a metric name',
    'line 5: no value for no_value',
    'line 6: "abc" is not a number (value of not_a_number)',
  ]);
});

test('maps exporter names to the catalogue; only per-client series; counters become rates', () => {
  const text = `
kafka_producer_producer_metrics_buffer_available_bytes{client_id="p1",} 8388608.0
kafka_producer_producer_metrics_buffer_total_bytes{client_id="p1",} 33554432.0
kafka_producer_producer_metrics_request_latency_avg{clientId="p2",} 12.0
kafka_producer_producer_topic_metrics_record_send_rate{client_id="p1",topic="t",} 5.0
kafka_consumer_consumer_coordinator_metrics_rebalance_total{client_id="c1",} 4.0
jvm_memory_used_bytes{area="heap"} 900
jvm_memory_max_bytes{area="heap"} 1000
jvm_gc_collection_seconds_sum{gc="G1 Old Generation"} 2.5
kafka_server_replicamanager_underreplicatedpartitions 2.0
kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent 0.25
kafka_server_brokertopicmetrics_bytesin_total 11000
kafka_server_brokertopicmetrics_bytesin_total{topic="t"} 5
kafka_network_requestmetrics_totaltimems{request="Produce",quantile="0.99"} 31
kafka_network_requestmetrics_totaltimems{request="Produce",quantile="0.50"} 3
`;
  const first = mapSamples(parsePrometheusText(text).samples, ALL, new Map([['kafka_server_brokertopicmetrics_bytesin_total', 1000]]), 2000);
  const by = Object.fromEntries(first.readings.map((r) => [`${r.metric}${r.context['client-id'] ? `/${r.context['client-id']}` : r.context.gc ? `/${r.context.gc}` : r.context.request ? `/${r.context.request}` : ''}`, r.value]));
  assert.equal(by, {
    'producer.buffer-used-percent/p1': 75,
    'producer.request-latency-avg/p2': 12,
    'consumer.rebalance-total/c1': 4,
    'jvm.heap-used-percent': 90,
    'jvm.gc-collection-time-ms/G1 Old Generation': 2500,
    'broker.under-replicated-partitions': 2,
    'broker.request-handler-idle-percent': 25,
    'broker.bytes-in-per-sec': 5000,
    'broker.request-latency-p99-ms/Produce': 31,
  });
  assert.equal(first.found.producer.sort(), ['p1', 'p2']);
  assert.is(first.counters.get('kafka_server_brokertopicmetrics_bytesin_total'), 11000);
  const onlyJvm = mapSamples(parsePrometheusText(text).samples, new Set(['jvm'] as const), undefined, 0);
  assert.equal([...new Set(onlyJvm.readings.map((r) => r.metric))].sort(), ['jvm.gc-collection-time-ms', 'jvm.heap-used-percent']);
});

test.run();
