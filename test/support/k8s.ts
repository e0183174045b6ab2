// Kubernetes without a cluster: the real helm (from the npm package that carries it, unpacked by
// scripts/ensure-test-deps.mjs) renders the chart; kubernetes-models' schemas (the API's OpenAPI
// definitions, compiled) validate what it renders; and a container as rendered can be started as
// a process the way the kubelet would (its args, its environment from values, the downward API and
// Secrets, its volumes as directories).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './procs.js';

export const HELM = process.env.HELM ?? join(ROOT, 'node_modules/.cache/kafka-obs-tools/helm');
export const CHART = join(ROOT, 'helm/kafka-obs');

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- rendered manifests are free-form JSON
export type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: unknown }; [k: string]: any };

export function helm(args: string[]): { code: number; out: string; err: string } {
  if (!existsSync(HELM)) throw new Error(`helm not found at ${HELM}: run node scripts/ensure-test-deps.mjs`);
  const r = spawnSync(HELM, args, { encoding: 'utf8', env: { ...process.env, HELM_CACHE_HOME: join(ROOT, 'node_modules/.cache/helm'), HELM_CONFIG_HOME: join(ROOT, 'node_modules/.cache/helm-config'), HELM_DATA_HOME: join(ROOT, 'node_modules/.cache/helm-data') } });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** `helm template` of the chart (or another) with value files and --set pairs; the manifests it renders. */
export function render(opts: { files?: string[]; set?: string[]; chart?: string; release?: string; namespace?: string } = {}): Manifest[] {
  const args = ['template', opts.release ?? 'kafka-obs', opts.chart ?? CHART, '--namespace', opts.namespace ?? 'kafka-obs'];
  for (const f of opts.files ?? []) args.push('-f', f);
  for (const s of opts.set ?? []) args.push('--set', s);
  const r = helm(args);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} failed:\n${r.err}`);
  return parseAllDocuments(r.out).map((d) => d.toJSON() as Manifest | null).filter((m): m is Manifest => m !== null);
}

export function find(manifests: Manifest[], kind: string, nameIncludes = ''): Manifest {
  const m = manifests.find((x) => x.kind === kind && x.metadata.name.includes(nameIncludes));
  if (!m) throw new Error(`no ${kind}${nameIncludes ? ` named *${nameIncludes}*` : ''} among: ${manifests.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return m;
}

const MODELS: Record<string, string> = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'policy/v1': 'kubernetes-models/policy/v1',
  'networking.k8s.io/v1': 'kubernetes-models/networking.k8s.io/v1',
  'admissionregistration.k8s.io/v1': 'kubernetes-models/admissionregistration.k8s.io/v1',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
  'cert-manager.io/v1': '@kubernetes-models/cert-manager/cert-manager.io/v1',
};

