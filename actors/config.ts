// The actors' settings: a YAML/JSON file (--actors / KAFKA_OBS_ACTORS) validated strictly, plus
// environment shortcuts. Secrets (webhook URLs, routing keys, auth headers) are never written in
// the file: it names the environment variable or file that holds them, and they are read here
// once, at start. Every action type is off until an entry enables it; dry-run is the default.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { Situation_Level, Status_Confidence } from '../proto/index.js';

export const ACTOR_TYPES = ['log', 'webhook', 'slack', 'pagerduty'] as const;
export type ActorType = (typeof ACTOR_TYPES)[number];
/** alert: tells people (may act on MEASURED). remediation: changes something (CONFIRMED only). */
export type ActorKind = 'alert' | 'remediation';

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';
/** Where each type finds its secret when the file does not say. */
export const DEFAULT_SECRET_ENV = {
  webhook: 'KAFKA_OBS_WEBHOOK_URL',
  slack: 'KAFKA_OBS_SLACK_WEBHOOK_URL',
  pagerduty: 'KAFKA_OBS_PAGERDUTY_ROUTING_KEY',
} as const;

export interface DeliverySettings {
  /** Per attempt: no answer within this is a failed attempt. */
  timeoutMs: number;
  /** Attempts in all (the first included) before giving up. */
  attempts: number;
  /** Backoff before attempt n+1 is about backoffBaseMs * 2^(n-1), capped at backoffMaxMs, with jitter. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** A 429's Retry-After is honoured up to this. */
  retryAfterMaxMs: number;
  /** Deliveries waiting (queued or between attempts); beyond it new ones are dropped and counted. */
  queueCapacity: number;
  /** Requests in flight at once per actor (one narrative's requests still go one at a time, in order). */
  concurrency: number;
}

export const DELIVERY_DEFAULTS: DeliverySettings = {
  timeoutMs: 10_000,
  attempts: 5,
  backoffBaseMs: 500,
  backoffMaxMs: 30_000,
  retryAfterMaxMs: 300_000,
  queueCapacity: 1000,
  concurrency: 4,
};

export const RATE_LIMIT_DEFAULT_MS = 5 * 60_000;

const ms = z.number().int().min(0);
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name');
const Delivery = z
  .object({
    timeoutMs: ms.min(1).optional(),
    attempts: z.number().int().min(1).max(100).optional(),
    backoffBaseMs: ms.optional(),
    backoffMaxMs: ms.optional(),
    retryAfterMaxMs: ms.optional(),
    queueCapacity: z.number().int().min(1).optional(),
    concurrency: z.number().int().min(1).max(64).optional(),
  })
  .strict();

