// Managed-Kafka logins end to end: the real agent (kafkajs inside) logs in to a Kafka-protocol
// stand-in (test/support/kafka-sasl-refuser.ts) that parses SaslHandshake and SaslAuthenticate,
// records the mechanism and the auth bytes, and accepts or refuses them as a broker does; once
// accepted it serves Metadata, so the agent's Kafka source goes on and reports STABLE.
// - OAUTHBEARER with a token file: the GS2 message `n,,\x01auth=Bearer <token>\x01\x01` on the wire;
//   a rotated file is used at the next login;
// - OAUTHBEARER with a token command and SASL extensions: run once for several logins;
// - AWS_MSK_IAM with fake credentials from the environment: the signed JSON payload (version,
//   host, user-agent, action kafka-cluster:Connect, x-amz-*), whose SigV4 signature the test
//   recomputes; the AWS SDK is loaded only by an agent configured for it;
// - a listener that does not offer the mechanism, and a refused token: precise errors;
// - no token, key, session token or signature in any log line, signal or --check output.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventKind, Status_Condition, type Event } from '../proto/index.js';
import { agent, agentCheck, aggregator, run, tempDir, until, type AgentProc, type AggregatorProc, type Proc } from './support/procs.js';
import { aggregatorClient, Collector } from './support/client.js';
import { startSaslStandIn, type SaslStandIn } from './support/kafka-sasl-refuser.js';
import { jwt } from './support/tokens.js';

const test = suite('Kafka source: OAUTHBEARER and AWS_MSK_IAM logins against a Kafka-protocol stand-in');
const dir = tempDir('kafka-sasl-');
const WATCH = fileURLToPath(new URL('./support/module-watch.js', import.meta.url));
/** Fake AWS credentials (AWS's documented examples): the chain finds them in the environment first. */
const AWS = {
  AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  AWS_SESSION_TOKEN: 'IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKENxyz',
  AWS_REGION: 'eu-west-1',
  // Never ask instance metadata or read a developer's ~/.aws here.
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
  AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
};

let agg: AggregatorProc;
let sub: Collector;
const agents: AgentProc[] = [];
const standIns: SaslStandIn[] = [];

const selfSigns = (pod: string): Event[] => sub.events.filter((e) => e.signal?.subject.startsWith(`service/sasl/pod/${pod}/agent#source/kafka:`));
const lastSelf = (pod: string): Event | undefined => selfSigns(pod).at(-1);
const stable = (pod: string): boolean => lastSelf(pod)?.signal?.status?.condition === Status_Condition.STABLE;
const env = (s: SaslStandIn, extra: Record<string, string>): NodeJS.ProcessEnv => ({ KAFKA_BOOTSTRAP_SERVERS: s.bootstrap, KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_POLL_INTERVAL_MS: '300', SERVICE_NAME: 'sasl', LOG_LEVEL: 'debug', ...extra });

async function standIn(mechanisms: string[], accept?: (m: string, b: Buffer) => boolean): Promise<SaslStandIn> {
  const s = await startSaslStandIn({ mechanisms, ...(accept ? { accept } : {}) });
  standIns.push(s);
  return s;
}

/** Nothing secret anywhere a user or an operator can read. */
function assertNoSecrets(secrets: string[], ...where: (Proc | string)[]): void {
  for (const w of where) {
    const text = typeof w === 'string' ? w : `${w.lines.map((l) => JSON.stringify(l)).join('\n')}\n${w.stdout.join('\n')}`;
    for (const secret of secrets) assert.not.ok(text.includes(secret), `a secret (${secret.slice(0, 6)}…) appears in ${typeof w === 'string' ? 'the output' : w.name}`);
  }
  const signals = JSON.stringify(sub.events.map((e) => e.signal?.context));
  for (const secret of secrets) assert.not.ok(signals.includes(secret), 'a secret appears in a signal');
}

test.before(async () => {
  agg = await aggregator();
  sub = new Collector(aggregatorClient(agg.url).client, { kinds: [EventKind.SIGNAL], fromOffset: 0n });
});

test.after(async () => {
  await sub?.close();
  await Promise.all(agents.map((a) => a.kill()));
  await Promise.all([agg?.kill(), ...standIns.map((s) => s.stop())]);
});

