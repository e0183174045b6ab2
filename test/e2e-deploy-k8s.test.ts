// The chart's pieces run as the kubelet would run them, without a cluster. The aggregator starts
// from the rendered StatefulSet's arguments, Secrets and ConfigMaps (auth and the webhook on). Its
// injector answers real AdmissionReviews over HTTPS, trusted through the rendered caBundle: an
// annotated pod gets the sidecar as a JSONPatch, an unannotated one nothing; the patched pod
// validates. The injected sidecar's environment and arguments then start a real agent beside a
// real JVM, which connects to that aggregator; its probes and the aggregator's answer.
// Emulated, and only this: cluster DNS (the Service's name resolves to 127.0.0.1, its port is the
// container port), and the listeners are kept on loopback and off fixed ports here.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'node:https';
import { spawn } from 'node:child_process';
import fjp from 'fast-json-patch';
import { createChannel, createClientFactory } from 'nice-grpc';
import { admissionResponse, sidecarTemplate } from '../aggregator/webhook.js';
import { HealthDefinition, HealthCheckResponse_ServingStatus, directDefinition } from '../proto/index.js';
import { asKubelet, find, render, secretData, validate, type Manifest } from './support/k8s.js';
import { CLI, Proc, closedPort, tempDir, until } from './support/procs.js';
import { FakeJvm } from './support/jvm.js';

const NS = 'kafka-obs';
const POD = 'orders-7f9c5d6b8-x2x9q';
let ms: Manifest[];
let agg: Proc | undefined;
let agent: Proc | undefined;
let jvm: FakeJvm | undefined;
let ports: { grpc: number; http: number; webhook: number; health: number };
let caBundle: string;

test.after(async () => {
  await agent?.kill();
  await agg?.kill();
  await jvm?.kill();
});

/** A pod as the API server hands it to a webhook: a Deployment's, named by generateName. */
function pod(annotations: Record<string, string> | undefined): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'orders-7f9c5d6b8-', namespace: 'shop', labels: { 'pod-template-hash': '7f9c5d6b8' }, ...(annotations ? { annotations } : {}) },
    spec: { containers: [{ name: 'orders', image: 'eclipse-temurin:21-jre', ports: [{ containerPort: 8080 }] }] },
  };
}

function review(object: Record<string, unknown>, uid: string): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' }, requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'shop', operation: 'CREATE', userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object, oldObject: null, dryRun: false, options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

/** POSTs to the webhook the way the API server does: HTTPS, the Service's DNS name, the caBundle as the only trust. */
function callWebhook(path: string, body: unknown): Promise<{ status: number; json: any; text: string }> {
  const svc = find(ms, 'MutatingWebhookConfiguration').webhooks[0].clientConfig.service;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: ports.webhook, path, method: 'POST', servername: `${svc.name}.${svc.namespace}.svc`, ca: Buffer.from(caBundle, 'base64'), headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d));
      res.on('end', () => {
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, json, text });
      });
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

