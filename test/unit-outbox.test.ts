// The agent's outbox and reconnect backoff: bounded, counted drops, block policy, resend after rewind.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Outbox } from '../agent/outbox.js';
import { backoffDelay } from '../agent/link.js';
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

test('reconnect backoff grows exponentially with jitter, capped', () => {
  assert.is(backoffDelay(0, 250, 30_000, () => 0), 125);
  assert.is(backoffDelay(0, 250, 30_000, () => 1), 250);
  assert.is(backoffDelay(3, 250, 30_000, () => 1), 2000);
  assert.is(backoffDelay(20, 250, 30_000, () => 1), 30_000);
  const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(4, 250, 30_000)));
  assert.ok(spread.size > 10, 'jittered');
});

test.run();
