// What a user sees when the Kafka source is misconfigured or the cluster refuses it: an unknown
// SASL mechanism (exit 2, the valid ones named), an unreachable bootstrap and a wrong password (the
// agent keeps running, says DOWN with the reason in its own signals, retries with growing gaps,
// never logs the password), missing permissions (DEGRADED, the permission named), and
// `--check` against a real Kafka-protocol server.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EventKind, Status_Condition, type Event } from '../proto/index.js';
import { agentCheck, closedPort, agent, aggregator, run, until, type AgentProc, type AggregatorProc } from './support/procs.js';
import { aggregatorClient, Collector } from './support/client.js';
import { startSaslRefuser, type SaslRefuser } from './support/kafka-sasl-refuser.js';
import { ApiKey, startMockKafka, type MockKafka } from './support/kafka-mock.js';

const test = suite('Kafka source: bad settings, refusals, --check');
let agg: AggregatorProc;
let sub: Collector;
let refuser: SaslRefuser;
let mock: MockKafka;
const agents: AgentProc[] = [];

const PASSWORD = 'w0ng-Pa55word-xyz';
const GROUP_AUTHORIZATION_FAILED = 30;

const check = agentCheck;

/** The agent's signals about its Kafka source. */
const selfSigns = (pod: string): Event[] => sub.events.filter((e) => e.signal?.subject.startsWith(`service/lag/pod/${pod}/agent#source/kafka:`));
const lastSelf = (pod: string): Event | undefined => selfSigns(pod).at(-1);

test.before(async () => {
  [agg, refuser, mock] = await Promise.all([aggregator(), startSaslRefuser(), startMockKafka({ brokers: 2, topics: [{ name: 'orders', partitions: 2 }] })]);
  sub = new Collector(aggregatorClient(agg.url).client, { kinds: [EventKind.SIGNAL], fromOffset: 0n });
});

test.after(async () => {
  await sub?.close();
  await Promise.all(agents.map((a) => a.kill()));
  await Promise.all([agg?.kill(), refuser?.stop(), mock?.stop()]);
});