// Field names of the objects the chart and the webhook write most: the compiled schemas accept
// unknown fields, which the API server (strict field validation) refuses.
const KNOWN_FIELDS: Record<string, readonly string[]> = {
  container: ['name', 'image', 'command', 'args', 'workingDir', 'ports', 'envFrom', 'env', 'resources', 'resizePolicy', 'restartPolicy', 'volumeMounts', 'volumeDevices', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle', 'terminationMessagePath', 'terminationMessagePolicy', 'imagePullPolicy', 'securityContext', 'stdin', 'stdinOnce', 'tty'],
  probe: ['exec', 'httpGet', 'tcpSocket', 'grpc', 'initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold', 'terminationGracePeriodSeconds'],
  podSpec: ['activeDeadlineSeconds', 'affinity', 'automountServiceAccountToken', 'containers', 'dnsConfig', 'dnsPolicy', 'enableServiceLinks', 'ephemeralContainers', 'hostAliases', 'hostIPC', 'hostNetwork', 'hostPID', 'hostUsers', 'hostname', 'imagePullSecrets', 'initContainers', 'nodeName', 'nodeSelector', 'os', 'overhead', 'preemptionPolicy', 'priority', 'priorityClassName', 'readinessGates', 'resourceClaims', 'restartPolicy', 'runtimeClassName', 'schedulerName', 'schedulingGates', 'securityContext', 'serviceAccount', 'serviceAccountName', 'setHostnameAsFQDN', 'shareProcessNamespace', 'subdomain', 'terminationGracePeriodSeconds', 'tolerations', 'topologySpreadConstraints', 'volumes'],
  securityContext: ['allowPrivilegeEscalation', 'appArmorProfile', 'capabilities', 'privileged', 'procMount', 'readOnlyRootFilesystem', 'runAsGroup', 'runAsNonRoot', 'runAsUser', 'seLinuxOptions', 'seccompProfile', 'windowsOptions'],
};

function unknownFields(obj: Record<string, unknown>, kind: keyof typeof KNOWN_FIELDS, where: string, out: string[]): void {
  for (const k of Object.keys(obj)) if (!KNOWN_FIELDS[kind]!.includes(k)) out.push(`${where}.${k}: not a field of ${kind}`);
}

export function podSpecProblems(spec: Record<string, any>, where: string): string[] {
  const out: string[] = [];
  unknownFields(spec, 'podSpec', where, out);
  for (const [i, c] of [...(spec.containers ?? []), ...(spec.initContainers ?? [])].entries()) {
    const at = `${where}.containers[${i}]`;
    unknownFields(c, 'container', at, out);
    for (const p of ['livenessProbe', 'readinessProbe', 'startupProbe']) if (c[p]) unknownFields(c[p], 'probe', `${at}.${p}`, out);
    if (c.securityContext) unknownFields(c.securityContext, 'securityContext', `${at}.securityContext`, out);
    // A probe naming a port must name one the container declares.
    const names = new Set((c.ports ?? []).map((p: { name?: string }) => p.name));
    for (const p of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
      const port = c[p]?.httpGet?.port;
      if (typeof port === 'string' && !names.has(port)) out.push(`${at}.${p}: port "${port}" is not a named port of the container`);
    }
  }
  return out;
}

/** Validates one manifest against its Kubernetes schema; returns the problems (none: valid). */
export async function validate(m: Manifest): Promise<string[]> {
  const module = MODELS[m.apiVersion];
  if (!module) return [`${m.kind}/${m.metadata.name}: no schema known for apiVersion ${m.apiVersion}`];
  const models = (await import(module)) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = models[m.kind];
  if (!Model) return [`${m.kind}/${m.metadata.name}: ${module} has no kind ${m.kind}`];
  const problems: string[] = [];
  try {
    new Model(m).validate();
  } catch (e) {
    problems.push(`${m.kind}/${m.metadata.name}: ${(e as Error).message}`);
  }
  const spec = m.kind === 'Pod' ? m.spec : m.spec?.template?.spec;
  if (spec) problems.push(...podSpecProblems(spec, `${m.kind}/${m.metadata.name}.spec`));
  return problems;
}

/** What the kubelet would give a container: its arguments, its environment, its volumes as directories. */
export interface Started {
  args: string[];
  env: Record<string, string>;
  /** Container path -> directory on this machine. */
  mounts: Map<string, string>;
}

/**
 * Resolves a rendered container's environment (values, downward API metadata.name, Secret and
 * ConfigMap keys) and lays out its volumes under `root` (Secret and ConfigMap volumes with their
 * keys as files, emptyDirs and claims as empty directories). `paths` rewrites container paths in
 * args and env values to the laid-out directories.
 */
export function asKubelet(
  pod: { name: string; spec: Record<string, any>; claims?: string[] },
  container: Record<string, any>,
  objects: { secrets?: Record<string, Record<string, string>>; configMaps?: Record<string, Record<string, string>> },
  root: string,
): Started {
  const mounts = new Map<string, string>();
  const volumes = new Map<string, Record<string, any>>((pod.spec.volumes ?? []).map((v: { name: string }) => [v.name, v]));
  for (const vm of container.volumeMounts ?? []) {
    const dir = join(root, vm.name);
    mkdirSync(dir, { recursive: true });
    const v = volumes.get(vm.name);
    const source = v?.secret ? objects.secrets?.[v.secret.secretName] : v?.configMap ? objects.configMaps?.[v.configMap.name] : undefined;
    if ((v?.secret || v?.configMap) && !source && !(v.secret?.optional || v.configMap?.optional)) throw new Error(`volume ${vm.name}: ${JSON.stringify(v)} is not given to asKubelet`);
    if (!v && !pod.claims?.includes(vm.name)) throw new Error(`container mounts ${vm.name}, which is neither a pod volume nor a claim`);
    for (const [k, val] of Object.entries(source ?? {})) writeFileSync(join(dir, k), val);
    mounts.set(vm.mountPath, dir);
  }
  const mapPath = (s: string): string => {
    for (const [from, to] of mounts) if (s === from || s.startsWith(`${from}/`)) return to + s.slice(from.length);
    return s;
  };
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = mapPath(String(e.value));
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = pod.name;
    else if (e.valueFrom?.secretKeyRef) {
      const { name, key, optional } = e.valueFrom.secretKeyRef;
      const v = objects.secrets?.[name]?.[key];
      if (v === undefined && !optional) throw new Error(`env ${e.name}: Secret ${name} key ${key} is not given`);
      if (v !== undefined) env[e.name] = v;
    } else throw new Error(`env ${e.name}: ${JSON.stringify(e.valueFrom)} is not emulated`);
  }
  return { args: (container.args ?? []).map((a: unknown) => mapPath(String(a))), env, mounts };
}

/** A Secret's data decoded. */
export function secretData(m: Manifest): Record<string, string> {
  return Object.fromEntries(Object.entries((m.data ?? {}) as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

export function runOk(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
