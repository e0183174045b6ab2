// Aggregator settings: embedded defaults, overridden by environment, overridden by flags.
import type { ActorsSettings } from '../actors/config.js';
import type { Identities } from './identity.js';
import type { JournalWriter, SyncPolicy } from './journal/journal.js';
import type { WebhookSettings } from './webhook.js';
import { EXPOSITION_DEFAULTS, type ExpositionSettings } from './exposition.js';

/** What /metrics exposes of Kafka and the cells (the expiry follows staleAfterMs). */
export type MetricsSettings = Omit<ExpositionSettings, 'expireAfterNs'>;
import type { UpstreamSettings } from './federation/leaf.js';

export interface AggregatorConfig {
  /** Listen addresses; undefined: all interfaces when callers must prove who they are, loopback otherwise. */
  grpcHost?: string;
  grpcPort: number;
  httpHost?: string;
  httpPort: number;
  dataDir: string;
  /** Events kept in memory for resume and for subscribers that fall behind. */
  retainEvents: number;
  maxBatchSignals: number;
  maxBatchBytes: number;
  maxCells: number;
  tls?: { certFile: string; keyFile: string; clientCaFile?: string };
  /** The one shared bearer token (read from a file or the environment): its holders may speak for any source. */
  token?: string;
  /** Per-caller identities (--identities-file): each proves itself with its token or certificate and speaks for its sources only. */
  identities?: Identities;
  /** /metrics without a token (for a Prometheus that cannot send one); probes /healthz and /readyz are always open. */
  metricsOpen: boolean;
  /** Most TCP connections on the gRPC port (0: no limit). */
  maxConnections: number;
  /** A connection that has not started a call this long after it opened is closed. */
  connectionStartTimeoutMs: number;
  /** A connection with no call open this long is closed. */
  connectionIdleMs: number;
  /** Most calls open at once on one connection. */
  maxStreamsPerConnection: number;
  /** Signal streams open at once, at most. */
  maxSignalStreams: number;
  /** Subscriptions open at once, at most. */
  maxSubscribers: number;
  /** A signal stream that sends nothing this long is ended (agents send a keepalive every third of it). */
  streamIdleTimeoutMs: number;
  /** Sources (agents) whose sequence is tracked for deduplication, at most; the longest silent are forgotten first. */
  maxSources: number;
  /** A source silent this long may be forgotten when room is needed. */
  sourceEvictAfterMs: number;
  /** Most cells in one GetCell or /api/cells answer. */
  maxResponseCells: number;
  /** Most narratives in one ListNarratives answer. */
  maxResponseNarratives: number;
  /** Warn when the server certificate expires within this long. */
  certificateWarnMs: number;
  /** How long SIGTERM waits for streams to finish before closing them. */
  drainTimeoutMs: number;
  /** Who acts on narratives (alerts, remediation); none when absent. */
  actors?: ActorsSettings;
  /** How often time passes in the pipeline (staleness, windows closing, narratives publishing and resolving). */
  tickMs: number;
  /** A cell silent this long loses a step of confidence, and this long is stale (0: never). */
  decayAfterMs: number;
  staleAfterMs: number;
  /** A narrative rooted only in a symptom waits this long for its cause to show. */
  causeWaitMs: number;
  /** A narrative resolves once all its findings have been over for this long. */
  resolveAfterMs: number;
  /** A situation falls (WARNING to NORMAL...) only after this long at the lower level. */
  situationHoldMs: number;
  /** Cluster name assumed for client signals that do not say theirs (context "cluster"). */
  defaultCluster: string;
  /** The observers' windows multiplied by this (demos and scenario tests). */
  timeScale: number;
  /** When an ack may go out: fsync (the WAL is on disk; the default) or os (the OS has it). */
  journalSync: SyncPolicy;
  /** Where group commits are written: inline (on the event loop, acks go out in the same turn), thread (a worker thread: the loop never waits for a slow disk) or auto (inline when small, the thread when large). */
  journalWriter: JournalWriter;
  /** The main log (signals and every event): kept this long and at most this many bytes (0 = no limit). */
  retainSignalsMs: number;
  retainSignalsBytes: number;
  /** Verdicts (narratives, findings, situations, actions): kept much longer. */
  retainNarrativesMs: number;
  retainNarrativesBytes: number;
  /** How often retention runs. */
  retentionIntervalMs: number;
  /** Recovery feeds the pipeline the journal's last this-much of signals... */
  recoveryWindowMs: number;
  /** ... but at most this many events. */
  recoveryMaxEvents: number;
  /** With the disk full, writing is tried again once this much is free. */
  journalMinFreeBytes: number;
  /** The sidecar injector (a mutating admission webhook over HTTPS); off when absent. */
  webhook?: WebhookSettings;
  /** The Kafka and cell series on /metrics: filters, partition series, cell kinds, the cap. */
  metrics: MetricsSettings;
  /** Federation: forward what this aggregator decides to an upstream aggregator (this one is then a leaf). */
  upstream?: UpstreamSettings;
  /** Federation, upstream: feed the leaves' forwarded raw signals through a pipeline of its own and publish the stories that span leaves (--correlate-leaves). */
  correlateLeaves: boolean;
}

export const AGGREGATOR_DEFAULTS: AggregatorConfig = {
  grpcPort: 50051,
  httpPort: 8080,
  metricsOpen: false,
  maxConnections: 10_000,
  connectionStartTimeoutMs: 10_000,
  connectionIdleMs: 5 * 60_000,
  maxStreamsPerConnection: 100,
  maxSignalStreams: 5_000,
  maxSubscribers: 256,
  streamIdleTimeoutMs: 120_000,
  maxSources: 100_000,
  sourceEvictAfterMs: 24 * 3600_000,
  maxResponseCells: 10_000,
  maxResponseNarratives: 1_000,
  certificateWarnMs: 14 * 24 * 3600_000,
  dataDir: './data',
  retainEvents: 200_000,
  maxBatchSignals: 10_000,
  maxBatchBytes: 4 * 1024 * 1024,
  maxCells: 200_000,
  drainTimeoutMs: 10_000,
  tickMs: 250,
  decayAfterMs: 120_000,
  staleAfterMs: 300_000,
  causeWaitMs: 15_000,
  resolveAfterMs: 30_000,
  situationHoldMs: 30_000,
  defaultCluster: 'default',
  timeScale: 1,
  journalSync: 'fsync',
  journalWriter: 'auto',
  retainSignalsMs: 7 * 24 * 3600 * 1000,
  retainSignalsBytes: 20 * 1024 ** 3,
  retainNarrativesMs: 365 * 24 * 3600 * 1000,
  retainNarrativesBytes: 2 * 1024 ** 3,
  retentionIntervalMs: 60_000,
  recoveryWindowMs: 15 * 60 * 1000,
  recoveryMaxEvents: 2_000_000,
  journalMinFreeBytes: 64 * 1024 * 1024,
  correlateLeaves: false,
  metrics: { partitions: EXPOSITION_DEFAULTS.partitions, maxSeries: EXPOSITION_DEFAULTS.maxSeries, cellKinds: EXPOSITION_DEFAULTS.cellKinds },
};
