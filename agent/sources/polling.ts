// What every polled JVM source (JMX, Prometheus text) does alike: poll on a fixed interval,
// turn readings into signs with the translator, say how the source itself is doing (a status on
// the agent's own entity, aspect source/<name>: DOWN with the reason, DEGRADED when part of it is
// missing, STABLE — and, when the source is a broker, the same about the broker, aspect
// sensor/<name>: a broker that stops answering its sensor is evidence about it), and count
// polls, errors by reason and poll durations on the agent's /metrics.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { ASPECT, Status_Condition, Status_Confidence, entity, segment, subjectOf, type Signal } from '../../proto/index.js';
import { Translator } from '../translate/engine.js';
import type { RuleSet } from '../translate/rules.js';
import { sensorSignal, type CheckResult, type Sensor, type SensorContext } from '../sensor.js';
import { toObservation, type Reading } from './catalogue.js';

export type PollOutcome =
  | {
      ok: true;
      readings: Reading[];
      /** The broker id, when the source is a broker (from app-info or configuration). */
      brokerId?: string;
      /** What is missing though the source answered: a configured pattern matching nothing. */
      problems: string[];
      /** The reason the problems are reported under (default pattern-empty). */
      problemReason?: string;
      /** How many values were read (attributes or samples). */
      values: number;
      /** Time spent by the source itself (the bridge's JMX calls), when known. */
      sourceMs?: number;
      /** Signals the source judged itself (the Kafka source), sent as they are after the translated ones. */
      signals?: Signal[];
    }
  | { ok: false; reason: string; message: string };

export interface SourceMetrics {
  polls: Counter<'source' | 'outcome'>;
  errors: Counter<'source' | 'reason'>;
  duration: Histogram<'source'>;
  signals: Counter<'source'>;
  up: Gauge<'source'>;
  restarts: Counter<'source'>;
}

const metricsByRegistry = new WeakMap<Registry, SourceMetrics>();