const common = {
  /** Names this actor in Action events and metrics; defaults to the type. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected 1-64 letters, digits, "_", "." or "-"').optional(),
  enabled: z.boolean().optional(),
  dryRun: z.boolean().optional(),
  minLevel: z.enum(['WARNING', 'CRITICAL']).optional(),
  rateLimitMs: ms.optional(),
};
const alertConfidence = z.enum(['MEASURED', 'CONFIRMED']).optional();
const httpCommon = { delivery: Delivery.optional() };

const LogEntry = z.object({ type: z.literal('log'), ...common, minConfidence: alertConfidence, notifyUpdates: z.boolean().optional() }).strict();
const WebhookEntry = z
  .object({
    type: z.literal('webhook'),
    ...common,
    ...httpCommon,
    kind: z.enum(['alert', 'remediation']).optional(),
    minConfidence: alertConfidence,
    notifyUpdates: z.boolean().optional(),
    url: z.string().optional(),
    urlEnv: envName.optional(),
    urlFile: z.string().min(1).optional(),
    headers: z.record(z.string(), z.string()).optional(),
    headerEnv: z.record(z.string(), envName).optional(),
    headerFile: z.record(z.string(), z.string().min(1)).optional(),
  })
  .strict()
  .refine((e) => [e.url, e.urlEnv, e.urlFile].filter((v) => v !== undefined).length <= 1, { message: 'give at most one of url, urlEnv, urlFile', path: ['url'] })
  .refine((e) => e.kind !== 'remediation' || e.minConfidence === undefined || e.minConfidence === 'CONFIRMED', {
    message: 'a remediation acts only on CONFIRMED evidence',
    path: ['minConfidence'],
  });
const SlackEntry = z
  .object({
    type: z.literal('slack'),
    ...common,
    ...httpCommon,
    minConfidence: alertConfidence,
    notifyUpdates: z.boolean().optional(),
    webhookUrlEnv: envName.optional(),
    webhookUrlFile: z.string().min(1).optional(),
  })
  .strict()
  .refine((e) => e.webhookUrlEnv === undefined || e.webhookUrlFile === undefined, { message: 'give one of webhookUrlEnv, webhookUrlFile', path: ['webhookUrlEnv'] });
// PagerDuty has no notifyUpdates: an incident is triggered once and resolved once.
const PagerDutyEntry = z
  .object({
    type: z.literal('pagerduty'),
    ...common,
    ...httpCommon,
    minConfidence: alertConfidence,
    routingKeyEnv: envName.optional(),
    routingKeyFile: z.string().min(1).optional(),
    url: z.string().optional(),
    dedupKeyPrefix: z.string().max(100).optional(),
  })
  .strict()
  .refine((e) => e.routingKeyEnv === undefined || e.routingKeyFile === undefined, { message: 'give one of routingKeyEnv, routingKeyFile', path: ['routingKeyEnv'] });

const Entry = z.discriminatedUnion('type', [LogEntry, WebhookEntry, SlackEntry, PagerDutyEntry]);

export const ActorsFileSchema = z
  .object({
    dryRun: z.boolean().optional(),
    rateLimitMs: ms.optional(),
    delivery: Delivery.optional(),
    actors: z.array(Entry).optional(),
  })
  .strict();

export type ActorsFile = z.infer<typeof ActorsFileSchema>;
type EntryFile = z.infer<typeof Entry>;

interface SpecCommon {
  name: string;
  kind: ActorKind;
  dryRun: boolean;
  minConfidence: Status_Confidence;
  minLevel: Situation_Level;
  rateLimitMs: number;
  /** Also act on UPDATED revisions of a narrative already announced (never for PagerDuty). */
  notifyUpdates: boolean;
  /** Whom it tells, for Action events and logs: "log" or an URL's host (never its path). */
  target: string;
}
interface HttpSpecCommon extends SpecCommon {
  url: string;
  headers: Record<string, string>;
  delivery: DeliverySettings;
}
export interface LogSpec extends SpecCommon { type: 'log' }
export interface WebhookSpec extends HttpSpecCommon { type: 'webhook' }
export interface SlackSpec extends HttpSpecCommon { type: 'slack' }
export interface PagerDutySpec extends HttpSpecCommon { type: 'pagerduty'; routingKey: string; dedupKeyPrefix: string }
export type ActorSpec = LogSpec | WebhookSpec | SlackSpec | PagerDutySpec;
export type HttpActorSpec = WebhookSpec | SlackSpec | PagerDutySpec;

export interface ActorsSettings {
  /** Enabled actors only. */
  actors: ActorSpec[];
  /** Entries present but not enabled, by name (for the start-up log). */
  disabled: string[];
  /** Every secret value read, so any text leaving an actor can be scrubbed of them. */
  secrets: string[];
}

export class ActorsConfigError extends Error {}

export interface ActorsOptions {
  /** --actors / KAFKA_OBS_ACTORS. */
  file?: string;
  /** --dry-run (true) forces dry-run on every actor; --no-dry-run (false) makes acting the default. */
  dryRun?: boolean;
  env: NodeJS.ProcessEnv;
}

/**
 * Reads the actors file (if any) and the environment, validates, reads the secrets of enabled
 * actors. Throws ActorsConfigError naming the bad key; the message never holds a secret.
 */
