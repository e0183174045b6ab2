// The Kafka exposition (aggregator/exposition.ts) in process, fed through the real pipeline the way
// the aggregator feeds it: label escaping, one group per family, lines rewritten in place and
// compacted, expiry, the cap's order and counts, filters, per-partition series off, and a scrape
// still being sent kept apart from the next.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Status_Condition as C, Status_Confidence, type Signal } from '../proto/index.js';
import { Pipeline } from '../aggregator/pipeline.js';
import { EXPOSITION_DEFAULTS, KafkaExposition, type ExpositionSettings } from '../aggregator/exposition.js';
import { parseExposition, sample, samples } from './support/prometheus.js';

const test = suite('Kafka exposition');
const S = 1_000_000_000n;
const T0 = 1_800_000_000n * S;

function setup(settings: Partial<ExpositionSettings> = {}) {
  const p = new Pipeline();
  const x = new KafkaExposition({ ...EXPOSITION_DEFAULTS, ...settings }, (path) => p.hierarchy.state(path)?.info);
  p.signalListener = (s, info, now) => x.accept(s, info, now);
  p.cellListener = (changes, now) => x.acceptCells(changes, now);
  let seq = 0n;
  const feed = (subject: string, context: Record<string, string>, at = T0, condition = C.STABLE): void => {
    const s: Signal = { sourceId: 'kafka-source', seq: ++seq, subject, timestamp: at, status: { condition, confidence: Status_Confidence.MEASURED }, context, clock: {} };
    p.ingest(s, at, []);
  };
  const text = (at = T0): string => {
    const r = x.render(at);
    const t = r.body.toString('utf8');
    r.done();
    return t;
  };
  return { p, x, feed, text };
}

const group = (lag: number, status = 'OK') => ({ burrow: status, 'total-lag': String(lag), 'max-lag': String(lag), 'lag-seconds': (lag / 10).toFixed(1), 'partition-status': `${status}=2`, 'consume-rate': '10.0', 'produce-rate': '10.0' });
const replicas = (leader: number, isr = '1,2,3', state = 'ok') => ({ replicas: '1,2,3', isr, leader: leader < 0 ? 'none' : String(leader), state });

test('labels are escaped; each family is one group with one HELP and TYPE; values are the context\'s', () => {
  const { feed, text } = setup({ partitions: true });
  feed('cluster/prod/group/we"ird\\name#lag', group(42, 'WARN'), T0, C.DIVERGING);
  feed('cluster/prod/group/we"ird\\name/topic/orders/partition/0#lag', { burrow: 'WARN', lag: '42', 'committed-offset': '8', 'log-end-offset': '50', 'lag-seconds': '4.2' });
  const t = text();
  assert.ok(t.includes('kafkaobs_consumergroup_status{cluster="prod",consumergroup="we\\"ird\\\\name",status="WARN"} 1\n'), t);
  const all = parseExposition(t);
  assert.is(sample(all, 'kafka_consumergroup_group_sum_lag', { group: 'we"ird\\name' })?.value, 42);
  assert.is(sample(all, 'kafka_consumergroup_lag', { consumergroup: 'we"ird\\name', partition: '0' })?.value, 42);
  assert.is(sample(all, 'kafka_topic_partition_current_offset', { topic: 'orders', partition: '0' })?.value, 50);
  const types = t.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]);
  assert.equal(types.length, new Set(types).size, 'one TYPE per family');
  // Samples of a family are contiguous.
  const names = all.map((s) => s.name);
  for (const n of new Set(names)) assert.is(names.lastIndexOf(n) - names.indexOf(n) + 1, names.filter((m) => m === n).length, `${n} in one group`);
});

test('an entity updated many times: one sample per family, blank bytes compacted away', () => {
  const { feed, text, x } = setup();
  for (let i = 0; i < 2000; i++) {
    feed(`cluster/prod/group/g${i % 50}#lag`, group(i * 37 % 100_000), T0 + BigInt(i));
    feed(`cluster/prod/group/g${i % 50}/topic/t#lag`, { 'total-lag': String(i), 'lag-seconds': String(i % 7) }, T0 + BigInt(i));
  }
  const t = text(T0 + 3000n);
  const all = parseExposition(t);
  assert.is(samples(all, 'kafka_consumergroup_group_sum_lag').length, 50);
  assert.is(samples(all, 'kafka_consumergroup_lag_sum').length, 50);
  const blanks = t.split('\n').filter((l) => l === '').length;
  assert.ok(blanks * 8 <= t.length, `${blanks} blank lines (a byte each) in ${t.length} bytes`);
  assert.is(sample(all, 'kafka_consumergroup_group_sum_lag', { group: 'g49' })?.value, (1999 * 37) % 100_000);
  assert.is(x.size.group, 50);
});

