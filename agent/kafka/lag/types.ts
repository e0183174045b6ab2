// Public types of the consumer-lag evaluator (see evaluator.ts for how they are produced).

/**
 * A partition's status, Burrow's names and one of ours (evaluator.ts states the rules):
 * - OK        consuming fine, caught up, or idle at the log end;
 * - WARN      consuming, but slower than producers; or silent for longer than usual while records
 *             keep arriving, and not (yet) known to be dead;
 * - STALL     alive (a member owns it, or it keeps committing) but no progress while lag exists;
 * - STOP      nobody consumes while records keep arriving: no member owns it, or (membership
 *             unknown) silent for longer than Kafka lets a live member go without polling;
 * - REWIND    the committed offset went backwards (a reset, or a late commit from a former owner);
 * - ABANDONED nobody consumes it and nothing new arrives: lag held, constant. Inventory, not an
 *             incident (not unhealthy);
 * - UNKNOWN   no committed offset or no log-end offset yet (lag undefined, never NaN), no fresh
 *             committed-offset reading to judge by, or too few readings to tell STOP from ABANDONED.
 */
export type PartitionStatus = 'OK' | 'WARN' | 'STALL' | 'STOP' | 'REWIND' | 'ABANDONED' | 'UNKNOWN';

/** How a lag in seconds was found: the broker's record timestamp, or the log-end history. */
export type LagSecondsFrom = 'record-timestamp' | 'interpolated';

/** Whether a partition's unconsumed records are safe from retention (see PartitionVerdict.retention). */
export type RetentionState = 'ok' | 'at-risk' | 'lost';

/**
 * A group's status: its worst partition, capped at ERR (Burrow); NOTFOUND when nothing is known;
 * ABANDONED when its worst partition is ABANDONED and no member is known to be in the group (its
 * membership says none, or is unknown): inventory, not an incident.
 */
export type GroupStatus = 'OK' | 'WARN' | 'ERR' | 'ABANDONED' | 'NOTFOUND';

/** News about a group, reported by one evaluate() only. */
export type GroupEvent = 'members-left';

/** Group states as DescribeGroups reports them (kafkajs `describeGroups().groups[].state`). */
export type GroupState = 'Stable' | 'PreparingRebalance' | 'CompletingRebalance' | 'Empty' | 'Dead' | 'Unknown';

/** Membership of a group, when the broker answers DescribeGroups. */
export interface GroupMembers {
  state: GroupState;
  /** Number of members. */
  members: number;
  /**
   * Partitions assigned to the members (all members together), when the assignments could be
   * decoded (consumer protocol); undefined when not known. With a Stable group and members,
   * undefined means "assume every partition is owned".
   */
  assigned?: ReadonlyArray<{ readonly topic: string; readonly partitions: readonly number[] }>;
}

/** The verdict on one partition of a group. Numbers are records, records/s, seconds, ms. */
export interface PartitionVerdict {
  topic: string;
  partition: number;
  status: PartitionStatus;
  /** Log end minus committed offset, clamped at 0; undefined when either is unknown. */
  lag: number | undefined;
  /**
   * How old the next record to consume is, seconds: from the broker's timestamp of the record at
   * the committed offset when the sensor read it (lagSecondsFrom 'record-timestamp'), else
   * interpolated in the log-end history ('interpolated'); 0 when caught up; undefined when unknown.
   */
  lagSeconds: number | undefined;
  /** How lagSeconds was found; undefined when the lag is 0 or unknown. */
  lagSecondsFrom: LagSecondsFrom | undefined;
  /** The log-end interpolation, given beside a record-timestamp lagSeconds (for comparison); else undefined. */
  lagSecondsInterpolated: number | undefined;
  /** True when lagSeconds is a bound, not an estimate (extrapolation capped, or no rate to extrapolate with). */
  lagSecondsCapped: boolean;
  /** Seconds until the lag is consumed at the window's rates (lag / (consume - produce)); undefined unless the lag shrinks. */
  catchUpSeconds: number | undefined;
  /** The partition's log start (earliest offset held) as last read; undefined when not known. */
  logStart: number | undefined;
  /** committed - logStart: unconsumed records between the committed offset and deletion (negative: already deleted). */
  retentionHeadroom: number | undefined;
  /** At the rate the log start overtakes the committed offset, seconds until unconsumed records are deleted; undefined when it does not. */
  retentionSecondsLeft: number | undefined;
  /** Records/s the log start advances (retention at work); undefined until it has been seen to move. */
  logStartRate: number | undefined;
  /**
   * 'lost': the committed offset is below the log start (records were deleted unconsumed);
   * 'at-risk': they will be within retentionHorizonMs (flag held until 1.5 x that); 'ok'; undefined
   * without a committed offset or a log start.
   */
  retention: RetentionState | undefined;
  /** One sentence when retention is 'at-risk' or 'lost'. */
  retentionReason: string | undefined;
  /** The latest committed offset read; undefined when the group has none for this partition. */
  committed: number | undefined;
  /** The latest log-end offset read for the topic-partition; undefined before the first. */
  logEnd: number | undefined;
  /** Records/s the group committed over the window; undefined with fewer than 2 readings. */
  consumeRate: number | undefined;
  /** Records/s written to the partition over the window; undefined with fewer than 2 readings. */
  produceRate: number | undefined;
  /** Share of the window filled with readings, 0..1. */
  complete: number;
  /** When the committed offset last advanced (the reading that saw it), ms; undefined if not seen. */
  lastCommitMs: number | undefined;
  /** One human sentence for every status but OK. */
  reason: string | undefined;
}

