// No one speaks for another (issue 14's probes 1 and 2): with an identities file each agent's
// token speaks for its own source only. A client holding another identity's token that sends a
// signal as a real agent, with seq 9,223,372,036,854,775,000 (the probe that stalled an agent
// forever), is refused with PERMISSION_DENIED and counted, and the real agent keeps flowing. An
// implausible seq is refused even for one's own source. With the legacy shared token, where
// anyone may speak for anyone, the agent that is acknowledged beyond what it sent renumbers and
// keeps flowing instead of stalling. The HTTP port asks for the same tokens.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClientError, Metadata, Status } from 'nice-grpc';
import { EventKind, type Ack } from '../proto/index.js';
import { Collector, aggregatorClient, signal } from './support/client.js';
import { agent, aggregator, postJson, tempDir, until, type AgentProc, type AggregatorProc } from './support/procs.js';

const test = suite('identity bound to the connection');
const TOKENS = { orders: 'orders-1-token-0123456789', forger: 'forger-token-0123456789ab', reader: 'reader-token-0123456789ab', shared: 'one-shared-token-0123456789' };
const FORGED_SEQ = 9_223_372_036_854_775_000n;
let agg: AggregatorProc | undefined;
let a: AgentProc | undefined;

test.after.each(async () => {
  await a?.kill();
  await agg?.kill();
  a = undefined;
  agg = undefined;
});

const bearer = (token: string) => ({ metadata: Metadata({ authorization: `Bearer ${token}` }) });
const metricsText = async (token: string): Promise<string> => (await fetch(`http://127.0.0.1:${agg!.httpPort}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
const metric = (text: string, name: string): number => Number(new RegExp(`^${name.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\d+)`, 'm').exec(text)?.[1] ?? 0);

/** One batch from a client holding `token`; the Ack, or the error. */
async function sendAs(token: string, sourceId: string, seq: bigint): Promise<Ack | ClientError> {
  const { client, channel } = aggregatorClient(`127.0.0.1:${agg!.grpcPort}`);
  try {
    for await (const ack of client.streamSignals((async function* () { yield { signals: [signal({ sourceId, seq })] }; })(), bearer(token))) return ack;
    throw new Error('no ack');
  } catch (e) {
    if (e instanceof ClientError) return e;
    throw e;
  } finally {
    channel.close();
  }
}

/** Posts `n` signals to the agent's intake, one request each (as a service would). */
async function emit(n: number, from: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await postJson(`http://127.0.0.1:${a!.httpPort}/v1/signals`, { subject: 'service/orders/pod/orders-1/producer/p1#sends', counter: { sign: 'INCREMENT', value: from + i } });
    assert.is(r.json.accepted, 1);
  }
}

/** The agent's status: connected, outbox, acked seq. */
const status = async (): Promise<{ connected: boolean; outbox: number; ackedSeq: string }> => {
  const s = (await (await fetch(`http://127.0.0.1:${a!.httpPort}/v1/status`)).json()) as { connected: boolean; outbox: { signals: number }; ackedSeq: string };
  return { connected: s.connected, outbox: s.outbox.signals, ackedSeq: s.ackedSeq };
};

test('a forged source with another identity\'s token is refused; the real agent keeps flowing', async () => {
  const dir = tempDir('identities-');
  const file = join(dir, 'identities.yaml');
  writeFileSync(
    file,
    `identities:
  - { name: orders-1, token: ${TOKENS.orders} }
  - { name: forger, token: ${TOKENS.forger} }
  - { name: reader, token: ${TOKENS.reader}, sources: [] }
`,
  );
  agg = await aggregator(['--identities-file', file]);
  assert.ok(agg.lines.some((l) => l.msg === 'aggregator listening' && l.auth === '3 identity tokens'));
  a = await agent('orders-1', agg.url, [], { AGGREGATOR_TOKEN: TOKENS.orders });
  const sub = new Collector(aggregatorClient(`127.0.0.1:${agg.grpcPort}`).client, { kinds: [EventKind.SIGNAL], subjectPrefix: 'service/orders', fromOffset: 0n }, bearer(TOKENS.reader).metadata);
  await emit(20, 0);
  await sub.until((ev) => ev.filter((e) => e.signal?.sourceId === 'orders-1').length >= 20, 'the first 20 signals');

  // The probe: another identity speaks as orders-1 with a seq near 2^63.
  const forged = await sendAs(TOKENS.forger, 'orders-1', FORGED_SEQ);
  assert.instance(forged, ClientError);
  assert.is((forged as ClientError).code, Status.PERMISSION_DENIED);
  assert.match((forged as ClientError).details, /source_id "orders-1" is not among the sources identity "forger" \(token\) may speak for \(forger\)/);
  // A reader may read but speak for no source.
  const reader = await sendAs(TOKENS.reader, 'reader', 1n);
  assert.is((reader as ClientError).code, Status.PERMISSION_DENIED);
  assert.match((reader as ClientError).details, /may speak for \(none\)/);

  // The real agent: its next 200 signals all arrive, nothing stays in its outbox.
  await emit(200, 20);
  await sub.until((ev) => ev.filter((e) => e.signal?.sourceId === 'orders-1').length >= 220, 'all 220 signals of the real agent');
  const s = await until(async () => { const x = await status(); return x.outbox === 0 ? x : undefined; }, 'the agent\'s outbox to empty');
  assert.ok(BigInt(s.ackedSeq) < FORGED_SEQ / 1000n, `the agent's acked seq stayed its own (${s.ackedSeq})`);
  const m = await metricsText(TOKENS.reader);
  assert.is(metric(m, 'kafkaobs_refusals_total{door="grpc",reason="foreign_source"}'), 2);
  assert.is(metric(m, 'kafkaobs_grpc_server_handled_total{grpc_service="kafkaobs.v1.SignalAggregator",grpc_method="StreamSignals",grpc_code="PERMISSION_DENIED"}'), 2);
  await sub.close();
  for (const t of Object.values(TOKENS)) assert.not.ok(agg.lines.some((l) => JSON.stringify(l).includes(t)), 'no token is logged');
});

