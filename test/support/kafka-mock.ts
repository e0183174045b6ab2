// A Kafka-protocol broker for tests: librdkafka's mock cluster (ARCHITECTURE.md §11) started by
// the small C launcher test/support/kafka-mock/mock-cluster.c, which scripts/ensure-test-deps.mjs
// compiles into dist/test/support/kafka-mock/mock-cluster. Real clients (kafkajs) talk to it over
// 127.0.0.1; tests take brokers down, slow them and inject request errors over its stdin, one
// command a line, each awaited until the launcher has applied it.
//
// What the mock (librdkafka 2.0.2) does and does not do, as measured with kafkajs 2.2.4:
// - no CreateTopics: topics are created at start (or with createTopic), led round-robin
//   (partition p by broker p mod min(brokers,3) + 1); Metadata auto-creates any other topic asked
//   for (4 partitions), even from a kafkajs client with allowAutoTopicCreation: false (kafkajs
//   speaks Metadata v2 to it, which cannot carry that flag);
// - the replication factor is ignored: replicas and ISR are always brokers 1..min(brokers,3), and
//   nothing changes the ISR;
// - a broker taken down refuses connections but stays in Metadata and keeps its leaderships;
// - no ListGroups, DescribeGroups, DeleteGroups, DeleteRecords (kafkajs: "does not support the
//   requested API version"), hence no admin.setOffsets/resetOffsets (they call DescribeGroups):
//   rewind a group with consumer.commitOffsets from a member; DescribeConfigs and CreateTopics fail
//   in kafkajs with "Broker 0 not found in the cached metadata" (the mock names controller 0, no
//   broker);
// - the first member of a group waits 3 s before its JoinGroup is answered (the broker's
//   group.initial.rebalance.delay.ms); a later member waits sessionTimeout - 1 s, so give
//   consumers a short sessionTimeout and maxWaitTimeInMs (see FAST_CONSUMER).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const MOCK_CLUSTER_BIN = fileURLToPath(new URL('./kafka-mock/mock-cluster', import.meta.url));

export interface MockTopic {
  name: string;
  partitions: number;
  /** At most `brokers`; default min(brokers, 3). librdkafka 2.0.2 ignores it (replicas are brokers 1..min(brokers,3)). */
  replication?: number;
}

/**
 * kafkajs consumer settings for tests against the mock: a second member joins after
 * sessionTimeout - 1 s instead of 29 s, and disconnect() does not wait out a 5 s empty fetch.
 */
export const FAST_CONSUMER = { sessionTimeout: 6_000, heartbeatInterval: 500, maxWaitTimeInMs: 100 } as const;

export interface MockKafkaOptions {
  /** Broker ids are 1..brokers. Default 3. */
  brokers?: number;
  topics: MockTopic[];
  /** librdkafka's mock/broker debug log on the launcher's stderr (shown with TEST_VERBOSE). */
  debug?: boolean;
}

/** Kafka protocol API keys the tests inject errors into. */
export const ApiKey = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  ApiVersions: 18,
} as const;

/** Kafka protocol error codes (and librdkafka's _TRANSPORT: the broker drops the connection). */
export const ErrorCode = {
  TRANSPORT: -195,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_FOR_PARTITION: 6,
  REQUEST_TIMED_OUT: 7,
  NOT_ENOUGH_REPLICAS: 19,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  REBALANCE_IN_PROGRESS: 27,
} as const;

export class MockKafka {
  private readonly waiters: { resolve: () => void; reject: (e: Error) => void; line: string }[] = [];
  private readonly stderr: string[] = [];
  readonly exited: Promise<unknown>;
  /** "127.0.0.1:p1,127.0.0.1:p2,...", broker 1 first. */
  bootstrap = '';
  /** "127.0.0.1:p" per broker, broker 1 first. */
  brokers: string[] = [];

  private constructor(readonly child: ChildProcess) {
    this.exited = once(child, 'exit');
  }

