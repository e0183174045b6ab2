// The chart as helm sees it: lint and template pass for the default values and each example;
// every manifest rendered validates against the Kubernetes schemas; bad values fail with a message
// naming what to change; the sidecar template works from a service's own chart.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CHART, find, helm, render, secretData, validate, type Manifest } from './support/k8s.js';
import { tempDir } from './support/procs.js';
import { admissionResponse, sidecarTemplate } from '../aggregator/webhook.js';

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

// Sharding by Kafka cluster (examples/sharded-values.yaml): prod-eu in shard eu, prod-us and batch-us in shard us.
const SHARDED = join(CHART, 'examples/sharded-values.yaml');
const SHARD_URL = (shard: string): string => `grpc://kafka-obs-aggregator-${shard}.kafka-obs.svc:50051`;
const UPSTREAM_URL = 'grpc://kafka-obs-aggregator.kafka-obs.svc:50051';
type Env = { name: string; value?: string };
const envOf = (c: { env: Env[] }): Record<string, string | undefined> => Object.fromEntries(c.env.map((e) => [e.name, e.value]));
const argOf = (args: string[], flag: string): string | undefined => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);

test('shards: a leaf aggregator per shard forwarding to the release\'s aggregator; every manifest validates', async () => {
  const ms = render({ files: [SHARDED] });
  await allValid(ms);
  const sets = ms.filter((m) => m.kind === 'StatefulSet');
  assert.equal(sets.map((m) => m.metadata.name).sort(), ['kafka-obs-aggregator', 'kafka-obs-aggregator-eu', 'kafka-obs-aggregator-us']);
  const argsOf = (name: string): string[] => sets.find((m) => m.metadata.name === name)!.spec.template.spec.containers[0].args;
  // The upstream is the aggregator as before: no --upstream, the injector's.
  const up = argsOf('kafka-obs-aggregator');
  assert.is(argOf(up, '--upstream'), undefined);
  assert.ok(up.includes('--webhook-sidecar'), 'the upstream serves the injector');
  for (const [shard, cluster] of [['eu', 'prod-eu'], ['us', 'prod-us']] as const) {
    const args = argsOf(`kafka-obs-aggregator-${shard}`);
    assert.is(argOf(args, '--upstream'), UPSTREAM_URL, `${shard} forwards to the upstream's Service`);
    assert.is(argOf(args, '--leaf-name'), shard);
    assert.is(argOf(args, '--default-cluster'), cluster);
    // The chart's token: the leaf's own door and its calls upstream.
    assert.is(argOf(args, '--token-file'), '/etc/kafka-obs/token/token');
    assert.is(argOf(args, '--upstream-token-file'), '/etc/kafka-obs/token/token');
    assert.not.ok(args.includes('--webhook-sidecar'), 'a leaf does not serve the injector');
  }
  assert.is(sets.find((m) => m.metadata.name === 'kafka-obs-aggregator-us')!.spec.template.spec.containers[0].resources.limits.memory, '1Gi', 'a shard\'s own resources');
  // Each aggregator's Service, PDB and claim select its own pods only.
  const podLabels = new Map(sets.map((m) => [m.metadata.name, m.spec.template.metadata.labels as Record<string, string>]));
  const selects = (selector: Record<string, string>, labels: Record<string, string>): boolean => Object.entries(selector).every(([k, v]) => labels[k] === v);
  for (const m of ms.filter((x) => x.kind === 'Service' || x.kind === 'PodDisruptionBudget')) {
    const selector = (m.kind === 'Service' ? m.spec.selector : m.spec.selector.matchLabels) as Record<string, string>;
    const owner = m.metadata.name.replace(/-headless$/, '');
    const matched = [...podLabels].filter(([, l]) => selects(selector, l)).map(([n]) => n);
    assert.equal(matched, [owner], `${m.kind}/${m.metadata.name} selects ${matched.join(', ')}`);
  }
  for (const shard of ['eu', 'us']) assert.ok(ms.some((m) => m.kind === 'Service' && m.metadata.name === `kafka-obs-aggregator-${shard}`), `Service for shard ${shard}`);
});

