// Kafka on the aggregator's /metrics, end to end: librdkafka's mock cluster, kafkajs producers and
// consumers, the real agent's Kafka source, the real aggregator scraped over HTTP. The series say
// what the signals say (a lagging group's lag, lag in seconds and WARN; the idle group OK; a
// broker down, its partitions offline or under-replicated), a second aggregator fed the same
// signals holds its cap and counts what it left out, and the Grafana dashboard and the alert rules
// in deploy/ name only series these scrapes served — the rules checked, and run by promtool on them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import kafkajs, { type Consumer, type Producer } from 'kafkajs';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { EventKind, SEVERITY, type Event, type Signal } from '../proto/index.js';
import { EXPOSITION_FAMILIES } from '../aggregator/exposition.js';
import { agent, aggregator, run, ROOT, tempDir, until, type AgentProc, type AggregatorProc } from './support/procs.js';
import { aggregatorClient, Collector, streamSignals } from './support/client.js';
import { FAST_CONSUMER, startMockKafka, type MockKafka } from './support/kafka-mock.js';
import { metricNames, parseExposition, promtool, sample, samples, type Sample } from './support/prometheus.js';

const { Kafka, logLevel } = kafkajs;
const test = suite('Kafka on /metrics: series from the signals, the cap, the dashboard and the alert rules');

const BILLING = 'cluster/prod/group/billing';
const AUDITORS = 'cluster/prod/group/auditors';
const DASHBOARD = join(ROOT, 'helm/kafka-obs/files/grafana-dashboard.json');
const RULES = join(ROOT, 'helm/kafka-obs/files/kafka-alert-rules.yaml');

let mock: MockKafka;
let agg: AggregatorProc;
let monitor: AgentProc;
let sub: Collector;
let kafka: InstanceType<typeof Kafka>;
let producer: Producer;
let producing: NodeJS.Timeout | undefined;
let produced = 0;
const consumers: Consumer[] = [];
/** Every metric name a scrape of this run served. */
const served = new Set<string>();
/** Scrapes kept for the alert rules' unit tests: a group lagging; a broker down. */
let lagging: Sample[] = [];
let brokerDown: Sample[] = [];

async function scrape(a: AggregatorProc = agg): Promise<{ text: string; all: Sample[] }> {
  const text = await (await fetch(`http://127.0.0.1:${a.httpPort}/metrics`)).text();
  const all = parseExposition(text);
  for (const s of all) served.add(s.name);
  return { text, all };
}

const signalsOf = (subject: string): Signal[] => sub.events.filter((e: Event) => e.signal?.subject === subject).map((e) => e.signal!);
const lastOf = (subject: string): Signal | undefined => signalsOf(subject).at(-1);
const ctx = (s: Signal | undefined, key: string): number => Number(s?.context[key]);
const value = (all: Sample[], name: string, labels: Record<string, string>): number | undefined => sample(all, name, labels)?.value;

async function consumer(groupId: string, slowMs: number, topic: string): Promise<Consumer> {
  const c = kafka.consumer({ groupId, ...FAST_CONSUMER });
  consumers.push(c);
  await c.connect();
  await c.subscribe({ topics: [topic], fromBeginning: true });
  await c.run({ autoCommitInterval: 1000, eachMessage: async () => { if (slowMs) await new Promise((r) => setTimeout(r, slowMs)); } });
  return c;
}

const within = (p: Promise<unknown>, ms = 5000): Promise<unknown> => Promise.race([p.catch(() => undefined), new Promise((r) => setTimeout(r, ms).unref())]);

async function stopConsumers(): Promise<void> {
  await within(Promise.allSettled(consumers.splice(0).map((c) => c.disconnect())));
}

