// Aggregator settings: embedded defaults, overridden by environment, overridden by flags.
import type { ActorsSettings } from '../actors/config.js';
import type { SyncPolicy } from './journal/journal.js';
import { EXPOSITION_DEFAULTS, type ExpositionSettings } from './exposition.js';

/** What /metrics exposes of Kafka and the cells (the expiry follows staleAfterMs). */
export type MetricsSettings = Omit<ExpositionSettings, 'expireAfterNs'>;

export interface AggregatorConfig {
  grpcHost: string;
  grpcPort: number;
  httpHost: string;
  httpPort: number;
  dataDir: string;
  /** Events kept in memory for resume and for subscribers that fall behind. */
  retainEvents: number;
  maxBatchSignals: number;
  maxBatchBytes: number;
  maxCells: number;
  tls?: { certFile: string; keyFile: string; clientCaFile?: string };
  /** Bearer token every call (but health) must carry; read from a file or the environment. */
  token?: string;
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
  /** Where group commits are written: inline (on the event loop, acks go out in the same turn) or thread (a worker thread: the loop never waits for a slow disk). */
  journalWriter: 'inline' | 'thread';
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
  /** The Kafka and cell series on /metrics: filters, partition series, cell kinds, the cap. */
  metrics: MetricsSettings;
}

export const AGGREGATOR_DEFAULTS: AggregatorConfig = {
  grpcHost: '0.0.0.0',
  grpcPort: 50051,
  httpHost: '0.0.0.0',
  httpPort: 8080,
  dataDir: './data',
  retainEvents: 200_000,
  maxBatchSignals: 10_000,
  maxBatchBytes: 4 * 1024 * 1024,
  maxCells: 1_000_000,
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
  journalWriter: 'inline',
  retainSignalsMs: 7 * 24 * 3600 * 1000,
  retainSignalsBytes: 20 * 1024 ** 3,
  retainNarrativesMs: 365 * 24 * 3600 * 1000,
  retainNarrativesBytes: 2 * 1024 ** 3,
  retentionIntervalMs: 60_000,
  recoveryWindowMs: 15 * 60 * 1000,
  recoveryMaxEvents: 2_000_000,
  journalMinFreeBytes: 64 * 1024 * 1024,
  metrics: { partitions: EXPOSITION_DEFAULTS.partitions, maxSeries: EXPOSITION_DEFAULTS.maxSeries, cellKinds: EXPOSITION_DEFAULTS.cellKinds },
};