test('the aggregator starts from the rendered StatefulSet (auth, webhook) and is ready by its rendered probes', async () => {
  ports = { grpc: await closedPort(), http: await closedPort(), webhook: await closedPort(), health: await closedPort() };
  ms = render({
    namespace: NS,
    set: ['aggregator.auth.enabled=true', 'webhook.enabled=true', `aggregator.grpcPort=${ports.grpc}`, `aggregator.httpPort=${ports.http}`, `webhook.port=${ports.webhook}`, `sidecar.healthPort=${ports.health}`],
  });
  for (const m of ms) assert.equal(await validate(m), []);
  caBundle = find(ms, 'MutatingWebhookConfiguration').webhooks[0].clientConfig.caBundle;
  const sts = find(ms, 'StatefulSet');
  const container = sts.spec.template.spec.containers[0];
  const secrets = Object.fromEntries(ms.filter((m) => m.kind === 'Secret').map((m) => [m.metadata.name, secretData(m)]));
  const configMaps = Object.fromEntries(ms.filter((m) => m.kind === 'ConfigMap').map((m) => [m.metadata.name, m.data as Record<string, string>]));
  const started = asKubelet({ name: `${sts.metadata.name}-0`, spec: sts.spec.template.spec, claims: ['data'] }, container, { secrets, configMaps }, tempDir('kubelet-agg-'));
  assert.is(started.args[0], 'aggregator');
  const child = spawn(process.execPath, [CLI, ...started.args], {
    env: { ...process.env, ...started.env, KAFKA_OBS_GRPC_HOST: '127.0.0.1', KAFKA_OBS_HTTP_HOST: '127.0.0.1', KAFKA_OBS_WEBHOOK_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  agg = new Proc(child, 'aggregator');
  await agg.waitForLog((l) => l.msg === 'webhook listening');
  const listening = await agg.waitForLog((l) => l.msg === 'aggregator listening');
  assert.is(listening.auth, 'shared token');
  // The rendered probes, asked as the kubelet asks them.
  const grpcProbe = container.readinessProbe.grpc;
  assert.is(grpcProbe.port, ports.grpc);
  const channel = createChannel(`127.0.0.1:${grpcProbe.port}`);
  const health = createClientFactory().create(directDefinition(HealthDefinition), channel);
  assert.is((await health.check({ service: grpcProbe.service })).status, HealthCheckResponse_ServingStatus.SERVING);
  assert.is((await health.check({ service: '' })).status, HealthCheckResponse_ServingStatus.SERVING);
  channel.close();
  assert.is((await fetch(`http://127.0.0.1:${ports.http}/readyz`)).status, 200);
});

test('the webhook answers an unannotated pod with nothing, an annotated one with the sidecar, a bad annotation with a warning', async () => {
  const plain = await callWebhook('/inject', review(pod(undefined), 'uid-plain'));
  assert.is(plain.status, 200);
  assert.equal(plain.json, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'uid-plain', allowed: true } });
  const other = await callWebhook('/inject', review(pod({ 'kafka-obs.io/inject': 'false' }), 'uid-false'));
  assert.equal(other.json.response, { uid: 'uid-false', allowed: true });

  const bad = await callWebhook('/inject', review(pod({ 'kafka-obs.io/inject': 'true', 'kafka-obs.io/jmx-port': 'abc' }), 'uid-bad'));
  assert.is(bad.json.response.allowed, true);
  assert.is(bad.json.response.patch, undefined);
  assert.equal(bad.json.response.warnings, ['kafka-obs sidecar not injected: kafka-obs.io/jmx-port: "abc" is not a port (1-65535)']);

  const notReview = await callWebhook('/inject', { kind: 'Pod' });
  assert.is(notReview.status, 400);
  assert.match(notReview.text, /expected an AdmissionReview of apiVersion admission.k8s.io\/v1/);
  const metrics = await (await fetch(`http://127.0.0.1:${ports.http}/metrics`, { headers: { authorization: `Bearer ${secretData(find(ms, 'Secret', 'token')).token!}` } })).text();
  assert.match(metrics, /kafkaobs_webhook_bad_requests_total 1\b/);
  assert.match(metrics, /kafkaobs_webhook_reviews_total\{outcome="not-annotated"\} 2\b/);
  assert.match(metrics, /kafkaobs_webhook_reviews_total\{outcome="invalid-annotation"\} 1\b/);
});

let injected: Record<string, any>;

test('the annotated pod, patched, validates and carries the agent: JMX_URL from the annotation, SERVICE_NAME from its name, AGENT_ID from the pod name', async () => {
  jvm = await FakeJvm.start({ profile: 'client' });
  const original = pod({ 'kafka-obs.io/inject': 'true', 'kafka-obs.io/jmx-port': String(jvm.port) });
  const r = await callWebhook('/inject', review(original, 'uid-inject'));
  assert.is(r.json.response.uid, 'uid-inject');
  assert.is(r.json.response.allowed, true);
  assert.is(r.json.response.patchType, 'JSONPatch');
  const patch = JSON.parse(Buffer.from(r.json.response.patch, 'base64').toString('utf8'));
  assert.equal(patch.map((op: { op: string; path: string }) => `${op.op} ${op.path}`), ['add /spec/containers/-', 'add /metadata/annotations/kafka-obs.io~1status']);
  // The API server applies the patch, then names the pod.
  const patched = fjp.applyPatch(structuredClone(original), patch, true, false).newDocument as Record<string, any>;
  patched.metadata.name = POD;
  assert.equal(await validate(patched as Manifest), []);
  assert.is(patched.spec.containers.length, 2);
  assert.is(patched.metadata.annotations['kafka-obs.io/status'], 'injected');
  injected = patched.spec.containers[1];
  const env = Object.fromEntries(injected.env.map((e: { name: string; value?: string }) => [e.name, e.value ?? e]));
  assert.is(env.JMX_URL, `localhost:${jvm.port}`);
  assert.is(env.SERVICE_NAME, 'orders');
  assert.equal(env.AGENT_ID.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } });
  assert.equal(env.AGGREGATOR_TOKEN.valueFrom.secretKeyRef, { name: 'kafka-obs-token', key: 'token', optional: true });
  assert.is(env.AGGREGATOR_URL, `grpc://kafka-obs-aggregator.${NS}.svc:${ports.grpc}`);
  // The same pod again (a reinvocation) is left alone.
  const again = admissionResponse(review(patched, 'uid-again'), sidecarTemplate({ container: injected, volumes: [] }, 'test'));
  assert.is(again.outcome, 'already-injected');
  assert.equal(again.patch, []);
});

