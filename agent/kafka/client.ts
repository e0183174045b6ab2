// The small surface of a Kafka Admin client that the partition sensor needs. kafkajs implements it
// today (kafkajs-client.ts); another client (e.g. @platformatic/kafka once Node 22 is the floor)
// can replace it without touching the sensor or the lag evaluation.

export interface BrokerInfo {
  id: number;
  host: string;
  port: number;
}

export interface PartitionInfo {
  partition: number;
  /** -1 when the partition has no leader. */
  leader: number;
  replicas: number[];
  isr: number[];
  offlineReplicas: number[];
  /** The partition-level error the broker reported, if any (e.g. LEADER_NOT_AVAILABLE). */
  error?: string;
}

export interface TopicInfo {
  name: string;
  partitions: PartitionInfo[];
}

export interface ClusterMetadata {
  /** The brokers the cluster lists as alive right now. */
  brokers: BrokerInfo[];
  controller: number | undefined;
  topics: TopicInfo[];
}

export interface GroupMember {
  memberId: string;
  clientId: string;
  host: string;
  /** Topic -> partitions assigned to this member (empty while rebalancing). */
  assignment: Map<string, number[]>;
}

export interface GroupDescription {
  group: string;
  /** Stable, PreparingRebalance, CompletingRebalance, Empty, Dead, Unknown. */
  state: string;
  members: GroupMember[];
}

export interface CommittedOffset {
  topic: string;
  partition: number;
  /** undefined: the group has no committed offset for this partition. */
  offset: number | undefined;
}

export interface LogEndOffset {
  partition: number;
  /** The log end (high watermark). */
  offset: number;
  /** The log start: the earliest offset still held (retention deletes below it); undefined when not known. */
  start?: number;
}

export type { RecordRead, RecordReadOutcome, RecordTime } from './record-fetch.js';
import type { RecordRead, RecordTime } from './record-fetch.js';

/** Why a call failed, in the words --check and the agent's own signals use. */
export type KafkaFailureReason = 'unreachable' | 'auth' | 'ssl' | 'permission' | 'timeout' | 'unsupported' | 'not-found' | 'protocol' | 'internal';

export class KafkaCallError extends Error {
  constructor(readonly reason: KafkaFailureReason, message: string, readonly call: string) {
    super(message);
  }
}

export interface KafkaAdminClient {
  connect(): Promise<void>;
  /** Brokers, controller and every topic's partitions (leader, replicas, ISR). */
  metadata(): Promise<ClusterMetadata>;
  /** Consumer groups the cluster knows (throws KafkaCallError 'unsupported' where ListGroups is not served). */
  listGroups(): Promise<string[]>;
  /** Membership and assignments (throws 'unsupported' where DescribeGroups is not served). */
  describeGroups(groups: string[]): Promise<GroupDescription[]>;
  /**
   * A group's committed offsets: for every topic it has committed on, or for the topics named
   * (then partitions without a commit come back with offset undefined).
   */
  committedOffsets(group: string, topics?: string[]): Promise<CommittedOffset[]>;
  /** The log-end (high watermark) and log-start offsets of each partition of a topic. */
  logEndOffsets(topic: string): Promise<LogEndOffset[]>;
  /**
   * The broker's timestamp of the first record at or after each offset (Fetch: needs Read on the
   * topic), one outcome per read, in order. Throws KafkaCallError when the whole call fails;
   * per-partition failures (permission, a moved leader) are outcomes. Optional: a client without
   * it leaves lag in seconds to interpolation.
   */
  recordTimes?(reads: readonly RecordRead[]): Promise<RecordTime[]>;
  disconnect(): Promise<void>;
}
