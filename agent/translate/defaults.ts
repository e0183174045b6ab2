// The default rule set without the rule-file machinery: an agent whose sources use the default
// rules (no `rules:` file) reads them from default-rules.json, which the build writes from
// default-rules.yaml after validating it with rules.ts (scripts/build-java.mjs). It so loads
// neither the YAML parser nor the zod schemas, about 5 MB resident in a sidecar that has a JMX
// or Prometheus source. Without the JSON (a build that skipped that step) it falls back to
// rules.ts. unit-translate checks that both give the same set.
import { readFileSync } from 'node:fs';
import type { RuleSet } from './rules.js';

/** Where the build writes the validated default rule set (next to the compiled module). */
export const DEFAULT_RULES_JSON = new URL('./default-rules.json', import.meta.url);

/** The default rules, as loadRules() without a user file gives them. */
export async function loadDefaultRules(): Promise<RuleSet> {
  let text: string;
  try {
    text = readFileSync(DEFAULT_RULES_JSON, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    return (await import('./rules.js')).loadRules();
  }
  return JSON.parse(text) as RuleSet;
}

/**
 * The rule set with every duration (…Ms) multiplied by `factor`: an agent started with
 * --time-scale 0.2 judges trends over 12 s instead of a minute. For demos and scenario tests that
 * play incidents faster than life; thresholds and counts are unchanged.
 */
export function scaleRules(set: RuleSet, factor: number): RuleSet {
  if (factor === 1) return set;
  return scaleDurations(set, factor);
}

function scaleDurations<T>(value: T, factor: number): T {
  if (Array.isArray(value)) return value.map((v) => scaleDurations(v, factor)) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = k.endsWith('Ms') && typeof v === 'number' ? Math.max(1, Math.round(v * factor)) : scaleDurations(v, factor);
  return out as T;
}