test('the injected sidecar, started from its own environment and arguments, connects to the aggregator and reads the JVM; /readyz says so', async () => {
  // The token Secret copied to the pod's namespace, as NOTES tells the user.
  const token = secretData(find(ms, 'Secret', 'token')).token!;
  const started = asKubelet({ name: POD, spec: { volumes: [] } }, injected, { secrets: { 'kafka-obs-token': { token } } }, tempDir('kubelet-agent-'));
  assert.equal(started.args, ['agent']);
  // Cluster DNS: the Service name resolves to the aggregator; the Service's port is its container port.
  const svc = find(ms, 'Service', 'aggregator');
  const url = new URL(started.env.AGGREGATOR_URL!);
  assert.is(url.hostname, `${svc.metadata.name}.${NS}.svc`);
  assert.is(svc.spec.ports.find((p: { name: string }) => p.name === 'grpc').port, Number(url.port));
  const env = { ...started.env, AGGREGATOR_URL: `grpc://127.0.0.1:${url.port}`, AGENT_HEALTH_HOST: '127.0.0.1', AGENT_HTTP_PORT: '0', AGENT_GRPC_PORT: '0', POLL_INTERVAL_MS: '500' };
  const child = spawn(process.execPath, [CLI, ...started.args], { env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  agent = new Proc(child, 'agent');
  const l = await agent.waitForLog((x) => x.msg === 'agent started');
  assert.is(l.agentId, POD);
  assert.is(l.health, `127.0.0.1:${ports.health}`);
  const probe = injected.livenessProbe.httpGet;
  assert.is(injected.ports.find((p: { name: string }) => p.name === probe.port).containerPort, ports.health);
  assert.is((await fetch(`http://127.0.0.1:${ports.health}${probe.path}`)).status, 200);
  // Ready once connected (with the token) and the JVM answers.
  const ready = await until(async () => {
    const r = await fetch(`http://127.0.0.1:${ports.health}/readyz`);
    return r.status === 200 ? ((await r.json()) as { connected: boolean; sources: { name: string; answering: boolean }[] }) : undefined;
  }, 'the sidecar to be ready', 30_000);
  assert.is(ready.connected, true);
  assert.ok(ready.sources.length === 1 && ready.sources[0]!.answering);
  // The aggregator files what it sends under the service and the pod.
  const cell = await until(async () => {
    const r = await fetch(`http://127.0.0.1:${ports.http}/api/cells/service/orders/pod/${POD}?depth=1`, { headers: { authorization: `Bearer ${token}` } });
    return r.status === 200 ? ((await r.json()) as { cell: { children?: { path: string }[] } }).cell : undefined;
  }, 'the pod\'s cell at the aggregator', 30_000);
  assert.ok((cell.children ?? []).length > 0);
  // The HTTP door is the gRPC door: no token, no answer.
  assert.is((await fetch(`http://127.0.0.1:${ports.http}/api/cells/service/orders/pod/${POD}?depth=1`)).status, 401);
  // The intake stays on loopback; the probe port serves no intake.
  assert.is((await fetch(`http://127.0.0.1:${ports.health}/v1/signals`, { method: 'POST', body: '{}' })).status, 405);
});

test('without the aggregator the sidecar stays alive but is not ready, and says why', async () => {
  await agg!.kill();
  agg = undefined;
  const body = await until(async () => {
    const r = await fetch(`http://127.0.0.1:${ports.health}/readyz`);
    return r.status === 503 ? ((await r.json()) as { reasons: string[] }) : undefined;
  }, 'the sidecar to be unready', 30_000);
  assert.match(body.reasons.join('\n'), /not connected to the aggregator at grpc:\/\/127\.0\.0\.1:\d+/);
  assert.is((await fetch(`http://127.0.0.1:${ports.health}/healthz`)).status, 200);
});

test.run();