test('what is no longer heard expires; a topic\'s counts and its brokers follow', () => {
  const { feed, text } = setup({ expireAfterNs: 60n * S });
  feed('cluster/prod/topic/a/partition/0#replicas', replicas(1, '1,2'), T0, C.DEGRADED);
  feed('cluster/prod/group/old#lag', group(5), T0);
  feed('cluster/prod/topic/a/partition/1#replicas', replicas(2), T0 + 50n * S); // pipeline time only moves on
  let all = parseExposition(text(T0 + 50n * S));
  assert.is(sample(all, 'kafka_topic_partitions', { topic: 'a' })?.value, 2);
  assert.is(sample(all, 'kafkaobs_topic_under_replicated_partitions', { topic: 'a' })?.value, 1);
  assert.is(sample(all, 'kafkaobs_broker_leader_partitions', { broker: '1' })?.value, 1);
  all = parseExposition(text(T0 + 100n * S));
  assert.is(sample(all, 'kafka_topic_partitions', { topic: 'a' })?.value, 1, 'partition 0 expired');
  assert.is(sample(all, 'kafkaobs_topic_under_replicated_partitions', { topic: 'a' })?.value, 0);
  assert.is(sample(all, 'kafkaobs_broker_leader_partitions', { broker: '1' })?.value, 0);
  assert.is(sample(all, 'kafka_consumergroup_group_sum_lag', { group: 'old' }), undefined, 'the group expired');
  all = parseExposition(text(T0 + 200n * S));
  assert.equal(samples(all, 'kafka_topic_partitions'), []);
  assert.equal(samples(all, 'kafkaobs_broker_up'), [], 'brokers known only from expired partitions go too');
});

test('the cap: brokers, groups, group-topics, topics, partitions, cells, group-partitions, in that order; what is left out is counted', () => {
  const { feed, text } = setup({ partitions: true, maxSeries: 30, cellKinds: ['group'] });
  for (let g = 0; g < 3; g++) {
    feed(`cluster/prod/group/g${g}#lag`, group(g));
    feed(`cluster/prod/group/g${g}/topic/t#lag`, { 'total-lag': String(g), 'lag-seconds': '0' });
    for (let p = 0; p < 2; p++) feed(`cluster/prod/group/g${g}/topic/t/partition/${p}#lag`, { burrow: 'OK', lag: '0', 'committed-offset': '1', 'log-end-offset': '1', 'lag-seconds': '0' });
  }
  feed('cluster/prod/topic/t/partition/0#replicas', replicas(1));
  const all = parseExposition(text());
  const by = (name: string) => Object.fromEntries(samples(all, name).map((s) => [s.labels.level!, s.value]));
  const shown = by('kafkaobs_exporter_series');
  const left = by('kafkaobs_exporter_series_left_out');
  assert.ok(Object.values(shown).reduce((a, b) => a + b, 0) <= 30);
  assert.is(shown.broker, 7, 'kafka_brokers and two per broker');
  assert.is(shown.group, 21, '3 groups x 7 series');
  assert.is(left.group, 0);
  assert.is(shown['group-topic'], 2, 'as many group-topics as fit');
  assert.is(left['group-topic'], 4);
  assert.equal([left.topic, left.partition, left.cell, left['group-partition']].map((n) => n! > 0), [true, true, true, true]);
  assert.is(samples(all, 'kafka_consumergroup_lag_sum').length, 1);
  const again = parseExposition(text());
  assert.is(sample(again, 'kafkaobs_exporter_series_left_out_total', { level: 'group-partition' })?.value, 2 * left['group-partition']!);
});

test('filters: include and exclude groups and topics, cells of excluded entities too, signals counted', () => {
  const { feed, text } = setup({ includeGroups: /^app-/, excludeGroups: /-test$/, excludeTopics: /^__/, cellKinds: ['group', 'topic'] });
  feed('cluster/prod/group/app-billing#lag', group(1), T0, C.DIVERGING);
  feed('cluster/prod/group/app-billing-test#lag', group(2), T0, C.DIVERGING);
  feed('cluster/prod/group/other#lag', group(3), T0, C.DIVERGING);
  feed('cluster/prod/topic/__consumer_offsets/partition/0#replicas', replicas(1));
  feed('cluster/prod/topic/orders/partition/0#replicas', replicas(1));
  const all = parseExposition(text());
  assert.equal(samples(all, 'kafkaobs_consumergroup_status').map((s) => s.labels.consumergroup), ['app-billing']);
  assert.equal(samples(all, 'kafka_topic_partitions').map((s) => s.labels.topic), ['orders']);
  assert.equal(samples(all, 'kafkaobs_cell_condition').map((s) => s.labels.entity).sort(), ['cluster/prod/group/app-billing', 'cluster/prod/topic/orders']);
  assert.is(sample(all, 'kafkaobs_exporter_signals_filtered_total', { level: 'group' })?.value, 2);
  assert.is(sample(all, 'kafkaobs_exporter_signals_filtered_total', { level: 'topic' })?.value, 1);
});

