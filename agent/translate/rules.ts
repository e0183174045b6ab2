// The rule set: what a translator does with each metric series. Rules are data (YAML or JSON),
// validated strictly so a misspelt key or an impossible threshold is an error that names it.
// The default set is default-rules.yaml next to this file; a user's file overrides it rule by
// rule (same `name`: the fields given replace the default's; a new name adds a rule;
// `enabled: false` turns one off).
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { Counter_Sign, Gauge_Sign, Probe_Sign, Queue_Sign, Resource_Sign, Service_Sign, Status_Condition, type EnumObject } from '../../proto/index.js';

/** Where the default rules live (copied next to the compiled module by the build). */
export const DEFAULT_RULES_FILE = new URL('./default-rules.yaml', import.meta.url);

/** Sign sets a rule may emit, and the enum of each. */
const SIGN_ENUMS: Record<string, EnumObject> = {
  status: Status_Condition,
  queue: Queue_Sign,
  service: Service_Sign,
  probe: Probe_Sign,
  resource: Resource_Sign,
  gauge: Gauge_Sign,
  counter: Counter_Sign,
};

/** "queue.PRESSURE", "status.DEGRADED", "probe.FAIL": a sign set and a sign of it. */
const SignName = z.string().refine(
  (s) => {
    const [set, sign, extra] = s.split('.');
    const e = set === undefined ? undefined : SIGN_ENUMS[set];
    return extra === undefined && e !== undefined && sign !== undefined && typeof e[sign] === 'number' && e[sign] !== 0 && e[sign] !== -1;
  },
  { message: 'expected <set>.<SIGN>, e.g. status.DEGRADED, queue.PRESSURE, probe.FAIL, service.SUCCESS, resource.GRANT, gauge.INCREMENT, counter.INCREMENT' },
);

const ConfidenceSchema = z
  .object({
    /** Readings agreeing with the current state before it is MEASURED (the first is TENTATIVE). */
    measuredAfter: z.number().int().min(1),
    /** Readings agreeing before it is CONFIRMED... */
    confirmedAfter: z.number().int().min(1),
    /** ...and for at least this long. */
    confirmedAfterMs: z.number().int().min(0),
  })
  .strict();

const DefaultsSchema = z
  .object({
    /** An unchanged state is re-sent this often (and only then). */
    heartbeatMs: z.number().int().min(100),
    /** While a rule's state is not normal, every reading is sent, at most this often (ms; 0: every reading). */
    unhealthyEveryMs: z.number().int().min(0).optional(),
    confidence: ConfidenceSchema,
  })
  .strict();

