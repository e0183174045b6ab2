// The Kafka stand-in itself: real kafkajs against librdkafka's mock cluster (test/support/kafka-mock.ts).
// Metadata, produce, a consumer group that commits, committed and log-end offsets; then the
// launcher's controls as kafkajs sees them (slow broker, broker down, leader moved, request errors).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import kafkajs, { type Admin, type Consumer, type Producer } from 'kafkajs';
import { ApiKey, ErrorCode, FAST_CONSUMER, startMockKafka, type MockKafka } from './support/kafka-mock.js';

const { Kafka, logLevel } = kafkajs;

const test = suite('kafka-mock: kafkajs against librdkafka mock cluster');

let mock: MockKafka | undefined;
const clients: { disconnect(): Promise<void> }[] = [];

test.after.each(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.disconnect()));
  await mock?.stop();
  mock = undefined;
});

function kafkaFor(m: MockKafka, clientId: string): InstanceType<typeof Kafka> {
  return new Kafka({ clientId, brokers: m.bootstrap.split(','), logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100 } });
}

async function rejects(f: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await f();
  } catch (e) {
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a rejection matching ${pattern}`);
}

async function connected<T extends Admin | Producer | Consumer>(c: T): Promise<T> {
  clients.push(c);
  await c.connect();
  return c;
}

test('metadata, produce, consume in a group, commit, committed and log-end offsets', async () => {
  mock = await startMockKafka({ brokers: 3, topics: [{ name: 'orders', partitions: 3 }] });
  assert.is(mock.brokers.length, 3);
  assert.ok(/^127\.0\.0\.1:\d+(,127\.0\.0\.1:\d+){2}$/.test(mock.bootstrap), mock.bootstrap);
  const kafka = kafkaFor(mock, 'smoke');
  const admin = await connected(kafka.admin());

  const cluster = await admin.describeCluster();
  assert.equal(cluster.brokers.map((b) => b.nodeId).sort(), [1, 2, 3]);
  const md = await admin.fetchTopicMetadata({ topics: ['orders'] });
  const parts = md.topics[0]!.partitions.sort((a, b) => a.partitionId - b.partitionId);
  assert.equal(parts.map((p) => p.leader), [1, 2, 3], 'leaders round-robin');
  for (const p of parts) {
    assert.equal(p.replicas, [1, 2, 3]);
    assert.equal(p.isr, [1, 2, 3]);
  }

  const producer = await connected(kafka.producer());
  await producer.send({ topic: 'orders', messages: Array.from({ length: 12 }, (_, i) => ({ partition: i % 3, key: `k${i}`, value: `v${i}` })) });
  const ends = await admin.fetchTopicOffsets('orders');
  assert.equal(ends.map((o) => [o.partition, o.high]).sort(), [[0, '4'], [1, '4'], [2, '4']]);

  const consumer = await connected(kafka.consumer({ groupId: 'smoke-group', ...FAST_CONSUMER }));
  await consumer.subscribe({ topics: ['orders'], fromBeginning: true });
  const joined = new Promise<{ memberAssignment: Record<string, number[]> }>((resolve) => consumer.on(consumer.events.GROUP_JOIN, (e) => resolve(e.payload)));
  const committed = new Map<number, string>();
  let allCommitted!: () => void;
  const done = new Promise<void>((resolve) => (allCommitted = resolve));
  consumer.on(consumer.events.COMMIT_OFFSETS, (e) => {
    for (const t of e.payload.topics) for (const p of t.partitions) committed.set(Number(p.partition), p.offset);
    if ([0, 1, 2].every((p) => committed.get(p) === '4')) allCommitted();
  });
  const values: string[] = [];
  await consumer.run({ eachMessage: async ({ message }) => void values.push(String(message.value)) });
  assert.equal((await joined).memberAssignment, { orders: [0, 1, 2] });
  await done;
  assert.is(values.length, 12);
  assert.equal(values.sort(), Array.from({ length: 12 }, (_, i) => `v${i}`).sort());

  const offsets = await admin.fetchOffsets({ groupId: 'smoke-group', topics: ['orders'] });
  assert.equal(offsets[0]!.partitions.map((p) => [p.partition, p.offset]).sort(), [[0, '4'], [1, '4'], [2, '4']]);

  // A member can rewind its group (admin.setOffsets cannot: the mock has no DescribeGroups).
  await consumer.commitOffsets([{ topic: 'orders', partition: 0, offset: '1' }]);
  const rewound = await admin.fetchOffsets({ groupId: 'smoke-group', topics: ['orders'] });
  assert.is(rewound[0]!.partitions.find((p) => p.partition === 0)!.offset, '1');
});

test('controls: rtt shows in request durations, broker down refuses, leader moves, errors are injected', async () => {
  mock = await startMockKafka({ topics: [{ name: 'pay', partitions: 2 }] });
  const kafka = kafkaFor(mock, 'controls');
  const admin = await connected(kafka.admin());
  const producer = await connected(kafka.producer());
  const produced: { broker: string; duration: number }[] = [];
  producer.on(producer.events.REQUEST, (e) => {
    if (e.payload.apiName === 'Produce') produced.push({ broker: e.payload.broker, duration: e.payload.duration });
  });
  const send = (partition: number) => producer.send({ topic: 'pay', messages: [{ partition, value: 'x' }] });
  await send(1);

  await mock.setRtt(2, 150); // partition 1 is led by broker 2
  await send(1);
  const slow = produced.at(-1)!;
  assert.is(slow.broker, mock.brokers[1]);
  assert.ok(slow.duration >= 140, `produce duration ${slow.duration} ms reflects the 150 ms rtt`);
  await mock.setRtt(2, 0);

  await mock.setLeader('pay', 1, 3);
  const moved = await admin.fetchTopicMetadata({ topics: ['pay'] });
  assert.is(moved.topics[0]!.partitions.find((p) => p.partitionId === 1)!.leader, 3);

  // The next ListOffsets fails; kafkajs's admin.fetchTopicOffsets does not retry it.
  await mock.pushErrors(ApiKey.ListOffsets, ErrorCode.NOT_LEADER_FOR_PARTITION, 1);
  await rejects(() => admin.fetchTopicOffsets('pay'), /not the leader/);
  const ends = await admin.fetchTopicOffsets('pay');
  assert.is(ends.find((o) => o.partition === 1)!.high, '2');

  await mock.brokerDown(3);
  const probe = new Kafka({ clientId: 'probe', brokers: [mock.brokers[2]!], logLevel: logLevel.NOTHING, connectionTimeout: 1000, retry: { retries: 0 } }).admin();
  clients.push(probe);
  await rejects(() => probe.connect(), /ECONNREFUSED/);
  const still = await admin.describeCluster();
  assert.equal(still.brokers.map((b) => b.nodeId).sort(), [1, 2, 3], 'a down broker stays in metadata');
  await mock.brokerUp(3);
  await probe.connect();

  await rejects(() => mock!.command('bogus'), /unknown command 'bogus'/);
  await rejects(() => mock!.brokerDown(9), /BROKER_NOT_AVAILABLE/);
});

test.run();
