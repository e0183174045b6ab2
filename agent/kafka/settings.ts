// Settings of the Kafka source (the Admin API partition and lag sensor): the config file's
// `kafka:` section, overridden by the environment names the seeds use (KAFKA_BOOTSTRAP_SERVERS,
// KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_*...). Secrets come from files or environment
// variables, are read once here, and are never logged: `describe()` is what logs and --check show.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { SourceConfigError } from '../sources/config.js';
import { parseSection } from '../config-file.js';

export const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
export const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
export type SecurityProtocol = (typeof SECURITY_PROTOCOLS)[number];
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):\d{1,5}$/, 'host:port');

export const KafkaSectionSchema = z
  .object({
    /** host:port of one or more brokers (the bootstrap list). */
    bootstrapServers: z.union([z.array(hostPort).min(1), z.string().min(1)]).optional(),
    securityProtocol: z.enum(SECURITY_PROTOCOLS).optional(),
    sasl: z
      .object({
        mechanism: z.enum(SASL_MECHANISMS),
        username: z.string().min(1),
        /** From a file (trailing newline trimmed) or a named environment variable, never inline. */
        passwordFile: z.string().min(1).optional(),
        passwordEnv: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    tls: z
      .object({
        /** PEM file of the CA that signed the brokers' certificates (e.g. Strimzi's cluster CA). */
        caFile: z.string().min(1).optional(),
        /** PEM client certificate and key, for a listener with mutual TLS (Strimzi tls auth). */
        certFile: z.string().min(1).optional(),
        keyFile: z.string().min(1).optional(),
        keyPasswordFile: z.string().min(1).optional(),
        /** Check the broker's host name against its certificate (default true). */
        verifyHostname: z.boolean().optional(),
      })
      .strict()
      .optional(),
    /** Groups to evaluate besides (or, with discoverGroups false, instead of) the ones listed by the broker. */
    groups: z.array(z.string().min(1)).optional(),
    discoverGroups: z.boolean().optional(),
    /** Topics to leave out (a regular expression); default: internal topics (names starting "__"). */
    excludeTopics: z.string().optional(),
    /** At most this many groups are tracked (configured ones first); the rest are counted, not evaluated. */
    maxTrackedGroups: z.number().int().min(1).optional(),
    /** How often offsets and metadata are read and evaluated. */
    pollIntervalMs: z.number().int().min(200).optional(),
    /** How long one Admin request may take. */
    requestTimeoutMs: z.number().int().min(100).optional(),
    connectionTimeoutMs: z.number().int().min(100).optional(),
    /** Lag evaluation: readings in the window (Burrow's intervals) and the lag that is always fine. */
    windowSize: z.number().int().min(2).max(100).optional(),
    allowedLag: z.number().int().min(0).optional(),
    /** The lag rules' finer settings (agent/kafka/lag/settings.ts documents each). */
    lag: z
      .object({
        stopFactor: z.number().min(1).optional(),
        minStopMs: z.number().int().min(0).optional(),
        lagSecondsCapMs: z.number().int().min(1000).optional(),
        rewindHoldReadings: z.number().int().min(1).optional(),
        logEndHistory: z.number().int().min(2).max(1000).optional(),
        /** Without group membership, a silence this long with work waiting is STOP (Kafka's max.poll.interval.ms). */
        maxPollIntervalMs: z.number().int().min(1000).optional(),
        /** A memberless group with no new records this long is inventory (ABANDONED), not an incident. */
        abandonAfterMs: z.number().int().min(1000).optional(),
        /** Unconsumed records to be deleted by retention within this long: the partition is at risk (DEGRADED). */
        retentionHorizonMs: z.number().int().min(1000).optional(),
      })
      .strict()
      .optional(),
    /** An unchanged healthy judgement (partition, group) is re-sent this often; default the rules' heartbeat (60 s). */
    heartbeatMs: z.number().int().min(100).optional(),
    /** Record timestamps read a round at most, for exact lag in seconds (0: off, lag seconds interpolated). */
    recordTimestampReads: z.number().int().min(0).optional(),
    clientId: z.string().min(1).optional(),
  })
  .strict();
export type KafkaSection = z.infer<typeof KafkaSectionSchema>;

export interface KafkaSettings {
  brokers: string[];
  securityProtocol: SecurityProtocol;
  sasl?: { mechanism: SaslMechanism; username: string; password: string };
  tls?: { ca?: string; cert?: string; key?: string; passphrase?: string; verifyHostname: boolean };
  groups: string[];
  discoverGroups: boolean;
  excludeTopics: RegExp;
  maxTrackedGroups: number;
  intervalMs: number;
  requestTimeoutMs: number;
  connectionTimeoutMs: number;
  windowSize: number;
  allowedLag: number;
  lag: NonNullable<KafkaSection['lag']>;
  /** Record timestamps read a round at most (0: off). */
  recordTimestampReads: number;
  /** Re-send period of unchanged healthy judgements; undefined: the rules' heartbeat. */
  heartbeatMs?: number;
  clientId: string;
}

export const KAFKA_DEFAULTS = {
  maxTrackedGroups: 50_000,
  requestTimeoutMs: 10_000,
  connectionTimeoutMs: 5_000,
  windowSize: 10,
  allowedLag: 0,
  excludeTopics: '^__',
  recordTimestampReads: 200,
  clientId: 'kafka-obs-agent',
};

function readSecret(path: string, what: string, trim: boolean): string {
  let v: string;
  try {
    v = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SourceConfigError(`kafka: cannot read ${what} file ${path}: ${(e as Error).message}`);
  }
  if (trim) v = v.replace(/\r?\n$/, '');
  if (v.trim() === '') throw new SourceConfigError(`kafka: ${what} file ${path} is empty`);
  return v;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], variable: string): T {
  const v = value.trim().toUpperCase().replace(/_/g, variable.includes('MECHANISM') ? '-' : '_') as T;
  if (allowed.includes(v)) return v;
  throw new SourceConfigError(`${variable}: unknown value "${value}" (expected one of ${allowed.join(', ')})`);
}

/**
 * The Kafka source's settings, or undefined when no bootstrap servers are configured (the
 * sensor is then off). Throws SourceConfigError with a precise message on anything wrong.
 */
export function kafkaSettings(section: unknown, env: Record<string, string | undefined>, defaultIntervalMs: number): KafkaSettings | undefined {
  const file = parseSection(KafkaSectionSchema, section ?? {}, 'config file section kafka');
  const e = (k: string): string | undefined => (env[k]?.trim() ? env[k]!.trim() : undefined);

  const bootstrapText = e('KAFKA_BOOTSTRAP_SERVERS') ?? e('KAFKA_BROKER_URL');
  let brokers: string[];
  if (bootstrapText !== undefined) brokers = bootstrapText.split(',').map((s) => s.trim()).filter(Boolean);
  else if (typeof file.bootstrapServers === 'string') brokers = file.bootstrapServers.split(',').map((s) => s.trim()).filter(Boolean);
  else brokers = file.bootstrapServers ?? [];
  if (brokers.length === 0) {
    if (section !== undefined) throw new SourceConfigError('kafka: no bootstrap servers (set kafka.bootstrapServers in the config file or KAFKA_BOOTSTRAP_SERVERS)');
    return undefined;
  }
  // Accept what users paste from client configs: "PLAINTEXT://host:9092", "SASL_SSL://host:9096".
  brokers = brokers.map((b) => b.replace(/^[A-Za-z_]+:\/\//, ''));
  for (const b of brokers) {
    if (!hostPort.safeParse(b).success) throw new SourceConfigError(`KAFKA_BOOTSTRAP_SERVERS: "${b}" is not host:port`);
  }

  const protocolText = e('KAFKA_SECURITY_PROTOCOL');
  const securityProtocol = protocolText !== undefined ? oneOf(protocolText, SECURITY_PROTOCOLS, 'KAFKA_SECURITY_PROTOCOL') : (file.securityProtocol ?? (file.sasl ? 'SASL_PLAINTEXT' : 'PLAINTEXT'));
  const usesSasl = securityProtocol.startsWith('SASL_');
  const usesTls = securityProtocol.endsWith('SSL');

  let sasl: KafkaSettings['sasl'];
  const mechanismText = e('KAFKA_SASL_MECHANISM');
  if (usesSasl) {
    const mechanism = mechanismText !== undefined ? oneOf(mechanismText, SASL_MECHANISMS, 'KAFKA_SASL_MECHANISM') : file.sasl?.mechanism;
    if (!mechanism) throw new SourceConfigError(`kafka: security protocol ${securityProtocol} needs a SASL mechanism (KAFKA_SASL_MECHANISM: ${SASL_MECHANISMS.join(', ')})`);
    const username = e('KAFKA_SASL_USERNAME') ?? file.sasl?.username;
    if (!username) throw new SourceConfigError(`kafka: SASL ${mechanism} needs a user name (KAFKA_SASL_USERNAME)`);
    let password: string | undefined;
    if (env.KAFKA_SASL_PASSWORD_FILE?.trim()) password = readSecret(env.KAFKA_SASL_PASSWORD_FILE.trim(), 'SASL password', true);
    else if (env.KAFKA_SASL_PASSWORD !== undefined && env.KAFKA_SASL_PASSWORD !== '') password = env.KAFKA_SASL_PASSWORD;
    else if (file.sasl?.passwordFile) password = readSecret(file.sasl.passwordFile, 'SASL password', true);
    else if (file.sasl?.passwordEnv) {
      password = env[file.sasl.passwordEnv];
      if (!password) throw new SourceConfigError(`kafka: SASL password: environment variable ${file.sasl.passwordEnv} is not set`);
    }
    if (!password) throw new SourceConfigError(`kafka: SASL ${mechanism} needs a password (KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE)`);
    sasl = { mechanism, username, password };
  } else if (mechanismText !== undefined) {
    // A mechanism without a SASL protocol is a misconfiguration worth saying, not ignoring.
    oneOf(mechanismText, SASL_MECHANISMS, 'KAFKA_SASL_MECHANISM');
    throw new SourceConfigError(`kafka: KAFKA_SASL_MECHANISM is set but the security protocol is ${securityProtocol} (use SASL_SSL or SASL_PLAINTEXT)`);
  }

  let tls: KafkaSettings['tls'];
  if (usesTls) {
    const caFile = e('KAFKA_SSL_CA_FILE') ?? file.tls?.caFile;
    const certFile = e('KAFKA_SSL_CERT_FILE') ?? file.tls?.certFile;
    const keyFile = e('KAFKA_SSL_KEY_FILE') ?? file.tls?.keyFile;
    const keyPasswordFile = e('KAFKA_SSL_KEY_PASSWORD_FILE') ?? file.tls?.keyPasswordFile;
    if (Boolean(certFile) !== Boolean(keyFile)) throw new SourceConfigError('kafka: a client certificate needs its key and a key its certificate (KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE)');
    const verifyText = e('KAFKA_SSL_VERIFY_HOSTNAME');
    tls = {
      ca: caFile ? readSecret(caFile, 'CA certificate', false) : undefined,
      cert: certFile ? readSecret(certFile, 'client certificate', false) : undefined,
      key: keyFile ? readSecret(keyFile, 'client key', false) : undefined,
      passphrase: keyPasswordFile ? readSecret(keyPasswordFile, 'client key password', true) : undefined,
      verifyHostname: verifyText !== undefined ? !/^(false|0|no)$/i.test(verifyText) : (file.tls?.verifyHostname ?? true),
    };
  } else if (file.tls || e('KAFKA_SSL_CA_FILE') || e('KAFKA_SSL_CERT_FILE')) {
    throw new SourceConfigError(`kafka: TLS files are set but the security protocol is ${securityProtocol} (use SSL or SASL_SSL)`);
  }

  const groupsText = e('KAFKA_CONSUMER_GROUPS');
  const groups = [...new Set([...(file.groups ?? []), ...(groupsText ? groupsText.split(',').map((g) => g.trim()).filter(Boolean) : [])])];
  const discoverText = e('KAFKA_DISCOVER_GROUPS');
  const excludeText = e('KAFKA_EXCLUDE_TOPICS') ?? file.excludeTopics ?? KAFKA_DEFAULTS.excludeTopics;
  let excludeTopics: RegExp;
  try {
    excludeTopics = new RegExp(excludeText === '' ? '(?!)' : excludeText);
  } catch (err) {
    throw new SourceConfigError(`kafka: excludeTopics is not a regular expression: ${(err as Error).message}`);
  }
  const int = (variable: string, fallback: number, min: number): number => {
    const t = e(variable);
    if (t === undefined) return fallback;
    const n = Number(t);
    if (!Number.isInteger(n) || n < min) throw new SourceConfigError(`${variable}: "${t}" is not a whole number ≥ ${min}`);
    return n;
  };

  return {
    brokers,
    securityProtocol,
    sasl,
    tls,
    groups,
    discoverGroups: discoverText !== undefined ? !/^(false|0|no)$/i.test(discoverText) : (file.discoverGroups ?? true),
    excludeTopics,
    maxTrackedGroups: int('KAFKA_MAX_TRACKED_GROUPS', file.maxTrackedGroups ?? KAFKA_DEFAULTS.maxTrackedGroups, 1),
    intervalMs: int('KAFKA_POLL_INTERVAL_MS', file.pollIntervalMs ?? defaultIntervalMs, 200),
    requestTimeoutMs: file.requestTimeoutMs ?? KAFKA_DEFAULTS.requestTimeoutMs,
    connectionTimeoutMs: file.connectionTimeoutMs ?? KAFKA_DEFAULTS.connectionTimeoutMs,
    windowSize: file.windowSize ?? KAFKA_DEFAULTS.windowSize,
    allowedLag: file.allowedLag ?? KAFKA_DEFAULTS.allowedLag,
    lag: { ...file.lag, ...(e('KAFKA_RETENTION_HORIZON_MS') !== undefined ? { retentionHorizonMs: int('KAFKA_RETENTION_HORIZON_MS', 0, 1000) } : {}) },
    recordTimestampReads: int('KAFKA_RECORD_TIMESTAMP_READS', file.recordTimestampReads ?? KAFKA_DEFAULTS.recordTimestampReads, 0),
    ...(file.heartbeatMs !== undefined ? { heartbeatMs: file.heartbeatMs } : {}),
    clientId: file.clientId ?? KAFKA_DEFAULTS.clientId,
  };
}

/** The settings as logs and --check show them: no password, no key. */
export function describeKafka(s: KafkaSettings): string {
  const auth = s.sasl ? ` ${s.sasl.mechanism} as ${s.sasl.username}` : '';
  const tls = s.tls ? `${s.tls.ca ? ' CA from file' : ''}${s.tls.cert ? ' client certificate' : ''}` : '';
  return `kafka ${s.brokers.join(',')} (${s.securityProtocol}${auth}${tls})`;
}