const common = {
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'lower-case letters, digits, ".", "_" and "-"'),
  /** The catalogue metric this rule reads, e.g. "producer.buffer-used-percent". */
  metric: z.string().min(1),
  /**
   * The aspect of the entity the signal speaks for (the part after "#" in its subject, see
   * proto/subject.ts): "buffer", "gc/{gc}"; {label} is replaced from the reading's context.
   */
  aspect: z.string().regex(/^[^\s#/]+(\/[^\s#/]+)*$/, 'one or more names separated by "/", e.g. "buffer" or "gc/{gc}" (no "#" or whitespace)'),
  /**
   * While the state is not the rule's normal one, every reading is sent (at most this often, ms):
   * observers judge trends from the readings of an unhealthy series. 0: every reading.
   */
  unhealthyEveryMs: z.number().int().min(0).optional(),
  /** Judge the change between readings (delta) or the change per second (rate) instead of the value. */
  transform: z.enum(['delta', 'rate']).optional(),
  heartbeatMs: z.number().int().min(100).optional(),
  confidence: ConfidenceSchema.partial().optional(),
  enabled: z.boolean().optional(),
  description: z.string().optional(),
};

const LevelSchema = z
  .object({
    /** Entered when the value goes past this (strictly: > for above, < for below). */
    at: z.number(),
    /** Left when the value comes back to this (<= for above, >= for below): the hysteresis. */
    clear: z.number(),
    sign: SignName,
  })
  .strict();

const ThresholdSchema = z
  .object({
    ...common,
    kind: z.literal('threshold'),
    direction: z.enum(['above', 'below']),
    /** From the mildest to the worst. */
    levels: z.array(LevelSchema).min(1),
    /**
     * A level is left only once the value has stayed within its clear bound for this long (ms):
     * hysteresis in time, for metrics that come and go between readings (GC time per poll).
     */
    holdMs: z.number().int().min(0).optional(),
    /** Sent when the value is inside every level's clear bound. */
    normal: SignName,
  })
  .strict()
  .superRefine((r, ctx) => {
    const above = r.direction === 'above';
    r.levels.forEach((l, i) => {
      if (above ? l.clear > l.at : l.clear < l.at) {
        ctx.addIssue({ code: 'custom', path: ['levels', i, 'clear'], message: `clear must be ${above ? '<=' : '>='} at (${l.at}) for direction ${r.direction}` });
      }
      const prev = r.levels[i - 1];
      if (prev && (above ? l.at <= prev.at : l.at >= prev.at)) {
        ctx.addIssue({ code: 'custom', path: ['levels', i, 'at'], message: `levels go from the mildest to the worst: ${l.at} must be ${above ? 'above' : 'below'} ${prev.at}` });
      }
    });
  });

const TrendSchema = z
  .object({
    ...common,
    kind: z.literal('trend'),
    /** The slope is fitted over the readings of this window. */
    windowMs: z.number().int().min(1),
    minSamples: z.number().int().min(2),
    /** DIVERGING when the fitted line rises by this fraction of its start over the window (1 = doubles). */
    rise: z.number().positive(),
    /** CONVERGING (after DIVERGING) once it has fallen this fraction below its peak. */
    fall: z.number().positive(),
    /** Back to normal when the value is within this fraction of where it was before it diverged. */
    settle: z.number().min(0),
    /** Below this level in absolute terms a change is noise (e.g. 1 ms -> 3 ms is not a trend). */
    floor: z.number().min(0),
    /** A trend speaks in statuses: DIVERGING, CONVERGING, and this one (normally status.STABLE). */
    normal: SignName.refine((s) => s.startsWith('status.'), { message: 'a trend rule\'s normal sign is a status, e.g. status.STABLE' }),
  })
  .strict();

const SpacingSchema = z
  .object({
    ...common,
    kind: z.literal('instability'),
    /** Events are the increments of a counter (e.g. rebalance-total). */
    mode: z.literal('spacing'),
    /** Events closer than this are a storm... */
    spacingMs: z.number().int().min(1),
    /** ...once this many come in a row, each closer than spacingMs to the one before. */
    minEvents: z.number().int().min(2),
    /** Calm again after this long without an event. */
    quietMs: z.number().int().min(1),
    sign: SignName,
    normal: SignName,
  })
  .strict();

const VarianceSchema = z
  .object({
    ...common,
    kind: z.literal('instability'),
    /** The readings' coefficient of variation (stddev / mean) over a window. */
    mode: z.literal('variance'),
    windowMs: z.number().int().min(1),
    minSamples: z.number().int().min(2),
    /** ERRATIC above this coefficient of variation... */
    enter: z.number().positive(),
    /** ...until it is back at or below this one. */
    exit: z.number().min(0),
    /** Means below this are noise. */
    floor: z.number().min(0),
    sign: SignName,
    normal: SignName,
  })
  .strict();

const GaugeSchema = z
  .object({
    ...common,
    kind: z.literal('gauge'),
    /** Re-sent when it moved by this fraction since last sent... */
    change: z.number().min(0),
    /** ...and by at least this much in absolute terms. */
    minDelta: z.number().min(0),
  })
  .strict();

const CounterSchema = z
  .object({
    ...common,
    kind: z.literal('counter'),
    /** Sent with the increase; increases are added up and sent at most this often. */
    everyMs: z.number().int().min(0),
    sign: SignName,
  })
  .strict();

export const RuleSchema = z.union([ThresholdSchema, TrendSchema, SpacingSchema, VarianceSchema, GaugeSchema, CounterSchema]);

export type Rule = z.infer<typeof RuleSchema>;
export type ThresholdRule = z.infer<typeof ThresholdSchema>;
export type TrendRule = z.infer<typeof TrendSchema>;
export type SpacingRule = z.infer<typeof SpacingSchema>;
export type VarianceRule = z.infer<typeof VarianceSchema>;
export type GaugeRule = z.infer<typeof GaugeSchema>;
export type CounterRule = z.infer<typeof CounterSchema>;
export type RuleDefaults = z.infer<typeof DefaultsSchema>;
export type ConfidenceSettings = z.infer<typeof ConfidenceSchema>;

export interface RuleSet {
  defaults: RuleDefaults;
  /** Enabled rules only. */
  rules: Rule[];
}

/** A rule file as written: partial rules are allowed (they override a default of the same name). */
const RuleFileSchema = z
  .object({
    defaults: z.object({ heartbeatMs: z.number().int().min(100).optional(), unhealthyEveryMs: z.number().int().min(0).optional(), confidence: ConfidenceSchema.partial().optional() }).strict().optional(),
    rules: z.array(z.looseObject({ name: z.string().min(1) })).optional(),
  })
  .strict();
export type RuleFile = z.infer<typeof RuleFileSchema>;

export class RuleFileError extends Error {}

function issues(e: z.ZodError): string {
  return e.issues.map((i) => `at ${i.path.length ? i.path.map(String).join('.') : '(top)'}: ${i.message}`).join('; ');
}

/** Parses the text of a rule file (YAML or JSON); `where` names it in errors. */
export function parseRuleFile(text: string, where: string): RuleFile {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    throw new RuleFileError(`${where} is not valid YAML/JSON: ${(e as Error).message}`);
  }
  const r = RuleFileSchema.safeParse(data ?? {});
  if (!r.success) throw new RuleFileError(`${where} is not valid: ${issues(r.error)}`);
  return r.data;
}

