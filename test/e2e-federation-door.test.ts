// The door of federation, end to end with real processes: an upstream behind TLS with an
// identities file (per-identity tokens), then behind mutual TLS (certificates). A leaf whose
// identity may speak for its --leaf-name forwards: its narrative and cells appear upstream,
// tagged with the leaf. A leaf whose identity may not is refused PERMISSION_DENIED: the leaf says
// so once, with what to change, keeps its journal and keeps retrying with backoff, and the upstream
// counts every refusal. A leaf without a token (or with a wrong one) is refused UNAUTHENTICATED and
// says which. No token ever shows in a log line, a metric or an API answer.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { ChannelCredentials, Metadata, createChannel, createClientFactory, type Channel } from 'nice-grpc';
import { EventKind, Narrative_State, SignalAggregatorDefinition, directDefinition, nowNs, type Cell, type Signal } from '../proto/index.js';
import { makeCerts, type Certs } from './support/certs.js';
import { Collector, aggregatorClient, signal, streamSignals, type Client } from './support/client.js';
import { aggregator, tempDir, until, type AggregatorProc, type LogLine } from './support/procs.js';
import { arrivingLate, loadScenario, SECOND } from './support/scenarios.js';

const test = suite('end to end: the door of federation (TLS, tokens, mutual TLS)');
const procs: AggregatorProc[] = [];
const channels: Channel[] = [];
let certs: Certs;

test.before(() => {
  certs = makeCerts();
});

test.after.each(async () => {
  for (const c of channels.splice(0)) c.close();
  for (const p of procs.splice(0).reverse()) await p.kill('SIGKILL');
});

const PIPE = ['--tick-ms', '100', '--resolve-after-ms', '1000', '--situation-hold-ms', '500', '--cause-wait-ms', '3000', '--time-scale', '0.2'];
const started = async (args: string[], env: NodeJS.ProcessEnv = {}): Promise<AggregatorProc> => {
  const p = await aggregator([...args, ...PIPE], env);
  procs.push(p);
  return p;
};

/** A client of the upstream over TLS: with a bearer token, or a client certificate. */
function upstreamClient(port: number, as: { token: string } | { cert: string; key: string }): { client: Client; metadata: Metadata } {
  const creds = 'token' in as ? ChannelCredentials.createSsl(readFileSync(certs.ca)) : ChannelCredentials.createSsl(readFileSync(certs.ca), readFileSync(as.key), readFileSync(as.cert));
  const channel = createChannel(`127.0.0.1:${port}`, creds, { 'grpc.ssl_target_name_override': 'localhost' });
  channels.push(channel);
  const metadata = Metadata('token' in as ? { authorization: `Bearer ${as.token}` } : {});
  return { client: createClientFactory().create(directDefinition(SignalAggregatorDefinition), channel), metadata };
}