/** Lag of a group on one topic. */
export interface TopicLag {
  topic: string;
  /** Sum of the known partition lags. */
  lag: number;
  partitions: number;
  /** Partitions whose lag is unknown (not in `lag`). */
  unknown: number;
  /** The largest partition lagSeconds; undefined when none is known. */
  maxLagSeconds: number | undefined;
  /** How that largest lagSeconds was found. */
  maxLagSecondsFrom: LagSecondsFrom | undefined;
  /** The longest partition catch-up; undefined when a lagging partition is not catching up (or none lags). */
  catchUpSeconds: number | undefined;
  /** The partition of the topic closest to losing unconsumed records to retention (see GroupVerdict.retention). */
  retention: PartitionVerdict | undefined;
}

/** The verdict on one group at one moment. */
export interface GroupVerdict {
  group: string;
  atMs: number;
  status: GroupStatus;
  /** The worst partition status before capping (STOP, STALL, REWIND show here); undefined without partitions. */
  worst: PartitionStatus | undefined;
  /** Mean window fill over the partitions, 0..1 (1 only when every window is full). */
  complete: number;
  /** Sum of the known partition lags. */
  totalLag: number;
  /** Partitions whose lag is unknown (not in totalLag). */
  unknownPartitions: number;
  /** The partition with the largest lag (the first of equals); undefined when no lag is known. */
  maxLag: PartitionVerdict | undefined;
  /** The largest partition lagSeconds; undefined when none is known. */
  maxLagSeconds: number | undefined;
  /** How that largest lagSeconds was found. */
  maxLagSecondsFrom: LagSecondsFrom | undefined;
  /** The longest partition catch-up; undefined when a lagging partition is not catching up (or none lags). */
  catchUpSeconds: number | undefined;
  /**
   * The partition closest to losing unconsumed records to retention: 'lost' first (most records
   * deleted), then the fewest seconds left, then the least headroom; partitions that are not
   * ABANDONED before those that are. Undefined when no partition has a log start known.
   */
  retention: PartitionVerdict | undefined;
  /** Lag per topic, in the order the topics were first seen. */
  topics: TopicLag[];
  /** Every partition, in the order first seen. */
  partitions: PartitionVerdict[];
  /** Membership as last given to members(); undefined when unknown. */
  members: GroupMembers | undefined;
  /**
   * 'members-left': membership went from some members to none since the last evaluate() (said
   * once; not an alarm by itself: STOP or ABANDONED follow from whether records keep arriving).
   */
  event: GroupEvent | undefined;
  /** A short summary when the status is not OK ("2 of 10 partitions STOP; orders-3: no commit for ..."). */
  reason: string | undefined;
}

/** Counters for the sensor's own metrics. */
export interface LagEvaluatorStats {
  groups: number;
  /** Group-partitions tracked. */
  partitions: number;
  /** Topic-partitions with a log-end history. */
  topicPartitions: number;
  /** Readings refused because a limit (maxGroups, maxPartitions, maxTopicPartitions) was reached. */
  refused: number;
  /** Bytes held in the typed arrays (histories and windows). */
  bytes: number;
}
