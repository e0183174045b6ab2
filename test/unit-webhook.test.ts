// The injector's pure part: AdmissionReview in, AdmissionReview out, for the cases a cluster
// sends — pods with and without the annotation, volumes present or not, names from labels,
// annotations, generateName; and what is refused (not an AdmissionReview, a bad sidecar file).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { admissionResponse, sidecarTemplate, WebhookRequestError, type PatchOp } from '../aggregator/webhook.js';

const SIDECAR = sidecarTemplate({
  container: { name: 'kafka-obs-agent', image: 'kafka-obs/agent-jmx:0.1.0', args: ['agent'], env: [{ name: 'SERVICE_NAME', value: 'release' }, { name: 'AGENT_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] },
  volumes: [{ name: 'kafka-obs-aggregator-ca', configMap: { name: 'kafka-obs-ca', optional: true } }],
}, 'test');

const review = (pod: unknown) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u1', operation: 'CREATE', object: pod } });
const pod = (meta: Record<string, unknown>, spec: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Pod', metadata: meta, spec: { containers: [{ name: 'app', image: 'app' }], ...spec } });
const envOf = (patch: PatchOp[]): Record<string, unknown> => Object.fromEntries(((patch[0]!.value as { env: { name: string; value?: string }[] }).env).map((e) => [e.name, e.value ?? e]));

test('an annotated pod: the container, the volumes it lacks, the status annotation; per-pod settings replace the template\'s', () => {
  const r = admissionResponse(review(pod({ name: 'billing-0', annotations: { 'kafka-obs.io/inject': 'TRUE', 'kafka-obs.io/prometheus-port': '9404', 'kafka-obs.io/prometheus-path': '/m', 'kafka-obs.io/cluster': 'prod' }, labels: { app: 'billing' } })), SIDECAR);
  assert.is(r.outcome, 'injected');
  assert.equal(r.patch.map((p) => p.path), ['/spec/containers/-', '/spec/volumes', '/metadata/annotations/kafka-obs.io~1status']);
  const env = envOf(r.patch);
  assert.equal(env, { AGENT_ID: { name: 'AGENT_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, SERVICE_NAME: 'billing', PROMETHEUS_URL: 'http://localhost:9404/m', KAFKA_CLUSTER: 'prod' });
  const body = JSON.parse(Buffer.from(String((r.response.response as { patch: string }).patch), 'base64').toString());
  assert.equal(body, r.patch);
});

test('volumes already there are not added twice; other volumes are appended', () => {
  const has = admissionResponse(review(pod({ name: 'x', annotations: { 'kafka-obs.io/inject': 'true' } }, { volumes: [{ name: 'kafka-obs-aggregator-ca', emptyDir: {} }] })), SIDECAR);
  assert.equal(has.patch.map((p) => p.path), ['/spec/containers/-', '/metadata/annotations/kafka-obs.io~1status']);
  const other = admissionResponse(review(pod({ name: 'x', annotations: { 'kafka-obs.io/inject': 'true' } }, { volumes: [{ name: 'data', emptyDir: {} }] })), SIDECAR);
  assert.equal(other.patch.map((p) => p.path), ['/spec/containers/-', '/spec/volumes/-', '/metadata/annotations/kafka-obs.io~1status']);
});

test('SERVICE_NAME: the annotation, then app labels, then the name without the ReplicaSet hash', () => {
  const name = (meta: Record<string, unknown>) => envOf(admissionResponse(review(pod({ annotations: { 'kafka-obs.io/inject': 'true' }, ...meta })), SIDECAR).patch).SERVICE_NAME;
  assert.is(name({ annotations: { 'kafka-obs.io/inject': 'true', 'kafka-obs.io/service-name': 'orders' }, labels: { app: 'x' } }), 'orders');
  assert.is(name({ labels: { 'app.kubernetes.io/name': 'payments', app: 'x' } }), 'payments');
  assert.is(name({ generateName: 'ledger-5d8f7c9b4-', labels: { 'pod-template-hash': '5d8f7c9b4' } }), 'ledger');
  assert.is(name({ name: 'standalone' }), 'standalone');
});

test('no annotation, "false", not a pod, or already injected: allowed, no patch', () => {
  for (const p of [pod({ name: 'a' }), pod({ name: 'a', annotations: { 'kafka-obs.io/inject': 'false' } }), { kind: 'Secret' }]) {
    const r = admissionResponse(review(p), SIDECAR);
    assert.equal(r.patch, []);
    assert.equal(r.response.response, { uid: 'u1', allowed: true });
  }
  const again = admissionResponse(review(pod({ name: 'a', annotations: { 'kafka-obs.io/inject': 'true' } }, { containers: [{ name: 'app', image: 'a' }, { name: 'kafka-obs-agent', image: 'b' }] })), SIDECAR);
  assert.is(again.outcome, 'already-injected');
});

test('bad annotations: admitted unchanged with the reason as a warning', () => {
  const r = admissionResponse(review(pod({ name: 'a', annotations: { 'kafka-obs.io/inject': 'true', 'kafka-obs.io/prometheus-port': '70000', 'kafka-obs.io/prometheus-path': 'metrics' } })), SIDECAR);
  assert.is(r.outcome, 'invalid-annotation');
  assert.equal(r.response.response, {
    uid: 'u1', allowed: true,
    warnings: ['kafka-obs sidecar not injected: kafka-obs.io/prometheus-port: "70000" is not a port (1-65535)', 'kafka-obs sidecar not injected: kafka-obs.io/prometheus-path: "metrics" must start with "/"'],
  });
});

test('not an AdmissionReview, or one without a uid, is refused with the reason; so is a sidecar file without an image', () => {
  assert.throws(() => admissionResponse({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview' }, SIDECAR), (e: Error) => e instanceof WebhookRequestError && /admission.k8s.io\/v1/.test(e.message));
  assert.throws(() => admissionResponse({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {} }, SIDECAR), /no request.uid/);
  assert.throws(() => sidecarTemplate({ container: { name: 'x' } }, 'file s.yaml'), /file s.yaml: container.image is missing/);
});

test('sharded: kafka-obs.io/cluster picks the shard\'s aggregator from routes; a cluster in no shard is not injected, and bad routes are refused', () => {
  const container = { ...SIDECAR.container, env: [...(SIDECAR.container.env as object[]), { name: 'AGGREGATOR_URL', value: 'grpc://agg-eu:50051' }] };
  const sharded = sidecarTemplate({ container, volumes: [], routes: { eu: 'grpc://agg-eu:50051', us: 'grpcs://agg-us.ns.svc:50051' } }, 'test');
  const us = admissionResponse(review(pod({ name: 'a', annotations: { 'kafka-obs.io/inject': 'true', 'kafka-obs.io/cluster': 'us' } })), sharded);
  assert.is(us.outcome, 'injected');
  assert.is(envOf(us.patch).AGGREGATOR_URL, 'grpcs://agg-us.ns.svc:50051');
  assert.is(envOf(us.patch).KAFKA_CLUSTER, 'us');
  assert.is((us.patch[0]!.value as { env: { name: string }[] }).env.filter((e) => e.name === 'AGGREGATOR_URL').length, 1, 'one AGGREGATOR_URL');
  assert.is(envOf(admissionResponse(review(pod({ name: 'a', annotations: { 'kafka-obs.io/inject': 'true' } })), sharded).patch).AGGREGATOR_URL, 'grpc://agg-eu:50051', 'no annotation: the container\'s own');
  const stray = admissionResponse(review(pod({ name: 'a', annotations: { 'kafka-obs.io/inject': 'true', 'kafka-obs.io/cluster': 'toString' } })), sharded);
  assert.is(stray.outcome, 'invalid-annotation');
  assert.match(stray.warnings[0]!, /Kafka cluster "toString" is in no shard of this kafka-obs \(shards serve eu, us\)/);
  // Without routes (not sharded) any cluster goes to the one aggregator.
  assert.is(admissionResponse(review(pod({ name: 'a', annotations: { 'kafka-obs.io/inject': 'true', 'kafka-obs.io/cluster': 'any' } })), SIDECAR).outcome, 'injected');
  assert.throws(() => sidecarTemplate({ container, routes: ['eu'] }, 'f'), /f: routes must be a mapping of Kafka cluster name to aggregator URL/);
  assert.throws(() => sidecarTemplate({ container, routes: { eu: 'http://x:1' } }, 'f'), /f: routes.eu must be grpc:\/\/host:port or grpcs:\/\/host:port \(an HA pair: both, separated by a comma\), got "http:\/\/x:1"/);
  assert.throws(() => sidecarTemplate({ container, routes: { eu: 'grpc://a:1,' } }, 'f'), /f: routes.eu must be/);
  // An HA pair: both members, as AGGREGATOR_URL takes them.
  assert.equal(sidecarTemplate({ container, routes: { eu: 'grpc://a-0.h:1,grpc://a-1.h:1' } }, 'f').routes, { eu: 'grpc://a-0.h:1,grpc://a-1.h:1' });
  assert.throws(() => sidecarTemplate({ container, routes: {} }, 'f'), /f: routes is empty/);
});

test.run();