test('shards: each cluster\'s sensor and sidecars (template and injector) send to the shard that owns the cluster', async () => {
  const ms = render({ files: [SHARDED] });
  const owners = { 'prod-eu': 'eu', 'prod-us': 'us', 'batch-us': 'us' } as const;
  for (const [cluster, shard] of Object.entries(owners)) {
    const sensor = find(ms, 'Deployment', `sensor-${cluster}`).spec.template.spec.containers[0];
    assert.is(envOf(sensor).AGGREGATOR_URL, SHARD_URL(shard), `the ${cluster} sensor`);
    assert.is(envOf(sensor).KAFKA_CLUSTER, cluster);
  }
  // The injector: the rendered sidecar file, as the aggregator reads it.
  const file = parseYaml(find(ms, 'ConfigMap', 'sidecar').data['sidecar.yaml']) as unknown;
  const sidecar = sidecarTemplate(file, 'the rendered sidecar.yaml');
  assert.equal(sidecar.routes, { 'prod-eu': SHARD_URL('eu'), 'prod-us': SHARD_URL('us'), 'batch-us': SHARD_URL('us') });
  const inject = (annotations: Record<string, string>) => {
    const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', object: { kind: 'Pod', metadata: { name: 'billing-0', annotations: { 'kafka-obs.io/inject': 'true', ...annotations } }, spec: { containers: [{ name: 'billing', image: 'b' }] } } } };
    return admissionResponse(review, sidecar);
  };
  for (const [cluster, shard] of Object.entries(owners)) {
    const r = inject({ 'kafka-obs.io/cluster': cluster });
    assert.is(r.outcome, 'injected');
    const env = envOf(r.patch[0]!.value as { env: Env[] });
    assert.is(env.AGGREGATOR_URL, SHARD_URL(shard), `a pod of ${cluster}`);
    assert.is(env.KAFKA_CLUSTER, cluster);
  }
  // No annotation: clusterName (prod-eu), so shard eu.
  assert.is(envOf(inject({}).patch[0]!.value as { env: Env[] }).AGGREGATOR_URL, SHARD_URL('eu'));
  // A cluster in no shard: admitted as it is, with a warning that says what to change.
  const stray = inject({ 'kafka-obs.io/cluster': 'staging' });
  assert.is(stray.outcome, 'invalid-annotation');
  assert.equal(stray.patch, []);
  assert.match(stray.warnings[0]!, /kafka-obs.io\/cluster: Kafka cluster "staging" is in no shard of this kafka-obs \(shards serve batch-us, prod-eu, prod-us\): fix the annotation or add the cluster to aggregator.shards/);

  // The template, from a service's own chart whose kafka-obs values shard the estate.
  const dir = tempDir('chart-');
  cpSync(join(CHART, '..'), dir, { recursive: true });
  const app = join(dir, 'kafka-obs/examples/orders-app');
  writeFileSync(join(app, 'templates/batch-pod.yaml'), [
    'apiVersion: v1', 'kind: Pod', 'metadata:', '  name: batch-0', 'spec:', '  containers:', '    - name: batch', '      image: busybox',
    '    {{- include "kafka-obs.sidecar" (dict "root" $ "serviceName" "batch" "cluster" "batch-us") | nindent 4 }}', '',
  ].join('\n'));
  assert.is(helm(['dependency', 'build', app]).code, 0);
  const sharded = ['kafka-obs.aggregator.enabled=true', 'kafka-obs.sidecar.aggregatorUrl=', 'kafka-obs.clusterName=prod-eu', 'kafka-obs.aggregator.shards[0].name=eu', 'kafka-obs.aggregator.shards[0].clusters[0]=prod-eu', 'kafka-obs.aggregator.shards[1].name=us', 'kafka-obs.aggregator.shards[1].clusters[0]=batch-us'];
  const appMs = render({ chart: app, release: 'orders', namespace: 'shop', set: sharded });
  await allValid(appMs);
  const url = (c: { env: Env[] }): string | undefined => envOf(c).AGGREGATOR_URL;
  const pod = appMs.find((m) => m.kind === 'Pod')!;
  assert.is(url(pod.spec.containers[1]), 'grpc://orders-kafka-obs-aggregator-us.shop.svc:50051', 'cluster batch-us: shard us');
  assert.is(url(find(appMs, 'Deployment', 'orders').spec.template.spec.containers[1]), 'grpc://orders-kafka-obs-aggregator-eu.shop.svc:50051', 'no cluster: clusterName\'s shard');
  writeFileSync(join(app, 'templates/batch-pod.yaml'), readFileSync(join(app, 'templates/batch-pod.yaml'), 'utf8').replace('"batch-us"', '"nowhere"'));
  const r = helm(['template', 'orders', app, ...sharded.flatMap((x) => ['--set', x])]);
  assert.is.not(r.code, 0);
  assert.match(r.err, /Kafka cluster "nowhere" is in no shard: add it to the clusters of one entry of aggregator.shards \(now: eu: \[prod-eu\]; us: \[batch-us\]\), or set sidecar.aggregatorUrl/);
});

