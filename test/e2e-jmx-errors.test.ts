// What a user sees when a JVM source is misconfigured — in `kafka-obs agent --check` and in the
// agent's signals about its own sources: a wrong URL, a wrong password, a bean pattern that
// matches nothing, no Java at all, a bad config file. Real JVMs, real processes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeSign, EventKind, type Event } from '../proto/index.js';
import { agentCheck, closedPort, agent, aggregator, postJson, run, tempDir, type AgentProc, type AggregatorProc } from './support/procs.js';
import { aggregatorClient, Collector } from './support/client.js';
import { FakeJvm, makeKeystores } from './support/jvm.js';

const test = suite('JMX source: errors in --check and in self signals');
const dir = tempDir('jmx-errors-');
let agg: AggregatorProc;
let secured: FakeJvm;
let sub: Collector;
const agents: AgentProc[] = [];

const PASSWORD = 'Tr0ub4dor-and-3';
const WRONG = 'not-the-password-42';

const check = agentCheck;

const selfSigns = (subjectStart: string): Event[] => sub.events.filter((e) => e.signal?.subject.startsWith(subjectStart));

test.before(async () => {
  const passwords = join(dir, 'jmxremote.password');
  writeFileSync(passwords, `monitor ${PASSWORD}\n`, { mode: 0o600 });
  [agg, secured] = await Promise.all([aggregator(), FakeJvm.start({ passwordFile: passwords })]);
  sub = new Collector(aggregatorClient(agg.url).client, { kinds: [EventKind.SIGNAL], fromOffset: 0n });
});

test.after(async () => {
  await sub?.close();
  await Promise.all(agents.map((a) => a.kill()));
  await Promise.all([secured?.kill(), agg?.kill()]);
});

test('--check: a wrong URL says it cannot connect, and why', async () => {
  const port = await closedPort();
  const r = await check({ JMX_URL: `127.0.0.1:${port}` });
  assert.is(r.code, 1);
  assert.match(r.out, new RegExp(`FAIL jmx:127\\.0\\.0\\.1:${port} \\(service:jmx:rmi:///jndi/rmi://127\\.0\\.0\\.1:${port}/jmxrmi\\)`));
  assert.match(r.out, new RegExp(`error: cannot connect to service:jmx:rmi:///jndi/rmi://127\\.0\\.0\\.1:${port}/jmxrmi: .*Connection refused`));
  assert.match(r.out, /is the JVM running with remote JMX on that port\?/);
  assert.match(r.out, /1 of 1 source\(s\) have problems/);
});

test('--check: a malformed JMX URL is refused before anything runs', async () => {
  const p = run(['agent', '--check'], 'check', { JMX_URL: 'http://broker:9999' });
  assert.is(await p.exited, 2);
  assert.ok(p.lines.some((l) => l.msg.includes('JMX_URL: not a JMX URL: "http://broker:9999" (expected service:jmx:rmi:///jndi/rmi://host:port/jmxrmi or host:port)')));
});

test('--check: a wrong password is an authentication failure; the password is never printed', async () => {
  const wrong = await check({ JMX_URL: `127.0.0.1:${secured.port}`, JMX_USERNAME: 'monitor', JMX_PASSWORD: WRONG });
  assert.is(wrong.code, 1);
  assert.match(wrong.out, /error: authentication failed for user "monitor" at service:jmx:rmi:\/\/\/jndi\/rmi:\/\/127\.0\.0\.1:\d+\/jmxrmi \(wrong username or password\?\): SecurityException: Authentication failed! Invalid username or password/);
  assert.not.match(wrong.out + JSON.stringify(wrong.proc.lines), WRONG);

  const none = await check({ JMX_URL: `127.0.0.1:${secured.port}` });
  assert.match(none.out, /requires a username and password \(set JMX_USERNAME and JMX_PASSWORD or JMX_PASSWORD_FILE\)/);

  const file = join(dir, 'password');
  writeFileSync(file, `${PASSWORD}\n`);
  const right = await check({ JMX_URL: `127.0.0.1:${secured.port}`, JMX_USERNAME: 'monitor', JMX_PASSWORD_FILE: file });
  assert.is(right.code, 0, right.out);
  assert.match(right.out, /OK {3}jmx:127\.0\.0\.1:\d+ \(service:jmx:rmi:\/\/\/jndi\/rmi:\/\/127\.0\.0\.1:\d+\/jmxrmi as monitor\)/);
  assert.match(right.out, /connected in \d+ ms as monitor/);
  assert.match(right.out, /producer: 1 bean matches kafka\.producer:type=producer-metrics,client-id=\* \(p1\)/);
  assert.match(right.out, /broker id 1 \(from kafka\.server:id=1,type=app-info\)/);
  assert.match(right.out, /metrics mapped to rules: .*producer\.buffer-used-percent/);
  assert.not.match(right.out, PASSWORD);
});