test('an unknown SASL mechanism: exit 2 naming the variable and the valid values', async () => {
  const p = run(['agent'], 'bad-mechanism', { KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:9092', KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'GSSAPI', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: PASSWORD });
  assert.is(await p.exited, 2);
  const said = p.lines.map((l) => l.msg).join('\n');
  assert.match(said, /KAFKA_SASL_MECHANISM: unknown value "GSSAPI" \(expected one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER, AWS_MSK_IAM\)/);
  assert.not.match(said, new RegExp(PASSWORD));
});

test('an unreachable bootstrap: DOWN (unreachable) in the agent\'s own signals, still running, and --check says why', async () => {
  const port = await closedPort();
  const a = await agent('down-1', agg.url, [], { KAFKA_BOOTSTRAP_SERVERS: `127.0.0.1:${port}`, KAFKA_POLL_INTERVAL_MS: '300', SERVICE_NAME: 'lag' });
  agents.push(a);
  await sub.until(() => lastSelf('down-1')?.signal?.status?.condition === Status_Condition.DOWN, 'source DOWN');
  const s = lastSelf('down-1')!.signal!;
  assert.is(s.context.reason, 'unreachable');
  assert.match(s.context.message!, /no broker answered .*ECONNREFUSED/);
  // Three failures in a row: CONFIRMED, and the agent is still alive.
  await sub.until(() => selfSigns('down-1').some((e) => e.signal!.context.reason === 'unreachable' && e.signal!.status!.confidence === 3), 'DOWN confirmed');
  assert.is(a.child.exitCode, null, 'the agent keeps running');
  const r = await check({ KAFKA_BOOTSTRAP_SERVERS: `127.0.0.1:${port}` });
  assert.is(r.code, 1);
  assert.match(r.out, new RegExp(`FAIL kafka 127\\.0\\.0\\.1:${port} \\(PLAINTEXT\\)`));
  assert.match(r.out, /error: metadata: no broker answered \(check KAFKA_BOOTSTRAP_SERVERS/);
});

test('a wrong password: DOWN (auth), retried with growing gaps, the password never logged', async () => {
  const env = { KAFKA_BOOTSTRAP_SERVERS: refuser.bootstrap, KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256', KAFKA_SASL_USERNAME: 'monitor', KAFKA_SASL_PASSWORD: PASSWORD, KAFKA_POLL_INTERVAL_MS: '200', SERVICE_NAME: 'lag', LOG_LEVEL: 'debug' };
  const a = await agent('auth-1', agg.url, [], env);
  agents.push(a);
  await sub.until(() => lastSelf('auth-1')?.signal?.context.reason === 'auth', 'source DOWN for auth');
  assert.match(lastSelf('auth-1')!.signal!.context.message!, /authentication failed \(check KAFKA_SASL_MECHANISM, user name and password\).*invalid credentials/);
  assert.ok(refuser.mechanisms.includes('SCRAM-SHA-256'), 'the client really tried SCRAM-SHA-256');
  // Rounds back off: the gaps between rounds of attempts grow past the 200 ms interval.
  const rounds = (): number[] => refuser.attempts.filter((t, i, xs) => i === 0 || t - xs[i - 1]! > 150);
  const firstAt = refuser.attempts[0]!;
  await until(async () => rounds().length >= 5, 'five rounds of attempts', 30_000);
  const r = rounds();
  const gaps = r.slice(1).map((t, i) => t - r[i]!);
  assert.ok(Math.max(...gaps.slice(-2)) > 350, `later gaps back off (gaps ${gaps.join(', ')} ms since ${firstAt})`);
  assert.is(a.child.exitCode, null, 'the agent keeps running');
  const logs = a.lines.map((l) => JSON.stringify(l)).join('\n');
  assert.not.match(logs, new RegExp(PASSWORD), 'the password is not in the logs');
  assert.not.match(JSON.stringify(selfSigns('auth-1').map((e) => e.signal!.context)), new RegExp(PASSWORD));
  const c = await check(env);
  assert.is(c.code, 1);
  assert.match(c.out, /SCRAM-SHA-256 as monitor/);
  assert.match(c.out, /error: metadata: authentication failed/);
  assert.not.match(c.out, new RegExp(PASSWORD));
});

test('missing permission on a group: DEGRADED naming the permission; then it recovers', async () => {
  const a = await agent('perm-1', agg.url, [], { KAFKA_BOOTSTRAP_SERVERS: mock.bootstrap, KAFKA_CONSUMER_GROUPS: 'billing', KAFKA_POLL_INTERVAL_MS: '300', SERVICE_NAME: 'lag' });
  agents.push(a);
  await sub.until(() => selfSigns('perm-1').length > 0, 'a first self signal');
  // The next OffsetFetch requests are refused as a broker with ACLs refuses them.
  await mock.pushErrors(ApiKey.OffsetFetch, GROUP_AUTHORIZATION_FAILED, 6);
  await sub.until(() => selfSigns('perm-1').some((e) => e.signal!.status!.condition === Status_Condition.DEGRADED && /needs Describe/.test(e.signal!.context.message ?? '')), 'DEGRADED for a missing permission');
  const degraded = selfSigns('perm-1').find((e) => e.signal!.status!.condition === Status_Condition.DEGRADED)!.signal!;
  assert.match(degraded.context.message!, /committed offsets of group billing: not allowed \(GROUP_AUTHORIZATION_FAILED\)/);
  await sub.until(() => lastSelf('perm-1')?.signal?.status?.condition === Status_Condition.STABLE && selfSigns('perm-1').indexOf(lastSelf('perm-1')!) > selfSigns('perm-1').findIndex((e) => e.signal!.status!.condition === Status_Condition.DEGRADED), 'recovered once the errors are spent');
  assert.is(a.child.exitCode, null);
  await mock.clearErrors(ApiKey.OffsetFetch);
});

test('--check against a Kafka-protocol server: brokers, topics, what the cluster does not serve, the configured group', async () => {
  const r = await check({ KAFKA_BOOTSTRAP_SERVERS: mock.bootstrap, KAFKA_CONSUMER_GROUPS: 'nobody-home' });
  assert.match(r.out, /brokers listed: 2 \(1 at 127\.0\.0\.1:\d+, 2 at 127\.0\.0\.1:\d+\), controller \d/);
  assert.match(r.out, /topics: 1, partitions: 2 \(0 under-replicated, 0 offline\)/);
  assert.match(r.out, /listing groups: not served by this cluster/);
  assert.match(r.out, /group nobody-home: no committed offsets \(not yet consuming, or the name is wrong\)/);
  assert.is(r.code, 1, 'a configured group with nothing committed is worth a non-zero exit');
});

test.run();
