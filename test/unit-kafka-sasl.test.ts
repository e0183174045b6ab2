// Managed-Kafka logins in the Kafka source's settings (agent/kafka/settings.ts) and the
// OAUTHBEARER token source (agent/kafka/sasl.ts): which variables, which precise errors, what
// describe() shows (never a secret); tokens from a file re-read when it changes, from a command
// run once and kept until 80 % of a JWT's lifetime (or the refresh period), a failed refresh
// riding on the token held. Handshakes on the wire: e2e-kafka-sasl.test.ts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { kafkaSettings, describeKafka } from '../agent/kafka/settings.js';
import { kafkaJsConfig } from '../agent/kafka/kafkajs-client.js';
import { OAuthTokenSource, commandName, jwtExpiry, regionOfBroker, type OAuthBearerSpec } from '../agent/kafka/sasl.js';
import { tempDir } from './support/procs.js';
import { jwt } from './support/tokens.js';

const test = suite('SASL OAUTHBEARER and AWS_MSK_IAM');
const dir = tempDir('sasl-');
const base = { KAFKA_BOOTSTRAP_SERVERS: 'b-1.demo.abc123.c2.kafka.eu-west-1.amazonaws.com:9098', KAFKA_SECURITY_PROTOCOL: 'SASL_SSL' };


