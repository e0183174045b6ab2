// The agent's outbox and reconnect backoff: bounded, counted drops, block policy, resend after rewind.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { readiness } from '../agent/readiness.js';
import { Registry } from 'prom-client';
import { Outbox, OutboxFullError } from '../agent/outbox.js';
import { backoffDelay, probe } from '../agent/link.js';
import { Intake } from '../agent/intake.js';
import { agentHttpServer } from '../agent/http.js';
import { closedPort } from './support/procs.js';
import { signal } from './support/client.js';

const test = suite('outbox');
const fresh = () => signal({ sourceId: '', seq: 0n, timestamp: 0n });
const never = new AbortController().signal;

test('numbers, stamps and batches signals; forgets what is acknowledged', async () => {
  const o = new Outbox('pod-1', 10, 'block', 100n);
  for (let i = 0; i < 5; i++) await o.add(fresh(), 42n);
  const batch = (await o.nextBatch(3, 0, never))!;
  assert.equal(batch.map((s) => s.seq), [100n, 101n, 102n]);
  assert.is(batch[0]!.sourceId, 'pod-1');
  assert.is(batch[0]!.timestamp, 42n);
  assert.equal(batch[2]!.clock, { 'pod-1': 102n });
  o.ack(101n);
  assert.is(o.size, 3);
  o.rewind();
  assert.equal((await o.nextBatch(10, 0, never))!.map((s) => s.seq), [102n, 103n, 104n], 'after a reconnect, everything unacknowledged again');
});

test('drop-oldest never waits and counts every drop', async () => {
  const o = new Outbox('pod-1', 3, 'drop-oldest', 1n);
  let dropped = 0;
  for (let i = 0; i < 5; i++) dropped += await o.add(fresh(), 1n);
  assert.is(dropped, 2);
  assert.is(o.stats.dropped, 2);
  assert.equal((await o.nextBatch(10, 0, never))!.map((s) => s.seq), [3n, 4n, 5n]);
});

test('block makes the producer wait until an ack frees room', async () => {
  const o = new Outbox('pod-1', 2, 'block', 1n);
  await o.add(fresh(), 1n);
  await o.add(fresh(), 1n);
  let third = false;
  const p = o.add(fresh(), 1n).then(() => (third = true));
  await Promise.resolve();
  assert.not.ok(third);
  assert.is(o.stats.blocked, 1);
  o.ack(1n);
  await p;
  assert.ok(third);
});

test('drop-oldest counts exactly: never sent is lost at once; evicted in flight is lost only if no ack covers it', async () => {
  const o = new Outbox('pod-1', 4, 'drop-oldest', 1n);
  for (let i = 0; i < 4; i++) await o.add(fresh(), 1n);
  assert.equal((await o.nextBatch(2, 0, never))!.map((s) => s.seq), [1n, 2n], 'two in flight');
  assert.is(await o.add(fresh(), 1n), 0, 'seq 1 evicted while in flight: not (yet) a drop');
  assert.is(await o.add(fresh(), 1n), 0, 'seq 2 too');
  assert.is(await o.add(fresh(), 1n), 1, 'seq 3 was never sent: dropped');
  assert.is(o.stats.dropped, 1);
  o.ack(1n);
  assert.is(o.stats.evictedDelivered, 1, 'the ack covered seq 1: it was delivered after all');
  o.streamFailed();
  assert.is(o.stats.dropped, 2, 'seq 2 never acknowledged and its stream failed: lost');
  assert.is(o.stats.droppedUnsent, 1);
});

test('block waits at most its deadline, then says the outbox is full', async () => {
  const o = new Outbox('pod-1', 1, 'block', 1n, 50);
  await o.add(fresh(), 1n);
  const t0 = Date.now();
  const err = await o.add(fresh(), 1n, 50).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof OutboxFullError && /no room came within 50 ms/.test(err.message), 'OutboxFullError past the deadline');
  assert.ok(Date.now() - t0 >= 45);
  assert.is(o.stats.blockTimeouts, 1);
  assert.is(o.size, 1, 'nothing was added');
});

