// kafkajs-shaped clients for unit tests of the instrumentation: the same event names as kafkajs
// 2.2.4 (producer.events.REQUEST === 'producer.network.request', ...), an emitter that wraps the
// payload as kafkajs' InstrumentationEvent does, and a send whose outcome the test decides.
import { EventEmitter } from 'node:events';
import type { KafkajsEvent, KafkajsListener } from '../../agent/instrument/types.js';

const network = (role: string) => ({
  CONNECT: `${role}.connect`,
  DISCONNECT: `${role}.disconnect`,
  REQUEST: `${role}.network.request`,
  REQUEST_TIMEOUT: `${role}.network.request_timeout`,
  REQUEST_QUEUE_SIZE: `${role}.network.request_queue_size`,
});

export class FakeClient<E extends Record<string, string>> {
  private readonly emitter = new EventEmitter();
  private nextId = 0;
  constructor(readonly events: E) {}

  on(eventName: string, listener: KafkajsListener): () => void {
    if (!Object.values(this.events).includes(eventName)) throw new Error(`Event name should be one of ${Object.keys(this.events).join(', ')}`);
    this.emitter.on(eventName, listener);
    return () => this.emitter.off(eventName, listener);
  }

  emit(eventName: keyof E & string, payload: unknown, timestamp = Date.now()): void {
    const e: KafkajsEvent & { id: number } = { id: this.nextId++, type: this.events[eventName]!, timestamp, payload };
    this.emitter.emit(this.events[eventName]!, e);
  }

  listeners(): number {
    return Object.values(this.events).reduce((n, name) => n + this.emitter.listenerCount(name), 0);
  }
}

export type Outcome = { ok: true; value?: unknown } | { ok: false; error: unknown };

export class FakeProducer extends FakeClient<ReturnType<typeof network>> {
  /** What the next sends do (default: resolve with []). */
  outcome: Outcome = { ok: true, value: [] };
  sent = 0;
  constructor() {
    super(network('producer'));
  }

  send(record: { topic: string; messages: readonly unknown[] }): Promise<unknown> {
    this.sent += record.messages.length;
    const o = this.outcome;
    return o.ok ? Promise.resolve(o.value ?? []) : Promise.reject(o.error);
  }

  sendBatch(batch: { topicMessages?: readonly { topic: string; messages: readonly unknown[] }[] }): Promise<unknown> {
    for (const t of batch.topicMessages ?? []) this.sent += t.messages.length;
    const o = this.outcome;
    return o.ok ? Promise.resolve(o.value ?? []) : Promise.reject(o.error);
  }

  /** A completed request as kafkajs' SocketRequest reports it. */
  request(broker: string, duration: number, apiName = 'Produce', clientId = 'orders-app'): void {
    this.emit('REQUEST', { broker, clientId, correlationId: 1, size: 100, createdAt: Date.now(), sentAt: Date.now(), pendingDuration: 0, duration, apiName, apiKey: 0, apiVersion: 7 });
  }
}

export class FakeConsumer extends FakeClient<ReturnType<typeof network> & {
  HEARTBEAT: string; COMMIT_OFFSETS: string; GROUP_JOIN: string; FETCH_START: string; FETCH: string; START_BATCH_PROCESS: string;
  END_BATCH_PROCESS: string; STOP: string; CRASH: string; REBALANCING: string; RECEIVED_UNSUBSCRIBED_TOPICS: string;
}> {
  constructor() {
    super({
      ...network('consumer'),
      HEARTBEAT: 'consumer.heartbeat',
      COMMIT_OFFSETS: 'consumer.commit_offsets',
      GROUP_JOIN: 'consumer.group_join',
      FETCH_START: 'consumer.fetch_start',
      FETCH: 'consumer.fetch',
      START_BATCH_PROCESS: 'consumer.start_batch_process',
      END_BATCH_PROCESS: 'consumer.end_batch_process',
      STOP: 'consumer.stop',
      CRASH: 'consumer.crash',
      REBALANCING: 'consumer.rebalancing',
      RECEIVED_UNSUBSCRIBED_TOPICS: 'consumer.received_unsubscribed_topics',
    });
  }

  join(groupId: string, memberId: string, assignment: Record<string, number[]>, duration = 50, at = Date.now()): void {
    this.emit('GROUP_JOIN', { duration, groupId, isLeader: true, leaderId: memberId, groupProtocol: 'RoundRobinAssigner', memberId, memberAssignment: assignment }, at);
  }

  batch(topic: string, partition: number, offsetLag: number, at = Date.now()): void {
    const p = { topic, partition, highWatermark: String(offsetLag + 100), offsetLag: String(offsetLag), offsetLagLow: String(offsetLag + 10), batchSize: 10, firstOffset: '90', lastOffset: '99' };
    this.emit('START_BATCH_PROCESS', p, at);
    this.emit('END_BATCH_PROCESS', { ...p, duration: 3 }, at);
  }
}

export class FakeAdmin extends FakeClient<ReturnType<typeof network>> {
  constructor() {
    super(network('admin'));
  }
}