test('shards with TLS and identities: leaves trust the upstream\'s CA, present their certificate for mutual TLS, and send their own token', async () => {
  const ms = render({ files: [SHARDED], set: ['aggregator.tls.enabled=true', 'aggregator.tls.secretName=agg-tls', 'aggregator.tls.clientCa=true', 'aggregator.shards[0].tlsSecretName=eu-tls', 'aggregator.shards[0].upstreamTokenSecret.name=eu-upstream', 'aggregator.networkPolicy.enabled=true', 'aggregator.serviceMonitor.enabled=true'] });
  await allValid(ms);
  const eu = find(ms, 'StatefulSet', 'aggregator-eu').spec.template.spec;
  const args = eu.containers[0].args as string[];
  assert.is(argOf(args, '--upstream'), 'grpcs://kafka-obs-aggregator.kafka-obs.svc:50051');
  assert.is(argOf(args, '--upstream-tls-ca'), '/etc/kafka-obs/upstream-ca/ca.crt');
  assert.is(argOf(args, '--upstream-tls-cert'), '/etc/kafka-obs/tls/tls.crt');
  assert.is(argOf(args, '--upstream-token-file'), '/etc/kafka-obs/upstream-token/token');
  const volumes = Object.fromEntries((eu.volumes as { name: string }[]).map((v) => [v.name, v]));
  assert.equal(volumes.tls, { name: 'tls', secret: { secretName: 'eu-tls' } });
  assert.equal(volumes['upstream-token'], { name: 'upstream-token', secret: { secretName: 'eu-upstream' } });
  assert.equal(volumes['upstream-ca'], { name: 'upstream-ca', configMap: { name: 'kafka-obs-ca' } });
  // us keeps the shared ones.
  const us = find(ms, 'StatefulSet', 'aggregator-us').spec.template.spec;
  assert.is(argOf(us.containers[0].args, '--upstream-token-file'), '/etc/kafka-obs/token/token');
  assert.equal(ms.filter((m) => m.kind === 'NetworkPolicy').map((m) => m.metadata.name).sort(), ['kafka-obs-aggregator', 'kafka-obs-aggregator-eu', 'kafka-obs-aggregator-us']);
  const monitors = ms.filter((m) => m.kind === 'ServiceMonitor');
  assert.equal(monitors.map((m) => m.spec.endpoints[0].tlsConfig.serverName).sort(), ['kafka-obs-aggregator', 'kafka-obs-aggregator-eu', 'kafka-obs-aggregator-us'], 'every aggregator scraped');
  assert.equal(find(ms, 'MutatingWebhookConfiguration').webhooks[0].clientConfig.service.name, 'kafka-obs-aggregator', 'the injector is the upstream\'s');
});