export function loadActorsSettings(o: ActorsOptions): ActorsSettings {
  const file = o.file ? readActorsFile(o.file) : {};
  const where = o.file ? `actors file ${o.file}` : 'actors settings';
  const entries = withEnvEnabled(file.actors ?? [], o.env);
  const dryRunFlag = o.dryRun ?? envBool(o.env, 'KAFKA_OBS_DRY_RUN');
  const defaultDryRun = dryRunFlag ?? file.dryRun ?? true;
  const delivery = { ...DELIVERY_DEFAULTS, ...file.delivery };
  const secrets: string[] = [];
  const actors: ActorSpec[] = [];
  const disabled: string[] = [];
  const names = new Set<string>();
  entries.forEach((e, i) => {
    const name = e.name ?? e.type;
    const at = `${where}: actors.${i} (${name})`;
    if (names.has(name)) throw new ActorsConfigError(`${at}: the name "${name}" is used twice; give each actor its own name`);
    names.add(name);
    if (e.enabled !== true) {
      disabled.push(name);
      return;
    }
    // --dry-run forces every actor dry; otherwise an actor's own dryRun wins over the default.
    const dryRun = dryRunFlag === true ? true : (e.dryRun ?? defaultDryRun);
    actors.push(resolveEntry(e, name, at, dryRun, file.rateLimitMs ?? RATE_LIMIT_DEFAULT_MS, delivery, o.env, secrets));
  });
  return { actors, disabled, secrets };
}

export function readActorsFile(path: string): ActorsFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ActorsConfigError(`cannot read actors file ${path}: ${(e as Error).message}`);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    throw new ActorsConfigError(`actors file ${path} is not valid YAML/JSON: ${(e as Error).message}`);
  }
  const r = ActorsFileSchema.safeParse(data ?? {});
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `at ${i.path.length ? i.path.map(String).join('.') : '(top)'}: ${i.message}`);
  throw new ActorsConfigError(`actors file ${path} is not valid:\n  ${problems.join('\n  ')}`);
}

/** KAFKA_OBS_ACTORS_ENABLE=log,slack enables those types: the file's entries, or new default ones. */
function withEnvEnabled(entries: EntryFile[], env: NodeJS.ProcessEnv): EntryFile[] {
  const list = env.KAFKA_OBS_ACTORS_ENABLE?.trim();
  if (!list) return entries;
  const out = entries.map((e) => ({ ...e }));
  for (const raw of list.split(',')) {
    const type = raw.trim().toLowerCase();
    if (type === '') continue;
    if (!(ACTOR_TYPES as readonly string[]).includes(type)) {
      throw new ActorsConfigError(`KAFKA_OBS_ACTORS_ENABLE: unknown actor type "${raw.trim()}" (expected ${ACTOR_TYPES.join(', ')})`);
    }
    const mine = out.filter((e) => e.type === type);
    if (mine.length > 0) for (const e of mine) e.enabled = true;
    else out.push({ type: type as ActorType, enabled: true } as EntryFile);
  }
  return out;
}

function envBool(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const v = env[name]?.trim().toLowerCase();
  if (v === undefined || v === '') return undefined;
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ActorsConfigError(`${name}: expected true or false, got "${env[name]}"`);
}

const CONFIDENCE = { MEASURED: Status_Confidence.MEASURED, CONFIRMED: Status_Confidence.CONFIRMED } as const;
const LEVEL = { WARNING: Situation_Level.WARNING, CRITICAL: Situation_Level.CRITICAL } as const;