test.before(async () => {
  [mock, agg] = await Promise.all([
    startMockKafka({ brokers: 3, topics: [{ name: 'orders', partitions: 3 }, { name: 'audit', partitions: 1 }] }),
    aggregator(['--metrics-partitions', '--metrics-cells', 'cluster,broker,topic,group,service,pod,client']),
  ]);
  sub = new Collector(aggregatorClient(agg.url).client, { kinds: [EventKind.SIGNAL], fromOffset: 0n });
  kafka = new Kafka({ clientId: 'e2e-metrics', brokers: mock.bootstrap.split(','), logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100 } });
  producer = kafka.producer();
  await producer.connect();
  const config = join(tempDir('kafka-metrics-'), 'agent.yaml');
  writeFileSync(config, 'kafka:\n  lag:\n    minStopMs: 3000\n');
  monitor = await agent('lag-monitor-m', agg.url, ['--config', config], {
    KAFKA_BOOTSTRAP_SERVERS: mock.bootstrap, KAFKA_CONSUMER_GROUPS: 'billing,auditors', KAFKA_POLL_INTERVAL_MS: '500', KAFKA_CLUSTER: 'prod', SERVICE_NAME: 'lag-monitor',
  });
});

test.after(async () => {
  if (producing) clearInterval(producing);
  await stopConsumers();
  await within(producer?.disconnect() ?? Promise.resolve());
  await sub?.close();
  await monitor?.kill();
  await Promise.all([agg?.kill(), mock?.stop()]);
});

test('an idle topic\'s caught-up group: its series say OK at lag 0, as its signals do', async () => {
  await producer.send({ topic: 'audit', messages: Array.from({ length: 5 }, (_, i) => ({ value: `audit-${i}` })) });
  const c = await consumer('auditors', 0, 'audit');
  await sub.until(() => lastOf(`${AUDITORS}#lag`)?.context.burrow === 'OK' && ctx(lastOf(`${AUDITORS}#lag`), 'total-lag') === 0, 'auditors OK at lag 0', 30_000);
  const all = await until(async () => {
    const { all } = await scrape();
    return value(all, 'kafka_consumergroup_group_sum_lag', { group: 'auditors' }) === 0 ? all : undefined;
  }, 'auditors at lag 0 on /metrics');
  assert.equal(samples(all, 'kafkaobs_consumergroup_status', { consumergroup: 'auditors' }).map((s) => [s.labels.status, s.value]), [['OK', 1]], 'one status series, OK');
  assert.is(value(all, 'kafka_consumergroup_lag_sum', { consumergroup: 'auditors', topic: 'audit' }), 0);
  assert.is(value(all, 'kafka_consumergroup_lag', { consumergroup: 'auditors', topic: 'audit', partition: '0' }), 0);
  assert.is(value(all, 'kafka_consumergroup_current_offset', { consumergroup: 'auditors', topic: 'audit', partition: '0' }), 5);
  assert.is(value(all, 'kafka_topic_partition_current_offset', { topic: 'audit', partition: '0' }), 5);
  assert.is(value(all, 'kafkaobs_cell_condition', { entity: AUDITORS }), SEVERITY[2 /* STABLE */]);
  await within(c.disconnect());
  consumers.splice(consumers.indexOf(c), 1);
});

