// The generic webhook: POSTs the narrative as canonical JSON (proto3 JSON of kafkaobs.v1.Narrative)
// with what happened to it. Idempotency-Key lets a receiver drop a retried duplicate.
import { Narrative } from '../proto/index.js';
import type { WebhookSpec } from './config.js';
import type { Actor } from './actor.js';
import { headline } from './narrative-text.js';
import type { Transition } from './policy.js';

export const WEBHOOK_EVENT: Record<Transition, string> = {
  open: 'narrative.opened',
  update: 'narrative.updated',
  resolve: 'narrative.resolved',
};

export function webhookActor(spec: WebhookSpec): Actor {
  const verb = spec.kind === 'remediation' ? 'request remediation from' : 'POST';
  return {
    spec,
    describe: (n, t) => `would ${verb} ${spec.target} (${WEBHOOK_EVENT[t]}): ${headline(n, t)}`,
    act: (n, t, actionId) => ({
      url: spec.url,
      headers: {
        'content-type': 'application/json',
        'idempotency-key': actionId,
        ...spec.headers,
      },
      body: JSON.stringify({
        event: WEBHOOK_EVENT[t],
        kind: spec.kind,
        actor: spec.name,
        actionId,
        narrative: Narrative.toJSON(n),
      }),
    }),
  };
}