function resolveEntry(
  e: EntryFile,
  name: string,
  at: string,
  dryRun: boolean,
  rateLimitMs: number,
  delivery: DeliverySettings,
  env: NodeJS.ProcessEnv,
  secrets: string[],
): ActorSpec {
  const kind: ActorKind = e.type === 'webhook' && e.kind === 'remediation' ? 'remediation' : 'alert';
  const common: SpecCommon = {
    name,
    kind,
    dryRun,
    // A remediation never acts on less than CONFIRMED, whatever the file says.
    minConfidence: kind === 'remediation' ? Status_Confidence.CONFIRMED : CONFIDENCE[e.minConfidence ?? 'MEASURED'],
    minLevel: LEVEL[e.minLevel ?? 'WARNING'],
    rateLimitMs: e.rateLimitMs ?? rateLimitMs,
    notifyUpdates: e.type === 'pagerduty' ? false : (e.notifyUpdates ?? false),
    target: 'log',
  };
  if (e.type === 'log') return { ...common, type: 'log' };
  const http = { ...common, delivery: { ...delivery, ...e.delivery }, headers: {} as Record<string, string> };
  const secret = (ref: { env?: string; file?: string }, what: string): string => {
    const v = readSecret(ref, at, what, env);
    secrets.push(v);
    // The secret part of an URL can also show up on its own (path, query, password).
    if (URL.canParse(v)) {
      const u = new URL(v);
      if (u.pathname.length > 1 || u.search) secrets.push(`${u.pathname}${u.search}`);
      if (u.password) secrets.push(u.password);
    }
    return v;
  };
  switch (e.type) {
    case 'webhook': {
      const url = e.url ?? secret(e.urlFile ? { file: e.urlFile } : { env: e.urlEnv ?? DEFAULT_SECRET_ENV.webhook }, 'the webhook URL');
      const headers: Record<string, string> = { ...e.headers };
      for (const [h, v] of Object.entries(e.headerEnv ?? {})) headers[h] = secret({ env: v }, `header ${h}`);
      for (const [h, f] of Object.entries(e.headerFile ?? {})) headers[h] = secret({ file: f }, `header ${h}`);
      return { ...http, type: 'webhook', url: checkUrl(url, at, e.url !== undefined ? 'url' : 'the webhook URL'), headers, target: hostOf(url) };
    }
    case 'slack': {
      const url = secret(e.webhookUrlFile ? { file: e.webhookUrlFile } : { env: e.webhookUrlEnv ?? DEFAULT_SECRET_ENV.slack }, 'the Slack webhook URL');
      return { ...http, type: 'slack', url: checkUrl(url, at, 'the Slack webhook URL'), target: hostOf(url) };
    }
    case 'pagerduty': {
      const routingKey = secret(e.routingKeyFile ? { file: e.routingKeyFile } : { env: e.routingKeyEnv ?? DEFAULT_SECRET_ENV.pagerduty }, 'the PagerDuty routing key');
      const url = e.url ?? env.KAFKA_OBS_PAGERDUTY_URL ?? PAGERDUTY_EVENTS_URL;
      return {
        ...http,
        type: 'pagerduty',
        url: checkUrl(url, at, 'url'),
        routingKey,
        dedupKeyPrefix: e.dedupKeyPrefix ?? 'kafka-obs/',
        target: hostOf(url),
      };
    }
  }
}

function readSecret(ref: { env?: string; file?: string }, at: string, what: string, env: NodeJS.ProcessEnv): string {
  if (ref.file !== undefined) {
    let v: string;
    try {
      v = readFileSync(ref.file, 'utf8').trim();
    } catch (e) {
      throw new ActorsConfigError(`${at}: cannot read ${what} from file ${ref.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (v === '') throw new ActorsConfigError(`${at}: file ${ref.file} (${what}) is empty`);
    return v;
  }
  const v = env[ref.env!]?.trim();
  if (!v) throw new ActorsConfigError(`${at}: environment variable ${ref.env} (${what}) is not set`);
  return v;
}

/** The URL must be http(s); the message says which setting, never the value (it may hold a token). */
function checkUrl(url: string, at: string, what: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ActorsConfigError(`${at}: ${what} is not a valid URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ActorsConfigError(`${at}: ${what} must be http:// or https://, not ${u.protocol}`);
  return url;
}

function hostOf(url: string): string {
  return new URL(url).host;
}
