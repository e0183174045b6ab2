// The aspects the project's own sensors speak for, and the context keys that carry meaning from
// an agent to the aggregator. The agent writes them (rules in agent/translate/default-rules.yaml,
// the Kafka source, the kafkajs instrumentation), observers read them: both sides take the names
// from here. An aspect not listed (a user's own rule) is still a valid subject — it shows in the
// tree and rolls up — but no observer gives it a meaning beyond its condition.
//
// An aspect may have several parts ("gc/G1_Young_Generation", "request-latency/2"): the first
// part says what it is, the rest which one. `aspectKind()` returns the first part.

/** First parts of aspects, by the entity they are sent about. */
export const ASPECT = {
  // A producer client (JMX producer-metrics, kafkajs).
  buffer: 'buffer',
  bufferExhausted: 'buffer-exhausted',
  requestLatency: 'request-latency',
  recordErrors: 'record-errors',
  sendRate: 'send-rate',
  batchSize: 'batch-size',
  sends: 'sends',
  requests: 'requests',
  requestQueue: 'request-queue',
  connection: 'connection',
  // A consumer client (JMX consumer fetch-manager and coordinator metrics, kafkajs).
  lag: 'lag',
  lagTrend: 'lag-trend',
  fetchLatency: 'fetch-latency',
  consumeRate: 'consume-rate',
  consumeBytesRate: 'consume-bytes-rate',
  partitions: 'partitions',
  commits: 'commits',
  rebalances: 'rebalances',
  rebalanceLatency: 'rebalance-latency',
  membership: 'membership',
  heartbeat: 'heartbeat',
  crashes: 'crashes',
  // A JVM: a service's (service/<s>/pod/<p>/jvm) or a broker's own.
  heap: 'heap',
  gc: 'gc',
  gcCollections: 'gc-collections',
  // A broker (its JMX; request-latency/<request> as for clients).
  underReplicated: 'under-replicated',
  offlinePartitions: 'offline-partitions',
  underMinIsr: 'under-min-isr',
  activeController: 'active-controller',
  requestHandlerIdle: 'request-handler-idle',
  messagesIn: 'messages-in',
  bytesIn: 'bytes-in',
  bytesOut: 'bytes-out',
  /** Whether the agent watching a broker can read it: sensor/<source>, DOWN when it stopped answering. */
  sensor: 'sensor',
  /** The cluster's metadata about a broker (the Kafka source): DOWN when no longer listed or answering. */
  metadata: 'metadata',
  // A partition (the Kafka source): its replicas, ISR and leader.
  replicas: 'replicas',
  // A group, a group's topic or partition (the Kafka source): its lag evaluation. Uses `lag`.
  // The agent itself: source/<source>, how each of its sources is doing.
  source: 'source',
} as const;

export type AspectKind = (typeof ASPECT)[keyof typeof ASPECT];

const KNOWN = new Set<string>(Object.values(ASPECT));

/** The first part of an aspect ("gc" for "gc/G1_Young_Generation"; "" for none). */
export function aspectKind(aspect: string): string {
  const slash = aspect.indexOf('/');
  return slash < 0 ? aspect : aspect.slice(0, slash);
}

/** Whether observers know what an aspect means. */
export function isKnownAspect(aspect: string): boolean {
  return KNOWN.has(aspectKind(aspect));
}

/** Context keys with a meaning the aggregator relies on (all other keys are evidence for people). */
export const CTX = {
  /** The catalogue metric a translated signal comes from, e.g. "producer.buffer-used-percent". */
  metric: 'metric',
  /** The rule that judged it, e.g. "producer-buffer". */
  rule: 'rule',
  /** The value the rule judged (after its transform: the increase for a delta), a decimal number. */
  value: 'value',
  /** The raw reading before a delta or rate transform. */
  raw: 'raw',
  /** The value's unit where it is not obvious from the metric: "percent", "ms", "records", "count". */
  unit: 'unit',
  /** A reading that came out of its range and was clamped: the value as read. */
  clampedFrom: 'clamped-from',
  /** "true" on a re-sent unchanged state. */
  heartbeat: 'heartbeat',
  /** The Kafka cluster a client, JVM or agent belongs to (the agent's KAFKA_CLUSTER). */
  cluster: 'cluster',
  /** The broker a client signal is about: Kafka's node id. */
  nodeId: 'node-id',
  clientId: 'client-id',
  group: 'group',
  topic: 'topic',
  partition: 'partition',
  /** What happened (kafkajs events, the Kafka source's news): "rebalancing", "members-left"... */
  event: 'event',
  // Lag, wherever it is read (Admin API group evaluation, JMX records-lag-max, kafkajs offsetLag).
  lag: 'lag',
  totalLag: 'total-lag',
  /** How old the next record to consume is, seconds (see lag-seconds-from). */
  lagSeconds: 'lag-seconds',
  /** How lag-seconds was found: "record-timestamp" (the broker's timestamp of the record at the committed offset) or "interpolated" (the log-end history). */
  lagSecondsFrom: 'lag-seconds-from',
  /** At the current rates, seconds until the lag is consumed (absent when it is not shrinking). */
  catchUpSeconds: 'catch-up-seconds',
  /** The partition's earliest offset still held (retention deletes below it). */
  logStartOffset: 'log-start-offset',
  /** Records between the committed offset and the log start: how far unconsumed data is from deletion. */
  retentionHeadroom: 'retention-headroom',
  /** At the rate the log start advances, seconds until unconsumed records are deleted (absent when not at risk). */
  retentionSecondsLeft: 'retention-seconds-left',
  /** Records consumed and produced per second, where the sensor knows them. */
  consumeRate: 'consume-rate',
  produceRate: 'produce-rate',
  members: 'members',
  /** The Burrow-style status of a group or partition: OK, WARN, ERR (a group), STALL, STOP, REWIND, ABANDONED. */
  lagStatus: 'burrow',
  /** A group's worst partition status when its own is ERR: STOP, STALL or REWIND. */
  lagWorst: 'worst',
  /** Why a source or judgement says what it says. */
  reason: 'reason',
} as const;
