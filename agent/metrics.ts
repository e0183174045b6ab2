// The agent's Prometheus metrics, read from the outbox, link and intake at scrape time.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Outbox } from './outbox.js';
import type { AggregatorLink, LinkStats } from './link.js';
import type { Intake } from './intake.js';
import type { IntakeGuard } from './intake-guard.js';

/** What the metrics read of the outbox (one, or several aggregators' queues summed). */
export type OutboxView = Pick<Outbox, 'stats' | 'size' | 'capacity' | 'ackedSeq'>;

/** With several aggregators: each one's link and queue, labelled by its URL. */
export interface PerAggregator {
  url: string;
  link: AggregatorLink;
  outbox: Outbox;
}

export function createAgentMetrics(outbox: OutboxView, link: { stats: LinkStats }, intake: Intake, guard?: IntakeGuard, aggregators: readonly PerAggregator[] = []): Registry {
  const registry = new Registry();
  // The standard process_* and nodejs_* names, so Node dashboards and alerts find them.
  collectDefaultMetrics({ register: registry });
  const counter = (name: string, help: string, read: () => number): void => {
    new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read()); } });
  };
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  };
  const byChannel = (name: string, help: string, m: Map<string, number>): void => {
    new Counter({
      name, help, labelNames: ['channel'], registers: [registry],
      collect() { this.reset(); for (const [channel, n] of m) this.inc({ channel }, n); },
    });
  };
  byChannel('kafkaobs_agent_signals_received_total', 'Signals taken from the service, by channel (grpc, http, file).', intake.stats.received);
  byChannel('kafkaobs_agent_signals_refused_total', 'Signals refused at intake (invalid), by channel.', intake.stats.rejected);
  counter('kafkaobs_agent_outbox_dropped_total', 'Signals lost from a full outbox (drop-oldest policy): never sent, or evicted in flight and then not acknowledged.', () => outbox.stats.dropped);
  counter('kafkaobs_agent_outbox_dropped_unsent_total', 'Of the dropped: signals evicted before they were ever sent.', () => outbox.stats.droppedUnsent);
  counter('kafkaobs_agent_outbox_evicted_delivered_total', 'Signals evicted from a full outbox while in flight that the aggregator then acknowledged (delivered, not lost).', () => outbox.stats.evictedDelivered);
  counter('kafkaobs_agent_outbox_block_timeouts_total', 'Callers of the intake that waited their deadline for room (block policy) and were answered 429/503.', () => outbox.stats.blockTimeouts);
  counter('kafkaobs_agent_outbox_blocked_total', 'Times a producer waited for room in a full outbox (block policy).', () => outbox.stats.blocked);
  counter('kafkaobs_agent_signals_acked_total', 'Signals the aggregator acknowledged.', () => outbox.stats.acked);
  counter('kafkaobs_agent_signals_sent_total', 'Signals written to the aggregator stream (resends included).', () => link.stats.signalsSent);
  counter('kafkaobs_agent_signals_rejected_by_aggregator_total', 'Signals the aggregator refused.', () => link.stats.rejectedByAggregator);
  counter('kafkaobs_agent_acks_beyond_sent_total', 'Acknowledgements for a seq beyond anything this agent sent (another client spoke as this source); its unacknowledged signals were numbered after it and sent again.', () => link.stats.acksBeyondSent);
  counter('kafkaobs_agent_stream_failures_total', 'Aggregator streams that failed (each followed by a reconnect).', () => link.stats.failures);
  counter('kafkaobs_agent_connects_total', 'Streams established with the aggregator.', () => link.stats.connects);
  gauge('kafkaobs_agent_outbox_signals', 'Signals waiting for acknowledgement.', () => outbox.size);
  gauge('kafkaobs_agent_outbox_capacity', 'Outbox capacity in signals.', () => outbox.capacity);
  gauge('kafkaobs_agent_connected', '1 while a stream to the aggregator is up.', () => (link.stats.connected ? 1 : 0));
  if (guard) {
    new Counter({
      name: 'kafkaobs_agent_intake_refusals_total',
      help: 'Requests, calls and connections the local intake refused, by channel (http, grpc) and reason: body_too_large, too_deep, too_many_signals, too_many_requests, header_timeout, body_timeout, too_many_connections, header_too_large, bad_request, malformed.',
      labelNames: ['channel', 'reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [channel, reasons] of guard.refusals) for (const [reason, n] of reasons) this.inc({ channel, reason }, n);
      },
    });
    gauge('kafkaobs_agent_intake_in_flight', 'HTTP requests and gRPC calls the intake is handling now.', () => guard.inFlight);
    gauge('kafkaobs_agent_intake_max_in_flight', 'The most the intake handles at once (--intake-max-in-flight).', () => guard.bounds.maxInFlight);
  }
  gauge('kafkaobs_agent_acked_seq', 'Highest seq the aggregator acknowledged (several aggregators: the highest every one of them acknowledged).', () => Number(outbox.ackedSeq));
  if (aggregators.length > 1) {
    const per = (kind: 'gauge' | 'counter', name: string, help: string, read: (a: PerAggregator) => number): void => {
      const collect = function (this: Gauge | Counter): void {
        this.reset();
        for (const a of aggregators) {
          if (this instanceof Gauge) this.set({ aggregator: a.url }, read(a));
          else this.inc({ aggregator: a.url }, read(a));
        }
      };
      if (kind === 'gauge') new Gauge({ name, help, labelNames: ['aggregator'], registers: [registry], collect });
      else new Counter({ name, help, labelNames: ['aggregator'], registers: [registry], collect });
    };
    per('gauge', 'kafkaobs_agent_aggregator_connected', '1 while the stream to this aggregator is up (several aggregators: --aggregator-url a,b).', (a) => (a.link.stats.connected ? 1 : 0));
    per('gauge', 'kafkaobs_agent_aggregator_outbox_signals', 'Signals waiting for this aggregator\'s acknowledgement (its queue; bounded by the outbox capacity).', (a) => a.outbox.size);
    per('gauge', 'kafkaobs_agent_aggregator_acked_seq', 'Highest seq this aggregator acknowledged.', (a) => Number(a.outbox.ackedSeq));
    per('counter', 'kafkaobs_agent_aggregator_dropped_total', 'Signals this aggregator will not get: its queue was full (it was away) and the oldest went.', (a) => a.outbox.stats.dropped);
    per('counter', 'kafkaobs_agent_aggregator_signals_sent_total', 'Signals written to this aggregator\'s stream (resends included).', (a) => a.link.stats.signalsSent);
    per('counter', 'kafkaobs_agent_aggregator_stream_failures_total', 'Streams to this aggregator that failed.', (a) => a.link.stats.failures);
    gauge('kafkaobs_agent_aggregators_connected', 'Aggregators with a stream up now.', () => aggregators.filter((a) => a.link.stats.connected).length);
  }
  return registry;
}
