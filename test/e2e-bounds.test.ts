// Bounded everything (issue 14's probe 3): the aggregator's caps on connections, connections that
// never start a call, signal streams, silent streams, subscribers, tracked sources and answer
// sizes hold, each refusal is counted by reason, and a well-behaved agent keeps working beside them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as h2Connect } from 'node:http2';
import { once } from 'node:events';
import { ClientError, Status } from 'nice-grpc';
import { EventKind, Status_Condition, Status_Confidence, type Ack, type Signal, type SignalBatch } from '../proto/index.js';
import { Collector, aggregatorClient, signal, type Client } from './support/client.js';
import { agent, aggregator, postJson, until, type AgentProc, type AggregatorProc } from './support/procs.js';

const test = suite('bounds');
let agg: AggregatorProc | undefined;
let a: AgentProc | undefined;
const closers: (() => void)[] = [];

test.after.each(async () => {
  for (const c of closers.splice(0)) c();
  await a?.kill();
  await agg?.kill();
  a = undefined;
  agg = undefined;
});

const metricsText = async (): Promise<string> => (await fetch(`http://127.0.0.1:${agg!.httpPort}/metrics`)).text();
const metric = async (name: string): Promise<number> => Number(new RegExp(`^${name.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\d+)`, 'm').exec(await metricsText())?.[1] ?? 0);
const refusals = (reason: string): Promise<number> => metric(`kafkaobs_refusals_total{door="grpc",reason="${reason}"}`);

/** A signal stream held open: the hello's ack tells it is taken; `send` writes a batch, `ended` how it ended. */
function openStream(client: Client): { taken: Promise<Ack | ClientError>; send(b: SignalBatch): void; ended: Promise<ClientError | undefined>; close(): void } {
  const abort = new AbortController();
  const queue: SignalBatch[] = [{ signals: [] }];
  let wake: (() => void) | undefined;
  async function* requests() {
    for (;;) {
      while (queue.length === 0) await new Promise<void>((r) => (wake = r));
      yield queue.shift()!;
    }
  }
  let first!: (v: Ack | ClientError) => void;
  const taken = new Promise<Ack | ClientError>((r) => (first = r));
  const ended = (async () => {
    try {
      for await (const ack of client.streamSignals(requests(), { signal: abort.signal })) first(ack);
      return undefined;
    } catch (e) {
      first(e as ClientError);
      return e instanceof ClientError ? e : undefined;
    }
  })();
  return { taken, send: (b) => { queue.push(b); wake?.(); }, ended, close: () => abort.abort() };
}

const closed = (s: Socket): Promise<void> => (s.destroyed ? Promise.resolve() : once(s, 'close').then(() => undefined));

test('streams past --max-streams and subscribers past --max-subscribers: RESOURCE_EXHAUSTED, counted', async () => {
  agg = await aggregator(['--max-streams', '3', '--max-subscribers', '2']);
  const { client, channel } = aggregatorClient(`127.0.0.1:${agg.grpcPort}`);
  closers.push(() => channel.close());
  const streams = [openStream(client), openStream(client), openStream(client)];
  for (const s of streams) closers.push(s.close);
  for (const s of streams) assert.ok(!((await s.taken) instanceof ClientError), 'the first three are taken');
  const fourth = openStream(client);
  const refused = (await fourth.taken) as ClientError;
  assert.is(refused.code, Status.RESOURCE_EXHAUSTED);
  assert.match(refused.details, /3 signal streams are open, the most this aggregator takes \(--max-streams 3\)/);
  assert.is(await refusals('stream_limit'), 1);
  streams[0]!.close();
  await until(async () => (await metric('kafkaobs_streams_open')) === 2, 'a stream to close');
  const again = openStream(client);
  closers.push(again.close);
  assert.ok(!((await again.taken) instanceof ClientError), 'room again once one closed');

  const subs = [new Collector(client, {}), new Collector(client, {})];
  closers.push(() => subs.forEach((s) => void s.close()));
  await until(async () => (await metric('kafkaobs_subscribers_open')) === 2, 'two subscribers');
  const third = new Collector(client, {});
  await third.done;
  assert.is((third.error as ClientError).code, Status.RESOURCE_EXHAUSTED);
  assert.match((third.error as ClientError).details, /--max-subscribers 2/);
  assert.is(await refusals('subscriber_limit'), 1);
});