/** The source metrics on a registry, created once however many sources share it. */
export function sourceMetrics(registry: Registry): SourceMetrics {
  let m = metricsByRegistry.get(registry);
  if (!m) {
    const registers = [registry];
    m = {
      polls: new Counter({ name: 'kafkaobs_agent_source_polls_total', help: 'Polls of a JMX or Prometheus source, by outcome (ok, error).', labelNames: ['source', 'outcome'], registers }),
      errors: new Counter({ name: 'kafkaobs_agent_source_poll_errors_total', help: 'Failed or partial polls by reason (unreachable, auth, ssl, timeout, not-found, bad-response, pattern-empty, bridge, java-missing...).', labelNames: ['source', 'reason'], registers }),
      duration: new Histogram({ name: 'kafkaobs_agent_source_poll_duration_seconds', help: 'Time to poll a source, reading included.', labelNames: ['source'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers }),
      signals: new Counter({ name: 'kafkaobs_agent_source_signals_total', help: 'Signals the translators made from a source.', labelNames: ['source'], registers }),
      up: new Gauge({ name: 'kafkaobs_agent_source_up', help: '1 when the last poll of the source succeeded.', labelNames: ['source'], registers }),
      restarts: new Counter({ name: 'kafkaobs_agent_jmx_bridge_restarts_total', help: 'Times a JMX bridge process was (re)started after exiting.', labelNames: ['source'], registers }),
    };
    metricsByRegistry.set(registry, m);
  }
  return m;
}

export interface PollingOptions {
  intervalMs: number;
  rules: RuleSet;
  /** How the source is described in logs and --check (no secrets). */
  description: string;
  /**
   * After failed polls, wait longer: interval × 2^(failures-1), jittered, at most this
   * (default: no backoff, poll on the interval). A cluster that refuses us is not hammered.
   */
  backoffMaxMs?: number;
  /**
   * A poll still unanswered after this long says so at once (DOWN, reason timeout), while it goes
   * on waiting: a frozen broker stops answering its sensor at once, and that silence is evidence
   * the aggregator needs now, not when the call finally gives up.
   */
  answerWithinMs?: number;
}

/** The agent's own view of a source, re-sent only when it changes or as a heartbeat. */
interface SelfState {
  condition: Status_Condition;
  reason: string;
  message: string;
  sentAt: number;
  failures: number;
}

export abstract class PollingSensor implements Sensor {
  protected ctx?: SensorContext;
  protected metrics?: SourceMetrics;
  protected readonly translator: Translator;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private inFlight?: Promise<void>;
  private self?: SelfState;
  private lastSweep = 0;
  /** The broker this source reads, once a poll has named it (app-info or configuration). */
  private brokerId?: string;
  protected readonly stats = { polls: 0, errors: 0, signals: 0, lastPollAt: 0, lastPollMs: 0, lastError: '', lastValues: 0, lastReadings: 0 };
  /** The last 300 poll durations in ms, oldest first (for /v1/status and the benchmark). */
  private readonly recentPollMs: number[] = [];
  /** The same for the part spent in the source (JMX calls in the bridge), when it says. */
  private readonly recentSourceMs: number[] = [];

  constructor(readonly name: string, protected readonly options: PollingOptions) {
    this.translator = new Translator(options.rules);
  }

  /** One look at the source: readings, or why there are none. Never throws. */
  protected abstract poll(): Promise<PollOutcome>;
  abstract check(): Promise<CheckResult>;
  /** Called once before the first poll (e.g. to start a helper process). */
  protected async open(): Promise<boolean> {
    return true;
  }
  protected async close(): Promise<void> {}

  async start(ctx: SensorContext): Promise<void> {
    this.ctx = ctx;
    this.metrics = sourceMetrics(ctx.registry);
    if (!(await this.open())) return;
    const loop = async (): Promise<void> => {
      if (this.stopped) return;
      const started = Date.now();
      this.inFlight = this.pollAndEmit();
      await this.inFlight;
      if (this.stopped) return;
      // A fixed cadence: the next poll is one interval after this one started (at once if late).
      this.timer = setTimeout(() => void loop(), Math.max(0, started + this.nextDelayMs() - Date.now()));
    };
    this.timer = setTimeout(() => void loop(), 0);
  }

  /** The interval, or after failures (with backoffMaxMs set) a jittered exponential backoff. */
  private nextDelayMs(): number {
    const { intervalMs, backoffMaxMs } = this.options;
    const failures = this.self?.condition === Status_Condition.DOWN ? this.self.failures : 0;
    if (!backoffMaxMs || failures <= 1) return intervalMs;
    const ceiling = Math.min(backoffMaxMs, intervalMs * 2 ** Math.min(failures - 1, 20));
    return Math.max(intervalMs, Math.round(ceiling / 2 + Math.random() * (ceiling / 2)));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.inFlight;
    await this.close();
  }

  answering(): { answering: boolean; why?: string } {
    if (!this.self) return { answering: false, why: 'not polled yet' };
    if (this.self.condition !== Status_Condition.DOWN) return { answering: true };
    return { answering: false, why: `DOWN (${this.self.reason}): ${this.self.message}` };
  }

  status(): Record<string, unknown> {
    return {
      source: this.options.description,
      intervalMs: this.options.intervalMs,
      condition: this.self ? Status_Condition[this.self.condition] : 'UNKNOWN',
      ...(this.self && this.self.reason ? { reason: this.self.reason } : {}),
      ...this.stats,
      series: this.translator.seriesCount,
      recentPollMs: this.recentPollMs,
      ...(this.recentSourceMs.length ? { recentSourceMs: this.recentSourceMs } : {}),
    };
  }

  private async pollAndEmit(): Promise<void> {
    const t0 = performance.now();
    const now = Date.now();
    const limit = this.options.answerWithinMs;
    // Stamped with the poll's start: the moment the source stopped answering.
    const watchdog = limit ? setTimeout(() => void this.report(Status_Condition.DOWN, 'timeout', `no answer within ${limit} ms (still waiting)`, now, true), limit) : undefined;
    const outcome = await this.poll().catch((e: Error): PollOutcome => ({ ok: false, reason: 'internal', message: e.message }));
    clearTimeout(watchdog);
    const tookMs = performance.now() - t0;
    const m = this.metrics!;
    m.duration.observe({ source: this.name }, tookMs / 1000);
    this.stats.polls++;
    this.stats.lastPollAt = now;
    this.stats.lastPollMs = Math.round(tookMs * 100) / 100;
    this.recentPollMs.push(this.stats.lastPollMs);
    if (this.recentPollMs.length > 300) this.recentPollMs.shift();
    if (!outcome.ok) {
      m.polls.inc({ source: this.name, outcome: 'error' });
      m.errors.inc({ source: this.name, reason: outcome.reason });
      m.up.set({ source: this.name }, 0);
      this.stats.errors++;
      this.stats.lastError = `${outcome.reason}: ${outcome.message}`;
      await this.report(Status_Condition.DOWN, outcome.reason, outcome.message, now);
      return;
    }
    m.polls.inc({ source: this.name, outcome: 'ok' });
    m.up.set({ source: this.name }, 1);
    const problemReason = outcome.problemReason ?? 'pattern-empty';
    if (outcome.problems.length) m.errors.inc({ source: this.name, reason: problemReason }, outcome.problems.length);
    this.stats.lastValues = outcome.values;
    if (outcome.sourceMs !== undefined) {
      this.recentSourceMs.push(Math.round(outcome.sourceMs * 100) / 100);
      if (this.recentSourceMs.length > 300) this.recentSourceMs.shift();
    }
    this.stats.lastReadings = outcome.readings.length;
    if (outcome.brokerId !== undefined && outcome.brokerId !== this.brokerId) {
      this.brokerId = outcome.brokerId;
      this.self = undefined; // say at once, about the broker too, that it answers
    }
    const out: Signal[] = [];
    for (const r of outcome.readings) {
      const o = toObservation(r, this.ctx!.names, outcome.brokerId, now);
      if (o) for (const s of this.translator.observe(o)) out.push(s);
    }
    if (outcome.problems.length) await this.report(Status_Condition.DEGRADED, problemReason, outcome.problems.join('; '), now);
    else await this.report(Status_Condition.STABLE, '', '', now);
    if (outcome.signals) for (const s of outcome.signals) out.push(s);
    for (const s of out) await this.ctx!.emit(s);
    this.stats.signals += out.length;
    m.signals.inc({ source: this.name }, out.length);
    // Forget series of clients that went away (not seen for ten heartbeats).
    if (now - this.lastSweep > this.options.rules.defaults.heartbeatMs) {
      this.lastSweep = now;
      this.translator.sweep(now - 10 * this.options.rules.defaults.heartbeatMs);
    }
  }

  /**
   * The agent's status of this source: sent when it changes, and once per heartbeat otherwise.
   * `pending`: said while the poll still waits (the watchdog), so not counted as one more failure.
   */
  protected async report(condition: Status_Condition, reason: string, message: string, now: number, pending = false): Promise<void> {
    const prev = this.self;
    const down = prev?.condition === Status_Condition.DOWN;
    const failures = condition === Status_Condition.DOWN ? (down ? prev.failures + (pending ? 0 : 1) : 1) : 0;
    const changed = !prev || prev.condition !== condition || prev.reason !== reason;
    const heartbeat = !changed && now - prev.sentAt >= this.options.rules.defaults.heartbeatMs;
    // Three failures in a row are no accident: CONFIRMED from then on (sent once more when reached).
    const confirmedNow = condition === Status_Condition.DOWN && failures === 3;
    this.self = { condition, reason, message, failures, sentAt: changed || heartbeat || confirmedNow ? now : prev!.sentAt };
    if (!changed && !heartbeat && !confirmedNow) return;
    if (changed) {
      const log = this.ctx!.logger;
      if (condition === Status_Condition.STABLE) log.info({ source: this.options.description }, prev ? 'source recovered' : 'source OK');
      else log.warn({ source: this.options.description, reason, problem: message }, condition === Status_Condition.DOWN ? 'source down' : 'source incomplete');
    }
    const confidence = failures >= 3 ? Status_Confidence.CONFIRMED : Status_Confidence.MEASURED;
    const context: Record<string, string> = { source: this.options.description, sensor: this.name };
    if (reason) context.reason = reason;
    if (message) context.message = message.slice(0, 1000);
    if (heartbeat) context.heartbeat = 'true';
    const names = this.ctx!.names;
    const ts = BigInt(now) * 1_000_000n;
    await this.ctx!.emit(sensorSignal(subjectOf(entity.agent(names.service, names.pod), `${ASPECT.source}/${segment(this.name)}`), { status: { condition, confidence } }, context, ts));
    if (this.brokerId !== undefined) {
      const about = { ...context, cluster: names.cluster, 'broker-id': this.brokerId };
      await this.ctx!.emit(sensorSignal(subjectOf(entity.broker(names.cluster, this.brokerId), `${ASPECT.sensor}/${segment(this.name)}`), { status: { condition, confidence } }, about, ts));
    }
  }
}