const gs2 = (token: string, ext = ''): string => `n,,\u0001auth=Bearer ${token}${ext}\u0001\u0001`;

test('OAUTHBEARER from a token file: the GS2 message with the token on the wire, the source works; a rotated file is used at the next login; no token in logs, signals or --check', async () => {
  const path = join(dir, 'token');
  const first = jwt(Math.floor(Date.now() / 1000) + 3600, 'first');
  writeFileSync(path, `${first}\n`);
  let valid = first;
  const s = await standIn(['OAUTHBEARER'], (m, b) => m === 'OAUTHBEARER' && b.toString() === gs2(valid));
  const e = env(s, { KAFKA_SASL_MECHANISM: 'OAUTHBEARER', KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: path });
  const a = await agent('oauth-file', agg.url, [], e);
  agents.push(a);
  await sub.until(() => stable('oauth-file'), `the source STABLE (have ${selfSigns('oauth-file').map((x) => x.signal!.context.message ?? x.signal!.status!.condition).join(' | ')})`);
  const login = s.logins[0]!;
  assert.is(login.mechanism, 'OAUTHBEARER');
  assert.is(login.authBytes!.toString(), gs2(first), 'n,,<SOH>auth=Bearer <token><SOH><SOH>');
  assert.ok(login.accepted);
  // The token is rotated (a projected service-account token); the broker drops its connections.
  const second = jwt(Math.floor(Date.now() / 1000) + 7200, 'second');
  writeFileSync(path, second);
  valid = second;
  const before = s.logins.length;
  s.dropConnections();
  await until(async () => s.logins.slice(before).some((l) => l.accepted && l.authBytes?.toString() === gs2(second)), 'a login with the rotated token');
  assert.ok(s.logins.slice(before).every((l) => l.authBytes?.toString() !== gs2(first)), 'the old token is not sent again');
  const c = await agentCheck(e);
  assert.match(c.out, /OAUTHBEARER, token from file .*token\)/);
  assert.match(c.out, /OAUTHBEARER token from file .*token: a JWT expiring \d{4}-/);
  assertNoSecrets([first, second], a, c.out);
});

test('OAUTHBEARER from a command, with SASL extensions: the command runs once for many logins; the extensions ride in the message', async () => {
  const token = 'opaque-token-Zm9vYmFy';
  const runs = join(dir, 'runs');
  writeFileSync(runs, '');
  const script = join(dir, 'issue-token.sh');
  writeFileSync(script, `echo run >> ${runs}\nprintf %s ${token}\n`);
  const s = await standIn(['OAUTHBEARER', 'PLAIN'], (m, b) => b.toString() === gs2(token, '\u0001logicalCluster=lkc-42\u0001identityPoolId=pool-7'));
  const e = env(s, { KAFKA_SASL_MECHANISM: 'OAUTHBEARER', KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND: `sh ${script}`, KAFKA_SASL_OAUTHBEARER_EXTENSIONS: 'logicalCluster=lkc-42,identityPoolId=pool-7' });
  const a = await agent('oauth-cmd', agg.url, [], e);
  agents.push(a);
  await sub.until(() => stable('oauth-cmd'), 'the source STABLE');
  s.dropConnections();
  const before = s.logins.filter((l) => l.accepted).length;
  await until(async () => s.logins.filter((l) => l.accepted).length > before, 'a login after the connections dropped');
  const { readFileSync } = await import('node:fs');
  assert.is(readFileSync(runs, 'utf8').trim().split('\n').length, 1, 'one run of the command for every login (an opaque token is kept 5 minutes)');
  assertNoSecrets([token], a);
});