test('a silent stream is ended after --stream-idle-timeout; an agent\'s keepalive keeps its own', async () => {
  agg = await aggregator(['--stream-idle-timeout', '1500ms']);
  const { client, channel } = aggregatorClient(`127.0.0.1:${agg.grpcPort}`);
  closers.push(() => channel.close());
  a = await agent('keeps-alive', agg.url, ['--keepalive', '300ms']);
  await until(async () => (await metric('kafkaobs_streams_open')) === 1, 'the agent connected');
  const silent = openStream(client);
  closers.push(silent.close);
  await silent.taken;
  const t0 = Date.now();
  const ended = await silent.ended;
  assert.is(ended?.code, Status.DEADLINE_EXCEEDED);
  assert.match(ended!.details, /signal stream sent nothing for 1\.5 s/);
  assert.ok(Date.now() - t0 < 15_000, 'ended within the timeout (and the machine\'s slack)');
  assert.is(await refusals('idle_stream'), 1);
  // The agent sent nothing but keepalives all along: still connected, never ended.
  const r = await postJson(`http://127.0.0.1:${a.httpPort}/v1/signals`, { subject: 'service/k/pod/keeps-alive/producer/p#sends', counter: { sign: 'INCREMENT', value: 1 } });
  assert.is(r.json.accepted, 1);
  await until(async () => (await metric('kafkaobs_signals_accepted_total')) >= 1, 'the agent\'s signal');
  assert.not.ok(a.lines.some((l) => l.msg === 'aggregator stream failed'), 'the agent\'s stream never failed');
});

test('a connection that never starts a call is closed after --connection-start-timeout, counted', async () => {
  agg = await aggregator(['--connection-start-timeout', '1s']);
  // A TCP connection that sends nothing, and one that speaks HTTP/2 but never calls.
  const mute = tcpConnect(agg.grpcPort, '127.0.0.1');
  mute.on('error', () => {});
  await once(mute, 'connect');
  const h2 = h2Connect(`http://127.0.0.1:${agg.grpcPort}`);
  h2.on('error', () => {});
  await once(h2, 'connect');
  await closed(mute);
  if (!h2.closed) await once(h2, 'close');
  assert.is(await refusals('connection_start_timeout'), 2);
  // A client that calls at once keeps its connection past the timeout.
  const { client, channel } = aggregatorClient(`127.0.0.1:${agg.grpcPort}`);
  closers.push(() => channel.close());
  const live = openStream(client);
  closers.push(live.close);
  await live.taken;
  await until(async () => (await refusals('connection_start_timeout')) === 2 && (await metric('kafkaobs_grpc_connections_open')) === 1, 'the live connection counted');
  live.send({ signals: [signal({ sourceId: 'live' })] });
  await until(async () => (await metric('kafkaobs_signals_accepted_total')) === 1, 'the live stream still taken');
});

test('connections past --max-connections are closed at accept, counted; those open keep working', async () => {
  agg = await aggregator(['--max-connections', '4', '--connection-start-timeout', '10m']);
  const { client, channel } = aggregatorClient(`127.0.0.1:${agg.grpcPort}`);
  closers.push(() => channel.close());
  const live = openStream(client);
  closers.push(live.close);
  await live.taken;
  const raw: Socket[] = [];
  closers.push(() => raw.forEach((x) => x.destroy()));
  for (let i = 0; i < 3; i++) {
    const x = tcpConnect(agg.grpcPort, '127.0.0.1');
    x.on('error', () => {});
    await once(x, 'connect');
    raw.push(x);
  }
  await until(async () => (await metric('kafkaobs_grpc_connections_open')) === 4, 'four connections open');
  const fifth = tcpConnect(agg.grpcPort, '127.0.0.1');
  fifth.on('error', () => {});
  await closed(fifth);
  assert.is(await refusals('connection_limit'), 1);
  live.send({ signals: [signal({ sourceId: 'live' })] });
  await until(async () => (await metric('kafkaobs_signals_accepted_total')) === 1, 'the live stream still taken');
});

