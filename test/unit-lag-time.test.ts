// Lag in time, catch-up and retention risk in the pure lag evaluator (agent/kafka/lag), on
// recorded offset histories with a fake clock, down to the signals the planner sends:
// - lag seconds from the broker's record timestamp at the committed offset against the log-end
//   interpolation, on a producer that bursts then goes silent (the case Kafka Lag Exporter's users
//   complained about): the record timestamp is the truth, the interpolation is not;
// - catch-up time at the window's rates;
// - retention risk: a stopped consumer whose committed offset the log start (advancing in segment
//   steps, as retention deletes) closes on is flagged at-risk before its records are deleted, lost
//   after; one that outpaces the log start is not; an abandoned group's is inventory.
// The librdkafka mock cluster does advance its log start (it keeps 5 MiB per partition): the same
// judgement end to end is in e2e-kafka-lag-time.test.ts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LagEvaluator, type GroupMembers, type GroupVerdict, type PartitionVerdict } from '../agent/kafka/lag/index.js';
import { SignalPlanner } from '../agent/kafka/signals.js';
import { CTX, Status_Condition, type Signal } from '../proto/index.js';

const test = suite('lag in time, catch-up, retention risk');
const S = 1000;
const G = 'reports';
const T = 'clicks';

const p0 = (v: GroupVerdict): PartitionVerdict => v.partitions[0]!;

test('a burst, then silence; the group seen only after it: the record timestamp gives the true age, the interpolation a bound far below', () => {
  // 1000 records written at t = 100 s in one burst, nothing after. The group's first commit (at
  // 200) is seen at t = 160: that is when the sensor starts reading the topic's log end.
  const ev = new LagEvaluator();
  const rows: { t: number; truth: number; fromRecord: number; interpolated: number }[] = [];
  for (let t = 160; t <= 400; t += 10) {
    ev.committed(G, T, 0, 200, t * S);
    ev.logEnd(T, 0, 1000, t * S);
    // The sensor read the record at offset 200 once; it stays valid while the offset does not move.
    if (t === 160) assert.ok(ev.recordTime(G, T, 0, 200, 100 * S));
    const v = p0(ev.evaluate(G, t * S));
    assert.is(v.lagSecondsFrom, 'record-timestamp');
    rows.push({ t, truth: t - 100, fromRecord: v.lagSeconds!, interpolated: v.lagSecondsInterpolated! });
  }
  for (const r of rows) assert.is(r.fromRecord, r.truth, `at ${r.t} s`);
  // The interpolation has no rate (a flat log end): the age of its oldest reading, 60 s short.
  for (const r of rows) assert.is(r.truth - r.interpolated, 60, `at ${r.t} s: interpolated ${r.interpolated}`);
});

test('a burst between two log-end readings: the interpolation spreads it over the reading interval, the record timestamp does not', () => {
  // Log end read every 10 s; 600 records written at t = 103 s, silence after; the consumer stuck at 0.
  const ev = new LagEvaluator();
  for (let t = 0; t <= 200; t += 10) {
    ev.committed(G, T, 0, 0, t * S);
    ev.logEnd(T, 0, t < 103 ? 0 : 600, t * S);
  }
  const interpolated = p0(ev.evaluate(G, 200 * S));
  assert.is(interpolated.lagSecondsFrom, 'interpolated');
  assert.is(interpolated.lagSeconds, 100, 'interpolation: offset 0 reached at the reading before the burst (100 s)');
  ev.recordTime(G, T, 0, 0, 103 * S);
  const exact = p0(ev.evaluate(G, 200 * S));
  assert.is(exact.lagSeconds, 97);
  assert.is(exact.lagSecondsInterpolated, 100);
});

test('a record time counts only for its offset: the committed offset moves, lag seconds fall back to interpolation until it is read again', () => {
  const ev = new LagEvaluator();
  for (let t = 0; t <= 100; t += 10) ev.logEnd(T, 0, 10 * t, t * S); // 10 records/s
  ev.committed(G, T, 0, 300, 100 * S);
  ev.recordTime(G, T, 0, 300, 29.5 * S); // a producer whose clock is 0.5 s ahead
  let v = p0(ev.evaluate(G, 100 * S));
  assert.equal([v.lagSecondsFrom, v.lagSeconds, v.lagSecondsInterpolated], ['record-timestamp', 70.5, 70]);
  ev.committed(G, T, 0, 500, 110 * S);
  ev.logEnd(T, 0, 1100, 110 * S);
  v = p0(ev.evaluate(G, 110 * S));
  assert.equal([v.lagSecondsFrom, v.lagSeconds, v.lagSecondsInterpolated], ['interpolated', 60, undefined]);
  assert.not.ok(ev.recordTime(G, T, 9, 500, 0), 'an untracked partition is refused');
  assert.not.ok(ev.recordTime(G, T, 0, 500, NaN), 'not a number: refused');
  // A record written "in the future" (a producer clock far ahead) is not a negative age.
  ev.recordTime(G, T, 0, 500, 500 * S);
  assert.is(p0(ev.evaluate(G, 110 * S)).lagSeconds, 0);
  // Caught up: 0, from nothing.
  ev.committed(G, T, 0, 1100, 111 * S);
  v = p0(ev.evaluate(G, 111 * S));
  assert.equal([v.lag, v.lagSeconds, v.lagSecondsFrom], [0, 0, undefined]);
});