test('a group consuming slower than the producer writes: lag, lag in seconds and WARN on /metrics, as its signals carry them', async () => {
  producing = setInterval(() => {
    const messages = Array.from({ length: 6 }, (_, i) => ({ partition: (produced + i) % 3, value: `order-${produced + i}` }));
    produced += messages.length;
    producer.send({ topic: 'orders', messages }).catch(() => undefined);
  }, 50);
  await consumer('billing', 25, 'orders');
  await sub.until(() => lastOf(`${BILLING}#lag`)?.context.burrow === 'WARN', 'billing WARN', 60_000);
  // The scrape and the subscription see the same signals a moment apart: wait for them to agree.
  let group: Signal | undefined;
  const all = await until(async () => {
    const { all } = await scrape();
    group = lastOf(`${BILLING}#lag`);
    const agree = group?.context.burrow === 'WARN'
      && sample(all, 'kafkaobs_consumergroup_status', { consumergroup: 'billing' })?.labels.status === 'WARN'
      && value(all, 'kafka_consumergroup_group_sum_lag', { cluster_name: 'prod', group: 'billing' }) === ctx(group, 'total-lag')
      && value(all, 'kafka_consumergroup_group_max_lag_seconds', { cluster_name: 'prod', group: 'billing' }) === ctx(group, 'lag-seconds')
      && value(all, 'kafka_consumergroup_group_max_lag', { group: 'billing' }) === ctx(group, 'max-lag');
    return agree ? all : undefined;
  }, 'billing\'s group series and its latest #lag signal agreeing', 30_000);
  lagging = all;
  assert.ok(ctx(group, 'total-lag') > 0 && ctx(group, 'lag-seconds') > 0, `lag ${group!.context['total-lag']} and ${group!.context['lag-seconds']} s`);
  assert.is(value(all, 'kafkaobs_consumergroup_status', { consumergroup: 'billing', status: 'WARN' }), 1);
  assert.is(samples(all, 'kafkaobs_consumergroup_status', { consumergroup: 'billing' }).length, 1, 'one status series per group');
  assert.ok(value(all, 'kafkaobs_consumergroup_produce_rate', { consumergroup: 'billing' })! > value(all, 'kafkaobs_consumergroup_consume_rate', { consumergroup: 'billing' })!, 'produced faster than consumed');
  const warnPartitions = /WARN=(\d+)/.exec(group!.context['partition-status'] ?? '')?.[1];
  if (warnPartitions) assert.is(value(all, 'kafkaobs_consumergroup_partitions', { consumergroup: 'billing', status: 'WARN' }), Number(warnPartitions));
  assert.ok(value(all, 'kafkaobs_cell_condition', { entity: BILLING })! >= SEVERITY[3 /* DIVERGING */], 'the group\'s cell DIVERGING or worse');
  // Per topic and per partition too (kafka_exporter's names and labels).
  await until(async () => {
    const { all } = await scrape();
    const topic = lastOf(`${BILLING}/topic/orders#lag`);
    const p0 = lastOf(`${BILLING}/topic/orders/partition/0#lag`);
    return value(all, 'kafka_consumergroup_lag_sum', { cluster: 'prod', consumergroup: 'billing', topic: 'orders' }) === ctx(topic, 'total-lag')
      && value(all, 'kafka_consumergroup_lag', { cluster: 'prod', consumergroup: 'billing', topic: 'orders', partition: '0' }) === ctx(p0, 'lag')
      && value(all, 'kafka_consumergroup_group_lag_seconds', { cluster_name: 'prod', group: 'billing', topic: 'orders', partition: '0' }) === ctx(p0, 'lag-seconds')
      && sample(all, 'kafkaobs_consumergroup_partition_status', { consumergroup: 'billing', topic: 'orders', partition: '0' })?.labels.status === p0?.context.burrow;
  }, 'billing\'s topic and partition series agreeing with their signals', 30_000);
  // The scrape is valid exposition text; promtool's lint finds fault only with kafka_exporter's
  // own name (kept for its dashboards) and prom-client's standard nodejs_* gauges.
  const check = await promtool(['check', 'metrics'], (await scrape()).text);
  assert.equal(check.out.trim().split('\n').filter((l) => l && !/^(kafka_consumergroup_lag_sum|nodejs_\w+) (non-histogram and non-summary metrics should not have "_sum" suffix|non-counter metrics should not have "_total" suffix)$/.test(l)), [], check.out);
  clearInterval(producing);
  producing = undefined;
  await stopConsumers();
});

test('a broker down: its partitions offline or under-replicated, the broker down, on /metrics; then back', async () => {
  await mock.brokerDown(2);
  brokerDown = await until(async () => {
    const { all } = await scrape();
    return value(all, 'kafkaobs_broker_up', { cluster: 'prod', broker: '2' }) === 0 && value(all, 'kafkaobs_topic_offline_partitions', { topic: 'orders' })! >= 1 ? all : undefined;
  }, 'broker 2 down and orders with an offline partition', 30_000);
  const all = brokerDown;
  // Partition 1 of orders is led by broker 2: offline. Every partition has a replica on it: under-replicated.
  assert.is(value(all, 'kafkaobs_topic_partition_offline', { topic: 'orders', partition: '1' }), 1);
  assert.is(value(all, 'kafka_topic_partition_under_replicated_partition', { topic: 'orders', partition: '0' }), 1);
  assert.is(value(all, 'kafka_topic_partition_in_sync_replica', { topic: 'orders', partition: '0' }), 2);
  assert.is(value(all, 'kafka_topic_partition_replicas', { topic: 'orders', partition: '0' }), 3);
  assert.is(value(all, 'kafkaobs_topic_under_replicated_partitions', { topic: 'orders' }), 3);
  assert.is(value(all, 'kafka_topic_partitions', { topic: 'orders' }), 3);
  assert.is(value(all, 'kafka_brokers', { cluster: 'prod' }), 3);
  await mock.brokerUp(2);
  await until(async () => {
    const { all } = await scrape();
    return value(all, 'kafkaobs_broker_up', { broker: '2' }) === 1 && value(all, 'kafkaobs_topic_offline_partitions', { topic: 'orders' }) === 0 && value(all, 'kafkaobs_topic_under_replicated_partitions', { topic: 'orders' }) === 0;
  }, 'broker 2 back, orders healthy', 30_000);
});

