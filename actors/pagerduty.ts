// PagerDuty Events API v2: "trigger" when a narrative is announced, "resolve" when it resolves,
// with one dedup_key per narrative so each incident opens once and closes once.
// https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
import type { Narrative } from '../proto/index.js';
import type { PagerDutySpec } from './config.js';
import type { Actor } from './actor.js';
import { chainLines, clip, confidenceOf, headline, isoTime, levelName } from './narrative-text.js';
import type { Transition } from './policy.js';

const SEVERITY: Record<string, string> = { CRITICAL: 'critical', WARNING: 'warning' };

export function dedupKey(spec: Pick<PagerDutySpec, 'dedupKeyPrefix'>, n: Narrative): string {
  return clip(`${spec.dedupKeyPrefix}${n.id}`, 255);
}

export function pagerDutyEvent(spec: Pick<PagerDutySpec, 'dedupKeyPrefix' | 'routingKey'>, n: Narrative, t: Transition): Record<string, unknown> {
  const key = dedupKey(spec, n);
  if (t === 'resolve') return { routing_key: spec.routingKey, event_action: 'resolve', dedup_key: key };
  return {
    routing_key: spec.routingKey,
    event_action: 'trigger',
    dedup_key: key,
    client: 'kafka-obs',
    payload: {
      summary: clip(`${n.situation || `narrative ${n.id}`}${n.rootCause ? ` (root cause: ${n.rootCause})` : ''}`, 1024),
      source: n.rootSubject || 'kafka-obs',
      severity: SEVERITY[levelName(n)] ?? 'info',
      timestamp: isoTime(n.openedAt) || undefined,
      component: n.rootSubject || undefined,
      class: 'kafka-obs narrative',
      custom_details: {
        narrative_id: n.id,
        revision: n.revision,
        confidence: confidenceOf(n),
        root_cause: n.rootCause,
        recommendation: n.recommendation,
        causal_chain: chainLines(n, 20),
      },
    },
  };
}

export function pagerDutyActor(spec: PagerDutySpec): Actor {
  return {
    spec,
    describe: (n, t) => `would send PagerDuty ${t === 'resolve' ? 'resolve' : 'trigger'} to ${spec.target} (dedup_key ${dedupKey(spec, n)}): ${headline(n, t)}`,
    act: (n, t) => ({
      url: spec.url,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(pagerDutyEvent(spec, n, t)),
    }),
  };
}
