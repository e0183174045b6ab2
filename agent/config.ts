// Agent settings: embedded defaults, overridden by environment, overridden by flags.
import { hostname } from 'node:os';
import type { FullPolicy } from './outbox.js';
import type { ClientTls } from './connection.js';
import type { AgentFile } from './config-file.js';
import type { SubjectNames } from './sensor.js';

export interface AgentConfig {
  aggregatorUrl: string;
  agentId: string;
  tls: ClientTls;
  token?: string;
  /** Local intake, gRPC LocalAgent (loopback by default: only the service beside it should call). */
  grpcHost: string;
  grpcPort: number;
  /** Local HTTP: intake, /metrics, /healthz. */
  httpHost: string;
  httpPort: number;
  /** Probes and metrics only (/healthz, /readyz, /metrics), for kubelet and Prometheus; off when undefined. */
  healthHost: string;
  healthPort?: number;
  /** Bounds on what the local intake (HTTP and gRPC) takes from callers; agent/README.md "Intake bounds". */
  intake: IntakeBounds;
  outboxCapacity: number;
  outboxPolicy: FullPolicy;
  /** With the block policy: how long a caller of the intake waits for room before a 429/503. */
  outboxBlockTimeoutMs: number;
  maxBatch: number;
  lingerMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** With nothing to send this long, an empty batch keeps the stream alive (the aggregator ends streams silent for --stream-idle-timeout, 2 min by default). */
  keepaliveMs: number;
  fromFile?: string;
  /** With fromFile: exit once the file is read and every signal acknowledged. */
  exitWhenDone: boolean;
  /** How sensors name subjects: SERVICE_NAME, AGENT_ID, KAFKA_CLUSTER. */
  names: SubjectNames;
  /** How often sensors poll (POLL_INTERVAL_MS). */
  pollIntervalMs: number;
  /** Every duration of the translation rules multiplied by this (demos and tests play incidents faster than life). */
  timeScale: number;
  /** The config file's content, when one was given (sections are read by their sensors). */
  file: AgentFile;
  /** The process environment the sensors read their own variables from (JMX_URL, KAFKA_...). */
  env: Record<string, string | undefined>;
}

/** Bounds on the local intake; each a CLI flag and environment variable (kafka-obs agent --help). */
export interface IntakeBounds {
  /** Largest HTTP body and gRPC message taken, in bytes (a declared larger one is refused before it is read). */
  maxBodyBytes: number;
  /** Deepest JSON nesting taken (a signal is about 4 deep); checked before parsing. */
  maxDepth: number;
  /** Most signals in one HTTP request or gRPC call; counted before parsing. */
  maxSignals: number;
  /** HTTP POST /v1/signals requests and gRPC Emit calls handled at once, together; the next gets 503 / RESOURCE_EXHAUSTED. */
  maxInFlight: number;
  /** HTTP: a request's headers must have arrived this long after it began (its first byte, or the connection). */
  headersTimeoutMs: number;
  /** HTTP and gRPC: a whole request (headers and body, or the call's message) must have arrived this long after it began. */
  requestTimeoutMs: number;
  /** HTTP: an idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs: number;
  /** HTTP: open connections at most (the intake, /metrics and /healthz together); the next is closed at once. */
  maxConnections: number;
  /** HTTP: the request line and headers together at most this many bytes (431 beyond). */
  maxHeaderBytes: number;
}

export const INTAKE_DEFAULTS: IntakeBounds = {
  maxBodyBytes: 4 * 1024 * 1024,
  maxDepth: 32,
  maxSignals: 10_000,
  maxInFlight: 64,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 256,
  maxHeaderBytes: 16 * 1024,
};

export const AGENT_DEFAULTS: AgentConfig = {
  aggregatorUrl: 'grpc://localhost:50051',
  agentId: process.env.POD_NAME ?? hostname(),
  tls: {},
  grpcHost: '127.0.0.1',
  grpcPort: 50052,
  httpHost: '127.0.0.1',
  httpPort: 8081,
  healthHost: '0.0.0.0',
  intake: INTAKE_DEFAULTS,
  outboxCapacity: 100_000,
  outboxPolicy: 'drop-oldest',
  outboxBlockTimeoutMs: 5000,
  maxBatch: 500,
  lingerMs: 5,
  backoffBaseMs: 250,
  backoffMaxMs: 30_000,
  keepaliveMs: 30_000,
  exitWhenDone: false,
  names: { service: process.env.SERVICE_NAME ?? 'unknown-service', pod: process.env.POD_NAME ?? hostname(), cluster: 'default' },
  pollIntervalMs: 10_000,
  timeScale: 1,
  file: {},
  env: {},
};
