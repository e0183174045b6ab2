// The Kafka source's seam into the aggregator: what its real lag evaluator and signal planner
// emit (agent/kafka/lag, agent/kafka/signals.ts), stamped as the agent stamps it, through the real
// pipeline with the aggregator's default settings. The words of the narrative must match the
// verdict: abandoned groups are inventory (no narrative), a dead consumer has stopped (not "add
// consumers"), a reset is told as a reset, then as falling behind while its lag grows; a live slow
// consumer is falling behind, never stopped.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Narrative_State, Status_Condition, type Narrative, type Signal } from '../proto/index.js';
import { Pipeline } from '../aggregator/pipeline.js';
import type { GroupMembers } from '../agent/kafka/lag/index.js';
import { kafkaSource as source, T0 } from './support/kafka-source.js';
import { findingsOf, narrativesOf, replay, SECOND } from './support/scenarios.js';

const test = suite('the Kafka source, through the pipeline');

/** Replays the source's signals, then `quietNs` of nothing (findings expire, narratives resolve). */
function run(signals: Signal[], quietNs = 120n * SECOND): { narratives: Narrative[]; findings: ReturnType<typeof findingsOf>; pipeline: Pipeline } {
  const pipeline = new Pipeline();
  const events = replay(pipeline, signals, { from: BigInt(T0) * 1_000_000n, afterNs: quietNs });
  return { narratives: narrativesOf(events), findings: findingsOf(events), pipeline };
}

const stable = (topic: string): GroupMembers => ({ state: 'Stable', members: 1, assigned: [{ topic, partitions: [0] }] });
const last = (ns: Narrative[]): Narrative => ns.at(-1)!;
const text = (n: Narrative): string => `${n.situation} / ${n.rootCause} / ${n.recommendation}`;

test('25 abandoned groups (no members, lag held, nothing new written): inventory — no finding, no narrative, the cluster stays healthy', () => {
  const groups = new Map(Array.from({ length: 25 }, (_, g) => [`old-${g}`, { members: () => ({ state: 'Empty', members: 0 }) as GroupMembers, partitions: [{ topic: `old-topic-${g}`, committed: () => 5000, logEnd: () => 5040 + 40 * g }] }]));
  const { narratives, findings, pipeline } = run(source(groups, 600, 10));
  assert.equal(findings.map((f) => f.summary), []);
  assert.equal(narratives, []);
  assert.not.ok([Status_Condition.DEGRADED, Status_Condition.DIVERGING].includes(pipeline.hierarchy.state('cluster/prod')!.condition), 'cluster/prod is not made unhealthy by inventory');
});

test('a dead consumer (its group empties while records keep coming): one narrative that says it stopped, with no member left', () => {
  const groups = new Map([['billing', { members: (t: number) => (t < 60 ? stable('orders') : ({ state: 'Empty', members: 0 } as GroupMembers)), partitions: [{ topic: 'orders', committed: (t: number) => 50 * Math.min(t, 60), logEnd: (t: number) => 50 * t + 5 }] }]]);
  const { narratives } = run(source(groups, 240, 10));
  assert.is(new Set(narratives.map((n) => n.id)).size, 1, narratives.map((n) => n.situation).join(' | '));
  const n = narratives.find((x) => x.state !== Narrative_State.RESOLVED)!;
  assert.match(n.situation, /^Group billing has stopped consuming on orders/);
  assert.match(n.rootCause, /has no member left/);
  assert.not.match(text(n), /add consumers|not committing|falling behind/);
});

