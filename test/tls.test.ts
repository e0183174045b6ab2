// TLS and mutual TLS: an agent with a client certificate streams over grpcs://, `kafka-obs tail`
// reads the signal back over TLS; a client without a certificate is refused.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { makeCerts, type Certs } from './support/certs.js';
import { agent, aggregator, postJson, run, type AgentProc, type AggregatorProc } from './support/procs.js';

const test = suite('TLS and mutual TLS');
let certs: Certs;
let agg: AggregatorProc;
let a: AgentProc | undefined;

test.before(async () => {
  certs = makeCerts();
  agg = await aggregator(['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--tls-client-ca', certs.ca]);
});
test.after(async () => {
  await a?.kill();
  await agg?.kill();
});

test('an agent with a client certificate delivers; tail reads it over TLS', async () => {
  assert.ok(agg.lines.some((l) => l.msg === 'aggregator listening' && l.tls === 'mutual'));
  const url = `grpcs://127.0.0.1:${agg.grpcPort}`;
  a = await agent('tls-agent', url, ['--tls-ca', certs.ca, '--tls-cert', certs.clientCert, '--tls-key', certs.clientKey]);
  const r = await postJson(`http://127.0.0.1:${a.httpPort}/v1/signals`, { subject: 'service/secure/pod/p1/producer/x', probe: { sign: 'FAIL', orientation: 'OUTBOUND' } });
  assert.is(r.json.accepted, 1);
  const tail = run(['tail', '--aggregator-url', url, '--tls-ca', certs.ca, '--tls-cert', certs.clientCert, '--tls-key', certs.clientKey, '--from', '0', '--kinds', 'signal', '--json', '--limit', '1'], 'tail');
  assert.is(await tail.exited, 0, tail.lines.map((l) => l.msg).join('\n'));
  const event = JSON.parse(tail.stdout[0]!);
  assert.is(event.signal.sourceId, 'tls-agent');
  assert.equal(event.signal.probe, { sign: 'FAIL', orientation: 'OUTBOUND' });
});

test('a client without a certificate is refused, with a message', async () => {
  const tail = run(['tail', '--aggregator-url', `grpcs://127.0.0.1:${agg.grpcPort}`, '--tls-ca', certs.ca, '--limit', '1'], 'tail-no-cert');
  assert.is(await tail.exited, 1);
  assert.match(tail.lines.map((l) => l.msg).join('\n'), /kafka-obs tail: UNAVAILABLE/);
});

test.run();