/** AWS SigV4 over the MSK IAM payload's canonical request, recomputed with the fake secret. */
function expectedSignature(p: Record<string, string>, secret: string, region: string): string {
  const q = [
    ['Action', p.action!],
    ['X-Amz-Algorithm', p['x-amz-algorithm']!],
    ['X-Amz-Credential', p['x-amz-credential']!],
    ['X-Amz-Date', p['x-amz-date']!],
    ['X-Amz-Expires', p['x-amz-expires']!],
    ['X-Amz-Security-Token', p['x-amz-security-token']!],
    ['X-Amz-SignedHeaders', p['x-amz-signedheaders']!],
  ]
    .map(([k, v]) => `${encodeURIComponent(k!)}=${encodeURIComponent(v!)}`)
    .join('&');
  const canonical = `GET\n/\n${q}\nhost:${p.host}\n\nhost\n${createHash('sha256').update('').digest('hex')}`;
  const day = p['x-amz-date']!.slice(0, 8);
  const toSign = `AWS4-HMAC-SHA256\n${p['x-amz-date']}\n${day}/${region}/kafka-cluster/aws4_request\n${createHash('sha256').update(canonical).digest('hex')}`;
  const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), 'kafka-cluster'), 'aws4_request');
  return createHmac('sha256', key).update(toSign).digest('hex');
}

