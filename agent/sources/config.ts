// Settings of the JVM sources: JMX targets and Prometheus endpoints, from the environment
// (JMX_URL, KAFKA_JMX_URL, PROMETHEUS_URL...) or the config file's `jmx:` and `prometheus:` lists,
// and the translation rules (`rules:` / KAFKA_OBS_RULES). Secrets are read from files or named
// environment variables here, once, and never logged.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export const COLLECTORS = ['producer', 'consumer', 'jvm', 'broker'] as const;
export type CollectorName = (typeof COLLECTORS)[number];

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'letters, digits, ".", "_", ":" and "-"');

const CustomBeanSchema = z
  .object({
    /** ObjectName pattern, e.g. "com.acme:type=Orders,name=*". */
    pattern: z.string().min(1),
    /**
     * Attribute -> catalogue metric name your rules file knows, e.g. {QueueDepth: acme.queue-depth}.
     * Readings are about the pod; your rule names the aspect, and the bean's key properties fill
     * its template (aspect: "acme-queue/{name}").
     */
    attributes: z.record(z.string().min(1), z.string().min(1)),
  })
  .strict();
export type CustomBean = z.infer<typeof CustomBeanSchema>;

export const JmxTargetSchema = z
  .object({
    name: name.optional(),
    /** service:jmx:rmi:///jndi/rmi://host:port/jmxrmi, or host:port. */
    url: z.string().min(1),
    username: z.string().min(1).optional(),
    /** The password: from a file (trailing newline trimmed) or an environment variable, never inline. */
    passwordFile: z.string().min(1).optional(),
    passwordEnv: z.string().min(1).optional(),
    /**
     * TLS: a connector over TLS (com.sun.management.jmxremote.ssl=true) only needs its
     * certificate trusted (truststore, or the JVM's default cacerts); registrySsl when the RMI
     * registry uses TLS as well (com.sun.management.jmxremote.registry.ssl=true).
     */
    registrySsl: z.boolean().optional(),
    truststore: z.string().min(1).optional(),
    truststorePasswordFile: z.string().min(1).optional(),
    truststorePasswordEnv: z.string().min(1).optional(),
    pollIntervalMs: z.number().int().min(100).optional(),
    /** How long one JMX call may take before the target counts as not answering. */
    timeoutMs: z.number().int().min(100).optional(),
    /** What to read; default all, and then a group that is absent is not an error. */
    collect: z.array(z.enum(COLLECTORS)).min(1).optional(),
    /** When the broker has no kafka.server:type=app-info,id=* bean (or to override it). */
    brokerId: z.union([z.string().min(1), z.number().int()]).optional(),
    beans: z.array(CustomBeanSchema).optional(),
  })
  .strict();

export const PrometheusTargetSchema = z
  .object({
    name: name.optional(),
    /** The exporter's page, e.g. http://localhost:9404/metrics. */
    url: z.url({ protocol: /^https?$/ }),
    pollIntervalMs: z.number().int().min(100).optional(),
    timeoutMs: z.number().int().min(100).optional(),
    collect: z.array(z.enum(COLLECTORS)).min(1).optional(),
    /** Strimzi's exporter rules do not export the broker id: give it here (else the host is used). */
    brokerId: z.union([z.string().min(1), z.number().int()]).optional(),
    bearerTokenFile: z.string().min(1).optional(),
  })
  .strict();

export type JmxTargetConfig = z.infer<typeof JmxTargetSchema>;
export type PrometheusTargetConfig = z.infer<typeof PrometheusTargetSchema>;

export class SourceConfigError extends Error {}

export interface JmxTarget {
  name: string;
  /** Full service URL. */
  url: string;
  username?: string;
  password?: string;
  registrySsl: boolean;
  truststore?: string;
  truststorePassword?: string;
  intervalMs: number;
  timeoutMs: number;
  collect: ReadonlySet<CollectorName>;
  /** The user listed the collectors: a group that matches nothing is then a problem. */
  explicit: boolean;
  brokerId?: string;
  beans: CustomBean[];
}

export interface PrometheusTarget {
  name: string;
  url: string;
  intervalMs: number;
  timeoutMs: number;
  collect: ReadonlySet<CollectorName>;
  explicit: boolean;
  brokerId?: string;
  bearerToken?: string;
}

/** host:port is short for the usual RMI registry URL. */
export function jmxServiceUrl(url: string): string {
  const s = url.trim();
  if (s.startsWith('service:jmx:')) return s;
  if (/^[A-Za-z0-9.-]+:\d{1,5}$/.test(s) || /^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(s)) return `service:jmx:rmi:///jndi/rmi://${s}/jmxrmi`;
  throw new SourceConfigError(`not a JMX URL: "${url}" (expected service:jmx:rmi:///jndi/rmi://host:port/jmxrmi or host:port)`);
}

/** "jmx:host:port" from a service URL, for names and logs. */
export function jmxHostPort(serviceUrl: string): string | undefined {
  return /rmi:\/\/([^/]+)\/[^/]*$/.exec(serviceUrl)?.[1] ?? /^service:jmx:[a-z]+:\/\/([^/]+)/.exec(serviceUrl)?.[1];
}

function secretFile(path: string, what: string): string {
  try {
    const v = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    if (v === '') throw new SourceConfigError(`${what} file ${path} is empty`);
    return v;
  } catch (e) {
    if (e instanceof SourceConfigError) throw e;
    throw new SourceConfigError(`cannot read ${what} file ${path}: ${(e as Error).message}`);
  }
}

function secretEnv(env: Record<string, string | undefined>, variable: string, what: string): string {
  const v = env[variable];
  if (v === undefined || v === '') throw new SourceConfigError(`${what}: environment variable ${variable} is not set`);
  return v;
}

