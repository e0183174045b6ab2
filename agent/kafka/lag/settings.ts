// Settings of the consumer-lag evaluator, their defaults, and their validation.

export interface LagSettings {
  /** Committed-offset readings kept per group-partition: the window of the rules (Burrow: 10). */
  windowSize: number;
  /** Commits (advances of the committed offset) kept per group-partition: commit spacing and the WARN rule. */
  commitHistory: number;
  /**
   * Log-end readings kept per topic-partition (shared by every group): lag in seconds, produce
   * rate. When full, the reading best predicted by its neighbours goes (see log-end-history.ts).
   */
  logEndHistory: number;
  /** Lag at or below this is fine whatever else is true (0: only caught up is fine). */
  allowedLag: number;
  /**
   * k: a consumer that has had work and made no progress for k times its expected commit spacing
   * (and at least minStopMs) is *late*: WARN while records keep arriving. See evaluator.ts, rule 6.
   */
  stopFactor: number;
  /** Floor of the silence that makes a consumer late, ms. */
  minStopMs: number;
  /** Cap on how much a growing commit spacing may be extrapolated (the produce/consume ratio). */
  gapGrowthCap: number;
  /**
   * Kafka's max.poll.interval.ms: a member that does not poll for this long is removed from its
   * group. Without membership, a consumer silent (no progress, work waiting) for
   * max(this, the late threshold) is presumed gone: STOP while records arrive, else ABANDONED; a
   * member that owns the partition and is silent that long is STALL. Set it to the consumers'
   * setting (kafkajs: its longest batch may outlast rebalanceTimeout, as it heartbeats per message).
   */
  maxPollIntervalMs: number;
  /**
   * A memberless partition (or one presumed gone) whose log end has not grown for this long is
   * ABANDONED even when records arrived after its consumer's last commit: lag that stopped growing.
   */
  abandonAfterMs: number;
  /** A REWIND stays reported for this many readings (the one that went back included), and until evaluate() has reported it once. */
  rewindHoldReadings: number;
  /** Extrapolated lag in seconds is capped at max(this, age of the oldest log-end reading), ms. */
  lagSecondsCapMs: number;
  /**
   * Retention risk: a partition whose unconsumed records will be deleted within this much time
   * (its log start, advancing at its observed rate, overtaking the committed offset at the
   * consumer's rate) is flagged at-risk; the flag clears above 1.5 x this (hysteresis), ms.
   */
  retentionHorizonMs: number;
  /** Groups tracked at most; readings of further groups are refused (counted in stats().refused). */
  maxGroups: number;
  /** Group-partitions tracked at most. */
  maxPartitions: number;
  /** Topic-partitions with a log-end history at most. */
  maxTopicPartitions: number;
}

export const LAG_DEFAULTS: Readonly<LagSettings> = Object.freeze({
  windowSize: 10,
  commitHistory: 10,
  logEndHistory: 20,
  allowedLag: 0,
  stopFactor: 2,
  minStopMs: 10_000,
  gapGrowthCap: 8,
  maxPollIntervalMs: 300_000,
  abandonAfterMs: 600_000,
  rewindHoldReadings: 3,
  lagSecondsCapMs: 3_600_000,
  retentionHorizonMs: 3_600_000,
  maxGroups: 100_000,
  maxPartitions: 2_000_000,
  maxTopicPartitions: 1_000_000,
});

const INTEGER_AT_LEAST: Partial<Record<keyof LagSettings, number>> = {
  windowSize: 2,
  commitHistory: 2,
  logEndHistory: 2,
  rewindHoldReadings: 1,
  maxGroups: 1,
  maxPartitions: 1,
  maxTopicPartitions: 1,
};

/** Defaults overlaid with `given`; throws RangeError on a value out of range. */
export function resolveLagSettings(given: Partial<LagSettings> = {}): Readonly<LagSettings> {
  const s: LagSettings = { ...LAG_DEFAULTS };
  for (const [k, v] of Object.entries(given) as [keyof LagSettings, number | undefined][]) {
    if (v === undefined) continue;
    if (!(k in LAG_DEFAULTS)) throw new RangeError(`lag settings: unknown setting ${k}`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`lag settings: ${k} must be a finite number >= 0 (got ${String(v)})`);
    const min = INTEGER_AT_LEAST[k];
    if (min !== undefined && (!Number.isInteger(v) || v < min)) throw new RangeError(`lag settings: ${k} must be an integer >= ${min} (got ${v})`);
    s[k] = v;
  }
  if (s.stopFactor < 1) throw new RangeError(`lag settings: stopFactor must be >= 1 (got ${s.stopFactor})`);
  if (s.gapGrowthCap < 1) throw new RangeError(`lag settings: gapGrowthCap must be >= 1 (got ${s.gapGrowthCap})`);
  return Object.freeze(s);
}