test('the cap holds and is counted; an excluded group is left out and counted (a second aggregator, fed this run\'s signals)', async () => {
  const capped = await aggregator(['--metrics-partitions', '--metrics-max-series', '40', '--metrics-exclude-groups', '^audit']);
  try {
    const signals = sub.events.filter((e) => e.signal).map((e) => e.signal!);
    const { client, channel } = aggregatorClient(capped.url);
    const batches: Signal[][] = [];
    for (let i = 0; i < signals.length; i += 500) batches.push(signals.slice(i, i + 500));
    await streamSignals(client, batches);
    channel.close();
    const kafkaFamilies = new Set(EXPOSITION_FAMILIES.filter((f) => !f.name.startsWith('kafkaobs_exporter_')).map((f) => f.name));
    const first = (await scrape(capped)).all;
    const shown = first.filter((s) => kafkaFamilies.has(s.name)).length;
    const sum = (name: string, all = first): number => samples(all, name).reduce((n, s) => n + s.value, 0);
    assert.ok(shown <= 40, `${shown} Kafka and cell series, the cap 40`);
    assert.is(sum('kafkaobs_exporter_series'), shown, 'the exporter counts what it shows');
    const leftOut = sum('kafkaobs_exporter_series_left_out');
    assert.ok(leftOut > 0, 'series left out');
    assert.ok(value(first, 'kafkaobs_exporter_series_left_out', { level: 'group-partition' })! > 0, 'group-partitions go first');
    assert.is(value(first, 'kafkaobs_exporter_max_series', {}), 40);
    // Groups come before partitions and cells: billing is whole; auditors is excluded, and counted.
    assert.is(value(first, 'kafkaobs_consumergroup_status', { consumergroup: 'billing', status: 'OK' }) ?? value(first, 'kafkaobs_consumergroup_status', { consumergroup: 'billing', status: 'WARN' }), 1);
    assert.ok(value(first, 'kafka_consumergroup_group_sum_lag', { group: 'billing' }) !== undefined);
    assert.equal(first.filter((s) => s.labels.consumergroup === 'auditors' || s.labels.group === 'auditors' || s.labels.entity === AUDITORS), [], 'nothing of auditors');
    assert.ok(value(first, 'kafkaobs_exporter_signals_filtered_total', { level: 'group' })! > 0, 'the excluded group\'s signals counted');
    // The counter adds what each scrape leaves out.
    const second = (await scrape(capped)).all;
    assert.is(sum('kafkaobs_exporter_series_left_out_total', second) - sum('kafkaobs_exporter_series_left_out_total', first), sum('kafkaobs_exporter_series_left_out', second));
  } finally {
    await capped.kill();
  }
});

test('a setting that is not a regular expression stops the aggregator, naming the flag', async () => {
  const p = run(['aggregator', '--grpc-port', '0', '--http-port', '0', '--data-dir', tempDir('agg-bad-'), '--metrics-exclude-groups', '(billing'], 'aggregator');
  assert.is(await p.exited, 2);
  assert.match(p.lines.map((l) => l.msg).join('\n'), /--metrics-exclude-groups \(KAFKA_OBS_METRICS_EXCLUDE_GROUPS\): "\(billing" is not a valid regular expression: .*Unterminated group/);
  const q = run(['aggregator', '--grpc-port', '0', '--http-port', '0', '--data-dir', tempDir('agg-bad-'), '--metrics-cells', 'group,consumer'], 'aggregator');
  assert.is(await q.exited, 2);
  assert.match(q.lines.map((l) => l.msg).join('\n'), /--metrics-cells \(KAFKA_OBS_METRICS_CELLS\): unknown kind "consumer"/);
});

