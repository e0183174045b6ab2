// The chart as helm sees it: lint and template pass for the default values and each example;
// every manifest rendered validates against the Kubernetes schemas; bad values fail with a message
// naming what to change; the sidecar template works from a service's own chart.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CHART, find, helm, render, secretData, validate, type Manifest } from './support/k8s.js';
import { tempDir } from './support/procs.js';

const EXAMPLES = readdirSync(join(CHART, 'examples')).filter((f) => f.endsWith('-values.yaml')).map((f) => join(CHART, 'examples', f));
// Every optional part on at once, so each template is rendered and checked at least once.
const EVERYTHING = [
  'aggregator.tls.enabled=true', 'aggregator.tls.secretName=agg-tls', 'aggregator.tls.clientCa=true',
  'aggregator.auth.enabled=true', 'aggregator.networkPolicy.enabled=true', 'aggregator.serviceMonitor.enabled=true',
  'aggregator.prometheusRule.enabled=true', 'aggregator.grafanaDashboard.enabled=true', 'aggregator.actors.actors[0].type=log', 'aggregator.actors.actors[0].enabled=true',
  'webhook.enabled=true', 'sidecar.readinessProbe=true',
  'clusterSensor.enabled=true', 'clusterSensor.clusters[0].name=prod', 'clusterSensor.clusters[0].bootstrapServers=kafka:9092',
];

async function allValid(manifests: Manifest[]): Promise<void> {
  const problems = (await Promise.all(manifests.map(validate))).flat();
  assert.equal(problems, []);
}

test('helm lint passes for the default values, each example and everything on', () => {
  for (const args of [[], ...EXAMPLES.map((f) => ['-f', f]), EVERYTHING.flatMap((s) => ['--set', s])]) {
    const r = helm(['lint', CHART, '--strict', ...args]);
    assert.is(r.code, 0, `helm lint ${args.join(' ')}:\n${r.out}${r.err}`);
  }
});

test('the default values render an aggregator (StatefulSet with a claim at --data-dir, Service, PDB) and validate', async () => {
  const ms = render();
  await allValid(ms);
  assert.equal(ms.map((m) => m.kind).sort(), ['PodDisruptionBudget', 'Service', 'Service', 'ServiceAccount', 'StatefulSet']);
  const sts = find(ms, 'StatefulSet');
  const c = sts.spec.template.spec.containers[0];
  const dataDir = c.args[c.args.indexOf('--data-dir') + 1];
  assert.is(c.volumeMounts.find((v: { name: string }) => v.name === 'data').mountPath, dataDir);
  assert.is(sts.spec.volumeClaimTemplates[0].metadata.name, 'data');
  assert.is(c.readinessProbe.grpc.service, 'kafkaobs.v1.SignalAggregator');
  assert.is(c.livenessProbe.grpc.port, 50051);
  assert.is(c.securityContext.readOnlyRootFilesystem, true);
  assert.is(sts.spec.template.spec.securityContext.runAsNonRoot, true);
  const svc = find(ms, 'Service', 'aggregator');
  assert.equal(svc.spec.ports.map((p: { name: string; port: number }) => `${p.name}:${p.port}`), ['grpc:50051', 'http:8080']);
});

test('each example and everything-on render manifests that validate', async () => {
  for (const f of EXAMPLES) await allValid(render({ files: [f] }));
  const ms = render({ set: EVERYTHING });
  await allValid(ms);
  const kinds = new Set(ms.map((m) => m.kind));
  for (const k of ['NetworkPolicy', 'ServiceMonitor', 'PrometheusRule', 'MutatingWebhookConfiguration', 'Deployment', 'ConfigMap', 'Secret']) assert.ok(kinds.has(k), `${k} rendered`);
  // With TLS the kubelet cannot use gRPC probes: HTTP ones instead.
  const c = find(ms, 'StatefulSet').spec.template.spec.containers[0];
  assert.is(c.readinessProbe.httpGet.path, '/readyz');
  assert.ok(c.args.includes('--tls-client-ca'));
  // The token is a Secret read as a file, never a plain value.
  assert.ok(c.args.includes('--token-file'));
  const token = secretData(find(ms, 'Secret', 'token')).token!;
  assert.ok(token.length >= 32);
  for (const m of ms.filter((x) => x.kind !== 'Secret')) assert.not.ok(JSON.stringify(m).includes(token), `${m.kind}/${m.metadata.name} does not hold the token`);
});

