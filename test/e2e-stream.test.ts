// End to end with real processes: an aggregator, three agents (fed over HTTP, gRPC and an NDJSON
// file), a subscriber. Every signal sent arrives exactly once, in per-source order.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createChannel, createClientFactory } from 'nice-grpc';
import { EventKind, LocalAgentDefinition, Queue_Sign, directDefinition, type Signal } from '../proto/index.js';
import { agent, aggregator, getJson, postJson, tempDir, until, type AgentProc, type AggregatorProc } from './support/procs.js';
import { aggregatorClient, Collector } from './support/client.js';

const test = suite('end to end: agents -> aggregator -> subscriber');
const N = 400;
let agg: AggregatorProc;
let agents: AgentProc[] = [];

test.after(async () => {
  await Promise.all(agents.map((a) => a.kill()));
  await agg?.kill();
});

const signalJson = (agentName: string, i: number) => ({
  subject: `service/${agentName}/pod/${agentName}-0/producer/p${i % 3}`,
  queue: { sign: 'ENQUEUE', units: i },
  context: { id: `${agentName}-${i}`, 'client-id': `p${i % 3}` },
});

test('every signal arrives exactly once, in per-source order', async () => {
  agg = await aggregator();
  const dir = tempDir('file-');
  const file = join(dir, 'signals.ndjson');
  writeFileSync(file, Array.from({ length: N }, (_, i) => JSON.stringify(signalJson('c', i))).join('\n') + '\n');
  agents = await Promise.all([agent('a', agg.url), agent('b', agg.url), agent('c', agg.url, ['--from-file', file])]);
  const { client, channel } = aggregatorClient(agg.url);
  const sub = new Collector(client, { kinds: [EventKind.SIGNAL], fromOffset: 0n });

  // a: HTTP in batches of 50; b: gRPC LocalAgent/Emit in batches of 40.
  const httpSend = (async () => {
    for (let i = 0; i < N; i += 50) {
      const r = await postJson(`http://127.0.0.1:${agents[0]!.httpPort}/v1/signals`, Array.from({ length: 50 }, (_, k) => signalJson('a', i + k)));
      assert.is(r.status, 200);
      assert.is(r.json.accepted, 50);
    }
  })();
  const local = createClientFactory().create(directDefinition(LocalAgentDefinition), createChannel(`127.0.0.1:${agents[1]!.grpcPort}`));
  for (let i = 0; i < N; i += 40) {
    const signals: Signal[] = Array.from({ length: 40 }, (_, k) => ({
      sourceId: '', seq: 0n, subject: `service/b/pod/b-0/consumer/c${(i + k) % 2}`, timestamp: 0n,
      queue: { sign: Queue_Sign.DEQUEUE, units: i + k }, context: { id: `b-${i + k}` }, clock: {},
    }));
    const reply = await local.emit({ signals });
    assert.is(reply.accepted, 40);
  }
  await httpSend;

  await sub.until((ev) => ev.length >= 3 * N, `${3 * N} signals at the subscriber`);
  // Every agent's outbox drains: everything was acknowledged.
  for (const a of agents) {
    await until(async () => (await getJson<{ outbox: { signals: number } }>(`http://127.0.0.1:${a.httpPort}/v1/status`)).outbox.signals === 0, `agent ${a.id} outbox empty`);
  }
  const ids = sub.events.map((e) => e.signal!.context.id!);
  assert.is(new Set(ids).size, ids.length, 'no signal arrives twice');
  assert.is(ids.length, 3 * N, 'every signal arrives');
  for (const name of ['a', 'b', 'c']) {
    const mine = sub.events.filter((e) => e.signal!.sourceId === name).map((e) => e.signal!);
    assert.is(mine.length, N, `all of ${name}'s signals`);
    assert.equal(mine.map((s) => s.context.id), Array.from({ length: N }, (_, i) => `${name}-${i}`), `${name}'s signals in the order sent`);
    for (let i = 1; i < mine.length; i++) assert.ok(mine[i]!.seq > mine[i - 1]!.seq, 'seq increases per source');
    // The agent stamped its vector clock: its own entry is the seq.
    assert.is(mine[0]!.clock[name], mine[0]!.seq);
    assert.ok(mine[0]!.timestamp > 0n, 'timestamp filled by the agent');
  }
  // The hierarchy saw them: GetCell on a pod.
  const cell = await client.getCell({ path: 'service/b/pod/b-0/consumer', depth: 0, limit: 0, after: '' });
  assert.is(cell.signals, BigInt(N));
  assert.is(cell.children.length, 2);
  // SubscribeBatches carries the same events, several per message.
  const batched: string[] = [];
  for await (const batch of client.subscribeBatches({ kinds: [EventKind.SIGNAL], subjectPrefix: '', fromOffset: 0n })) {
    batched.push(...batch.events.map((e) => e.signal!.context.id!));
    if (batched.length >= ids.length) break;
  }
  assert.equal(batched, ids, 'SubscribeBatches delivers the same events in the same order');
  await sub.close();
  channel.close();
  // The aggregator's metrics count what it took.
  const metrics = await (await fetch(`http://127.0.0.1:${agg.httpPort}/metrics`)).text();
  assert.match(metrics, new RegExp(`kafkaobs_signals_accepted_total ${3 * N}\\b`));
});

test('SIGTERM stops both sides cleanly', async () => {
  for (const a of agents) assert.is(await a.kill('SIGTERM'), 0, `agent ${a.id} exits 0`);
  assert.ok(agents[2]!.lines.some((l) => l.msg === 'agent stopped'));
  assert.is(await agg.kill('SIGTERM'), 0, 'aggregator exits 0');
  assert.ok(agg.lines.some((l) => l.msg === 'aggregator stopped'));
  agents = [];
});

test.run();