test('--check: a bean pattern that matches nothing is named; an asked-for collector that is absent too', async () => {
  // The fixture plays a client only here: no broker beans.
  const clientOnly = await FakeJvm.start({ profile: 'client' });
  const config = join(dir, 'agent.yaml');
  writeFileSync(config, `
jmx:
  - name: orders-jvm
    url: 127.0.0.1:${clientOnly.port}
    collect: [producer, broker]
    beans:
      - pattern: "com.acme:type=Orders,name=*"
        attributes: { QueueDepth: acme.queue-depth }
`);
  try {
    const r = await check({}, ['--config', config]);
    assert.is(r.code, 1);
    assert.match(r.out, /FAIL orders-jvm/);
    assert.match(r.out, /error: pattern com\.acme:type=Orders,name=\* matches no bean/);
    assert.match(r.out, /error: pattern kafka\.server:type=ReplicaManager,name=UnderReplicatedPartitions matches no bean \(collect: broker was asked for\)/);
    assert.match(r.out, /producer: 1 bean matches/, 'what it does see is listed too');

    // The running agent says the same about itself: DEGRADED, reason pattern-empty.
    const a = await agent('errs-pattern', agg.url, ['--config', config], { POLL_INTERVAL_MS: '200', SERVICE_NAME: 'orders' });
    agents.push(a);
    const self = 'service/orders/pod/errs-pattern/agent#source/orders-jvm';
    await sub.until(() => selfSigns(self).length > 0, 'self signal for orders-jvm');
    const s = selfSigns(self)[0]!.signal!;
    assert.is(describeSign(s), 'status DEGRADED MEASURED');
    assert.is(s.context.reason, 'pattern-empty');
    assert.match(s.context.message!, /pattern com\.acme:type=Orders,name=\* matches no bean/);
    await a.kill();
  } finally {
    await clientOnly.kill();
  }
});