test('the Kafka alert rules and the Grafana dashboard the chart installs are the files the metrics test runs against a real aggregator', async () => {
  const ms = render({ set: ['aggregator.prometheusRule.enabled=true', 'aggregator.grafanaDashboard.enabled=true'] });
  await allValid(ms);
  const file = parseYaml(readFileSync(join(CHART, 'files/kafka-alert-rules.yaml'), 'utf8')) as { groups: { name: string }[] };
  const groups = find(ms, 'PrometheusRule').spec.groups as { name: string }[];
  assert.ok(groups.some((g) => g.name === 'kafka-obs'), "kafka-obs's own alerts stay");
  assert.equal(groups.filter((g) => g.name !== 'kafka-obs'), file.groups);
  const dashboard = find(ms, 'ConfigMap', 'dashboard');
  assert.is((dashboard.metadata.labels as Record<string, string>).grafana_dashboard, '1');
  assert.equal(JSON.parse(dashboard.data['kafka-obs.json']), JSON.parse(readFileSync(join(CHART, 'files/grafana-dashboard.json'), 'utf8')));
  const without = render({ set: ['aggregator.prometheusRule.enabled=true', 'aggregator.prometheusRule.kafkaRules=false'] });
  assert.equal((find(without, 'PrometheusRule').spec.groups as { name: string }[]).map((g) => g.name), ['kafka-obs']);
  assert.not.ok(without.some((m) => m.kind === 'ConfigMap' && m.metadata.name.includes('dashboard')), 'no dashboard unless asked');
});

test('the cluster sensor: one Deployment per Kafka cluster, one replica, replaced not rolled, credentials from Secrets under seed 002 names', async () => {
  const ms = render({ files: [join(CHART, 'examples/msk-values.yaml')] });
  const d = find(ms, 'Deployment', 'sensor-msk-prod');
  assert.is(d.spec.replicas, 1);
  assert.is(d.spec.strategy.type, 'Recreate');
  const env = Object.fromEntries(d.spec.template.spec.containers[0].env.map((e: { name: string }) => [e.name, e]));
  assert.equal(env.KAFKA_BROKER_URL.valueFrom.secretKeyRef, { name: 'msk-connection', key: 'bootstrap' });
  assert.is(env.KAFKA_SECURITY_PROTOCOL.value, 'SASL_SSL');
  assert.is(env.KAFKA_SASL_MECHANISM.value, 'SCRAM-SHA-512');
  assert.equal(env.KAFKA_SASL_USERNAME.valueFrom.secretKeyRef, { name: 'msk-credentials', key: 'username' });
  assert.equal(env.KAFKA_SASL_PASSWORD.valueFrom.secretKeyRef, { name: 'msk-credentials', key: 'password' });
  assert.is(d.spec.template.spec.containers[0].readinessProbe.httpGet.path, '/readyz');
  // Strimzi: TLS listener 9093 with the cluster CA and the user's certificate; broker pages, no JRE needed.
  const s = find(render({ files: [join(CHART, 'examples/strimzi-values.yaml')] }), 'Deployment', 'sensor-my-cluster').spec.template.spec.containers[0];
  assert.match(s.env.find((e: { name: string }) => e.name === 'KAFKA_BROKER_URL').value, /:9093$/);
  assert.match(s.image, /\/agent:|^kafka-obs\/agent:/);
  const jmx = find(render({ files: [join(CHART, 'examples/strimzi-jmx-values.yaml')] }), 'Deployment', 'sensor-my-cluster').spec.template.spec.containers[0];
  assert.match(jmx.image, /agent-jmx:/);
});