  static async start(o: MockKafkaOptions): Promise<MockKafka> {
    if (!existsSync(MOCK_CLUSTER_BIN)) {
      throw new Error(`the mock Kafka launcher ${MOCK_CLUSTER_BIN} is not built: run \`node scripts/ensure-test-deps.mjs\` (it installs librdkafka-dev if needed and compiles it)`);
    }
    const args = ['--brokers', String(o.brokers ?? 3)];
    for (const t of o.topics) args.push('--topic', `${t.name}:${t.partitions}${t.replication ? `:${t.replication}` : ''}`);
    if (o.debug) args.push('--debug');
    const child = spawn(MOCK_CLUSTER_BIN, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const mock = new MockKafka(child);
    child.stderr!.on('data', (d: Buffer) => {
      mock.stderr.push(d.toString());
      if (mock.stderr.length > 200) mock.stderr.shift();
      if (process.env.TEST_VERBOSE) process.stderr.write(`[kafka-mock] ${d}`);
    });
    child.stdin!.on('error', () => {}); // EPIPE after an early exit: reported by 'exit' below
    const ready = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`mock Kafka not ready in 10 s: ${mock.stderr.join('')}`)), 10_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        let msg: { event?: string; bootstrap?: string; ok?: boolean; error?: string };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          return;
        }
        if (msg.event === 'ready' && msg.bootstrap) {
          mock.bootstrap = msg.bootstrap;
          mock.brokers = msg.bootstrap.split(',');
          clearTimeout(t);
          resolve();
          return;
        }
        if (typeof msg.ok === 'boolean') {
          const w = mock.waiters.shift(); // answers come in command order
          if (msg.ok) w?.resolve();
          else w?.reject(new Error(`mock Kafka: ${w?.line}: ${msg.error}`));
        }
      });
      child.once('error', (e) => {
        clearTimeout(t);
        reject(new Error(`mock Kafka launcher could not start: ${e.message}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(t);
        const why = new Error(`mock Kafka exited (${code ?? signal}): ${mock.stderr.join('')}`);
        reject(why);
        for (const w of mock.waiters.splice(0)) w.reject(why);
      });
    });
    await ready;
    return mock;
  }

  /** Sends one launcher command (see mock-cluster.c) and resolves once it is applied. */
  command(line: string): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.reject(new Error(`mock Kafka has exited; cannot run: ${line}`));
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject, line });
      this.child.stdin!.write(`${line}\n`);
    });
  }

  /** Disconnects the broker's clients and refuses new connections. Its partitions keep it as leader. */
  brokerDown(id: number): Promise<void> {
    return this.command(`down ${id}`);
  }

  brokerUp(id: number): Promise<void> {
    return this.command(`up ${id}`);
  }

  /** Delays every response of broker `id` (-1: all brokers) by `ms`. */
  setRtt(id: number, ms: number): Promise<void> {
    return this.command(`rtt ${id} ${ms}`);
  }

  /** The next `count` requests of `apiKey` (to any broker) fail with `code`. */
  pushErrors(apiKey: number, code: number, count: number): Promise<void> {
    return this.command(`error ${apiKey} ${code} ${count}`);
  }

  /** The next `count` requests of `apiKey` to broker `id` fail with `code` (0: succeed), each answered after `rttMs`. */
  pushBrokerErrors(id: number, apiKey: number, code: number, count: number, rttMs = 0): Promise<void> {
    return this.command(`broker-error ${id} ${apiKey} ${code} ${count} ${rttMs}`);
  }

  clearErrors(apiKey: number): Promise<void> {
    return this.command(`clear ${apiKey}`);
  }

  /** Moves the partition's leader to broker `id` (-1: no leader). Creates the topic if it does not exist. */
  setLeader(topic: string, partition: number, id: number): Promise<void> {
    return this.command(`leader ${topic} ${partition} ${id}`);
  }

  setRack(id: number, rack: string): Promise<void> {
    return this.command(`rack ${id} ${rack}`);
  }

  /** The group's coordinator becomes broker `id` (otherwise chosen by hashing the group id). */
  setGroupCoordinator(group: string, id: number): Promise<void> {
    return this.command(`coordinator group ${group} ${id}`);
  }

  /** The error Metadata returns for the topic (0 clears it). */
  setTopicError(topic: string, code: number): Promise<void> {
    return this.command(`topic-error ${topic} ${code}`);
  }

  createTopic(t: MockTopic): Promise<void> {
    return this.command(`create ${t.name} ${t.partitions} ${t.replication ?? Math.min(this.brokers.length, 3)}`);
  }

  /** Stops the cluster (closing stdin is enough: the launcher exits on EOF); SIGKILL after 5 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.stdin!.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(t);
  }
}

export function startMockKafka(o: MockKafkaOptions): Promise<MockKafka> {
  return MockKafka.start(o);
}