function collectors(list: readonly CollectorName[] | undefined): { collect: Set<CollectorName>; explicit: boolean } {
  return { collect: new Set(list ?? COLLECTORS), explicit: list !== undefined };
}

/** JMX targets: the config file's list, plus JMX_URL and KAFKA_JMX_URL from the environment. */
export function jmxTargets(file: readonly JmxTargetConfig[] | undefined, env: Record<string, string | undefined>, defaultIntervalMs: number): JmxTarget[] {
  const out: JmxTarget[] = [];
  const add = (c: JmxTargetConfig, where: string): void => {
    let url: string;
    try {
      url = jmxServiceUrl(c.url);
    } catch (e) {
      throw new SourceConfigError(`${where}: ${(e as Error).message}`);
    }
    const name = c.name ?? `jmx:${jmxHostPort(url) ?? url}`;
    if (out.some((t) => t.name === name)) throw new SourceConfigError(`${where}: a JMX target named ${name} is already configured (give it a distinct name)`);
    if (c.passwordFile && c.passwordEnv) throw new SourceConfigError(`${where}: give passwordFile or passwordEnv, not both`);
    const password = c.passwordFile ? secretFile(c.passwordFile, `${where} password`) : c.passwordEnv ? secretEnv(env, c.passwordEnv, `${where} password`) : undefined;
    if (password !== undefined && c.username === undefined) throw new SourceConfigError(`${where}: a password without a username`);
    const truststorePassword = c.truststorePasswordFile
      ? secretFile(c.truststorePasswordFile, `${where} truststore password`)
      : c.truststorePasswordEnv
        ? secretEnv(env, c.truststorePasswordEnv, `${where} truststore password`)
        : undefined;
    out.push({
      name,
      url,
      username: c.username,
      password: c.username !== undefined ? password ?? '' : undefined,
      registrySsl: c.registrySsl ?? false,
      truststore: c.truststore,
      truststorePassword,
      intervalMs: c.pollIntervalMs ?? defaultIntervalMs,
      timeoutMs: c.timeoutMs ?? 5000,
      ...collectors(c.collect),
      brokerId: c.brokerId === undefined ? undefined : String(c.brokerId),
      beans: c.beans ?? [],
    });
  };
  (file ?? []).forEach((c, i) => add(c, `jmx[${i}]`));
  // JMX_URL: the service's own JVM; KAFKA_JMX_URL: a broker (the seeds' name). Each may carry
  // its own credentials (KAFKA_JMX_USERNAME...) and otherwise uses JMX_USERNAME etc.
  for (const prefix of ['JMX_', 'KAFKA_JMX_']) {
    const url = env[`${prefix}URL`];
    if (!url) continue;
    const pick = (k: string): string | undefined => env[`${prefix}${k}`] || env[`JMX_${k}`] || undefined;
    const username = pick('USERNAME');
    const passwordFile = pick('PASSWORD_FILE');
    const passwordVar = env[`${prefix}PASSWORD`] ? `${prefix}PASSWORD` : env.JMX_PASSWORD ? 'JMX_PASSWORD' : undefined;
    const tsFile = pick('TRUSTSTORE_PASSWORD_FILE');
    const tsVar = env[`${prefix}TRUSTSTORE_PASSWORD`] ? `${prefix}TRUSTSTORE_PASSWORD` : env.JMX_TRUSTSTORE_PASSWORD ? 'JMX_TRUSTSTORE_PASSWORD' : undefined;
    add(
      {
        url,
        username,
        passwordFile,
        passwordEnv: passwordFile ? undefined : passwordVar,
        registrySsl: /^(1|true|yes)$/i.test(pick('REGISTRY_SSL') ?? ''),
        truststore: pick('TRUSTSTORE'),
        truststorePasswordFile: tsFile,
        truststorePasswordEnv: tsFile ? undefined : tsVar,
      },
      `${prefix}URL`,
    );
  }
  return out;
}

/** Prometheus endpoints: the config file's list, plus PROMETHEUS_URL (comma-separated). */
export function prometheusTargets(file: readonly PrometheusTargetConfig[] | undefined, env: Record<string, string | undefined>, defaultIntervalMs: number): PrometheusTarget[] {
  const out: PrometheusTarget[] = [];
  const add = (c: PrometheusTargetConfig, where: string): void => {
    const u = new URL(c.url);
    const name = c.name ?? `prometheus:${u.host}`;
    if (out.some((t) => t.name === name)) throw new SourceConfigError(`${where}: a Prometheus source named ${name} is already configured (give it a distinct name)`);
    out.push({
      name,
      url: c.url,
      intervalMs: c.pollIntervalMs ?? defaultIntervalMs,
      timeoutMs: c.timeoutMs ?? 5000,
      ...collectors(c.collect),
      brokerId: c.brokerId === undefined ? undefined : String(c.brokerId),
      bearerToken: c.bearerTokenFile ? secretFile(c.bearerTokenFile, `${where} bearer token`) : undefined,
    });
  };
  (file ?? []).forEach((c, i) => add(c, `prometheus[${i}]`));
  const urls = (env.PROMETHEUS_URL ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  urls.forEach((url, i) => {
    const parsed = PrometheusTargetSchema.safeParse({ url, brokerId: env.PROMETHEUS_BROKER_ID || undefined });
    if (!parsed.success) throw new SourceConfigError(`PROMETHEUS_URL: not an http(s) URL: "${url}"`);
    add(parsed.data, urls.length > 1 ? `PROMETHEUS_URL[${i}]` : 'PROMETHEUS_URL');
  });
  return out;
}