/** A GET over HTTPS with a token or a client certificate. */
function httpsGet(port: number, path: string, as: { token: string } | { cert: string; key: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1', port, path, servername: 'localhost', ca: readFileSync(certs.ca),
        ...('token' in as ? { headers: { authorization: `Bearer ${as.token}` } } : { cert: readFileSync(as.cert), key: readFileSync(as.key) }),
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${path}: ${res.statusCode} ${body}`))));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const plainMetrics = async (p: AggregatorProc): Promise<string> => (await fetch(`http://127.0.0.1:${p.httpPort}/metrics`)).text();
const metric = (text: string, series: string): number => Number(new RegExp(`^${series.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
const walk = (c: Cell, out = new Map<string, Cell>()): Map<string, Cell> => {
  out.set(c.path, c);
  for (const ch of c.children) walk(ch, out);
  return out;
};
const batches = (signals: Signal[], size = 200): Signal[][] => Array.from({ length: Math.ceil(signals.length / size) }, (_, i) => signals.slice(i * size, (i + 1) * size));
const refusalLine = (code: string) => (l: LogLine): boolean => l.level === 50 && l.msg.startsWith(`federation: the upstream refused this leaf (${code})`);
const stable = (subject: string, sourceId: string): Signal => signal({ sourceId, subject, queue: undefined, status: { condition: 1, confidence: 1 } } as Partial<Signal>);

test('TLS + per-identity tokens: the right token forwards; another identity\'s is PERMISSION_DENIED; none or a wrong one UNAUTHENTICATED; the token never shows', async () => {
  const token = { east: `east-${randomBytes(16).toString('hex')}`, west: `west-${randomBytes(16).toString('hex')}`, reader: `reader-${randomBytes(16).toString('hex')}` };
  const dir = tempDir('fed-door-');
  const identities = join(dir, 'identities.yaml');
  writeFileSync(
    identities,
    `identities:
  - { name: east-leaf, tokenSha256: ${createHash('sha256').update(token.east).digest('hex')}, sources: [east] }
  - { name: west-leaf, token: ${token.west}, sources: [west] }
  - { name: reader, token: ${token.reader}, sources: [] }
`,
  );
  const tokenFile = join(dir, 'east-token');
  writeFileSync(tokenFile, `${token.east}\n`);
  const up = await started(['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--identities-file', identities]);
  const upUrl = `grpcs://127.0.0.1:${up.grpcPort}`;
  const leafArgs = (name: string) => ['--upstream', upUrl, '--leaf-name', name, '--upstream-tls-ca', certs.ca, '--default-cluster', 'prod'];
  const reader = upstreamClient(up.grpcPort, { token: token.reader });
  const upNarratives = new Collector(reader.client, { kinds: [EventKind.NARRATIVE] }, reader.metadata);

  // The right token, from a file: east forwards; its narrative and cells appear upstream.
  const east = await started([...leafArgs('east'), '--upstream-token-file', tokenFile]);
  await east.waitForLog((l) => l.msg.startsWith('federation: connected'));
  const { client: eastClient, channel: eastChannel } = aggregatorClient(east.url);
  channels.push(eastChannel);
  const sc = loadScenario('cascade', { rebaseEndTo: nowNs() - SECOND });
  const recovery = sc.startNs + BigInt(Math.round(sc.meta.recoveryAtSeconds! * 1000)) * 1_000_000n;
  await streamSignals(eastClient, batches(arrivingLate(sc.signals, 'kafka-1', 9n * SECOND).filter((s) => s.timestamp < recovery)));
  await upNarratives.until((ev) => ev.some((e) => e.narrative?.state === Narrative_State.OPEN && e.narrative.leaf === 'east'), 'east\'s narrative upstream');
  assert.ok(upNarratives.events.every((e) => e.leaf === 'east'));
  await until(async () => walk(await reader.client.getCell({ path: '', depth: 0, limit: 0, after: '' }, { metadata: reader.metadata })).get('cluster/prod/broker/1')?.leaf === 'east', 'east\'s cells upstream');

  // Another identity's token (west-leaf may speak for "west") under the leaf name "east".
  const impostor = await started(leafArgs('east'), { UPSTREAM_TOKEN: token.west });
  const said = await impostor.waitForLog(refusalLine('PERMISSION_DENIED'));
  assert.match(String(said.err), /leaf "east" is not among the sources identity "west-leaf" \(token\) may speak for \(west\)/);
  assert.match(said.msg, /may not speak for the leaf name "east": add "east" to that identity's sources in the upstream's --identities-file/);
  // It keeps retrying (with backoff), every refusal counted upstream and on the leaf; said once.
  await until(async () => metric(await httpsGet(up.httpPort, '/metrics', { token: token.reader }), 'kafkaobs_refusals_total{door="grpc",reason="foreign_source"}') >= 2, 'a second refusal upstream');
  await until(async () => metric(await plainMetrics(impostor), 'kafkaobs_federation_upstream_refusals_total{code="PERMISSION_DENIED"}') >= 2, 'the leaf counting two refusals');
  assert.is(impostor.lines.filter(refusalLine('PERMISSION_DENIED')).length, 1, 'the refusal is said once, not at every retry');
  assert.ok(up.lines.some((l) => l.msg === 'federation stream refused: a leaf name not its own' && l.identity === 'west-leaf' && l.leaf === 'east'));
  // Its journal keeps what it decides meanwhile.
  const { client: impostorClient, channel: impostorChannel } = aggregatorClient(impostor.url);
  channels.push(impostorChannel);
  const [ack] = await streamSignals(impostorClient, [[stable('cluster/prod/broker/7#request-handler-idle', 'impostor-agent')]]);
  assert.is(ack!.accepted, 1);
  const im = await plainMetrics(impostor);
  assert.is(metric(im, 'kafkaobs_federation_upstream_connected'), 0);
  assert.ok(metric(im, 'kafkaobs_federation_upstream_behind_events') > 0, 'what it decided waits in its journal');
  assert.not.ok(walk(await reader.client.getCell({ path: '', depth: 0, limit: 0, after: '' }, { metadata: reader.metadata })).has('cluster/prod/broker/7'), 'nothing of the impostor taken upstream');

  // No token: UNAUTHENTICATED, and the leaf says it sent none. A wrong token: said so.
  const anonymous = await started(leafArgs('nobody'));
  const none = await anonymous.waitForLog(refusalLine('UNAUTHENTICATED'));
  assert.match(String(none.err), /missing bearer token/);
  assert.match(none.msg, /this leaf sent no bearer token and no client certificate: give --upstream-token-file \(or UPSTREAM_TOKEN\)/);
  const wrongToken = `wrong-${randomBytes(16).toString('hex')}`;
  const wrong = await started(leafArgs('east'), { UPSTREAM_TOKEN: wrongToken });
  const wrongSaid = await wrong.waitForLog(refusalLine('UNAUTHENTICATED'));
  assert.match(wrongSaid.msg, /did not accept this leaf's bearer token/);
  const upMetrics = await httpsGet(up.httpPort, '/metrics', { token: token.reader });
  assert.ok(metric(upMetrics, 'kafkaobs_auth_failures_total{reason="missing"}') >= 1);
  assert.ok(metric(upMetrics, 'kafkaobs_auth_failures_total{reason="wrong"}') >= 1);

  // No token anywhere: the logs of every process, the metrics, the HTTP API.
  const secrets = [token.east, token.west, token.reader, wrongToken];
  const shown = [
    ...[up, east, impostor, anonymous, wrong].flatMap((p) => p.lines.map((l) => `${p.name}: ${JSON.stringify(l)}`)),
    `upstream /metrics: ${upMetrics}`,
    ...(await Promise.all([east, impostor, wrong].map(async (p) => `leaf /metrics: ${await plainMetrics(p)}`))),
    `upstream /api/cells: ${await httpsGet(up.httpPort, '/api/cells?depth=0', { token: token.reader })}`,
    `upstream /api/narratives/latest: ${await httpsGet(up.httpPort, '/api/narratives/latest?resolved=true', { token: token.reader })}`,
  ];
  for (const s of secrets) {
    const leak = shown.find((t) => t.includes(s));
    assert.is(leak, undefined, `a token shows: ${leak?.slice(0, 300)}`);
  }
  await upNarratives.close();
});

test('mutual TLS: the leaf\'s certificate speaks for its leaf name; another certificate is PERMISSION_DENIED', async () => {
  const dir = tempDir('fed-door-mtls-');
  const identities = join(dir, 'identities.yaml');
  writeFileSync(identities, 'identities:\n  - { name: east-leaf, certificate: agent-1, sources: [east] }\n');
  const up = await started(['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--tls-client-ca', certs.ca, '--identities-file', identities]);
  const upUrl = `grpcs://127.0.0.1:${up.grpcPort}`;
  const leafArgs = (name: string, cert?: string, key?: string) => ['--upstream', upUrl, '--leaf-name', name, '--upstream-tls-ca', certs.ca, '--default-cluster', 'prod', ...(cert && key ? ['--upstream-tls-cert', cert, '--upstream-tls-key', key] : [])];
  const asEast = { cert: certs.clientCert, key: certs.clientKey };
  const reader = upstreamClient(up.grpcPort, asEast);

  const east = await started(leafArgs('east', certs.clientCert, certs.clientKey));
  await east.waitForLog((l) => l.msg.startsWith('federation: connected'));
  const { client: eastClient, channel: eastChannel } = aggregatorClient(east.url);
  channels.push(eastChannel);
  await streamSignals(eastClient, [[stable('cluster/prod/broker/1#request-handler-idle', 'east-agent')]]);
  await until(async () => walk(await reader.client.getCell({ path: '', depth: 0, limit: 0, after: '' }, { metadata: reader.metadata })).get('cluster/prod/broker/1')?.leaf === 'east', 'east\'s cells upstream');

  // agent-2's certificate (not in the file: it speaks for "agent-2" only) under the name "east".
  const impostor = await started(leafArgs('east', certs.client2Cert, certs.client2Key));
  const said = await impostor.waitForLog(refusalLine('PERMISSION_DENIED'));
  assert.match(String(said.err), /leaf "east" is not among the sources identity "agent-2" \(certificate\) may speak for \(agent-2\)/);
  assert.match(said.msg, /give this leaf the certificate of an identity that may/);
  await until(async () => metric(await httpsGet(up.httpPort, '/metrics', asEast), 'kafkaobs_refusals_total{door="grpc",reason="foreign_source"}') >= 2, 'a second refusal upstream');

  // No client certificate: the handshake is refused; the leaf says what to give.
  const bare = await started(leafArgs('east'));
  const bareSaid = await bare.waitForLog((l) => l.level >= 40 && l.msg.startsWith('federation:') && !l.msg.startsWith('federation: connected'));
  assert.match(bareSaid.msg, /the upstream asks for a client certificate \(mutual TLS\): give --upstream-tls-cert and --upstream-tls-key/, bareSaid.msg);
  assert.match(String(bareSaid.err), /certificate required/);
});

test.run();