/** Every PromQL expression of a Grafana dashboard (panels, rows' panels, template queries), variables filled. */
function dashboardQueries(d: { panels?: unknown[]; templating?: { list?: { query?: unknown }[] } }): string[] {
  const out: string[] = [];
  const fill = (q: string): string => q.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\{?(\w+)\}?/g, '.*');
  const visit = (p: { targets?: { expr?: string }[]; panels?: unknown[] }): void => {
    for (const t of p.targets ?? []) if (t.expr) out.push(fill(t.expr));
    for (const c of p.panels ?? []) visit(c as typeof p);
  };
  for (const p of d.panels ?? []) visit(p as Parameters<typeof visit>[0]);
  for (const v of d.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
    const m = q ? /^label_values\((.+),\s*\w+\)$/.exec(q) : null;
    if (m) out.push(fill(m[1]!));
  }
  return out;
}

test('the Grafana dashboard: its JSON, and every query names only series the aggregator served in this run', async () => {
  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
  assert.is(d.uid, 'kafka-obs');
  const queries = dashboardQueries(d);
  assert.ok(queries.length >= 20, `${queries.length} queries`);
  const ids = new Set<number>();
  for (const p of d.panels) {
    assert.ok(!ids.has(p.id), `panel id ${p.id} unique`);
    ids.add(p.id);
    assert.ok(p.gridPos && p.title, `panel ${p.id} placed and titled`);
    for (const t of p.targets ?? []) assert.ok(t.refId && t.datasource?.uid === '${datasource}', `panel ${p.title}: target with a refId, on the dashboard's data source`);
  }
  for (const q of queries) for (const name of metricNames(q)) assert.ok(served.has(name), `"${name}" (in ${q}) was not served by the aggregator in this run`);
  // Prometheus itself parses every query: as recording rules, checked by promtool.
  const file = join(tempDir('dashboard-'), 'queries.yaml');
  writeFileSync(file, toYaml({ groups: [{ name: 'dashboard', rules: queries.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) }] }));
  const check = await promtool(['check', 'rules', file]);
  assert.is(check.code, 0, check.out);
});

interface RuleFile {
  groups: { name: string; rules: { alert?: string; expr: string; labels?: Record<string, string>; annotations?: Record<string, string> }[] }[];
}

type Expected = { labels: Record<string, string>; annotations: Record<string, string> }[];

/** A promtool unit test of the rules: the samples of `families` in `scrape` held for 30 minutes, and the alerts expected at 20. */
function unitTest(rules: RuleFile, name: string, scrape: Sample[], families: string[], alerts: Record<string, Expected>): unknown {
  const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  return {
    name,
    interval: '1m',
    input_series: scrape.filter((s) => families.includes(s.name)).map((s) => ({
      series: `${s.name}{${Object.entries(s.labels).map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}`,
      values: `${s.value}+0x30`,
    })),
    alert_rule_test: rules.groups.flatMap((g) => g.rules.filter((r) => r.alert && r.alert !== 'KafkaObsSeriesLeftOut').map((r) => ({
      eval_time: '20m',
      alertname: r.alert,
      exp_alerts: (alerts[r.alert!] ?? []).map((a) => ({ exp_labels: a.labels, exp_annotations: a.annotations })),
    }))),
  };
}

