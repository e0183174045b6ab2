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
  /** How old the next record to consume is, from the log-end history; undefined when unknown. */
  lagSeconds: number | undefined;
  /** True when lagSeconds is a bound, not an estimate (extrapolation capped, or no rate to extrapolate with). */
  lagSecondsCapped: boolean;
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
