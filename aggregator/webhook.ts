// The sidecar injector: a Kubernetes mutating admission webhook, as the OpenTelemetry operator has.
// A pod created with the annotation kafka-obs.io/inject: "true" gets the kafka-obs agent as one
// more container (the sidecar the chart renders, read from --webhook-sidecar), with JMX_URL,
// PROMETHEUS_URL, SERVICE_NAME and KAFKA_CLUSTER taken from its annotations and labels (and, when the
// chart shards aggregators by Kafka cluster, AGGREGATOR_URL: the shard that owns the cluster). Every
// other pod is let through untouched. A webhook must never stop a workload from starting: a pod
// whose annotations cannot be honoured is admitted as it is, with a warning, a log line and a count.
//
// admissionResponse() is the pure part (AdmissionReview in, AdmissionReview out); startWebhook()
// is the HTTPS listener the aggregator starts only when a webhook port and certificate are set.
import { readFileSync, watchFile, unwatchFile } from 'node:fs';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { parse as parseYaml } from 'yaml';

export const ANNOTATIONS = {
  inject: 'kafka-obs.io/inject',
  jmxPort: 'kafka-obs.io/jmx-port',
  prometheusPort: 'kafka-obs.io/prometheus-port',
  prometheusPath: 'kafka-obs.io/prometheus-path',
  serviceName: 'kafka-obs.io/service-name',
  cluster: 'kafka-obs.io/cluster',
  /** Set on the pods the webhook changed. */
  status: 'kafka-obs.io/status',
} as const;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

/** The container to inject and the volumes it needs (the chart renders both from its sidecar template). */
export interface SidecarTemplate {
  container: JsonObject & { name: string; image: string };
  volumes: JsonObject[];
  /**
   * Sharding by Kafka cluster (the chart's aggregator.shards): the aggregator URL the agents of
   * each cluster send to. A pod's kafka-obs.io/cluster picks its AGGREGATOR_URL here; a pod
   * without the annotation keeps the container's own (the chart's clusterName's shard).
   */
  routes?: Record<string, string>;
}

export interface PatchOp {
  op: 'add' | 'replace';
  path: string;
  value: Json;
}

export type ReviewOutcome = 'injected' | 'not-annotated' | 'already-injected' | 'invalid-annotation' | 'not-a-pod';

export interface Review {
  /** The AdmissionReview to send back. */
  response: JsonObject;
  outcome: ReviewOutcome;
  /** The JSONPatch applied (empty when the pod is let through unchanged). */
  patch: PatchOp[];
  warnings: string[];
}

export class WebhookRequestError extends Error {}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const pointer = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** Reads and checks the sidecar file (YAML or JSON: { container: {...}, volumes: [...] }). */
export function readSidecarTemplate(file: string): SidecarTemplate {
  let data: unknown;
  try {
    data = parseYaml(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`webhook sidecar file ${file}: ${(e as Error).message}`);
  }
  return sidecarTemplate(data, `webhook sidecar file ${file}`);
}

export function sidecarTemplate(data: unknown, where: string): SidecarTemplate {
  if (!isObject(data) || !isObject(data.container)) throw new Error(`${where}: expected a mapping with "container" (a Kubernetes container) and optionally "volumes"`);
  const c = data.container;
  if (typeof c.name !== 'string' || c.name === '') throw new Error(`${where}: container.name is missing`);
  if (typeof c.image !== 'string' || c.image === '') throw new Error(`${where}: container.image is missing`);
  if (c.env !== undefined && !Array.isArray(c.env)) throw new Error(`${where}: container.env must be a list`);
  const volumes = data.volumes ?? [];
  if (!Array.isArray(volumes) || !volumes.every((v) => isObject(v) && typeof v.name === 'string')) throw new Error(`${where}: volumes must be a list of volumes, each with a name`);
  const template: SidecarTemplate = { container: c as SidecarTemplate['container'], volumes: volumes as JsonObject[] };
  if (data.routes !== undefined && data.routes !== null) {
    if (!isObject(data.routes)) throw new Error(`${where}: routes must be a mapping of Kafka cluster name to aggregator URL`);
    const routes: Record<string, string> = {};
    for (const [cluster, url] of Object.entries(data.routes)) {
      // One aggregator, or an HA pair's members separated by commas (AGGREGATOR_URL takes both).
      if (typeof url !== 'string' || !url.split(',').every((u) => /^grpcs?:\/\/[^/\s,]+$/.test(u))) throw new Error(`${where}: routes.${cluster} must be grpc://host:port or grpcs://host:port (an HA pair: both, separated by a comma), got ${JSON.stringify(url)}`);
      routes[cluster] = url;
    }
    if (Object.keys(routes).length === 0) throw new Error(`${where}: routes is empty: leave it out, or map each Kafka cluster to its aggregator's URL`);
    template.routes = routes;
  }
  return template;
}

