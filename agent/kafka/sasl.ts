// SASL logins for managed Kafka, beside PLAIN and SCRAM (settings.ts):
//
// - OAUTHBEARER (Confluent Cloud, Strimzi with OAuth, Azure Event Hubs, MSK's IAM-over-OAUTHBEARER,
//   any OIDC provider): the bearer token comes from a file (re-read whenever it changes: a
//   Kubernetes projected token, a sidecar that refreshes it) or from a command (run when needed,
//   kept until 80 % of its lifetime has passed when it is a JWT with an expiry, else for
//   tokenRefreshMs; a failed refresh keeps the token it has while that is still valid). kafkajs asks
//   for it at each login and re-login (oauthBearerProvider). SASL extensions (Confluent's
//   logicalCluster, identityPoolId) travel with it.
// - AWS_MSK_IAM (MSK's IAM listeners, port 9098/9198): the SigV4-signed JSON payload of
//   @jm18457/kafkajs-msk-iam-authentication-mechanism (action kafka-cluster:Connect), with
//   credentials from the AWS SDK's default chain (environment, shared config and SSO profiles,
//   web identity as on EKS with IRSA, the ECS/EKS container endpoint, EC2 instance metadata),
//   resolved once and refreshed by the SDK. The package and the AWS SDK are loaded at the first
//   login, only when this mechanism is configured: an agent without it never loads them.
//
// Nothing here logs a token, a key or a signature: describe*() say where a secret comes from and
// what it is (a JWT's expiry, an access key's last four characters), never the secret.
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Mechanism, OauthbearerProviderResponse } from 'kafkajs';

export interface OAuthBearerSpec {
  mechanism: 'OAUTHBEARER';
  tokenFile?: string;
  tokenCommand?: string;
  /** How long a token that says nothing of its expiry is kept, ms. */
  refreshMs: number;
  /** SASL extensions sent with the token (key=value), e.g. Confluent Cloud's logicalCluster. */
  extensions: Record<string, string>;
}

export interface MskIamSpec {
  mechanism: 'AWS_MSK_IAM';
  region: string;
  /** Where the region came from, for --check: "KAFKA_SASL_AWS_REGION", "AWS_REGION", "the broker names"... */
  regionFrom: string;
}

/** Why a token could not be had: a message a user can act on, never the token. */
export class TokenError extends Error {}

interface Token {
  value: string;
  /** ms since the epoch; undefined when the token does not say. */
  expiresAt: number | undefined;
  fetchedAt: number;
  refreshAt: number;
}

/** A JWT's `exp` claim in ms, or undefined when the token is not a JWT with one. */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** The program a token command runs (its first word): what may be shown of a command that may hold a secret. */
export function commandName(command: string): string {
  const first = command.trim().split(/\s+/)[0] ?? '';
  return first.split('/').at(-1) ?? first;
}

const COMMAND_TIMEOUT_MS = 15_000;

/** The OAUTHBEARER token, from its file or command, cached and refreshed. */
export class OAuthTokenSource {
  private current?: Token;
  private pending?: Promise<Token>;
  private fileStamp = '';
  private warnedExpired = false;

  constructor(private readonly spec: OAuthBearerSpec, private readonly logger?: Logger, private readonly now: () => number = Date.now) {}

  /** What kafkajs's oauthBearerProvider returns. */
  async bearer(): Promise<OauthbearerProviderResponse> {
    const t = await this.token();
    const out: OauthbearerProviderResponse & { extensions?: Record<string, string> } = { value: t.value };
    if (Object.keys(this.spec.extensions).length) out.extensions = this.spec.extensions;
    return out;
  }