test('the intake answers a full outbox with 503 while the aggregator is unreachable, 429 while it is connected', async () => {
  const o = new Outbox('pod-1', 2, 'block', 1n, 50);
  const intake = new Intake(o, () => 1n);
  let connected = false;
  const http = agentHttpServer(intake, new Registry(), () => ({ connected }), () => readiness(connected, 'grpc://127.0.0.1:1', '', []));
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/v1/signals`;
  const body = JSON.stringify([1, 2, 3].map((i) => ({ subject: 'cluster/prod/broker/1#under-replicated', status: { condition: 'DEGRADED', confidence: 'MEASURED' }, context: { i: String(i) } })));
  try {
    const r1 = await fetch(url, { method: 'POST', body });
    assert.is(r1.status, 503);
    assert.is(r1.headers.get('retry-after'), '5');
    const j1 = (await r1.json()) as { error: string; accepted: number; refused: number };
    assert.match(j1.error, /aggregator is unreachable and the outbox is full/);
    assert.equal([j1.accepted, j1.refused], [2, 1]);
    connected = true;
    const r2 = await fetch(url, { method: 'POST', body });
    assert.is(r2.status, 429);
    assert.is(((await r2.json()) as { accepted: number }).accepted, 0);
  } finally {
    http.close();
  }
});

test('the reconnect probe tells a listening port from a closed one', async () => {
  assert.is(await probe('127.0.0.1', await closedPort()), false);
  const server = agentHttpServer(new Intake(new Outbox('p', 1, 'block'), () => 1n), new Registry(), () => ({}), () => readiness(false, 'grpc://127.0.0.1:1', '', []));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  assert.is(await probe('127.0.0.1', (server.address() as AddressInfo).port), true);
  server.close();
});

test('a batch lingers to fill, up to its time bound', async () => {
  const o = new Outbox('pod-1', 100, 'block', 1n);
  await o.add(fresh(), 1n);
  const pending = o.nextBatch(3, 1000, never);
  await o.add(fresh(), 1n);
  await o.add(fresh(), 1n);
  assert.is((await pending)!.length, 3, 'released as soon as it is full');
  await o.add(fresh(), 1n);
  const t0 = Date.now();
  assert.is((await o.nextBatch(3, 30, never))!.length, 1);
  assert.ok(Date.now() - t0 >= 25, 'or when the linger time is up');
});

test('the intake remembers valid subjects only, and a bounded number of them', () => {
  const intake = new Intake(new Outbox('pod-1', 10, 'block', 1n), () => 1n);
  const now = BigInt(Date.now()) * 1_000_000n;
  const good = fresh();
  assert.is(intake.problem(good, now), undefined);
  assert.is(intake.problem({ ...good }, now), undefined, 'the same subject again');
  const bad = { ...good, subject: 'service/orders/pod//producer/p#' };
  const problem = intake.problem(bad, now);
  assert.ok(problem, 'an invalid subject is refused');
  assert.is(intake.problem({ ...bad }, now), problem, 'and refused again (never remembered)');
  for (let i = 0; i < 3000; i++) assert.is(intake.problem({ ...good, subject: `service/s${i}/pod/p-1` }, now), undefined);
  assert.is(intake.problem({ ...bad }, now), problem, 'still refused after many valid ones');
  assert.ok(intake.problem({ ...good, gauge: { sign: 1, value: 1 } }, now), 'the rest of the signal is still checked when its subject is known');
});

test('reconnect backoff grows exponentially with jitter, capped', () => {
  assert.is(backoffDelay(0, 250, 30_000, () => 0), 125);
  assert.is(backoffDelay(0, 250, 30_000, () => 1), 250);
  assert.is(backoffDelay(3, 250, 30_000, () => 1), 2000);
  assert.is(backoffDelay(20, 250, 30_000, () => 1), 30_000);
  const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(4, 250, 30_000)));
  assert.ok(spread.size > 10, 'jittered');
});

test.run();
