// The actors at work: each narrative revision goes through every enabled actor's safety policy;
// what passes is done (log), explained (dry-run) or queued for delivery (webhooks). Every outcome
// becomes an Action event through `emit`. Nothing here waits on a receiver: onNarrative returns
// as soon as it has decided.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Action, Narrative } from '../proto/index.js';
import type { ActorsSettings } from './config.js';
import { createActor, type Actor } from './actor.js';
import { DeliveryQueue, type DeliveryJob } from './delivery.js';
import { SafetyPolicy, type Transition } from './policy.js';
import { actionId, scrub, toAction, type Outcome } from './outcome.js';
import { createActorMetrics, OUTCOMES, type ActorMetrics } from './metrics.js';
import { WEBHOOK_EVENT } from './webhook.js';

export interface ActorRunnerDeps {
  settings: ActorsSettings;
  /** Publishes an Action event (the aggregator appends it to its event log). */
  emit(action: Action): void;
  logger: Logger;
  registry: Registry;
  /** The safety model's clock (rate limits); a fake one in tests. */
  nowMs?: () => number;
  /** Backoff jitter. */
  random?: () => number;
}

interface Job extends DeliveryJob {
  actionId: string;
  narrativeId: string;
  transition: Transition;
}

interface Enabled {
  actor: Actor;
  policy: SafetyPolicy;
  queue?: DeliveryQueue<Job>;
}

export class ActorRunner {
  private readonly enabled: Enabled[];
  private readonly metrics: ActorMetrics;
  private readonly now: () => number;
  private readonly log: Logger;

  constructor(private readonly d: ActorRunnerDeps) {
    this.now = d.nowMs ?? Date.now;
    this.log = d.logger.child({ room: 'actors' });
    this.metrics = createActorMetrics(
      d.registry,
      () => new Map(this.enabled.filter((e) => e.queue).map((e) => [e.actor.spec.name, e.queue!.depth])),
      () => new Map(this.enabled.map((e) => [e.actor.spec.name, e.policy.forgotten])),
    );
    this.enabled = d.settings.actors.map((spec) => {
      const actor = createActor(spec, d.logger);
      const e: Enabled = { actor, policy: new SafetyPolicy(spec) };
      if (spec.type !== 'log') e.queue = new DeliveryQueue<Job>(spec.delivery, this.reporter(e), d.random);
      for (const outcome of OUTCOMES) this.metrics.actions.inc({ actor: spec.name, outcome }, 0);
      return e;
    });
  }

  /** True when at least one actor is enabled (otherwise there is nothing to follow). */
  get active(): boolean {
    return this.enabled.length > 0;
  }

  /** For the start-up log: who acts, where, and whether for real. */
  summary(): { name: string; type: string; kind: string; target: string; dryRun: boolean }[] {
    return this.enabled.map(({ actor: { spec } }) => ({ name: spec.name, type: spec.type, kind: spec.kind, target: spec.target, dryRun: spec.dryRun }));
  }

  /** One narrative revision (OPEN, UPDATED or RESOLVED). Decides at once; deliveries go on in the background. */
  onNarrative(n: Narrative): void {
    for (const e of this.enabled) {
      try {
        this.decide(e, n);
      } catch (err) {
        this.metrics.errors.inc({ actor: e.actor.spec.name });
        this.log.error({ actor: e.actor.spec.name, narrativeId: n.id, err: this.clean((err as Error).message) }, 'actor failed on a narrative');
      }
    }
  }

  /** Events the follower never read (the event log overwrote them): counted, they may hold narratives. */
  missed(n: bigint): void {
    this.metrics.missedEvents.inc(Number(n));
  }

  /** Lets queued deliveries finish for up to `graceMs`, then abandons (and reports) the rest. */
  async stop(graceMs: number): Promise<void> {
    await Promise.all(this.enabled.map((e) => e.queue?.stop(graceMs)));
  }

  private decide(e: Enabled, n: Narrative): void {
    const { spec } = e.actor;
    const verdict = e.policy.decide(n, this.now());
    if ('none' in verdict) return;
    if ('deny' in verdict) {
      this.outcome(e, n.id, actionId(spec.name, n.id, 'deny', n.revision), 'denied', verdict.deny, 0);
      return;
    }
    const t = verdict.act;
    const id = actionId(spec.name, n.id, t, n.revision);
    if (spec.dryRun) {
      this.outcome(e, n.id, id, 'dry_run', `dry-run: ${e.actor.describe(n, t)}`, 0);
      return;
    }
    const done = e.actor.act(n, t, id);
    if (done === 'done') {
      this.outcome(e, n.id, id, 'delivered', `${what(spec.type, t)} written to the log`, 1);
      return;
    }
    e.queue!.offer({ key: n.id, request: done, actionId: id, narrativeId: n.id, transition: t });
  }

  private reporter(e: Enabled) {
    const name = e.actor.spec.name;
    const target = e.actor.spec.target;
    return {
      delivered: (job: Job, attempt: number, status: number, elapsedMs: number) => {
        this.metrics.deliverySeconds.observe({ actor: name }, elapsedMs / 1000);
        this.outcome(e, job.narrativeId, job.actionId, 'delivered', `${what(e.actor.spec.type, job.transition)} delivered to ${target}: HTTP ${status}`, attempt);
      },
      retrying: (job: Job, attempt: number, delayMs: number, why: string) => {
        this.metrics.retries.inc({ actor: name });
        this.outcome(e, job.narrativeId, job.actionId, 'retrying', `attempt ${attempt} failed (${why}); retrying in ${delayMs} ms`, attempt);
      },
      failed: (job: Job, attempt: number, why: string) => {
        this.outcome(e, job.narrativeId, job.actionId, 'failed', `${what(e.actor.spec.type, job.transition)} not delivered to ${target}: ${why}`, attempt);
      },
      dropped: (job: Job, attempt: number, why: string) => {
        this.metrics.drops.inc({ actor: name });
        this.outcome(e, job.narrativeId, job.actionId, 'dropped', `${what(e.actor.spec.type, job.transition)} dropped: ${why}`, attempt);
      },
    };
  }

  private outcome(e: Enabled, narrativeId: string, id: string, outcome: Outcome, detail: string, attempt: number): void {
    const { spec } = e.actor;
    const action = toAction({ actor: spec.name, narrativeId, actionId: id, target: spec.target, outcome, detail: this.clean(detail), dryRun: spec.dryRun, attempt });
    this.metrics.actions.inc({ actor: spec.name, outcome });
    const fields = { actor: spec.name, narrativeId, target: spec.target, outcome, attempt, dryRun: spec.dryRun };
    if (outcome === 'failed') this.log.error(fields, action.detail);
    else if (outcome === 'retrying' || outcome === 'dropped') this.log.warn(fields, action.detail);
    else if (!(spec.type === 'log' && outcome === 'delivered')) this.log.info(fields, action.detail);
    this.d.emit(action);
  }

  private clean(text: string): string {
    return scrub(text, this.d.settings.secrets);
  }
}

/** What a transition is called at each kind of receiver. */
function what(type: string, t: Transition): string {
  if (type === 'pagerduty') return t === 'resolve' ? 'PagerDuty resolve' : 'PagerDuty trigger';
  if (type === 'slack') return `Slack message (${WEBHOOK_EVENT[t]})`;
  return WEBHOOK_EVENT[t];
}