test('sources past --max-sources: refused until a silent one may be forgotten', async () => {
  agg = await aggregator(['--max-sources', '3', '--source-evict-after', '1500ms']);
  const { client, channel } = aggregatorClient(`127.0.0.1:${agg.grpcPort}`);
  closers.push(() => channel.close());
  const s = openStream(client);
  closers.push(s.close);
  await s.taken;
  const acks: Ack[] = [];
  const send = async (signals: Signal[]): Promise<Ack[]> => {
    const before = acks.length;
    const got: Ack[] = [];
    const expected = new Set(signals.map((x) => x.sourceId)).size;
    const { client: c2, channel: ch2 } = aggregatorClient(`127.0.0.1:${agg!.grpcPort}`);
    try {
      for await (const ack of c2.streamSignals((async function* () { yield { signals }; })())) {
        got.push(ack);
        if (got.length === expected) break;
      }
    } finally {
      ch2.close();
    }
    acks.push(...got);
    return acks.slice(before);
  };
  await send([signal({ sourceId: 'src-1' }), signal({ sourceId: 'src-2' }), signal({ sourceId: 'src-3' })]);
  const [fourth] = await send([signal({ sourceId: 'src-4' })]);
  assert.is(fourth!.accepted, 0);
  assert.match(fourth!.rejections[0]!.reason, /too many sources: 3 tracked, the most this aggregator keeps \(--max-sources\)/);
  assert.is(await metric('kafkaobs_signals_rejected_total{reason="source_limit"}'), 1);
  // src-1 and src-2 fall silent; src-3 keeps talking. Past the eviction age a new source gets the room.
  const later = await until(async () => {
    await send([signal({ sourceId: 'src-3' })]);
    const [x] = await send([signal({ sourceId: 'src-5' })]);
    return x!.accepted === 1 ? x : undefined;
  }, 'src-5 to be taken once src-1 and src-2 are silent long enough', 30_000);
  assert.is(later.accepted, 1);
  assert.is(await metric('kafkaobs_sources_evicted_total'), 2);
  assert.is(await metric('kafkaobs_sources'), 2);
});

test('answers are bounded: GetCell and /api/cells page through a large level; clusters\' groups too', async () => {
  agg = await aggregator(['--max-response-cells', '50']);
  const { client, channel } = aggregatorClient(`127.0.0.1:${agg.grpcPort}`);
  closers.push(() => channel.close());
  const sub = new Collector(client, { kinds: [EventKind.SIGNAL], fromOffset: 0n });
  closers.push(() => void sub.close());
  const partitions = Array.from({ length: 120 }, (_, p) => signal({ sourceId: 'sensor', subject: `cluster/big/topic/orders/partition/${p}#replicas`, queue: undefined, status: { condition: Status_Condition.STABLE, confidence: Status_Confidence.MEASURED } }));
  const groups = Array.from({ length: 70 }, (_, g) => signal({ sourceId: 'sensor', subject: `cluster/big/group/g${String(g).padStart(3, '0')}#lag`, queue: undefined, status: { condition: Status_Condition.STABLE, confidence: Status_Confidence.MEASURED } }));
  const s = openStream(client);
  closers.push(s.close);
  await s.taken;
  s.send({ signals: [...partitions, ...groups] });
  await sub.until((ev) => ev.length >= 190, 'the signals to be taken');

  const whole = await client.getCell({ path: '', depth: 0, limit: 0, after: '' });
  const count = (c: typeof whole): number => 1 + c.children.reduce((n, k) => n + count(k), 0);
  assert.is(count(whole), 50, 'depth 0 of the whole estate: capped at 50 cells');
  // Paging one level: all 120 partitions, 49 at a time (the cell itself counts).
  const seen: string[] = [];
  let after = '';
  for (;;) {
    const page = await client.getCell({ path: 'cluster/big/topic/orders/partition', depth: 1, limit: 0, after });
    seen.push(...page.children.map((c) => c.name));
    if (page.nextAfter === '') break;
    assert.is(page.children.length, 49);
    after = page.nextAfter;
  }
  assert.equal(seen, partitions.map((_, p) => String(p)), 'every partition once, in order');
  const api = (await (await fetch(`http://127.0.0.1:${agg.httpPort}/api/cells/cluster/big/topic/orders/partition?depth=1&limit=10&after=9`)).json()) as { cell: { children: { name: string }[]; nextAfter: string; omittedChildren: number } };
  assert.equal(api.cell.children.map((c) => c.name), ['10', '11', '12', '13', '14', '15', '16', '17', '18']);
  assert.is(api.cell.nextAfter, '18');
  const tooMany = await fetch(`http://127.0.0.1:${agg.httpPort}/api/cells?limit=51`);
  assert.is(tooMany.status, 400);
  const listed = (await (await fetch(`http://127.0.0.1:${agg.httpPort}/api/clusters/big/groups?limit=30`)).json()) as { groups: { name: string }[]; next: string };
  assert.is(listed.groups.length, 30);
  assert.is(listed.next, 'g029');
  const rest = (await (await fetch(`http://127.0.0.1:${agg.httpPort}/api/clusters/big/groups?limit=50&after=${listed.next}`)).json()) as { groups: { name: string }[]; next?: string };
  assert.is(rest.groups.length, 40);
  assert.is(rest.next, undefined);
});

test.run();