test('catch-up time: lag / (consume - produce) when consuming outpaces producing; absent otherwise; a group catches up with its slowest partition', () => {
  const ev = new LagEvaluator();
  // Partition 0: 10/s written, 30/s consumed: lag 2000 at 0 s, 200 at 90 s: 10 s left.
  // Partition 1: 10/s written, 5/s consumed: not catching up.
  for (let t = 0; t <= 90; t += 10) {
    ev.committed(G, T, 0, 30 * t, t * S);
    ev.committed(G, T, 1, 5 * t, t * S);
    ev.logEnd(T, 0, 2000 + 10 * t, t * S);
    ev.logEnd(T, 1, 100 + 10 * t, t * S);
  }
  const v = ev.evaluate(G, 90 * S);
  const [a, b] = v.partitions;
  assert.is(a!.consumeRate, 30);
  assert.is(a!.produceRate, 10);
  assert.is(a!.lag, 200);
  assert.is(a!.catchUpSeconds, 10);
  assert.is(b!.catchUpSeconds, undefined, 'consuming slower than producing: no catch-up time');
  assert.is(v.catchUpSeconds, undefined, 'the group is not caught up while one partition falls behind');
  assert.is(v.topics[0]!.catchUpSeconds, undefined);
  // Partition 1 speeds up to 15/s: now both catch up; the group takes the longer.
  for (let t = 100; t <= 190; t += 10) {
    ev.committed(G, T, 0, Math.min(30 * t, 2000 + 10 * t), t * S);
    ev.committed(G, T, 1, 450 + 15 * (t - 90), t * S);
    ev.logEnd(T, 0, 2000 + 10 * t, t * S);
    ev.logEnd(T, 1, 100 + 10 * t, t * S);
  }
  const w = ev.evaluate(G, 190 * S);
  assert.is(w.partitions[0]!.lag, 0);
  assert.is(w.partitions[0]!.catchUpSeconds, undefined, 'caught up: nothing to catch up');
  const lag1 = w.partitions[1]!.lag!;
  assert.ok(lag1 > 0);
  assert.is(w.partitions[1]!.catchUpSeconds, lag1 / (w.partitions[1]!.consumeRate! - w.partitions[1]!.produceRate!));
  assert.is(w.catchUpSeconds, w.partitions[1]!.catchUpSeconds);
  assert.is(w.topics[0]!.catchUpSeconds, w.partitions[1]!.catchUpSeconds);
});

/**
 * Time retention as a broker does it: 10 records/s written; segments of 600 records (one a
 * minute); the oldest segment deleted once older than 300 s, checked every minute. So the log
 * start steps by 600 every 60 s from t = 360 s on: 600 at 360, 1200 at 420, ..., 3600 at 660.
 */
const logStartAt = (t: number): number => 600 * Math.floor(Math.max(0, t - 300) / 60);

/** A consumer caught up until t = 300 s (offset 3000) that then stops; rounds every 10 s. */
function stoppedConsumer(horizonS: number, until: number, members?: (t: number) => GroupMembers | undefined): { rounds: { t: number; v: PartitionVerdict; g: GroupVerdict }[]; ev: LagEvaluator } {
  const ev = new LagEvaluator({ retentionHorizonMs: horizonS * S });
  const rounds: { t: number; v: PartitionVerdict; g: GroupVerdict }[] = [];
  for (let t = 0; t <= until; t += 10) {
    if (members) ev.members(G, members(t));
    ev.committed(G, T, 0, Math.min(10 * t, 3000), t * S);
    ev.logEnd(T, 0, 10 * t, t * S, logStartAt(t));
    const g = ev.evaluate(G, t * S);
    rounds.push({ t, v: p0(g), g });
  }
  return { rounds, ev };
}