test('AWS_MSK_IAM with credentials from the environment: the signed JSON payload reaches the broker, its signature checks; the source works; no secret anywhere; the AWS SDK loaded only here', async () => {
  const s = await standIn(['AWS_MSK_IAM', 'SCRAM-SHA-512'], (m, b) => {
    if (m !== 'AWS_MSK_IAM') return false;
    const p = JSON.parse(b.toString()) as Record<string, string>;
    return p['x-amz-signature'] === expectedSignature(p, AWS.AWS_SECRET_ACCESS_KEY, 'eu-west-1');
  });
  const e = env(s, { KAFKA_SASL_MECHANISM: 'AWS_MSK_IAM', ...AWS, NODE_OPTIONS: `--import ${WATCH}`, MODULE_WATCH: '@aws-sdk|msk-iam' });
  const a = await agent('msk', agg.url, [], e);
  agents.push(a);
  await sub.until(() => stable('msk'), `the source STABLE (have ${selfSigns('msk').map((x) => x.signal!.context.message ?? x.signal!.status!.condition).join(' | ')}; logins ${s.logins.map((l) => `${l.mechanism}:${l.accepted}`).join(' ')})`);
  const login = s.logins.find((l) => l.accepted)!;
  assert.is(login.mechanism, 'AWS_MSK_IAM');
  const p = JSON.parse(login.authBytes!.toString()) as Record<string, string>;
  assert.equal(Object.keys(p).sort(), ['action', 'host', 'user-agent', 'version', 'x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-expires', 'x-amz-security-token', 'x-amz-signature', 'x-amz-signedheaders']);
  assert.is(p.version, '2020_10_22');
  assert.is(p.host, '127.0.0.1');
  assert.is(p.action, 'kafka-cluster:Connect');
  assert.is(p['user-agent'], 'kafka-obs/kafka-obs-agent');
  assert.is(p['x-amz-algorithm'], 'AWS4-HMAC-SHA256');
  assert.match(p['x-amz-credential']!, /^AKIAIOSFODNN7EXAMPLE\/\d{8}\/eu-west-1\/kafka-cluster\/aws4_request$/);
  assert.match(p['x-amz-date']!, /^\d{8}T\d{6}Z$/);
  assert.ok(Math.abs(Date.parse(p['x-amz-date']!.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z')) - login.at) < 60_000, 'signed now');
  assert.is(p['x-amz-expires'], '900');
  assert.is(p['x-amz-signedheaders'], 'host');
  assert.is(p['x-amz-security-token'], AWS.AWS_SESSION_TOKEN);
  assert.match(p['x-amz-signature']!, /^[0-9a-f]{64}$/);
  assert.is(p['x-amz-signature'], expectedSignature(p, AWS.AWS_SECRET_ACCESS_KEY, 'eu-west-1'), 'SigV4 with the secret key');
  assert.ok(a.lines.some((l) => /module-watch: loaded .*credential-providers/.test(l.msg)), 'the AWS SDK was loaded for AWS_MSK_IAM');
  const c = await agentCheck(e);
  assert.match(c.out, /AWS_MSK_IAM, region eu-west-1 \(from AWS_REGION\), credentials from the AWS default chain/);
  assert.match(c.out, /AWS credentials from environment variables: access key AKIA…MPLE, temporary \(session token\)/);
  assertNoSecrets([AWS.AWS_SECRET_ACCESS_KEY, AWS.AWS_SESSION_TOKEN, p['x-amz-signature']!], a, c.out);
});

test('an agent without AWS_MSK_IAM never loads the AWS SDK', async () => {
  const s = await standIn(['PLAIN'], () => true);
  const c = await agentCheck({ ...env(s, { KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }), NODE_OPTIONS: `--import ${WATCH}`, MODULE_WATCH: '@aws-sdk|msk-iam|kafkajs' });
  const loaded = c.proc.lines.filter((l) => /^module-watch: loaded/.test(l.msg)).map((l) => l.msg);
  assert.ok(loaded.some((l) => /kafkajs/.test(l)), `the watch works (saw ${loaded.length} modules)`);
  assert.equal(loaded.filter((l) => /@aws-sdk|msk-iam/.test(l)), []);
});

test('a listener without the mechanism (MSK\'s SCRAM port): a precise error, DOWN; a refused token: the broker refused it; --check says both', async () => {
  const scramOnly = await standIn(['SCRAM-SHA-512']);
  const e = env(scramOnly, { KAFKA_SASL_MECHANISM: 'AWS_MSK_IAM', ...AWS });
  const a = await agent('wrong-port', agg.url, [], e);
  agents.push(a);
  await sub.until(() => lastSelf('wrong-port')?.signal?.context.reason === 'auth', 'DOWN for auth');
  const down = lastSelf('wrong-port')!.signal!;
  assert.is(down.status!.condition, Status_Condition.DOWN);
  assert.match(down.context.message!, /the broker does not offer SASL AWS_MSK_IAM on this listener \(check KAFKA_SASL_MECHANISM and the port: on MSK, IAM is 9098 \(9198 public\)/);
  assert.equal([...new Set(scramOnly.logins.map((l) => l.mechanism))], ['AWS_MSK_IAM']);
  assert.ok(scramOnly.logins.every((l) => l.authBytes === undefined), 'nothing signed was sent to a listener that does not take it');
  const c = await agentCheck(e);
  assert.is(c.code, 1);
  assert.match(c.out, /error: metadata: the broker does not offer SASL AWS_MSK_IAM on this listener/);

  const path = join(dir, 'expired');
  const expired = jwt(1_000_000_000, 'expired');
  writeFileSync(path, expired);
  const refusing = await standIn(['OAUTHBEARER']);
  const e2 = env(refusing, { KAFKA_SASL_MECHANISM: 'OAUTHBEARER', KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: path });
  const b = await agent('refused', agg.url, [], e2);
  agents.push(b);
  await sub.until(() => lastSelf('refused')?.signal?.context.reason === 'auth', 'DOWN for auth');
  assert.match(lastSelf('refused')!.signal!.context.message!, /the broker refused the OAUTHBEARER token \(expired\? issued for another audience or issuer\?/);
  assert.ok(b.lines.some((l) => /token in file .* has expired/.test(l.msg)), 'the agent said its token had expired');
  const c2 = await agentCheck(e2);
  assert.match(c2.out, /a JWT expiring 2001-09-09T01:46:40.000Z \(EXPIRED\)/);
  assertNoSecrets([expired, AWS.AWS_SECRET_ACCESS_KEY, AWS.AWS_SESSION_TOKEN], a, b, c.out, c2.out);
});

test('settings refused at start: AWS_MSK_IAM without a region, OAUTHBEARER without a token (exit 2, one precise line)', async () => {
  const noRegion = run(['agent'], 'no-region', { KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:9098', KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'AWS_MSK_IAM', AWS_REGION: '', AWS_DEFAULT_REGION: '' });
  assert.is(await noRegion.exited, 2);
  assert.match(noRegion.lines.map((l) => l.msg).join('\n'), /SASL AWS_MSK_IAM needs the cluster's AWS region: set AWS_REGION/);
  const noToken = run(['agent'], 'no-token', { KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:9092', KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'OAUTHBEARER' });
  assert.is(await noToken.exited, 2);
  assert.match(noToken.lines.map((l) => l.msg).join('\n'), /SASL OAUTHBEARER needs a token: KAFKA_SASL_OAUTHBEARER_TOKEN_FILE/);
});

test.run();