/** The service a pod belongs to: its annotation, its app labels, else its name without the ReplicaSet's hash. */
function serviceNameOf(meta: JsonObject, annotations: Record<string, string>): string {
  const labels = isObject(meta.labels) ? (meta.labels as Record<string, string>) : {};
  const explicit = annotations[ANNOTATIONS.serviceName] ?? labels['app.kubernetes.io/name'] ?? labels.app;
  if (explicit) return explicit;
  const base = typeof meta.name === 'string' && meta.name ? meta.name : typeof meta.generateName === 'string' ? meta.generateName.replace(/-$/, '') : '';
  const hash = labels['pod-template-hash'];
  return (hash && base.endsWith(`-${hash}`) ? base.slice(0, -hash.length - 1) : base) || 'unknown-service';
}

function port(value: string | undefined, name: string, warnings: string[]): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > 65535) {
    warnings.push(`${name}: "${value}" is not a port (1-65535)`);
    return undefined;
  }
  return n;
}

/**
 * The answer to one AdmissionReview: the sidecar as a JSONPatch for an annotated pod, nothing for
 * any other. Throws WebhookRequestError when the body is not an admission.k8s.io/v1 AdmissionReview.
 */
export function admissionResponse(body: unknown, sidecar: SidecarTemplate): Review {
  if (!isObject(body) || body.apiVersion !== 'admission.k8s.io/v1' || body.kind !== 'AdmissionReview') {
    throw new WebhookRequestError('expected an AdmissionReview of apiVersion admission.k8s.io/v1');
  }
  const request = body.request;
  if (!isObject(request) || typeof request.uid !== 'string' || request.uid === '') throw new WebhookRequestError('the AdmissionReview has no request.uid');
  const uid = request.uid;
  const answer = (outcome: ReviewOutcome, patch: PatchOp[] = [], warnings: string[] = []): Review => ({
    outcome,
    patch,
    warnings,
    response: {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: {
        uid,
        allowed: true,
        ...(patch.length ? { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') } : {}),
        ...(warnings.length ? { warnings } : {}),
      },
    },
  });
  const pod = request.object;
  if (!isObject(pod) || pod.kind !== 'Pod' || !isObject(pod.spec) || !Array.isArray(pod.spec.containers)) return answer('not-a-pod');
  const meta = isObject(pod.metadata) ? pod.metadata : {};
  const annotations = (isObject(meta.annotations) ? meta.annotations : {}) as Record<string, string>;
  if (annotations[ANNOTATIONS.inject]?.trim().toLowerCase() !== 'true') return answer('not-annotated');
  const spec = pod.spec;
  const containers = spec.containers as Json[];
  if (containers.some((c) => isObject(c) && c.name === sidecar.container.name)) return answer('already-injected');

  const warnings: string[] = [];
  const jmxPort = port(annotations[ANNOTATIONS.jmxPort], ANNOTATIONS.jmxPort, warnings);
  const promPort = port(annotations[ANNOTATIONS.prometheusPort], ANNOTATIONS.prometheusPort, warnings);
  const promPath = annotations[ANNOTATIONS.prometheusPath] ?? '/metrics';
  if (!promPath.startsWith('/')) warnings.push(`${ANNOTATIONS.prometheusPath}: "${promPath}" must start with "/"`);
  const cluster = annotations[ANNOTATIONS.cluster];
  const routes = sidecar.routes;
  if (cluster && routes && !Object.hasOwn(routes, cluster)) {
    warnings.push(`${ANNOTATIONS.cluster}: Kafka cluster "${cluster}" is in no shard of this kafka-obs (shards serve ${Object.keys(routes).sort().join(', ')}): fix the annotation or add the cluster to aggregator.shards`);
  }
  if (warnings.length) return answer('invalid-annotation', [], warnings.map((w) => `kafka-obs sidecar not injected: ${w}`));

  const perPod: Record<string, string> = { SERVICE_NAME: serviceNameOf(meta, annotations) };
  if (jmxPort !== undefined) perPod.JMX_URL = `localhost:${jmxPort}`;
  if (promPort !== undefined) perPod.PROMETHEUS_URL = `http://localhost:${promPort}${promPath}`;
  if (cluster) perPod.KAFKA_CLUSTER = cluster;
  // Sharded: the agent sends to the aggregator (shard) that owns its cluster.
  if (cluster && routes) perPod.AGGREGATOR_URL = routes[cluster]!;
  const env = ((sidecar.container.env as JsonObject[] | undefined) ?? []).filter((e) => !(String(e.name) in perPod));
  const container: JsonObject = { ...sidecar.container, env: [...env, ...Object.entries(perPod).map(([name, value]) => ({ name, value }))] };

  const patch: PatchOp[] = [{ op: 'add', path: '/spec/containers/-', value: container }];
  const have = new Set((Array.isArray(spec.volumes) ? spec.volumes : []).map((v) => (isObject(v) ? v.name : undefined)));
  const missing = sidecar.volumes.filter((v) => !have.has(v.name));
  if (missing.length) {
    if (Array.isArray(spec.volumes)) for (const v of missing) patch.push({ op: 'add', path: '/spec/volumes/-', value: v });
    else patch.push({ op: 'add', path: '/spec/volumes', value: missing });
  }
  patch.push({ op: 'add', path: `/metadata/annotations/${pointer(ANNOTATIONS.status)}`, value: 'injected' });
  return answer('injected', patch);
}

export interface WebhookSettings {
  host: string;
  port: number;
  certFile: string;
  keyFile: string;
  sidecarFile: string;
}

export interface RunningWebhook {
  port: number;
  stop(): Promise<void>;
}

const MAX_BODY_BYTES = 3 * 1024 * 1024; // the API server sends at most ~3 MiB objects

/** The HTTPS listener for POST /inject. The certificate is read again when its files change (rotation). */
export async function startWebhook(settings: WebhookSettings, registry: Registry, logger: Logger): Promise<RunningWebhook> {
  const sidecar = readSidecarTemplate(settings.sidecarFile);
  const reviews = new Counter({ name: 'kafkaobs_webhook_reviews_total', help: 'AdmissionReviews answered by the sidecar injector, by outcome', labelNames: ['outcome'], registers: [registry] });
  const refused = new Counter({ name: 'kafkaobs_webhook_bad_requests_total', help: 'Requests to the sidecar injector that were not AdmissionReviews', registers: [registry] });
  const tls = () => ({ cert: readFileSync(settings.certFile), key: readFileSync(settings.keyFile) });
  const server: Server = createServer(tls(), (req, res) => {
    const fail = (code: number, message: string): void => {
      refused.inc();
      logger.warn({ code, problem: message }, 'webhook: bad request');
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${message}\n`);
    };
    if (req.method !== 'POST' || new URL(req.url ?? '/', 'https://localhost').pathname !== '/inject') return fail(404, 'the sidecar injector answers POST /inject only');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) return fail(413, `body is ${size} bytes, more than ${MAX_BODY_BYTES}`);
      let review: Review;
      try {
        review = admissionResponse(JSON.parse(Buffer.concat(chunks).toString('utf8')), sidecar);
      } catch (e) {
        return fail(400, e instanceof SyntaxError ? `body is not JSON: ${e.message}` : (e as Error).message);
      }
      reviews.inc({ outcome: review.outcome });
      if (review.outcome === 'injected' || review.outcome === 'invalid-annotation') {
        logger[review.warnings.length ? 'warn' : 'info']({ outcome: review.outcome, warnings: review.warnings.length ? review.warnings : undefined }, 'webhook: pod reviewed');
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(review.response));
    });
  });
  server.listen(settings.port, settings.host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const reload = (): void => {
    try {
      server.setSecureContext(tls());
      logger.info('webhook: certificate reloaded');
    } catch (e) {
      logger.error({ err: (e as Error).message }, 'webhook: could not reload the certificate; keeping the old one');
    }
  };
  // A rotated Secret shows up as changed files some seconds later; a minute's polling is enough.
  watchFile(settings.certFile, { interval: 60_000, persistent: false }, reload);
  logger.info({ webhook: `${settings.host}:${port}`, sidecar: sidecar.container.image }, 'webhook listening');
  return {
    port,
    stop: async () => {
      unwatchFile(settings.certFile, reload);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