test('the alert rules: promtool checks them, they name only served series, and they fire on what this run served (promtool test rules)', async () => {
  const check = await promtool(['check', 'rules', RULES]);
  assert.is(check.code, 0, check.out);
  const rules = parseYaml(readFileSync(RULES, 'utf8')) as RuleFile;
  for (const g of rules.groups) for (const r of g.rules) for (const name of metricNames(r.expr)) assert.ok(served.has(name), `rule ${r.alert}: "${name}" was not served in this run`);
  const alert = (name: string, severity: string, labels: Record<string, string>, v: number): Expected[number] => {
    const r = rules.groups.flatMap((g) => g.rules).find((x) => x.alert === name)!;
    const fill = (t: string): string => t.replace(/\{\{ \$labels\.(\w+) ?\}\}/g, (_, k: string) => labels[k] ?? '').replace(/\{\{ \$value \}\}/g, String(v));
    return { labels: { ...labels, alertname: name, severity }, annotations: Object.fromEntries(Object.entries(r.annotations ?? {}).map(([k, t]) => [k, fill(t)])) };
  };
  // What each rule must say of a scrape, read off its samples; billing lagging and broker 2 down must be among it.
  const lag = lagging;
  const lagAlerts: Record<string, Expected> = {
    KafkaConsumerGroupLagging: samples(lag, 'kafkaobs_consumergroup_status', { status: 'WARN' }).map((s) => alert('KafkaConsumerGroupLagging', 'warning', { cluster: s.labels.cluster!, consumergroup: s.labels.consumergroup! }, 1)),
    KafkaConsumerGroupError: samples(lag, 'kafkaobs_consumergroup_status', { status: 'ERR' }).map((s) => alert('KafkaConsumerGroupError', 'critical', { cluster: s.labels.cluster!, consumergroup: s.labels.consumergroup! }, 1)),
    KafkaConsumerGroupPartitionsNotConsumed: samples(lag, 'kafkaobs_consumergroup_partitions').filter((s) => /^(STOP|STALL|REWIND)$/.test(s.labels.status!) && s.value > 0)
      .map((s) => alert('KafkaConsumerGroupPartitionsNotConsumed', 'critical', { cluster: s.labels.cluster!, consumergroup: s.labels.consumergroup!, status: s.labels.status! }, s.value)),
    KafkaConsumerGroupLagSecondsHigh: samples(lag, 'kafka_consumergroup_group_max_lag_seconds').filter((s) => s.value > 600).map((s) => alert('KafkaConsumerGroupLagSecondsHigh', 'warning', { cluster_name: s.labels.cluster_name!, group: s.labels.group! }, s.value)),
  };
  assert.ok(lagAlerts.KafkaConsumerGroupLagging!.some((a) => a.labels.consumergroup === 'billing'), 'billing was WARN in the scrape');
  const down = brokerDown;
  const byTopic = (name: string, alertName: string, severity: string): Expected => samples(down, name).filter((s) => s.value > 0).map((s) => alert(alertName, severity, { cluster: s.labels.cluster!, topic: s.labels.topic! }, s.value));
  const downAlerts: Record<string, Expected> = {
    KafkaBrokerDown: samples(down, 'kafkaobs_broker_up').filter((s) => s.value === 0).map((s) => alert('KafkaBrokerDown', 'critical', { cluster: s.labels.cluster!, broker: s.labels.broker! }, 0)),
    KafkaUnderReplicatedPartitions: byTopic('kafkaobs_topic_under_replicated_partitions', 'KafkaUnderReplicatedPartitions', 'warning'),
    KafkaOfflinePartitions: byTopic('kafkaobs_topic_offline_partitions', 'KafkaOfflinePartitions', 'critical'),
    KafkaObsCriticalNarrativeOpen: samples(down, 'kafkaobs_narratives_open_by_level', { level: 'CRITICAL' }).filter((s) => s.value > 0).map((s) => alert('KafkaObsCriticalNarrativeOpen', 'critical', { level: 'CRITICAL' }, s.value)),
  };
  assert.equal(downAlerts.KafkaBrokerDown!.map((a) => a.labels.broker), ['2']);
  assert.ok(downAlerts.KafkaOfflinePartitions!.some((a) => a.labels.topic === 'orders'), 'orders had an offline partition');
  const tests = {
    rule_files: [RULES],
    evaluation_interval: '1m',
    tests: [
      unitTest(rules, 'a group lagging', lag, ['kafkaobs_consumergroup_status', 'kafkaobs_consumergroup_partitions', 'kafka_consumergroup_group_max_lag_seconds'], lagAlerts),
      unitTest(rules, 'a broker down', down, ['kafkaobs_broker_up', 'kafkaobs_topic_under_replicated_partitions', 'kafkaobs_topic_offline_partitions', 'kafkaobs_narratives_open_by_level'], downAlerts),
    ],
  };
  const file = join(tempDir('rules-test-'), 'rules.test.yaml');
  writeFileSync(file, toYaml(tests));
  const r = await promtool(['test', 'rules', file]);
  assert.is(r.code, 0, `promtool test rules:\n${r.out}`);
});

test.run();