export function readRuleFile(path: string | URL): RuleFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new RuleFileError(`cannot read rules file ${String(path)}: ${(e as Error).message}`);
  }
  return parseRuleFile(text, `rules file ${String(path)}`);
}

/**
 * The effective rule set: `base` (normally the defaults) with each override applied in turn.
 * Every merged rule is validated whole, so an override cannot leave a rule half-defined.
 */
export function mergeRules(base: RuleFile, ...overrides: { file: RuleFile; where: string }[]): RuleSet {
  let defaults: Partial<RuleDefaults> = { ...base.defaults, confidence: base.defaults?.confidence as ConfidenceSettings | undefined };
  const byName = new Map<string, Record<string, unknown>>();
  for (const r of base.rules ?? []) byName.set(r.name, { ...r });
  for (const { file } of overrides) {
    defaults = { ...defaults, ...file.defaults, confidence: { ...defaults.confidence, ...file.defaults?.confidence } as ConfidenceSettings };
    for (const r of file.rules ?? []) byName.set(r.name, { ...byName.get(r.name), ...r });
  }
  const where = overrides.length ? `rules (defaults with ${overrides.map((o) => o.where).join(', ')})` : 'rules';
  const d = DefaultsSchema.safeParse(defaults);
  if (!d.success) throw new RuleFileError(`${where}: defaults are not valid: ${issues(d.error)}`);
  const rules: Rule[] = [];
  for (const [name, raw] of byName) {
    if (raw.enabled === false) continue;
    if ('subject' in raw) throw new RuleFileError(`${where}: rule "${name}" sets "subject", which is now "aspect" (the part of the subject after "#", e.g. aspect: ${JSON.stringify(raw.subject)})`);
    const r = RuleSchema.safeParse(raw);
    if (!r.success) throw new RuleFileError(`${where}: rule "${name}" is not valid: ${ruleIssues(raw, r.error)}`);
    rules.push(r.data);
  }
  return { defaults: d.data, rules };
}

/** A union's errors list every branch; report only the branch the rule's kind (and mode) selects. */
function ruleIssues(raw: Record<string, unknown>, e: z.ZodError): string {
  const schema = { threshold: ThresholdSchema, trend: TrendSchema, gauge: GaugeSchema, counter: CounterSchema, instability: raw.mode === 'variance' ? VarianceSchema : SpacingSchema }[String(raw.kind)];
  if (!schema) return `at kind: expected one of threshold, trend, instability, gauge, counter (got ${JSON.stringify(raw.kind)})`;
  if (raw.kind === 'instability' && raw.mode !== 'spacing' && raw.mode !== 'variance') return `at mode: expected spacing or variance (got ${JSON.stringify(raw.mode)})`;
  const r = schema.safeParse(raw);
  return r.success ? issues(e) : issues(r.error);
}

/** The default rules, with the user's file (if any) laid over them. */
export function loadRules(userFile?: string): RuleSet {
  const base = readRuleFile(DEFAULT_RULES_FILE);
  return userFile ? mergeRules(base, { file: readRuleFile(userFile), where: userFile }) : mergeRules(base);
}

export { scaleRules } from './defaults.js';