test('retention risk: a stopped consumer is flagged at-risk before the log start passes its committed offset, and lost after', () => {
  const { rounds } = stoppedConsumer(120, 720);
  const at = (t: number) => rounds.find((r) => r.t === t)!.v;
  // The first move (360 s) gives no rate (the first reading is not a step): no projection yet.
  assert.is(at(360).logStart, 600);
  assert.is(at(360).retentionSecondsLeft, undefined);
  assert.is(at(360).retention, 'ok');
  // From the second move on: 10 records/s. At 420 s: 1800 records of headroom, 180 s left.
  assert.equal([at(420).logStart, at(420).retentionHeadroom, at(420).logStartRate, at(420).retentionSecondsLeft, at(420).retention], [1200, 1800, 10, 180, 'ok']);
  // At-risk once 120 s or less are left: at 480 s (1200 records, 120 s).
  const firstAtRisk = rounds.find((r) => r.v.retention === 'at-risk')!;
  assert.is(firstAtRisk.t, 480);
  assert.is(firstAtRisk.v.retentionSecondsLeft, 120);
  assert.is(firstAtRisk.v.retentionReason, 'unconsumed records of clicks/0 will be deleted in ~2 min: the log start (1800) advances 10.0 records/s, 1200 records below the committed offset 3000, not consumed');
  // Deleted when the log start passes 3000 (the step to 3600 at 660 s): flagged 180 s before.
  const firstLost = rounds.find((r) => r.v.retention === 'lost')!;
  assert.is(firstLost.t, 660);
  assert.is(firstLost.v.retentionHeadroom, -600);
  assert.is(firstLost.v.retentionReason, '600 unconsumed records were deleted by retention: the committed offset 3000 is below the log start 3600');
  assert.ok(rounds.filter((r) => r.t >= 480 && r.t < 660).every((r) => r.v.retention === 'at-risk'), 'held at-risk every round until deleted');
  // Between two steps the projection keeps counting down (the log start is flat, the average is not).
  assert.is(at(490).retentionSecondsLeft, 110);
  // The projection is when the log start reaches the offset; a broker deletes whole segments, so
  // the record itself goes at the step after (here 660 s, when 600 s was projected): early, never late.
  assert.is(at(540).retentionSecondsLeft, 60);
  // The group: its partition most at risk.
  const g = rounds.find((r) => r.t === 500)!.g;
  assert.is(g.retention?.retention, 'at-risk');
  assert.is(g.retention?.partition, 0);
});

test('retention risk: hysteresis — flagged at the horizon, cleared only beyond 1.5 x the horizon', () => {
  const ev = new LagEvaluator({ retentionHorizonMs: 100 * S });
  // Log start steps of 100 every 10 s (10/s); the consumer stopped at 2000.
  let t = 0;
  const step = (committed: number, logStart: number): PartitionVerdict => {
    t += 10;
    ev.committed(G, T, 0, committed, t * S);
    ev.logEnd(T, 0, 5000 + t, t * S, logStart);
    return p0(ev.evaluate(G, t * S));
  };
  step(2000, 0);
  step(2000, 100);
  assert.is(step(2000, 200).retentionSecondsLeft, 180);
  assert.is(step(2000, 300).retention, 'ok', '170 s left');
  for (let low = 400; low <= 1000; low += 100) step(2000, low);
  assert.is(step(2000, 1100).retention, 'at-risk', '90 s left');
  // The consumer moves a little (100 records): 900 of headroom, closing at 10 - 1.1 records/s.
  const v = step(2100, 1200);
  assert.ok(v.retentionSecondsLeft! > 100 && v.retentionSecondsLeft! <= 150, `${v.retentionSecondsLeft} s left`);
  assert.is(v.retention, 'at-risk', 'still flagged: not yet beyond 1.5 x the horizon');
  // It consumes faster than the log start advances: no longer closing.
  const w = step(3500, 1300);
  assert.ok(w.retentionSecondsLeft === undefined || w.retentionSecondsLeft > 150, `${w.retentionSecondsLeft}`);
  assert.is(w.retention, 'ok');
});

test('retention: a consumer that outpaces the log start is not at risk however small its headroom; caught up is never at risk', () => {
  const ev = new LagEvaluator({ retentionHorizonMs: 3600 * S });
  for (let t = 0; t <= 200; t += 10) {
    // Log start 10/s (steps of 100 every 10 s); the consumer 50 records above it, consuming 12/s.
    ev.committed(G, T, 0, 50 + 12 * t, t * S);
    ev.logEnd(T, 0, 10_000 + 10 * t, t * S, 10 * t);
    ev.committed('tail', T, 0, 10_000 + 10 * t, t * S);
  }
  const v = p0(ev.evaluate(G, 200 * S));
  assert.equal([v.retentionHeadroom, v.retentionSecondsLeft, v.retention], [450, undefined, 'ok']);
  const tail = p0(ev.evaluate('tail', 200 * S));
  assert.equal([tail.lag, tail.retention, tail.retentionSecondsLeft], [0, 'ok', undefined]);
  // No log start read: nothing said.
  const ev2 = new LagEvaluator();
  ev2.committed(G, T, 0, 5, 0);
  ev2.logEnd(T, 0, 10, 0);
  const u = p0(ev2.evaluate(G, 0));
  assert.equal([u.logStart, u.retentionHeadroom, u.retention, u.retentionSecondsLeft], [undefined, undefined, undefined, undefined]);
});

