// HA pair, the pure parts: the agent's fan-out over several aggregators (one queue each, the same
// numbered signals, bounded), and narrative ids derived from what opened an incident (two
// aggregators fed the same signals name it alike).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FanOutbox, splitUrls } from '../agent/fanout.js';
import { OutboxFullError } from '../agent/outbox.js';
import { Status_Condition, Status_Confidence, type Finding, type Narrative } from '../proto/index.js';
import { NarrativeReporter, NARRATIVE_DEFAULTS, stableHash } from '../reporters/narratives.js';
import { HierarchyManager } from '../hierarchy/manager.js';
import { signal } from './support/client.js';

const test = suite('HA pair');
const fresh = () => signal({ sourceId: '', seq: 0n, timestamp: 0n });
const never = new AbortController().signal;

test('fan-out: every link gets the same numbered signals; each acks on its own; a full queue drops its own oldest', async () => {
  const f = new FanOutbox('pod-1', 2, 3, 'drop-oldest', 100, 100n);
  for (let i = 0; i < 3; i++) await f.add(fresh(), 7n);
  const [a, b] = f.queues as [NonNullable<(typeof f.queues)[0]>, NonNullable<(typeof f.queues)[0]>];
  assert.equal((await a.nextBatch(10, 0, never))!.map((s) => [s.seq, s.timestamp]), [[100n, 7n], [101n, 7n], [102n, 7n]]);
  assert.equal((await b.nextBatch(10, 0, never))!.map((s) => s.seq), [100n, 101n, 102n], 'the same seqs on the other link');
  a.ack(102n);
  assert.equal([a.size, b.size, f.size, f.ackedSeq], [0, 3, 3, 99n], 'acknowledged by every aggregator: only up to what the slowest acked');
  b.streamFailed();
  b.rewind();
  // b is away: its queue is full, so its oldest goes (counted as its drop); a is not held back.
  const dropped = await f.add(fresh(), 8n);
  assert.equal([dropped, a.size, b.size, b.stats.dropped, a.stats.dropped], [1, 1, 3, 1, 0]);
  assert.equal((await b.nextBatch(10, 0, never))!.map((s) => s.seq), [101n, 102n, 103n]);
  assert.equal(splitUrls(' grpc://a:1, grpc://b:2 ,'), ['grpc://a:1', 'grpc://b:2']);
});

test('fan-out under "block": waits only while every link is full, then times out precisely', async () => {
  const f = new FanOutbox('pod-1', 2, 1, 'block', 100, 1n);
  await f.add(fresh(), 1n);
  const [a] = f.queues;
  // Both full: the caller waits; the first ack (from either) makes room.
  const waiting = f.add(fresh(), 2n, 5000);
  a!.ack(1n);
  assert.is(await waiting, 1, 'the other (full) link dropped its oldest');
  await f.queues[1]!.ack(2n);
  const g = new FanOutbox('pod-2', 2, 1, 'block', 50, 1n);
  await g.add(fresh(), 1n);
  try {
    await g.add(fresh(), 2n, 30);
    assert.unreachable('should have timed out');
  } catch (e) {
    assert.instance(e, OutboxFullError);
    assert.match((e as Error).message, /outbox is full \(1 signals/);
  }
  assert.is(g.stats.blockTimeouts, 1);
});

test('stable narrative ids: two reporters fed the same finding name the incident alike; a counter otherwise', () => {
  const finding = (id: string): Finding => ({
    id, observer: 'broker-health', subject: 'cluster/prod/broker/1#under-replicated', condition: Status_Condition.DEGRADED, confidence: Status_Confidence.CONFIRMED,
    summary: 'under-replicated', resolved: false, context: {}, scope: 'cluster/prod/broker/1',
    evidence: [
      { subject: 'cluster/prod/broker/1#under-replicated', sign: 'status DEGRADED', time: 5_000n, sourceId: 'pod-b', seq: 9n, detail: '', clock: {}, stage: 'broker' },
      { subject: 'cluster/prod/broker/1#under-replicated', sign: 'status DEGRADED', time: 4_000n, sourceId: 'pod-a', seq: 3n, detail: '', clock: {}, stage: 'broker' },
    ],
  });
  const ids = (stableIds: boolean, idPrefix: string, findingId: string): string[] => {
    const r = new NarrativeReporter({ ...NARRATIVE_DEFAULTS, stableIds, idPrefix }, new HierarchyManager());
    const out: Narrative[] = [];
    r.accept(finding(findingId), 1_000_000_000n, out);
    r.tick(100_000_000_000n, out);
    return out.map((n) => n.id);
  };
  const one = ids(true, 'h-', 'n-x-1');
  assert.equal(one, ids(true, 'h-', 'n-y-7'), 'finding ids differ between members; the narrative id does not');
  assert.equal(one, [`h-${stableHash('broker-health\u0000cluster/prod/broker/1\u0000pod-a\u00003')}`]);
  assert.match(ids(false, 'n-', 'f')[0]!, /^n-1$/);
});

test.run();
