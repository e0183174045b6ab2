// The Kafka source's settings (environment and config file), kafkajs error classification, and
// partition health judged from metadata: pure parts of the Admin API sensor.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { describeKafka, kafkaSettings } from '../agent/kafka/settings.js';
import { classifyKafkaError, kafkaJsConfig } from '../agent/kafka/kafkajs-client.js';
import { PartitionWatch } from '../agent/kafka/partitions.js';
import type { ClusterMetadata } from '../agent/kafka/client.js';
import { tempDir } from './support/procs.js';
import { pino } from 'pino';

// kafkajs is CommonJS and spreads its error classes into its exports: Node sees them only on the
// default export. (Its typings give KafkaJSSASLAuthenticationError no constructor arguments; it takes a message.)
const { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaJSSASLAuthenticationError } = kafkajs;

const settings = suite('kafka settings');

const throwsWith = (f: () => unknown, text: RegExp): void => {
  try {
    f();
  } catch (e) {
    assert.match((e as Error).message, text);
    return;
  }
  assert.unreachable(`expected an error matching ${text}`);
};

settings('off without bootstrap servers; on with KAFKA_BOOTSTRAP_SERVERS or KAFKA_BROKER_URL', () => {
  assert.is(kafkaSettings(undefined, {}, 10_000), undefined);
  const s = kafkaSettings(undefined, { KAFKA_BOOTSTRAP_SERVERS: 'PLAINTEXT://b1:9092, b2:9092', KAFKA_CONSUMER_GROUPS: 'billing, audit' }, 10_000)!;
  assert.equal(s.brokers, ['b1:9092', 'b2:9092']);
  assert.is(s.securityProtocol, 'PLAINTEXT');
  assert.equal(s.groups, ['billing', 'audit']);
  assert.is(s.intervalMs, 10_000);
  assert.ok(s.excludeTopics.test('__consumer_offsets'));
  assert.equal(kafkaSettings(undefined, { KAFKA_BROKER_URL: 'kafka:9092' }, 5000)!.brokers, ['kafka:9092']);
});

settings('SASL: mechanism, user and password from the environment or a file; secrets never in the description', () => {
  const dir = tempDir('kafka-settings-');
  const pw = join(dir, 'pw');
  writeFileSync(pw, 's3cret-from-file\n');
  const s = kafkaSettings(undefined, { KAFKA_BOOTSTRAP_SERVERS: 'b:9096', KAFKA_SECURITY_PROTOCOL: 'sasl_ssl', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'monitor', KAFKA_SASL_PASSWORD_FILE: pw }, 10_000)!;
  assert.equal(s.sasl, { mechanism: 'SCRAM-SHA-512', username: 'monitor', password: 's3cret-from-file' });
  assert.is(s.securityProtocol, 'SASL_SSL');
  assert.ok(s.tls, 'SASL_SSL means TLS too');
  const d = describeKafka(s);
  assert.match(d, /SCRAM-SHA-512 as monitor/);
  assert.not.match(d, /s3cret/);
  const config = kafkaJsConfig(s, pino({ level: 'silent' }));
  assert.equal(config.sasl, { mechanism: 'scram-sha-512', username: 'monitor', password: 's3cret-from-file' });
  assert.ok(config.ssl);
  const file = kafkaSettings({ bootstrapServers: ['b:9093'], sasl: { mechanism: 'PLAIN', username: 'u', passwordEnv: 'MY_PW' } }, { MY_PW: 'pw-from-env' }, 10_000)!;
  assert.is(file.securityProtocol, 'SASL_PLAINTEXT');
  assert.is(file.sasl?.mechanism === 'PLAIN' ? file.sasl.password : undefined, 'pw-from-env');
});