test('shards: bad values fail with a message naming what to change', () => {
  const bad = (set: string[], expect: RegExp): void => {
    const r = helm(['template', 'k', CHART, ...set.flatMap((s) => ['--set', s])]);
    assert.is.not(r.code, 0, `${set.join(' ')} should fail`);
    assert.match(r.err, expect, r.err);
  };
  const two = ['clusterName=a', 'aggregator.shards[0].name=one', 'aggregator.shards[0].clusters[0]=a', 'aggregator.shards[1].name=two', 'aggregator.shards[1].clusters[0]=b'];
  bad([...two, 'aggregator.shards[1].clusters[1]=a'], /aggregator.shards\[1\] \(two\): Kafka cluster "a" is already in shard "one"; a cluster belongs to one shard \(its incidents are explained there\): remove it from one of them/);
  bad([...two, 'clusterSensor.enabled=true', 'clusterSensor.clusters[0].name=c', 'clusterSensor.clusters[0].bootstrapServers=k:9092'], /clusterSensor.clusters\[0\]: Kafka cluster "c" is in no shard: add it to the clusters of one entry of aggregator.shards \(one: \[a\]; two: \[b\]\)/);
  bad(two.slice(1), /clusterName "default" is in no shard: with aggregator.shards, set clusterName \(the sidecars' default cluster\) to a cluster of one shard \(one: \[a\]; two: \[b\]\), or add it to a shard's clusters/);
  bad([...two, 'aggregator.shards[1].name=one'], /aggregator.shards\[1\]: shard "one" is listed twice/);
  bad([...two, 'aggregator.enabled=false'], /aggregator.shards needs aggregator.enabled/);
  bad([...two, 'aggregator.extraArgs[0]=--upstream', 'aggregator.extraArgs[1]=grpc://global:50051'], /aggregator.extraArgs has --upstream, which the shards would get too/);
  bad(['aggregator.shards[0].name=Prod_EU', 'aggregator.shards[0].clusters[0]=a'], /at '\/aggregator\/shards\/0\/name': 'Prod_EU' does not match pattern/);
  bad(['aggregator.shards[0].name=eu'], /aggregator\/shards\/0[\s\S]*missing property 'clusters'/);
  bad(['aggregator.shards[0].name=eu', 'aggregator.shards[0].cluster=a'], /additional properties 'cluster' not allowed/);
});

// HA pairs (examples/ha-pair-values.yaml): every shard runs two members forwarding to the release's aggregator.
const HA = join(CHART, 'examples/ha-pair-values.yaml');
const MEMBERS = (shard: string, scheme = 'grpc'): string => [0, 1].map((i) => `${scheme}://kafka-obs-aggregator-${shard}-${i}.kafka-obs-aggregator-${shard}-headless.kafka-obs.svc:50051`).join(',');

test('HA pair: two members per shard (own claim, stable name), each with --ha-group and --upstream; actors upstream only; every manifest validates', async () => {
  const ms = render({ files: [HA], set: ['aggregator.shards[1].haPair=false'] });
  await allValid(ms);
  const sts = (name: string) => find(ms, 'StatefulSet', name);
  const eu = sts('aggregator-eu');
  assert.is(eu.metadata.name, 'kafka-obs-aggregator-eu');
  assert.is(eu.spec.replicas, 2, 'two members');
  assert.is(eu.spec.serviceName, 'kafka-obs-aggregator-eu-headless');
  assert.is(eu.spec.volumeClaimTemplates[0].metadata.name, 'data', 'each member its own claim (data-<pod>)');
  const headless = find(ms, 'Service', 'aggregator-eu-headless');
  assert.is(headless.spec.clusterIP, 'None');
  assert.is(headless.spec.publishNotReadyAddresses, true, 'each member\'s name resolves while it starts');
  const c = eu.spec.template.spec.containers[0];
  const args = c.args as string[];
  assert.is(argOf(args, '--upstream'), UPSTREAM_URL);
  assert.is(argOf(args, '--ha-group'), 'eu');
  assert.is(argOf(args, '--leaf-name'), '$(POD_NAME)', 'each member its own leaf name: its pod\'s');
  assert.equal(c.env.find((e: Env) => e.name === 'POD_NAME').valueFrom, { fieldRef: { fieldPath: 'metadata.name' } });
  assert.is(c.env.findIndex((e: Env) => e.name === 'POD_NAME'), 0, 'POD_NAME is defined before anything refers to it');
  assert.is(argOf(args, '--upstream-token-file'), '/etc/kafka-obs/token/token');
  assert.ok(eu.spec.template.spec.affinity.podAntiAffinity, 'the members are spread over nodes');
  // us is not a pair (its own haPair: false): one member, its shard name.
  const us = sts('aggregator-us');
  assert.is(us.spec.replicas, 1);
  assert.is(argOf(us.spec.template.spec.containers[0].args, '--ha-group'), undefined);
  assert.is(argOf(us.spec.template.spec.containers[0].args, '--leaf-name'), 'us');
  // Actors: the upstream only (a member with actors refuses to start; a shard would page twice).
  for (const name of ['aggregator-eu', 'aggregator-us']) {
    const spec = sts(name).spec.template.spec;
    assert.not.ok((spec.containers[0].args as string[]).includes('--actors'), `${name} gets no actors`);
    assert.not.ok((spec.volumes as { name: string }[]).some((v) => v.name === 'actors'));
  }
  assert.is(argOf(sts('aggregator').spec.template.spec.containers[0].args, '--actors'), '/etc/kafka-obs/actors/actors.yaml');
  assert.is(argOf(sts('aggregator').spec.template.spec.containers[0].args, '--ha-group'), undefined, 'the upstream is not a member');
});

test('HA pair: the sensors, injected and template sidecars of a pair\'s clusters get both members\' URLs', async () => {
  const ms = render({ files: [HA], set: ['aggregator.shards[1].haPair=false'] });
  assert.is(envOf(find(ms, 'Deployment', 'sensor-prod-eu').spec.template.spec.containers[0]).AGGREGATOR_URL, MEMBERS('eu'));
  assert.is(envOf(find(ms, 'Deployment', 'sensor-prod-us').spec.template.spec.containers[0]).AGGREGATOR_URL, SHARD_URL('us'));
  const sidecar = sidecarTemplate(parseYaml(find(ms, 'ConfigMap', 'sidecar').data['sidecar.yaml']) as unknown, 'the rendered sidecar.yaml');
  assert.equal(sidecar.routes, { 'prod-eu': MEMBERS('eu'), 'prod-us': SHARD_URL('us') });
  const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', object: { kind: 'Pod', metadata: { name: 'orders-0', annotations: { 'kafka-obs.io/inject': 'true', 'kafka-obs.io/cluster': 'prod-eu' } }, spec: { containers: [{ name: 'orders', image: 'o' }] } } } };
  const r = admissionResponse(review, sidecar);
  assert.is(r.outcome, 'injected');
  assert.is(envOf(r.patch[0]!.value as { env: Env[] }).AGGREGATOR_URL, MEMBERS('eu'));
  // With TLS: grpcs:// to both members.
  const tls = render({ files: [HA], set: ['aggregator.tls.enabled=true', 'aggregator.tls.secretName=agg-tls'] });
  assert.is(envOf(find(tls, 'Deployment', 'sensor-prod-us').spec.template.spec.containers[0]).AGGREGATOR_URL, MEMBERS('us', 'grpcs'));
  // The template, from a service's own chart.
  const dir = tempDir('chart-');
  cpSync(join(CHART, '..'), dir, { recursive: true });
  const app = join(dir, 'kafka-obs/examples/orders-app');
  assert.is(helm(['dependency', 'build', app]).code, 0);
  const appMs = render({ chart: app, release: 'orders', namespace: 'shop', set: ['kafka-obs.aggregator.enabled=true', 'kafka-obs.sidecar.aggregatorUrl=', 'kafka-obs.clusterName=prod-eu', 'kafka-obs.aggregator.shards[0].name=eu', 'kafka-obs.aggregator.shards[0].clusters[0]=prod-eu', 'kafka-obs.aggregator.shards[0].haPair=true'] });
  await allValid(appMs);
  assert.is(
    envOf(find(appMs, 'Deployment', 'orders').spec.template.spec.containers[1]).AGGREGATOR_URL,
    [0, 1].map((i) => `grpc://orders-kafka-obs-aggregator-eu-${i}.orders-kafka-obs-aggregator-eu-headless.shop.svc:50051`).join(','),
  );
});

test('HA pair: bad values fail with a message naming what to change', () => {
  const bad = (set: string[], expect: RegExp): void => {
    const r = helm(['template', 'k', CHART, ...set.flatMap((s) => ['--set', s])]);
    assert.is.not(r.code, 0, `${set.join(' ')} should fail`);
    assert.match(r.err, expect, r.err);
  };
  bad(['aggregator.haPair.enabled=true'], /aggregator.haPair.enabled needs an upstream: .* List the Kafka clusters in aggregator.shards \(each shard then runs as a pair, or set haPair per shard\), or set aggregator.haPair.enabled=false/);
  const pair = ['clusterName=a', 'aggregator.shards[0].name=one', 'aggregator.shards[0].clusters[0]=a', 'aggregator.shards[0].haPair=true'];
  bad([...pair, 'aggregator.extraArgs[0]=--actors', 'aggregator.extraArgs[1]=/x.yaml'], /aggregator.extraArgs has --actors, which the HA pair members of shards one would get too: both members would announce every incident\. .*remove --actors from aggregator.extraArgs/);
  bad([...pair, 'aggregator.extraArgs[0]=--ha-actors'], /aggregator.extraArgs has --ha-actors/);
  bad([...pair, 'aggregator.extraArgs[0]=--ha-group', 'aggregator.extraArgs[1]=g'], /aggregator.extraArgs has --ha-group, which the shards would get too: .*use aggregator.shards\[\].name and aggregator.shards\[\].haPair/);
  bad([...pair, 'aggregator.extraArgs[0]=--leaf-name', 'aggregator.extraArgs[1]=x'], /aggregator.extraArgs has --leaf-name/);
  bad([...pair.slice(0, 3), 'aggregator.shards[0].haPair=yes'], /at '\/aggregator\/shards\/0\/haPair': got string, want boolean/);
  bad(['aggregator.haPair.members=3'], /additional properties 'members' not allowed/);
  // Without a pair, --actors in extraArgs stays the user's business (the shards then act too).
  assert.is(helm(['template', 'k', CHART, ...pair.slice(0, 3).flatMap((s) => ['--set', s]), '--set', 'aggregator.extraArgs[0]=--cause-wait-ms', '--set-string', 'aggregator.extraArgs[1]=20000']).code, 0);
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
