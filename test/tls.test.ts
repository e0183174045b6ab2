// TLS and mutual TLS: an agent with a client certificate streams over grpcs://, `kafka-obs tail`
// reads the signal back over TLS; a client without a certificate is refused. Under mutual TLS the
// certificate is the identity: it speaks for its own name only. The HTTP port is the same door
// (HTTPS, client certificate or nothing but the probes), and the certificate's expiry is said.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { ChannelCredentials } from '@grpc/grpc-js';
import { ClientError, Status, createChannel, createClientFactory } from 'nice-grpc';
import { SignalAggregatorDefinition, directDefinition } from '../proto/index.js';
import { makeCerts, type Certs } from './support/certs.js';
import { signal } from './support/client.js';
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

/** A GET over HTTPS, with a client certificate or without. */
function httpsGet(port: number, path: string, client?: { cert: string; key: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, servername: 'localhost', ca: readFileSync(certs.ca), ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}) },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** One batch from `sourceId` over a channel holding the given client certificate. */
async function sendAs(cert: string, key: string, sourceId: string): Promise<unknown> {
  const creds = ChannelCredentials.createSsl(readFileSync(certs.ca), readFileSync(key), readFileSync(cert));
  const channel = createChannel(`127.0.0.1:${agg.grpcPort}`, creds, { 'grpc.ssl_target_name_override': 'localhost' });
  const client = createClientFactory().create(directDefinition(SignalAggregatorDefinition), channel);
  try {
    for await (const ack of client.streamSignals((async function* () { yield { signals: [signal({ sourceId })] }; })())) return ack;
    return undefined;
  } catch (e) {
    return e;
  } finally {
    channel.close();
  }
}

test('an agent with a client certificate delivers; tail reads it over TLS', async () => {
  assert.ok(agg.lines.some((l) => l.msg === 'aggregator listening' && l.tls === 'mutual'));
  const url = `grpcs://127.0.0.1:${agg.grpcPort}`;
  // The agent's id is its certificate's name: under mutual TLS that is the source it may speak for.
  a = await agent('agent-1', url, ['--tls-ca', certs.ca, '--tls-cert', certs.clientCert, '--tls-key', certs.clientKey]);
  const r = await postJson(`http://127.0.0.1:${a.httpPort}/v1/signals`, { subject: 'service/secure/pod/p1/producer/x', probe: { sign: 'FAIL', orientation: 'OUTBOUND' } });
  assert.is(r.json.accepted, 1);
  const tail = run(['tail', '--aggregator-url', url, '--tls-ca', certs.ca, '--tls-cert', certs.clientCert, '--tls-key', certs.clientKey, '--from', '0', '--kinds', 'signal', '--json', '--limit', '1'], 'tail');
  assert.is(await tail.exited, 0, tail.lines.map((l) => l.msg).join('\n'));
  const event = JSON.parse(tail.stdout[0]!);
  assert.is(event.signal.sourceId, 'agent-1');
  assert.equal(event.signal.probe, { sign: 'FAIL', orientation: 'OUTBOUND' });
});

test('a certificate speaks for its own name only: another source id is PERMISSION_DENIED, counted', async () => {
  const forged = await sendAs(certs.clientCert, certs.clientKey, 'agent-2');
  assert.instance(forged, ClientError);
  assert.is((forged as ClientError).code, Status.PERMISSION_DENIED);
  assert.match((forged as ClientError).details, /source_id "agent-2" is not among the sources identity "agent-1" \(certificate\) may speak for \(agent-1\)/);
  const own = (await sendAs(certs.client2Cert, certs.client2Key, 'agent-2')) as { accepted: number };
  assert.is(own.accepted, 1, 'agent-2\'s own certificate speaks for agent-2');
  const m = await httpsGet(agg.httpPort, '/metrics', { cert: certs.clientCert, key: certs.clientKey });
  assert.match(m.body, /kafkaobs_refusals_total\{door="grpc",reason="foreign_source"\} 1\b/);
});

test('the HTTP port is the same door: HTTPS, a client certificate for everything but the probes', async () => {
  const withCert = await httpsGet(agg.httpPort, '/api/cells?depth=1', { cert: certs.clientCert, key: certs.clientKey });
  assert.is(withCert.status, 200);
  assert.ok((JSON.parse(withCert.body) as { cell: { children: unknown[] } }).cell.children.length > 0);
  const without = await httpsGet(agg.httpPort, '/api/cells?depth=1');
  assert.is(without.status, 401);
  assert.match(without.body, /no verified client certificate/);
  assert.is((await httpsGet(agg.httpPort, '/metrics')).status, 401);
  assert.is((await httpsGet(agg.httpPort, '/healthz')).status, 200, 'probes stay open');
  assert.is((await httpsGet(agg.httpPort, '/readyz')).status, 200);
});

test('a client without a certificate is refused, with a message', async () => {
  const tail = run(['tail', '--aggregator-url', `grpcs://127.0.0.1:${agg.grpcPort}`, '--tls-ca', certs.ca, '--limit', '1'], 'tail-no-cert');
  assert.is(await tail.exited, 1);
  assert.match(tail.lines.map((l) => l.msg).join('\n'), /kafka-obs tail: UNAVAILABLE/);
});

test('the certificate\'s expiry is said at start: soon (warn) and already (error), and exported', async () => {
  // The suite's certificate is valid for two days: inside the default 14-day warning.
  const soon = agg.lines.find((l) => /the server certificate expires in \d+ h/.test(String(l.msg)));
  assert.ok(soon, 'a warning about the certificate expiring soon');
  assert.is(soon!.level, 40);
  const m = await httpsGet(agg.httpPort, '/metrics', { cert: certs.clientCert, key: certs.clientKey });
  const expiry = Number(/kafkaobs_tls_certificate_expiry_timestamp_seconds\{certificate="server"\} (\d+)/.exec(m.body)?.[1]);
  assert.ok(expiry > Date.now() / 1000 && expiry < Date.now() / 1000 + 3 * 86400, `the expiry metric is in two days (${expiry})`);

  const expired = await aggregator(['--tls-cert', certs.expiredCert, '--tls-key', certs.expiredKey]);
  try {
    const said = expired.lines.find((l) => /the server certificate has EXPIRED/.test(String(l.msg)));
    assert.ok(said, 'an error says the certificate expired');
    assert.is(said!.level, 50);
    assert.ok(Date.parse(String(said!.notAfter)) < Date.now());
  } finally {
    await expired.kill();
  }
});

test.run();
