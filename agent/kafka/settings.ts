// Settings of the Kafka source (the Admin API partition and lag sensor): the config file's
// `kafka:` section, overridden by the environment names the seeds use (KAFKA_BOOTSTRAP_SERVERS,
// KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_*...). Secrets come from files or environment
// variables, are read once here, and are never logged: `describe()` is what logs and --check show.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { commandName, regionOfBroker, type MskIamSpec, type OAuthBearerSpec } from './sasl.js';
import { SourceConfigError } from '../sources/config.js';
import { parseSection } from '../config-file.js';

export const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
export const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER', 'AWS_MSK_IAM'] as const;
export type SecurityProtocol = (typeof SECURITY_PROTOCOLS)[number];
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/** How the agent logs in: a user and password (PLAIN, SCRAM), a bearer token, or AWS IAM. */
export type SaslSettings = { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string } | OAuthBearerSpec | MskIamSpec;

/** OAUTHBEARER tokens that do not say when they expire are fetched again after this long. */
export const OAUTHBEARER_REFRESH_MS = 300_000;

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):\d{1,5}$/, 'host:port');

export const KafkaSectionSchema = z
  .object({
    /** host:port of one or more brokers (the bootstrap list). */
    bootstrapServers: z.union([z.array(hostPort).min(1), z.string().min(1)]).optional(),
    securityProtocol: z.enum(SECURITY_PROTOCOLS).optional(),
    sasl: z
      .object({
        mechanism: z.enum(SASL_MECHANISMS),
        /** PLAIN and SCRAM: the user, and the password from a file (trailing newline trimmed) or a named environment variable, never inline. */
        username: z.string().min(1).optional(),
        passwordFile: z.string().min(1).optional(),
        passwordEnv: z.string().min(1).optional(),
        /** OAUTHBEARER: the token from a file (re-read when it changes) or a command (its standard output). */
        tokenFile: z.string().min(1).optional(),
        tokenCommand: z.string().min(1).optional(),
        /** OAUTHBEARER: how long a token that is not a JWT with an expiry is kept, ms (default 5 min). */
        tokenRefreshMs: z.number().int().min(1000).optional(),
        /** OAUTHBEARER: SASL extensions sent with the token (Confluent Cloud: logicalCluster, identityPoolId). */
        extensions: z.record(z.string().min(1), z.string()).optional(),
        /** AWS_MSK_IAM: the cluster's region (default AWS_REGION, AWS_DEFAULT_REGION, or the broker names). */
        awsRegion: z.string().min(1).optional(),
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
  sasl?: SaslSettings;
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
  // Spelled as users paste them: scram_sha_512, aws-msk-iam, sasl_ssl.
  const norm = (x: string): string => x.trim().toUpperCase().replace(/[-_]/g, '');
  const v = allowed.find((a) => norm(a) === norm(value));
  if (v) return v;
  throw new SourceConfigError(`${variable}: unknown value "${value}" (expected one of ${allowed.join(', ')})`);
}

/** `k=v,k=v` (SASL extensions). */
function keyValues(text: string, variable: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((x) => x.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new SourceConfigError(`${variable}: "${part}" is not key=value`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
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
    if (mechanism === 'OAUTHBEARER') sasl = oauthBearer(file.sasl, e);
    else if (mechanism === 'AWS_MSK_IAM') sasl = mskIam(file.sasl, e, brokers);
    else sasl = userPassword(mechanism, file.sasl, env, e);
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

type Env = (k: string) => string | undefined;

/** OAUTHBEARER: a token file or a token command (one of them), refresh, extensions. */
function oauthBearer(file: KafkaSection['sasl'], e: Env): OAuthBearerSpec {
  const tokenFile = e('KAFKA_SASL_OAUTHBEARER_TOKEN_FILE') ?? file?.tokenFile;
  const tokenCommand = e('KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND') ?? file?.tokenCommand;
  if (tokenFile && tokenCommand) throw new SourceConfigError('kafka: SASL OAUTHBEARER takes its token from a file or a command, not both (KAFKA_SASL_OAUTHBEARER_TOKEN_FILE or KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND)');
  if (!tokenFile && !tokenCommand) throw new SourceConfigError('kafka: SASL OAUTHBEARER needs a token: KAFKA_SASL_OAUTHBEARER_TOKEN_FILE (a file, re-read when it changes) or KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND (a command printing it)');
  // The file must be readable now: a wrong path is a setting, said at start.
  if (tokenFile) readSecret(tokenFile, 'OAUTHBEARER token', true);
  const refreshText = e('KAFKA_SASL_OAUTHBEARER_REFRESH_MS');
  const refreshMs = refreshText !== undefined ? Number(refreshText) : (file?.tokenRefreshMs ?? OAUTHBEARER_REFRESH_MS);
  if (!Number.isInteger(refreshMs) || refreshMs < 1000) throw new SourceConfigError(`KAFKA_SASL_OAUTHBEARER_REFRESH_MS: "${refreshText}" is not a whole number ≥ 1000`);
  const extText = e('KAFKA_SASL_OAUTHBEARER_EXTENSIONS');
  const extensions = { ...file?.extensions, ...(extText ? keyValues(extText, 'KAFKA_SASL_OAUTHBEARER_EXTENSIONS') : {}) };
  return { mechanism: 'OAUTHBEARER', ...(tokenFile ? { tokenFile } : { tokenCommand: tokenCommand! }), refreshMs, extensions };
}

/** PLAIN, SCRAM: a user name and its password (from a file or the environment). */
function userPassword(mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512', file: KafkaSection['sasl'], env: Record<string, string | undefined>, e: Env): SaslSettings {
  const username = e('KAFKA_SASL_USERNAME') ?? file?.username;
  if (!username) throw new SourceConfigError(`kafka: SASL ${mechanism} needs a user name (KAFKA_SASL_USERNAME)`);
  let password: string | undefined;
  if (env.KAFKA_SASL_PASSWORD_FILE?.trim()) password = readSecret(env.KAFKA_SASL_PASSWORD_FILE.trim(), 'SASL password', true);
  else if (env.KAFKA_SASL_PASSWORD !== undefined && env.KAFKA_SASL_PASSWORD !== '') password = env.KAFKA_SASL_PASSWORD;
  else if (file?.passwordFile) password = readSecret(file.passwordFile, 'SASL password', true);
  else if (file?.passwordEnv) {
    password = env[file.passwordEnv];
    if (!password) throw new SourceConfigError(`kafka: SASL password: environment variable ${file.passwordEnv} is not set`);
  }
  if (!password) throw new SourceConfigError(`kafka: SASL ${mechanism} needs a password (KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE)`);
  return { mechanism, username, password };
}

/** AWS_MSK_IAM: the region (credentials come from the AWS default chain when logging in). */
function mskIam(file: KafkaSection['sasl'], e: Env, brokers: string[]): MskIamSpec {
  const given: [string, string | undefined][] = [
    ['KAFKA_SASL_AWS_REGION', e('KAFKA_SASL_AWS_REGION')],
    ['kafka.sasl.awsRegion', file?.awsRegion],
    ['AWS_REGION', e('AWS_REGION')],
    ['AWS_DEFAULT_REGION', e('AWS_DEFAULT_REGION')],
    ['the broker names', brokers.map((b) => regionOfBroker(b.replace(/:\d+$/, ''))).find((r) => r !== undefined)],
  ];
  const found = given.find(([, v]) => v !== undefined);
  if (!found) throw new SourceConfigError('kafka: SASL AWS_MSK_IAM needs the cluster\'s AWS region: set AWS_REGION (or KAFKA_SASL_AWS_REGION); the broker names do not say it');
  const region = found[1]!;
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) throw new SourceConfigError(`kafka: SASL AWS_MSK_IAM: "${region}" (from ${found[0]}) is not an AWS region (e.g. us-east-1)`);
  return { mechanism: 'AWS_MSK_IAM', region, regionFrom: found[0] };
}

/** How the agent logs in, as logs and --check show it: where secrets come from, never a secret. */
export function describeLogin(sasl: SaslSettings): string {
  switch (sasl.mechanism) {
    case 'OAUTHBEARER':
      return `OAUTHBEARER, token from ${sasl.tokenFile !== undefined ? `file ${sasl.tokenFile}` : `command ${commandName(sasl.tokenCommand!)}`}`;
    case 'AWS_MSK_IAM':
      return `AWS_MSK_IAM, region ${sasl.region} (from ${sasl.regionFrom}), credentials from the AWS default chain`;
    default:
      return `${sasl.mechanism} as ${sasl.username}`;
  }
}

/** The settings as logs and --check show them: no password, no key, no token. */
export function describeKafka(s: KafkaSettings): string {
  const auth = s.sasl ? ` ${describeLogin(s.sasl)}` : '';
  const tls = s.tls ? `${s.tls.ca ? ' CA from file' : ''}${s.tls.cert ? ' client certificate' : ''}` : '';
  return `kafka ${s.brokers.join(',')} (${s.securityProtocol}${auth}${tls})`;
}