test('a dead consumer whose unconsumed records retention is about to delete: the recommendation says where and when, first; then that they were deleted', () => {
  // Writes 50/s; the member leaves at 60 s (committed 3000); retention deletes 1000-record segments
  // every 20 s from 80 s on: offset 3000 goes at 140 s.
  const groups = new Map([['billing', { members: (t: number) => (t < 60 ? stable('orders') : ({ state: 'Empty', members: 0 } as GroupMembers)), partitions: [{ topic: 'orders', committed: (t: number) => 50 * Math.min(t, 60), logEnd: (t: number) => 50 * t + 5, logStart: (t: number) => (t < 80 ? 0 : 1000 * (Math.floor((t - 80) / 20) + 1)) }] }]]);
  const { narratives } = run(source(groups, 200, 10));
  assert.is(new Set(narratives.map((n) => n.id)).size, 1, narratives.map((n) => n.situation).join(' | '));
  const atRisk = narratives.find((n) => /will be deleted/.test(n.recommendation));
  assert.ok(atRisk, narratives.map((n) => n.recommendation).join(' | '));
  assert.match(atRisk!.situation, /^Group billing has stopped consuming on orders/);
  assert.match(atRisk!.recommendation, /^Unconsumed records of orders\/0 will be deleted by retention in ~\d+ s: get a consumer reading before then, or raise the topic's retention\.ms/);
  assert.match(atRisk!.rootCause, /unconsumed records of orders\/0 will be deleted in ~\d+ s/);
  const lost = narratives.find((n) => /were already deleted by retention/.test(n.recommendation));
  assert.ok(lost, 'then: deleted');
  assert.ok(narratives.indexOf(lost!) > narratives.indexOf(atRisk!));
});

test('an offset reset: told as a reset, then — the lag growing again — as falling behind after the reset, in the same narrative', () => {
  // Caught up at 10/s, reset to 0 at 60 s, then consuming 5/s while 10/s arrive.
  const committed = (t: number): number => (t < 60 ? 10 * t : Math.min(5 * (t - 60), 10 * t));
  const groups = new Map([['audit', { members: () => stable('events'), partitions: [{ topic: 'events', committed, logEnd: (t: number) => 10 * t }] }]]);
  const { narratives } = run(source(groups, 360, 10));
  assert.is(new Set(narratives.map((n) => n.id)).size, 1, narratives.map((n) => n.situation).join(' | '));
  assert.match(narratives[0]!.situation, /^Group audit was reset backwards on events/);
  assert.ok(narratives.some((n) => /^Group audit is falling behind on events after its offsets were reset/.test(n.situation)), narratives.map((n) => n.situation).join(' | '));
  assert.not.ok(narratives.some((n) => /stopped consuming/.test(n.situation)));
});

test('a live slow consumer committing at the end of ever bigger batches (kafkajs): falling behind, never stopped', () => {
  // Writes 20/s; commits at 0.6, 1.9, 11.4, 30.7 s, then 83-180 s apart (as measured on a real
  // broker), each at the end of a batch of what the log held at the previous commit, at most 600
  // records (kafkajs' maxBytesPerPartition): it consumes a quarter of the write rate or less.
  const commits: { t: number; offset: number }[] = [];
  let at = 0;
  let fetchedAt = 0.1;
  for (const gap of [0.6, 1.3, 9.5, 19.3, 83, 112, 97, 150]) {
    at = Math.round((at + gap) * 10) / 10;
    commits.push({ t: at, offset: Math.min(Math.floor(20 * fetchedAt), (commits.at(-1)?.offset ?? 0) + 600) });
    fetchedAt = at;
  }
  const committed = (t: number): number | undefined => commits.filter((c) => c.t <= t).at(-1)?.offset;
  const groups = new Map([['slow', { members: () => stable('clicks'), partitions: [{ topic: 'clicks', committed, logEnd: (t: number) => 20 * t }] }]]);
  const { narratives } = run(source(groups, 470, 2), 0n);
  assert.ok(narratives.length > 0, 'it is found');
  assert.is(new Set(narratives.map((n) => n.id)).size, 1);
  for (const n of narratives) assert.match(n.situation, /^Group slow is falling behind on clicks$/, n.situation);
  assert.is(last(narratives).state === Narrative_State.RESOLVED, false, 'still open while it keeps falling behind');
});

test.run();