/** The planner's signals for the stopped consumer, membership known (STOP once it is gone). */
function signals(members: (t: number) => GroupMembers | undefined, until: number): { t: number; s: Signal }[] {
  const ev = new LagEvaluator({ retentionHorizonMs: 120 * S });
  const planner = new SignalPlanner({ service: 'lag-monitor', pod: 'lag-monitor-1', cluster: 'prod' }, 60_000);
  const out: { t: number; s: Signal }[] = [];
  for (let t = 0; t <= until; t += 10) {
    ev.members(G, members(t));
    ev.committed(G, T, 0, Math.min(10 * t, 3000), t * S);
    ev.logEnd(T, 0, 10 * t, t * S, logStartAt(t));
    const round: Signal[] = [];
    planner.group(ev.evaluate(G, t * S), t * S, round);
    for (const s of round) out.push({ t, s });
  }
  return out;
}

test('signals: the context keys on the group, group-topic and group-partition #lag; at-risk is DEGRADED with the sentence; an abandoned group\'s retention is inventory', () => {
  const stable: GroupMembers = { state: 'Stable', members: 1, assigned: [{ topic: T, partitions: [0] }] };
  // A member that owns the partition but is stuck: STALL past max.poll.interval; records arrive.
  const sent = signals(() => stable, 700);
  const at = (t: number, suffix: string): Signal | undefined => sent.find((x) => x.t === t && x.s.subject === `cluster/prod/group/${G}${suffix}#lag`)?.s;
  for (const suffix of ['', `/topic/${T}`, `/topic/${T}/partition/0`]) {
    const s = at(500, suffix)!;
    assert.ok(s, `sent at 500 s: ${suffix}`);
    assert.is(s.context[CTX.logStartOffset], '1800', suffix);
    assert.is(s.context[CTX.retentionHeadroom], '1200', suffix);
    assert.is(s.context[CTX.retentionSecondsLeft], '100', suffix);
    assert.is(s.context.retention, 'at-risk', suffix);
    assert.is(s.context[CTX.lagSecondsFrom], 'interpolated', suffix);
    assert.is(s.status!.condition, Status_Condition.DEGRADED, suffix);
    assert.match(s.context.reason!, /unconsumed records of clicks\/0 will be deleted in ~2 min/, suffix);
  }
  assert.is(at(500, '')!.context['retention-partition'], `${T}/0`);
  // While at risk it is sent every round (no storm rule: unhealthy subjects go out each round).
  assert.ok([490, 500, 510, 520].every((t) => at(t, '') !== undefined));
  const lost = at(660, `/topic/${T}/partition/0`)!;
  assert.is(lost.context.retention, 'lost');
  assert.is(lost.context[CTX.retentionHeadroom], '-600');
  assert.match(lost.context.reason!, /600 unconsumed records were deleted by retention/);

  // Nobody in the group and nothing new to read (the producer stopped at 300 s too): ABANDONED;
  // its records age out, which is inventory: STABLE, not an alarm.
  const ev = new LagEvaluator({ retentionHorizonMs: 120 * S, maxPollIntervalMs: 60 * S });
  const planner = new SignalPlanner({ service: 'lag-monitor', pod: 'lag-monitor-1', cluster: 'prod' }, 60_000);
  let last: Signal | undefined;
  let partition: Signal | undefined;
  for (let t = 0; t <= 700; t += 10) {
    ev.members('old', { state: 'Empty', members: 0 });
    ev.committed('old', T, 0, 1000, t * S);
    ev.logEnd(T, 0, 3000, t * S, logStartAt(t));
    const round: Signal[] = [];
    planner.group(ev.evaluate('old', t * S), t * S, round);
    last = round.find((s) => s.subject === 'cluster/prod/group/old#lag') ?? last;
    partition = round.find((s) => s.subject.endsWith('/partition/0#lag')) ?? partition;
  }
  assert.is(last!.context.burrow, 'ABANDONED');
  assert.is(last!.status!.condition, Status_Condition.STABLE);
  assert.is(partition!.context.retention, 'lost');
  assert.is(partition!.status!.condition, Status_Condition.STABLE);
});

test.run();