test('bad values fail at install with a message that says what to change', () => {
  const bad = (set: string[], expect: RegExp): void => {
    const r = helm(['template', 'k', CHART, ...set.flatMap((s) => ['--set', s])]);
    assert.is.not(r.code, 0, `${set.join(' ')} should fail`);
    assert.match(r.err, expect, r.err);
  };
  bad(['aggregator.replicas=one'], /at '\/aggregator\/replicas': got string, want integer/);
  bad(['aggregator.replicas=3'], /at '\/aggregator\/replicas': maximum/);
  bad(['clusterSensor.enabled=true'], /at '\/clusterSensor\/clusters': minItems/);
  bad(['clusterSensor.enabled=true', 'clusterSensor.clusters[0].name=prod'], /clusterSensor\/clusters\/0[\s\S]*missing property 'bootstrapServers'/);
  bad(['clusterSensor.enabled=true', 'clusterSensor.clusters[0].name=a', 'clusterSensor.clusters[0].bootstrapServers=k:9092', 'clusterSensor.clusters[1].name=b', 'clusterSensor.clusters[1].bootstrapServers=k:9092'], /bootstrap servers "k:9092" are those of cluster "a" already; one sensor per Kafka cluster/);
  bad(['clusterSensor.enabled=true', 'clusterSensor.clusters[0].name=a', 'clusterSensor.clusters[0].bootstrapServers=k:9092', 'clusterSensor.clusters[0].securityProtocol=SASL_SSL'], /securityProtocol SASL_SSL needs sasl/);
  bad(['aggregator.tls.enabled=true'], /aggregator.tls.enabled needs aggregator.tls.secretName/);
  bad(['aggregator.replica=1'], /additional properties 'replica' not allowed/);
  bad(['webhook.failurePolicy=Sometimes'], /at '\/webhook\/failurePolicy'/);
});

test('the sidecar template from a service\'s own chart (kafka-obs as a dependency) renders a valid pod with the agent beside the service', async () => {
  const dir = tempDir('chart-');
  cpSync(join(CHART, '..'), dir, { recursive: true });
  const app = join(dir, 'kafka-obs/examples/orders-app');
  const dep = helm(['dependency', 'build', app]);
  assert.is(dep.code, 0, dep.err);
  assert.is(helm(['lint', app]).code, 0);
  const ms = render({ chart: app, release: 'orders', namespace: 'shop' });
  assert.equal(ms.map((m) => m.kind), ['Deployment'], 'only the service: the aggregator is another release');
  await allValid(ms);
  const [svc, agent] = ms[0]!.spec.template.spec.containers;
  assert.is(svc.name, 'orders');
  assert.is(agent.name, 'kafka-obs-agent');
  const env = Object.fromEntries(agent.env.map((e: { name: string; value?: string }) => [e.name, e.value ?? e]));
  assert.is(env.JMX_URL, 'localhost:9999');
  assert.is(env.SERVICE_NAME, 'orders');
  assert.is(env.AGGREGATOR_URL, 'grpc://kafka-obs-aggregator.kafka-obs.svc:50051');
  assert.equal(env.AGENT_ID.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } });
});

test('the chart\'s own version of the app and the template helper agree', () => {
  const chart = readFileSync(join(CHART, 'Chart.yaml'), 'utf8');
  const helpers = readFileSync(join(CHART, 'templates/_helpers.tpl'), 'utf8');
  const app = /appVersion: "([^"]+)"/.exec(chart)![1];
  assert.ok(helpers.includes(`{{- define "kafka-obs.appVersion" -}}${app}{{- end -}}`), 'kafka-obs.appVersion in _helpers.tpl is Chart.yaml\'s appVersion');
  const pkg = JSON.parse(readFileSync(join(CHART, '../../package.json'), 'utf8')) as { version: string };
  assert.is(app, pkg.version);
});

test.run();