settings('bad settings: precise errors naming the variable and the valid values', () => {
  const base = { KAFKA_BOOTSTRAP_SERVERS: 'b:9092' };
  throwsWith(() => kafkaSettings(undefined, { ...base, KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'GSSAPI', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }, 1000), /KAFKA_SASL_MECHANISM: unknown value "GSSAPI" \(expected one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER, AWS_MSK_IAM\)/);
  throwsWith(() => kafkaSettings(undefined, { ...base, KAFKA_SECURITY_PROTOCOL: 'TLS' }, 1000), /KAFKA_SECURITY_PROTOCOL: unknown value "TLS" \(expected one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL\)/);
  throwsWith(() => kafkaSettings(undefined, { ...base, KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u' }, 1000), /needs a password \(KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE\)/);
  throwsWith(() => kafkaSettings(undefined, { ...base, KAFKA_SECURITY_PROTOCOL: 'SASL_SSL' }, 1000), /needs a SASL mechanism/);
  throwsWith(() => kafkaSettings(undefined, { ...base, KAFKA_SASL_MECHANISM: 'PLAIN' }, 1000), /security protocol is PLAINTEXT/);
  throwsWith(() => kafkaSettings(undefined, { KAFKA_BOOTSTRAP_SERVERS: 'no-port' }, 1000), /"no-port" is not host:port/);
  throwsWith(() => kafkaSettings(undefined, { ...base, KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CA_FILE: '/nonexistent/ca.pem' }, 1000), /cannot read CA certificate file \/nonexistent\/ca.pem/);
  throwsWith(() => kafkaSettings(undefined, { ...base, KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CERT_FILE: '/x.pem' }, 1000), /needs its key/);
  throwsWith(() => kafkaSettings({ bootstrapServers: 'b:9092', sasl: { mechanism: 'PLAIN', username: 'u', password: 'inline' } }, {}, 1000), /Unrecognized key.*password|password/);
  throwsWith(() => kafkaSettings({ groups: ['a'] }, {}, 1000), /no bootstrap servers/);
  throwsWith(() => kafkaSettings(undefined, { ...base, KAFKA_MAX_TRACKED_GROUPS: 'many' }, 1000), /KAFKA_MAX_TRACKED_GROUPS: "many" is not a whole number/);
});

const errors = suite('kafka error classification');

errors('unreachable, auth, permission, unsupported, TLS: each named, retries unwrapped', () => {
  const refused = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:1', { broker: '127.0.0.1:1', code: 'ECONNREFUSED' });
  const wrapped = new KafkaJSNumberOfRetriesExceeded(refused, { retryCount: 2, retryTime: 1000 });
  assert.is(classifyKafkaError(wrapped, 'metadata').reason, 'unreachable');
  assert.match(classifyKafkaError(wrapped, 'metadata').message, /^metadata: no broker answered .*ECONNREFUSED/);
  assert.is(classifyKafkaError(new (KafkaJSSASLAuthenticationError as unknown as new (m: string) => Error)('SASL PLAIN authentication failed: wrong credentials'), 'connect').reason, 'auth');
  const denied = new KafkaJSProtocolError({ message: 'Not authorized to access group', type: 'GROUP_AUTHORIZATION_FAILED', code: 30, retriable: false } as unknown as Error);
  const c = classifyKafkaError(denied, 'committed offsets of group billing');
  assert.is(c.reason, 'permission');
  assert.match(c.message, /needs Describe/);
  const unsupported = new KafkaJSProtocolError({ message: 'The version of API is not supported', type: 'UNSUPPORTED_VERSION', code: 35, retriable: false } as unknown as Error);
  assert.is(classifyKafkaError(unsupported, 'list groups').reason, 'unsupported');
  assert.is(classifyKafkaError(new KafkaJSConnectionError('Connection error: self-signed certificate in certificate chain'), 'connect').reason, 'ssl');
});

const partitions = suite('partition health from metadata');

const md = (over: Partial<ClusterMetadata> = {}): ClusterMetadata => ({
  brokers: [1, 2, 3].map((id) => ({ id, host: 'h', port: 9090 + id })),
  controller: 1,
  topics: [
    { name: 'orders', partitions: [0, 1, 2].map((p) => ({ partition: p, leader: p + 1, replicas: [p + 1, ((p + 1) % 3) + 1], isr: [p + 1, ((p + 1) % 3) + 1], offlineReplicas: [] })) },
    { name: '__consumer_offsets', partitions: [{ partition: 0, leader: 1, replicas: [1], isr: [1], offlineReplicas: [] }] },
  ],
  ...over,
});

partitions('healthy, then a broker leaves: its led partitions offline, its replicas out of sync, the broker missing', () => {
  const w = new PartitionWatch(/^__/);
  const first = w.judge(md());
  assert.is(first.partitions.length, 3, 'internal topics excluded');
  assert.ok(first.partitions.every((p) => p.state === 'ok' && p.changed));
  const again = w.judge(md());
  assert.ok(again.partitions.every((p) => !p.changed), 'no change, no change events');
  // Broker 2 gone from the metadata; the ISR still names it (the controller has not noticed yet).
  const after = w.judge(md({ brokers: [1, 3].map((id) => ({ id, host: 'h', port: 9090 + id })) }));
  const byP = new Map(after.partitions.map((p) => [p.partition, p]));
  assert.is(byP.get(1)!.state, 'offline', 'partition 1 was led by broker 2');
  assert.is(byP.get(0)!.state, 'under-replicated', 'partition 0 has a replica on broker 2');
  assert.equal(byP.get(0)!.outOfSync, [2]);
  assert.equal(byP.get(0)!.reportedIsr, [1, 2]);
  assert.is(byP.get(2)!.state, 'ok', 'partition 2 (brokers 3, 1) is untouched');
  assert.is(after.offline, 1);
  assert.is(after.underReplicated, 1);
  const b2 = after.brokers.find((b) => b.id === 2)!;
  assert.equal([b2.alive, b2.changed], [false, true]);
});

partitions('ISR smaller than replicas, no leader, and a leader move', () => {
  const w = new PartitionWatch(/^__/);
  w.judge(md());
  const moved = md();
  moved.topics[0]!.partitions[0] = { partition: 0, leader: 2, replicas: [1, 2], isr: [2], offlineReplicas: [] };
  moved.topics[0]!.partitions[2] = { partition: 2, leader: -1, replicas: [3, 1], isr: [], offlineReplicas: [] };
  const j = w.judge(moved);
  const p0 = j.partitions.find((p) => p.partition === 0)!;
  assert.equal([p0.state, p0.leaderMovedFrom, p0.outOfSync], ['under-replicated', 1, [1]]);
  assert.is(j.partitions.find((p) => p.partition === 2)!.state, 'offline');
  assert.is(j.leaderMoves, 1);
});

settings.run();
errors.run();
partitions.run();
