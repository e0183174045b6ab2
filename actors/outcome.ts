// Every outcome of an actor is an Action event signed with the Serventis Actors set. The mapping
// is fixed here and documented in the README ("Acting on narratives").
import { Action_Sign, type Action } from '../proto/index.js';
import type { Transition } from './policy.js';

export type Outcome = 'delivered' | 'dry_run' | 'denied' | 'retrying' | 'failed' | 'dropped';

export const OUTCOME_SIGN: Record<Outcome, Action_Sign> = {
  /** Done: the receiver took it (2xx) or the log line was written. */
  delivered: Action_Sign.DELIVER,
  /** Dry-run: says what would have been done; nothing was touched. */
  dry_run: Action_Sign.EXPLAIN,
  /** Refused by the safety model: confidence, level, rate limit. */
  denied: Action_Sign.DENY,
  /** An attempt failed and another is scheduled: delivery is still promised. */
  retrying: Action_Sign.PROMISE,
  /** Given up: attempts exhausted, or the receiver refused it for good (4xx). */
  failed: Action_Sign.REPORT,
  /** Never attempted: the delivery queue was full, or the aggregator stopped first. */
  dropped: Action_Sign.REPORT,
};

export interface ActionFacts {
  actor: string;
  narrativeId: string;
  /** One id per intended act (actor, narrative, transition, revision): retries share it. */
  actionId: string;
  target: string;
  outcome: Outcome;
  detail: string;
  dryRun: boolean;
  attempt: number;
}

export function actionId(actor: string, narrativeId: string, t: Transition | 'deny', revision: number): string {
  return `${actor}:${narrativeId}:${t}:${revision}`;
}

export function toAction(f: ActionFacts): Action {
  return {
    id: f.actionId,
    actor: f.actor,
    narrativeId: f.narrativeId,
    target: f.target,
    sign: OUTCOME_SIGN[f.outcome],
    detail: f.detail,
    dryRun: f.dryRun,
    attempt: f.attempt,
  };
}

/** Replaces every secret in `text` (a receiver may echo one back in an error body). */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4 && out.includes(s)) out = out.split(s).join('[redacted]');
  return out;
}