  async token(): Promise<Token> {
    if (this.spec.tokenFile !== undefined) return this.fromFile(this.spec.tokenFile);
    const now = this.now();
    const c = this.current;
    if (c && now < c.refreshAt) return c;
    this.pending ??= this.fromCommand(this.spec.tokenCommand!).finally(() => {
      this.pending = undefined;
    });
    try {
      return await this.pending;
    } catch (e) {
      // A failed refresh: the token held serves while it is still valid.
      if (c && (c.expiresAt === undefined || now < c.expiresAt)) {
        this.logger?.warn({ err: (e as Error).message }, 'OAUTHBEARER token refresh failed; using the current token until it expires');
        return c;
      }
      throw e;
    }
  }

  private fromFile(path: string): Token {
    let stamp: string;
    try {
      const st = statSync(path);
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (e) {
      throw new TokenError(`OAUTHBEARER token file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (this.current && stamp === this.fileStamp) return this.checkExpiry(this.current, `file ${path}`);
    let value: string;
    try {
      value = readFileSync(path, 'utf8').trim();
    } catch (e) {
      throw new TokenError(`OAUTHBEARER token file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (!value) throw new TokenError(`OAUTHBEARER token file ${path} is empty`);
    if (/\s/.test(value)) throw new TokenError(`OAUTHBEARER token file ${path} holds more than one token (white space inside)`);
    this.fileStamp = stamp;
    this.warnedExpired = false;
    const now = this.now();
    this.current = { value, expiresAt: jwtExpiry(value), fetchedAt: now, refreshAt: now };
    return this.checkExpiry(this.current, `file ${path}`);
  }

  private checkExpiry(t: Token, where: string): Token {
    if (t.expiresAt !== undefined && this.now() >= t.expiresAt && !this.warnedExpired) {
      this.warnedExpired = true;
      this.logger?.warn({ expiredAt: new Date(t.expiresAt).toISOString() }, `OAUTHBEARER token in ${where} has expired; the broker will refuse it until the file is renewed`);
    }
    return t;
  }

  private fromCommand(command: string): Promise<Token> {
    const name = commandName(command);
    return new Promise((resolve, reject) => {
      execFile('/bin/sh', ['-c', command], { timeout: COMMAND_TIMEOUT_MS, maxBuffer: 256 * 1024, env: process.env }, (err, stdout, stderr) => {
        if (err) {
          const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
          const why = e.killed ? `did not finish within ${COMMAND_TIMEOUT_MS / 1000} s` : typeof e.code === 'number' ? `exited with code ${e.code}` : (e.message ?? 'failed');
          const said = String(stderr).trim().split('\n')[0]?.slice(0, 200);
          reject(new TokenError(`OAUTHBEARER token command (${name}) ${why}${said ? `: ${said}` : ''}`));
          return;
        }
        const value = String(stdout).trim();
        if (!value) return reject(new TokenError(`OAUTHBEARER token command (${name}) printed nothing`));
        if (/\s/.test(value)) return reject(new TokenError(`OAUTHBEARER token command (${name}) printed more than one token (white space inside)`));
        const now = this.now();
        const expiresAt = jwtExpiry(value);
        // A JWT: renewed at 80 % of the lifetime it had when fetched; else after refreshMs.
        const refreshAt = expiresAt !== undefined ? now + Math.max(1000, 0.8 * (expiresAt - now)) : now + this.spec.refreshMs;
        this.current = { value, expiresAt, fetchedAt: now, refreshAt };
        resolve(this.current);
      });
    });
  }

  /** For --check: where the token comes from and what it is, never the token. */
  async describe(): Promise<string> {
    const from = this.spec.tokenFile !== undefined ? `file ${this.spec.tokenFile}` : `command ${commandName(this.spec.tokenCommand!)}`;
    const t = await this.token();
    const kind = t.expiresAt !== undefined ? `a JWT expiring ${new Date(t.expiresAt).toISOString()}${t.expiresAt <= this.now() ? ' (EXPIRED)' : ''}` : 'an opaque token';
    const ext = Object.keys(this.spec.extensions);
    return `OAUTHBEARER token from ${from}: ${kind}, ${t.value.length} characters${ext.length ? `; extensions ${ext.join(', ')}` : ''}`;
  }
}

/** The AWS region of an MSK broker name (b-1.c.x.c2.kafka.us-east-1.amazonaws.com, ...kafka-serverless.eu-west-1...). */
export function regionOfBroker(host: string): string | undefined {
  return /\.kafka(?:-serverless)?\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(?:\.cn)?$/.exec(host)?.[1];
}

type AwsCredentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date; $source?: Record<string, unknown> };
type CredentialsProvider = () => Promise<AwsCredentials>;

let awsChain: CredentialsProvider | undefined;

/** The AWS SDK's default credential chain, loaded and made once (it caches and refreshes). */
async function credentialsChain(): Promise<CredentialsProvider> {
  if (!awsChain) {
    const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
    awsChain = fromNodeProviderChain() as CredentialsProvider;
  }
  return awsChain;
}

/**
 * kafkajs's SASL option for AWS_MSK_IAM. The mechanism package and the AWS SDK load at the first
 * login; each login signs a fresh payload for the broker it connects to.
 */
export function mskIamMechanism(spec: MskIamSpec, userAgent: string): Mechanism {
  let made: Mechanism | undefined;
  const make = async (): Promise<Mechanism> => {
    if (!made) {
      const pkg = (await import('@jm18457/kafkajs-msk-iam-authentication-mechanism')) as { createMechanism?: (o: { region: string; userAgent?: string; credentials?: CredentialsProvider }) => Mechanism; default?: { createMechanism?: unknown } };
      const createMechanism = pkg.createMechanism ?? (pkg.default?.createMechanism as typeof pkg.createMechanism);
      if (typeof createMechanism !== 'function') throw new Error('AWS_MSK_IAM: @jm18457/kafkajs-msk-iam-authentication-mechanism offers no createMechanism');
      made = createMechanism({ region: spec.region, userAgent, credentials: await credentialsChain() });
    }
    return made;
  };
  return {
    mechanism: 'AWS_MSK_IAM',
    authenticationProvider: (args) => ({
      authenticate: async () => {
        const m = await make();
        // The package logs the broker's answer at info; kafkajs's logger is ours (debug, no secrets).
        await m.authenticationProvider(args).authenticate();
      },
    }),
  };
}

const SOURCE_WORDS: Record<string, string> = {
  CREDENTIALS_ENV_VARS: 'environment variables',
  CREDENTIALS_ENV_VARS_STS_WEB_ID_TOKEN: 'a web identity token (environment)',
  CREDENTIALS_STS_ASSUME_ROLE_WEB_ID: 'a web identity token (IRSA)',
  CREDENTIALS_PROFILE: 'a shared config profile',
  CREDENTIALS_PROFILE_SOURCE_PROFILE: 'a shared config profile',
  CREDENTIALS_PROFILE_PROCESS: 'a credential process (profile)',
  CREDENTIALS_PROCESS: 'a credential process',
  CREDENTIALS_SSO: 'AWS SSO',
  CREDENTIALS_HTTP: 'the container credentials endpoint (ECS / EKS Pod Identity)',
  CREDENTIALS_IMDS: 'EC2 instance metadata',
  CREDENTIALS_STS_ASSUME_ROLE: 'an assumed role',
};

/** For --check: which AWS credentials the chain finds (the access key's last 4 characters only). */
export async function describeAwsCredentials(timeoutMs = 5_000): Promise<string> {
  const chain = await credentialsChain();
  let timer: NodeJS.Timeout | undefined;
  const c = await Promise.race([
    chain(),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
  const from = Object.keys(c.$source ?? {})
    .map((k) => SOURCE_WORDS[k])
    .filter((w): w is string => w !== undefined);
  const key = `${c.accessKeyId.slice(0, 4)}…${c.accessKeyId.slice(-4)}`;
  return `AWS credentials from ${from.length ? [...new Set(from)].join(', ') : 'the default chain'}: access key ${key}${c.sessionToken ? ', temporary (session token)' : ''}${c.expiration ? `, expiring ${c.expiration.toISOString()}` : ''}`;
}
