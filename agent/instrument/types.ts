// The parts of kafkajs the instrumentation touches, as structural types: kafkajs 2.x's own
// Kafka, Producer, Consumer and Admin satisfy them (test/unit-instrument.test.ts checks it at
// compile time), and a test or a benchmark can hand in a lookalike. The service brings its own
// kafkajs; nothing here loads it.

/** What kafkajs hands an instrumentation listener (its InstrumentationEvent). */
export interface KafkajsEvent {
  type: string;
  /** Unix milliseconds when kafkajs emitted it. */
  timestamp: number;
  payload: unknown;
}

export type KafkajsListener = (event: KafkajsEvent) => void;

/** Events every kafkajs client has (producer.events, consumer.events, admin.events). */
export interface ClientEvents {
  readonly CONNECT: string;
  readonly DISCONNECT: string;
  readonly REQUEST: string;
  readonly REQUEST_TIMEOUT: string;
  readonly REQUEST_QUEUE_SIZE: string;
}

export interface ConsumerEvents extends ClientEvents {
  readonly HEARTBEAT: string;
  readonly COMMIT_OFFSETS: string;
  readonly GROUP_JOIN: string;
  readonly START_BATCH_PROCESS: string;
  readonly END_BATCH_PROCESS: string;
  readonly STOP: string;
  readonly CRASH: string;
  readonly REBALANCING: string;
}

/** A kafkajs client: it has instrumentation events. */
export interface ClientLike {
  readonly events: ClientEvents;
  /** Returns the function that removes the listener. */
  on(eventName: string, listener: KafkajsListener): () => void;
}

/** producer.send's argument (kafkajs ProducerRecord), as far as it is read. */
export interface RecordLike {
  topic: string;
  messages: readonly unknown[];
}

/** producer.sendBatch's argument (kafkajs ProducerBatch), as far as it is read. */
export interface BatchLike {
  topicMessages?: readonly { topic: string; messages: readonly unknown[] }[];
}

export interface ProducerLike extends ClientLike {
  send(record: RecordLike): Promise<unknown>;
  sendBatch?(batch: BatchLike): Promise<unknown>;
}

export interface ConsumerLike extends ClientLike {
  readonly events: ConsumerEvents;
}

export type AdminLike = ClientLike;

/** The Kafka instance: its client factories. */
export interface KafkaLike {
  producer(config?: never): ProducerLike;
  consumer(config: never): ConsumerLike;
  admin(config?: never): AdminLike;
}

// Payloads of the events read (kafkajs types/index.d.ts). Every field is checked before use.

export interface RequestPayload {
  broker: string;
  clientId: string;
  apiName: string;
  duration: number;
  pendingDuration: number;
}

export interface RequestTimeoutPayload {
  broker: string;
  clientId: string;
  apiName: string;
}

export interface RequestQueueSizePayload {
  broker: string;
  clientId: string;
  queueSize: number;
}

export interface GroupJoinPayload {
  duration: number;
  groupId: string;
  isLeader: boolean;
  memberId: string;
  memberAssignment: Record<string, number[]>;
}

export interface BatchProcessPayload {
  topic: string;
  partition: number;
  offsetLag: string;
  batchSize: number;
  duration?: number;
}

export interface CrashPayload {
  error: unknown;
  groupId: string;
  restart: boolean;
}
