// The translator rules for kafkajs readings: the same kinds and, where a JMX metric has the same
// meaning, the same thresholds and windows as agent/translate/default-rules.yaml, so a Node service
// and a JVM service with the same trouble make the same signs. Kept as data in code (not read
// from the YAML) so a service loading the instrumentation loads neither the YAML parser nor zod.
import type { RuleSet } from '../translate/rules.js';

/** Metric names the instrumentation feeds its translator (and puts in context "metric"). */
export const METRICS = {
  /** Mean `duration` of the requests to one broker since the last reading (long-poll APIs left out). */
  requestLatency: 'request-latency-avg',
  /** Requests waiting in kafkajs' queue for one broker (REQUEST_QUEUE_SIZE), the most since the last reading. */
  requestQueue: 'request-queue-size',
  /** The largest END/START_BATCH_PROCESS offsetLag over the consumer's partitions. */
  lag: 'records-lag-max',
  /** GROUP_JOINs so far: the rebalances this member went through. */
  rebalances: 'rebalance-total',
  /** GROUP_JOIN duration: how long the join (the rebalance) took. */
  rebalanceLatency: 'rebalance-latency-avg',
} as const;

export const KAFKAJS_RULES: RuleSet = {
  defaults: {
    heartbeatMs: 60_000,
    confidence: { measuredAfter: 3, confirmedAfter: 6, confirmedAfterMs: 60_000 },
  },
  rules: [
    {
      // As producer-request-latency, one series per broker.
      name: 'kafkajs-request-latency',
      metric: METRICS.requestLatency,
      aspect: 'request-latency/{node}',
      kind: 'trend',
      windowMs: 60_000,
      minSamples: 3,
      rise: 0.5,
      fall: 0.3,
      settle: 0.2,
      floor: 5,
      normal: 'status.STABLE',
    },
    {
      // kafkajs' per-broker request queue (requests waiting for an in-flight slot or a connection).
      name: 'kafkajs-request-queue',
      metric: METRICS.requestQueue,
      aspect: 'request-queue',
      kind: 'threshold',
      direction: 'above',
      levels: [
        { at: 100, clear: 50, sign: 'queue.PRESSURE' },
        { at: 1000, clear: 500, sign: 'queue.OVERFLOW' },
      ],
      normal: 'queue.ENQUEUE',
    },
    {
      // As consumer-lag.
      name: 'kafkajs-consumer-lag',
      metric: METRICS.lag,
      aspect: 'lag',
      kind: 'threshold',
      direction: 'above',
      levels: [{ at: 10_000, clear: 8000, sign: 'queue.OVERFLOW' }],
      normal: 'status.STABLE',
    },
    {
      // As consumer-lag-trend.
      name: 'kafkajs-consumer-lag-trend',
      metric: METRICS.lag,
      aspect: 'lag-trend',
      kind: 'trend',
      windowMs: 60_000,
      minSamples: 3,
      rise: 1.0,
      fall: 0.3,
      settle: 0.2,
      floor: 100,
      normal: 'status.STABLE',
    },
    {
      // As consumer-rebalance-storm.
      name: 'kafkajs-rebalance-storm',
      metric: METRICS.rebalances,
      aspect: 'rebalances',
      kind: 'instability',
      mode: 'spacing',
      spacingMs: 60_000,
      minEvents: 3,
      quietMs: 120_000,
      sign: 'status.ERRATIC',
      normal: 'status.STABLE',
    },
    {
      // As consumer-rebalance-latency.
      name: 'kafkajs-rebalance-latency',
      metric: METRICS.rebalanceLatency,
      aspect: 'rebalance-latency',
      kind: 'threshold',
      direction: 'above',
      levels: [{ at: 5000, clear: 3000, sign: 'status.DEGRADED' }],
      normal: 'status.STABLE',
    },
  ],
};