test('lag seconds\' origin, catch-up and retention risk: exposed at each level when the signals carry them (CTX keys), absent when not', () => {
  const { feed, text } = setup({ partitions: true });
  feed('cluster/prod/group/g#lag', { ...group(900, 'WARN'), 'lag-seconds-from': 'record-timestamp', 'catch-up-seconds': '120.5', 'retention-headroom': '5000', 'retention-seconds-left': '3600', members: '3' }, T0, C.DIVERGING);
  feed('cluster/prod/group/g/topic/t#lag', { 'total-lag': '900', 'lag-seconds': '90', 'catch-up-seconds': '120.5', 'retention-seconds-left': 'unknown' });
  feed('cluster/prod/group/g/topic/t/partition/0#lag', { burrow: 'WARN', lag: '900', 'committed-offset': '100', 'log-end-offset': '1000', 'log-start-offset': '40', 'lag-seconds': '90', 'catch-up-seconds': '120.5', 'retention-headroom': '60', 'retention-seconds-left': '3600' });
  feed('cluster/prod/group/h#lag', group(0));
  const all = parseExposition(text());
  const g = { consumergroup: 'g' };
  assert.is(sample(all, 'kafkaobs_consumergroup_lag_seconds_from', g)?.labels.from, 'record-timestamp');
  assert.is(sample(all, 'kafkaobs_consumergroup_catch_up_seconds', g)?.value, 120.5);
  assert.is(sample(all, 'kafkaobs_consumergroup_retention_headroom', g)?.value, 5000);
  assert.is(sample(all, 'kafkaobs_consumergroup_retention_seconds_left', g)?.value, 3600);
  assert.is(sample(all, 'kafka_consumergroup_members', g)?.value, 3);
  assert.is(sample(all, 'kafkaobs_consumergroup_topic_catch_up_seconds', { ...g, topic: 't' })?.value, 120.5);
  assert.is(sample(all, 'kafkaobs_consumergroup_topic_retention_seconds_left', { ...g, topic: 't' }), undefined, '"unknown" is no sample');
  assert.is(sample(all, 'kafkaobs_consumergroup_partition_retention_headroom', { ...g, partition: '0' })?.value, 60);
  assert.is(sample(all, 'kafka_topic_partition_oldest_offset', { topic: 't', partition: '0' })?.value, 40);
  for (const n of ['kafkaobs_consumergroup_catch_up_seconds', 'kafkaobs_consumergroup_retention_seconds_left', 'kafka_consumergroup_members', 'kafkaobs_consumergroup_lag_seconds_from']) assert.is(sample(all, n, { consumergroup: 'h' }), undefined, `${n}: none for a group whose signals do not say`);
});

test('per-partition series off (the default): none of them, and per-topic counts still there', () => {
  const { feed, text, x } = setup();
  feed('cluster/prod/group/g#lag', group(1));
  feed('cluster/prod/group/g/topic/t/partition/0#lag', { burrow: 'OK', lag: '1', 'committed-offset': '1', 'log-end-offset': '2', 'lag-seconds': '0' });
  feed('cluster/prod/topic/t/partition/0#replicas', replicas(-1, '', 'offline'), T0, C.DEFECTIVE);
  const all = parseExposition(text());
  for (const n of ['kafka_consumergroup_lag', 'kafka_topic_partition_leader', 'kafka_topic_partition_current_offset', 'kafkaobs_consumergroup_partition_status']) assert.equal(samples(all, n), [], n);
  assert.is(sample(all, 'kafkaobs_topic_offline_partitions', { topic: 't' })?.value, 1);
  assert.is(x.size['group-partition'], 0, 'nothing kept for them either');
});

test('a scrape still being sent keeps its bytes while the next is rendered', () => {
  const { feed, x } = setup();
  feed('cluster/prod/group/g#lag', group(111));
  const first = x.render(T0);
  const before = first.body.toString();
  feed('cluster/prod/group/g#lag', group(222_222));
  const second = x.render(T0);
  assert.is(first.body.toString(), before, 'the first body unchanged');
  assert.ok(second.body.toString().includes('group="g"} 222222'));
  first.done();
  second.done();
});

test.run();