function throwsWith(f: () => unknown, re: RegExp): void {
  try {
    f();
  } catch (e) {
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected an error matching ${re}`);
}

test('KAFKA_SASL_MECHANISM takes AWS_MSK_IAM and OAUTHBEARER (as pasted: aws-msk-iam, oauthbearer); an unknown one lists all five', () => {
  const msk = kafkaSettings(undefined, { ...base, KAFKA_SASL_MECHANISM: 'aws-msk-iam' }, 1000)!;
  assert.equal(msk.sasl, { mechanism: 'AWS_MSK_IAM', region: 'eu-west-1', regionFrom: 'the broker names' });
  const token = join(dir, 'token');
  writeFileSync(token, `${jwt(2_000_000_000)}\n`);
  const oauth = kafkaSettings(undefined, { ...base, KAFKA_SASL_MECHANISM: 'oauthbearer', KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: token }, 1000)!;
  assert.equal(oauth.sasl, { mechanism: 'OAUTHBEARER', tokenFile: token, refreshMs: 300_000, extensions: {} });
  throwsWith(() => kafkaSettings(undefined, { ...base, KAFKA_SASL_MECHANISM: 'GSSAPI' }, 1000), /KAFKA_SASL_MECHANISM: unknown value "GSSAPI" \(expected one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER, AWS_MSK_IAM\)/);
  // SCRAM as it was, spelled either way.
  const scram = kafkaSettings(undefined, { ...base, KAFKA_SASL_MECHANISM: 'scram_sha_512', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }, 1000)!;
  assert.is(scram.sasl?.mechanism, 'SCRAM-SHA-512');
});

test('AWS_MSK_IAM: the region from KAFKA_SASL_AWS_REGION, the config file, AWS_REGION, AWS_DEFAULT_REGION or the broker names, in that order; none is a precise error', () => {
  const local = { KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:9098', KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'AWS_MSK_IAM' };
  const region = (env: Record<string, string>, file?: unknown): unknown => kafkaSettings(file, { ...local, ...env }, 1000)!.sasl;
  assert.equal(region({ AWS_REGION: 'us-east-1', KAFKA_SASL_AWS_REGION: 'eu-central-1' }), { mechanism: 'AWS_MSK_IAM', region: 'eu-central-1', regionFrom: 'KAFKA_SASL_AWS_REGION' });
  assert.equal(region({ AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'us-west-2' }), { mechanism: 'AWS_MSK_IAM', region: 'us-east-1', regionFrom: 'AWS_REGION' });
  assert.equal(region({ AWS_DEFAULT_REGION: 'us-west-2' }), { mechanism: 'AWS_MSK_IAM', region: 'us-west-2', regionFrom: 'AWS_DEFAULT_REGION' });
  assert.equal(region({ AWS_REGION: 'us-east-1' }, { sasl: { mechanism: 'AWS_MSK_IAM', awsRegion: 'ap-south-1' } }), { mechanism: 'AWS_MSK_IAM', region: 'ap-south-1', regionFrom: 'kafka.sasl.awsRegion' });
  throwsWith(() => region({}), /SASL AWS_MSK_IAM needs the cluster's AWS region: set AWS_REGION \(or KAFKA_SASL_AWS_REGION\); the broker names do not say it/);
  throwsWith(() => region({ AWS_REGION: 'mars' }), /"mars" \(from AWS_REGION\) is not an AWS region/);
  assert.is(regionOfBroker('boot-abc.c3.kafka-serverless.us-east-2.amazonaws.com'), 'us-east-2');
  assert.is(regionOfBroker('kafka-0.internal'), undefined);
  // No user or password needed; describe() says where credentials come from.
  const s = kafkaSettings(undefined, { ...local, AWS_REGION: 'us-east-1', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }, 1000)!;
  assert.is(describeKafka(s), 'kafka 127.0.0.1:9098 (SASL_SSL AWS_MSK_IAM, region us-east-1 (from AWS_REGION), credentials from the AWS default chain)');
  // kafkajs gets a custom mechanism; nothing AWS is loaded until it logs in.
  const c = kafkaJsConfig(s, pino({ level: 'silent' }));
  assert.is((c.sasl as { mechanism: string }).mechanism, 'AWS_MSK_IAM');
  assert.type((c.sasl as { authenticationProvider: unknown }).authenticationProvider, 'function');
});

test('OAUTHBEARER: a file or a command, not both, not neither; the file must be readable at start; extensions; describe() shows the command\'s program only', () => {
  const o = { ...base, KAFKA_SASL_MECHANISM: 'OAUTHBEARER' };
  throwsWith(() => kafkaSettings(undefined, o, 1000), /SASL OAUTHBEARER needs a token: KAFKA_SASL_OAUTHBEARER_TOKEN_FILE \(a file, re-read when it changes\) or KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND \(a command printing it\)/);
  throwsWith(() => kafkaSettings(undefined, { ...o, KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: '/x', KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND: 'y' }, 1000), /from a file or a command, not both/);
  throwsWith(() => kafkaSettings(undefined, { ...o, KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: '/nonexistent/token' }, 1000), /cannot read OAUTHBEARER token file \/nonexistent\/token/);
  throwsWith(() => kafkaSettings(undefined, { ...o, KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND: 'get-token', KAFKA_SASL_OAUTHBEARER_EXTENSIONS: 'logicalCluster' }, 1000), /KAFKA_SASL_OAUTHBEARER_EXTENSIONS: "logicalCluster" is not key=value/);
  throwsWith(() => kafkaSettings(undefined, { ...o, KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND: 'get-token', KAFKA_SASL_OAUTHBEARER_REFRESH_MS: '10' }, 1000), /KAFKA_SASL_OAUTHBEARER_REFRESH_MS: "10" is not a whole number ≥ 1000/);
  const s = kafkaSettings({ sasl: { mechanism: 'OAUTHBEARER', extensions: { identityPoolId: 'pool-1' } } }, { ...o, KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND: '/opt/bin/get-token --client-secret hunter2', KAFKA_SASL_OAUTHBEARER_EXTENSIONS: 'logicalCluster=lkc-42' }, 1000)!;
  assert.equal(s.sasl, { mechanism: 'OAUTHBEARER', tokenCommand: '/opt/bin/get-token --client-secret hunter2', refreshMs: 300_000, extensions: { identityPoolId: 'pool-1', logicalCluster: 'lkc-42' } });
  const d = describeKafka(s);
  assert.match(d, /OAUTHBEARER, token from command get-token\)/);
  assert.not.match(d, /hunter2/);
  assert.is(commandName('  cat /var/run/token '), 'cat');
});

test('a token file is re-read when it changes (a rotated Kubernetes token), kept otherwise; an empty or expired one is said', async () => {
  const path = join(dir, 'rotating');
  const first = jwt(2_000_000_000, 'first');
  writeFileSync(path, first);
  const warned: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (l: string) => warned.push(String(JSON.parse(l).msg)) });
  const src = new OAuthTokenSource({ mechanism: 'OAUTHBEARER', tokenFile: path, refreshMs: 300_000, extensions: { logicalCluster: 'lkc-1' } }, logger);
  assert.equal(await src.bearer(), { value: first, extensions: { logicalCluster: 'lkc-1' } });
  const second = jwt(2_000_000_100, 'second-token');
  writeFileSync(path, `${second}\n`);
  assert.is((await src.bearer()).value, second);
  assert.match(await src.describe(), /^OAUTHBEARER token from file .*rotating: a JWT expiring 2033-05-18T03:35:00.000Z, \d+ characters; extensions logicalCluster$/);
  const expired = jwt(1_000_000_000);
  writeFileSync(path, expired);
  assert.is((await src.token()).value, expired, 'an expired token is still sent (the broker decides)');
  assert.match(warned.join('\n'), /token in file .* has expired/);
  assert.match(await src.describe(), /\(EXPIRED\)/);
  writeFileSync(path, '');
  await src.token().then(
    () => assert.unreachable('empty'),
    (e: Error) => assert.match(e.message, /OAUTHBEARER token file .* is empty/),
  );
  for (const w of warned) for (const t of [first, second, expired]) assert.not.ok(w.includes(t), 'never a token in the logs');
});

test('a token command: run once, kept until 80 % of a JWT\'s lifetime (else the refresh period); runs at once are one; a failed refresh rides on the token held; errors say the program, never the token', async () => {
  const runs = join(dir, 'runs');
  const out = join(dir, 'out');
  writeFileSync(runs, '');
  let now = 1_000_000_000_000;
  // exp 1000 s ahead: renewed after 800 s.
  writeFileSync(out, jwt(now / 1000 + 1000));
  const script = join(dir, 'get-token');
  writeFileSync(script, `#!/bin/sh\necho run >> ${runs}\nif [ -f ${out}.fail ]; then echo "identity provider said no" >&2; exit 3; fi\ncat ${out}\n`);
  chmodSync(script, 0o755);
  const spec: OAuthBearerSpec = { mechanism: 'OAUTHBEARER', tokenCommand: `${script} --secret s3cr3t`, refreshMs: 60_000, extensions: {} };
  const src = new OAuthTokenSource(spec, undefined, () => now);
  const ran = (): number => readFileSync(runs, 'utf8').split('\n').filter(Boolean).length;
  const [a, b] = await Promise.all([src.token(), src.token()]);
  assert.is(a.value, b.value);
  assert.is(ran(), 1, 'two logins at once: one run');
  now += 700_000;
  await src.token();
  assert.is(ran(), 1, 'within 80 % of its lifetime: kept');
  now += 150_000;
  writeFileSync(out, jwt(now / 1000 + 1000));
  const renewed = await src.token();
  assert.is(ran(), 2, 'past 80 %: run again');
  assert.is.not(renewed.value, a.value);
  // The identity provider fails: the token held (valid for 1000 s more) is used.
  writeFileSync(`${out}.fail`, '');
  now += 850_000;
  assert.is((await src.token()).value, renewed.value);
  now += 200_000; // now past its expiry: the failure is the answer
  await src.token().then(
    () => assert.unreachable('expired and no new one'),
    (e: Error) => {
      assert.match(e.message, /^OAUTHBEARER token command \(get-token\) exited with code 3: identity provider said no$/);
      assert.not.match(e.message, /s3cr3t/);
    },
  );
  // Not a JWT: kept for refreshMs.
  const opaque = new OAuthTokenSource({ ...spec, tokenCommand: 'printf opaque-token-123' }, undefined, () => now);
  const t = await opaque.token();
  assert.is(t.value, 'opaque-token-123');
  assert.is(t.refreshAt - t.fetchedAt, 60_000);
  const bad = new OAuthTokenSource({ ...spec, tokenCommand: 'printf "two words"' });
  await bad.token().then(
    () => assert.unreachable('two words'),
    (e: Error) => assert.is(e.message, 'OAUTHBEARER token command (printf) printed more than one token (white space inside)'),
  );
  assert.is(jwtExpiry('not.a.jwt'), undefined);
});

test.run();
