// One small interface for every actor: say what a transition means, and carry it out — at once
// (log) or as an HTTP request the delivery queue sends, retries and reports on.
import type { Logger } from 'pino';
import type { Narrative } from '../proto/index.js';
import type { ActorSpec } from './config.js';
import type { Transition } from './policy.js';
import { logActor } from './log-actor.js';
import { webhookActor } from './webhook.js';
import { slackActor } from './slack.js';
import { pagerDutyActor } from './pagerduty.js';

export interface HttpRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface Actor {
  readonly spec: ActorSpec;
  /** What acting on this transition means, in one line without secrets (EXPLAIN details, logs). */
  describe(n: Narrative, t: Transition): string;
  /** Carries it out: 'done' when it happened synchronously, or the request to deliver. */
  act(n: Narrative, t: Transition, actionId: string): HttpRequest | 'done';
}

export function createActor(spec: ActorSpec, logger: Logger): Actor {
  switch (spec.type) {
    case 'log':
      return logActor(spec, logger);
    case 'webhook':
      return webhookActor(spec);
    case 'slack':
      return slackActor(spec);
    case 'pagerduty':
      return pagerDutyActor(spec);
  }
}
