// Aggregator settings: embedded defaults, overridden by environment, overridden by flags.
import type { ActorsSettings } from '../actors/config.js';

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
};