test('TLS: a connector over TLS is read with the truststore given; without it, a TLS error says what to do', async () => {
  const stores = await makeKeystores(dir, 'store-pass-1');
  const tls = await FakeJvm.start({ profile: 'client', ssl: { keystore: stores.keystore, password: 'store-pass-1' } });
  try {
    const untrusted = await check({ JMX_URL: `127.0.0.1:${tls.port}` });
    assert.is(untrusted.code, 1);
    assert.match(untrusted.out, /error: TLS with service:jmx:rmi:\/\/\/jndi\/rmi:\/\/127\.0\.0\.1:\d+\/jmxrmi failed: .*(PKIX|certification path)/);
    assert.match(untrusted.out, /trust the target's certificate with a truststore: truststore \/ JMX_TRUSTSTORE/);
    const pwFile = join(dir, 'truststore-password');
    writeFileSync(pwFile, 'store-pass-1\n');
    const trusted = await check({ JMX_URL: `127.0.0.1:${tls.port}`, JMX_TRUSTSTORE: stores.truststore, JMX_TRUSTSTORE_PASSWORD_FILE: pwFile });
    assert.is(trusted.code, 0, trusted.out);
    assert.match(trusted.out, /producer: 1 bean matches/);
    assert.not.match(trusted.out, /store-pass-1/);
  } finally {
    await tls.kill();
  }
});

test('a running agent with the wrong password reports its source DOWN (reason auth) and keeps running', async () => {
  const a = await agent('errs-auth', agg.url, [], { JMX_URL: `127.0.0.1:${secured.port}`, JMX_USERNAME: 'monitor', JMX_PASSWORD: WRONG, POLL_INTERVAL_MS: '200', SERVICE_NAME: 'orders' });
  agents.push(a);
  const self = `service/orders/pod/errs-auth/agent#source/jmx:127.0.0.1:${secured.port}`;
  await sub.until(() => selfSigns(self).some((e) => e.signal!.status?.confidence === 3), 'DOWN CONFIRMED after three failures');
  const down = selfSigns(self).map((e) => e.signal!);
  assert.equal(down.map((s) => describeSign(s)), ['status DOWN MEASURED', 'status DOWN CONFIRMED'], 'sent when it happens and when it is confirmed, not on every poll');
  assert.is(down[0]!.context.reason, 'auth');
  assert.match(down[0]!.context.message!, /authentication failed for user "monitor"/);
  assert.not.match(JSON.stringify(a.lines) + JSON.stringify(down.map((s) => s.context)), WRONG);
  const metrics = await (await fetch(`http://127.0.0.1:${a.httpPort}/metrics`)).text();
  assert.match(metrics, /kafkaobs_agent_source_poll_errors_total\{source="jmx:127\.0\.0\.1:\d+",reason="auth"\} [1-9]/);
  assert.match(metrics, /kafkaobs_agent_source_up\{source="jmx:127\.0\.0\.1:\d+"\} 0/);
});

test('without Java the agent says so in one line, reports the source DOWN and runs everything else', async () => {
  const env = { JMX_URL: `127.0.0.1:${secured.port}`, PATH: '/nonexistent', JAVA_HOME: '', SERVICE_NAME: 'orders' };
  const r = await check(env);
  assert.is(r.code, 1);
  assert.match(r.out, /error: java not found: JMX sources disabled/);

  const a = await agent('errs-nojava', agg.url, [], env);
  agents.push(a);
  await a.waitForLog((l) => l.msg === 'java not found: JMX sources disabled');
  assert.is(a.lines.filter((l) => /java not found/.test(l.msg)).length, 1, 'one line');
  const self = `service/orders/pod/errs-nojava/agent#source/jmx:127.0.0.1:${secured.port}`;
  await sub.until(() => selfSigns(self).length > 0, 'self signal without java');
  assert.is(describeSign(selfSigns(self)[0]!.signal!), 'status DOWN MEASURED');
  assert.is(selfSigns(self)[0]!.signal!.context.reason, 'java-missing');
  // The rest of the agent works: a signal posted to its intake reaches the aggregator.
  const posted = await postJson(`http://127.0.0.1:${a.httpPort}/v1/signals`, { subject: 'service/orders/pod/errs-nojava/producer/p9#buffer', queue: { sign: 'ENQUEUE', units: 1 } });
  assert.is(posted.json.accepted, 1);
  await sub.until((ev) => ev.some((e) => e.signal?.subject === 'service/orders/pod/errs-nojava/producer/p9#buffer'), 'intake still works');
});

test('a bad jmx section in the config file is refused with its path', async () => {
  const config = join(dir, 'bad.yaml');
  writeFileSync(config, 'jmx:\n  - url: 127.0.0.1:9999\n    password: inline-secrets-are-refused\n  - username: x\n');
  const p = run(['agent', '--check', '--config', config], 'check');
  assert.is(await p.exited, 2);
  const text = p.lines.map((l) => l.msg).join('\n');
  assert.match(text, /at jmx\.0: Unrecognized key: "password"/);
  assert.match(text, /at jmx\.1\.url: /);
});

test.run();