test('an implausible seq is refused even for one\'s own source, and moves nothing', async () => {
  const file = join(tempDir('identities-'), 'identities.json');
  writeFileSync(file, JSON.stringify({ identities: [{ name: 'forger', tokenSha256: (await import('node:crypto')).createHash('sha256').update(TOKENS.forger).digest('hex') }] }));
  agg = await aggregator(['--identities-file', file]);
  const ahead = (await sendAs(TOKENS.forger, 'forger', FORGED_SEQ)) as Ack;
  assert.is(ahead.accepted, 0);
  assert.match(ahead.rejections[0]!.reason, /seq 9223372036854775000 is implausibly far ahead/);
  assert.is(ahead.ackedSeq, 0n, 'the source\'s sequence did not move');
  const next = (await sendAs(TOKENS.forger, 'forger', 5n)) as Ack;
  assert.equal([next.accepted, next.ackedSeq], [1, 5n], 'a plausible seq after it is taken');
  assert.is(metric(await metricsText(TOKENS.forger), 'kafkaobs_signals_rejected_total{reason="seq_ahead"}'), 1);
});

test('the HTTP port asks for the same tokens; probes stay open; /metrics can be opened', async () => {
  const file = join(tempDir('identities-'), 'identities.yaml');
  writeFileSync(file, `identities:\n  - { name: reader, token: ${TOKENS.reader}, sources: [] }\n`);
  agg = await aggregator(['--identities-file', file]);
  const base = `http://127.0.0.1:${agg.httpPort}`;
  for (const path of ['/api/cells', '/api/narratives/latest', '/api/clusters', '/api/signals/recent', '/metrics']) {
    const r = await fetch(`${base}${path}`);
    assert.is(r.status, 401, path);
    assert.match(await r.text(), /missing bearer token/);
    assert.is((await fetch(`${base}${path}`, { headers: { authorization: 'Bearer nope-nope-nope-nope' } })).status, 401);
    assert.is((await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TOKENS.reader}` } })).status, 200, `${path} with the token`);
  }
  assert.is((await fetch(`${base}/healthz`)).status, 200);
  assert.is((await fetch(`${base}/readyz`)).status, 200);
  assert.is((await fetch(`${base}/v1/cell?path=`, { headers: { authorization: `Bearer ${TOKENS.reader}` } })).status, 410, 'the old path says where it went');
  const m = await metricsText(TOKENS.reader);
  assert.is(metric(m, 'kafkaobs_refusals_total{door="http",reason="unauthenticated_missing"}'), 5);
  assert.is(metric(m, 'kafkaobs_refusals_total{door="http",reason="unauthenticated_wrong"}'), 5);
  await agg.kill();
  agg = await aggregator(['--identities-file', file, '--metrics-open']);
  assert.is((await fetch(`http://127.0.0.1:${agg.httpPort}/metrics`)).status, 200, '--metrics-open');
  assert.is((await fetch(`http://127.0.0.1:${agg.httpPort}/api/cells`)).status, 401, 'the API stays closed');
});

test('with one shared token, an agent acknowledged beyond what it sent renumbers and keeps flowing', async () => {
  agg = await aggregator([], { KAFKA_OBS_TOKEN: TOKENS.shared });
  assert.ok(agg.lines.some((l) => /one shared token: whoever holds it may speak for any source/.test(String(l.msg))));
  a = await agent('orders-1', agg.url, [], { AGGREGATOR_TOKEN: TOKENS.shared });
  const sub = new Collector(aggregatorClient(`127.0.0.1:${agg.grpcPort}`).client, { kinds: [EventKind.SIGNAL], subjectPrefix: 'service/orders', fromOffset: 0n }, bearer(TOKENS.shared).metadata);
  await emit(5, 0);
  await sub.until((ev) => ev.filter((e) => e.signal?.sourceId === 'orders-1').length >= 5, 'the first signals');
  // The near-2^63 probe is refused as implausible; a forger within the plausible window gets in.
  const far = (await sendAs(TOKENS.shared, 'orders-1', FORGED_SEQ)) as Ack;
  assert.is(far.accepted, 0);
  const nearAhead = BigInt(Date.now()) * 1000n + 60_000_000n;
  const near = (await sendAs(TOKENS.shared, 'orders-1', nearAhead)) as Ack;
  assert.is(near.accepted, 1);
  // The real agent's next signals: acknowledged beyond what it sent, it renumbers after the
  // forged seq and sends them again; every one arrives.
  await emit(50, 100);
  await sub.until((ev) => ev.filter((e) => e.signal?.sourceId === 'orders-1' && e.signal.counter !== undefined && e.signal.counter.value >= 100).length >= 50, 'the 50 signals after the forgery');
  const s = await until(async () => { const x = await status(); return x.outbox === 0 && x.connected ? x : undefined; }, 'the agent\'s outbox to empty');
  assert.ok(BigInt(s.ackedSeq) > nearAhead, 'numbered after the forged seq');
  const agentMetrics = await (await fetch(`http://127.0.0.1:${a.httpPort}/metrics`)).text();
  assert.ok(metric(agentMetrics, 'kafkaobs_agent_acks_beyond_sent_total') >= 1);
  assert.ok(a.lines.some((l) => /acknowledged a seq beyond anything this agent sent/.test(String(l.msg))));
  await sub.close();
});

test.run();
