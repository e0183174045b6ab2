// Prometheus metrics of the actors, registered on the aggregator's registry.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Outcome } from './outcome.js';

export interface ActorMetrics {
  actions: Counter<'actor' | 'outcome'>;
  retries: Counter<'actor'>;
  drops: Counter<'actor'>;
  deliverySeconds: Histogram<'actor'>;
  missedEvents: Counter;
  errors: Counter<'actor'>;
}

export function createActorMetrics(registry: Registry, queueDepth: () => Map<string, number>, forgotten: () => Map<string, number>): ActorMetrics {
  new Counter({
    name: 'kafkaobs_actor_forgotten_narratives_total',
    help: 'Open narratives an actor stopped tracking because 100 000 were open at once (their resolve is not sent), by actor.',
    labelNames: ['actor'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [actor, n] of forgotten()) this.inc({ actor }, n);
    },
  });
  new Gauge({
    name: 'kafkaobs_action_queue_depth',
    help: 'Deliveries waiting, in flight or between attempts, by actor.',
    labelNames: ['actor'],
    registers: [registry],
    collect() {
      for (const [actor, n] of queueDepth()) this.set({ actor }, n);
    },
  });
  return {
    actions: new Counter({
      name: 'kafkaobs_actions_total',
      help: 'Action outcomes by actor and outcome: delivered, dry_run, denied, retrying, failed, dropped.',
      labelNames: ['actor', 'outcome'],
      registers: [registry],
    }),
    retries: new Counter({ name: 'kafkaobs_action_retries_total', help: 'Delivery attempts that failed and were scheduled again, by actor.', labelNames: ['actor'], registers: [registry] }),
    drops: new Counter({ name: 'kafkaobs_action_drops_total', help: 'Deliveries never attempted (queue full, or stopped first), by actor.', labelNames: ['actor'], registers: [registry] }),
    deliverySeconds: new Histogram({
      name: 'kafkaobs_action_delivery_seconds',
      help: 'From decision to delivered (retries included), by actor.',
      labelNames: ['actor'],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    missedEvents: new Counter({ name: 'kafkaobs_actor_missed_events_total', help: 'Events the actors did not read because the event log overwrote them first (narratives among them were not acted on).', registers: [registry] }),
    errors: new Counter({ name: 'kafkaobs_actor_errors_total', help: 'Unexpected errors while deciding or acting, by actor (logged).', labelNames: ['actor'], registers: [registry] }),
  };
}

/** Every outcome label, so the counters exist (at 0) from the start. */
export const OUTCOMES: readonly Outcome[] = ['delivered', 'dry_run', 'denied', 'retrying', 'failed', 'dropped'];
