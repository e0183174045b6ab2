// Settings of the JVM sources: JMX targets and Prometheus endpoints, from the environment
// (JMX_URL, KAFKA_JMX_URL, PROMETHEUS_URL...) or the config file's `jmx:` and `prometheus:` lists,
// and the translation rules (`rules:` / KAFKA_OBS_RULES). Secrets are read from files or named
// environment variables here, once, and never logged.
import { readFileSync } from 'node:fs';
import type { CustomBean, JmxTargetConfig, PrometheusTargetConfig } from './schemas.js';

export const COLLECTORS = ['producer', 'consumer', 'jvm', 'broker'] as const;
export type CollectorName = (typeof COLLECTORS)[number];
// The config file's schemas (zod) are in schemas.ts, loaded with a config file only.

export type { CustomBean, JmxTargetConfig, PrometheusTargetConfig } from './schemas.js';

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
    if (!isHttpUrl(url)) throw new SourceConfigError(`PROMETHEUS_URL: not an http(s) URL: "${url}"`);
    add({ url: url.replace(/[\t\n\r]/g, ''), brokerId: env.PROMETHEUS_BROKER_ID || undefined }, urls.length > 1 ? `PROMETHEUS_URL[${i}]` : 'PROMETHEUS_URL');
  });
  return out;
}

/** What the config file's url field accepts (zod's z.url({ protocol: /^https?$/ })): an absolute http(s) URL written with "://". */
export function isHttpUrl(text: string): boolean {
  if (!/^https?:\/\//i.test(text)) return false;
  try {
    return /^https?$/.test(new URL(text).protocol.slice(0, -1));
  } catch {
    return false;
  }
}
