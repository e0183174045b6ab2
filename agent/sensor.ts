// Sensors: what the agent watches on its own (JMX, Prometheus text, the Kafka Admin API), as
// opposed to signals the service hands it. Every sensor has the same small shape so the agent
// can start, stop, report and `--check` them alike.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Signal } from '../proto/index.js';

/** What `kafka-obs agent --check` prints for one source. */
export interface CheckResult {
  /** Which source, as the user configured it (credentials left out). */
  source: string;
  ok: boolean;
  /** What it can see, one short line each: "3 beans match kafka.producer:type=producer-metrics,client-id=*". */
  facts: string[];
  /** What is wrong, precisely enough to fix: "authentication failed for user monitor (wrong password?)". */
  errors: string[];
}

export interface SensorContext {
  /**
   * Hands a signal to the outbox. Leave sourceId, seq and clock empty: the agent fills them
   * (and the timestamp when it is 0n). Never throws; resolves once queued.
   */
  emit(signal: Signal): Promise<void>;
  logger: Logger;
  /** The names subjects are built from (proto/subject.ts). */
  names: SubjectNames;
  /** The agent's Prometheus registry (its /metrics): sensors add their counters here. */
  registry: Registry;
}

export interface Sensor {
  /** Stable and unique among the agent's sensors, e.g. "jmx:broker-1:9999" (no secrets). */
  readonly name: string;
  /** Begins watching; returns once started (not when a first reading succeeded). */
  start(ctx: SensorContext): Promise<void>;
  /** One look at the source without emitting anything. Never throws: errors are data. */
  check(): Promise<CheckResult>;
  /** For /v1/status: last poll, counts, last error. */
  status(): Record<string, unknown>;
  /** For /readyz: whether the source answered its last poll, and why not. */
  answering(): { answering: boolean; why?: string };
  stop(): Promise<void>;
}

/** The naming scheme for subjects, from SERVICE_NAME, AGENT_ID and KAFKA_CLUSTER. */
export interface SubjectNames {
  service: string;
  pod: string;
  cluster: string;
}

/** A signal ready for the outbox, with the stamping left to the agent. */
export function sensorSignal(subject: string, sign: Partial<Signal>, context: Record<string, string> = {}, timestampNs = 0n): Signal {
  return { sourceId: '', seq: 0n, subject, timestamp: timestampNs, context, clock: {}, ...sign };
}
