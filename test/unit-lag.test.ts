// The consumer-lag evaluator (agent/kafka/lag) on recorded offset histories with a fake clock:
// Burrow's documented examples, the three cases measured wrong on a real broker with kafkajs
// consumers (slow called dead, dead called late, reset never called REWIND), idle groups,
// clamping, unknowns, lag in seconds, totals, completeness, limits. The measured kafkajs commit
// cadence itself, abandoned groups and members leaving: unit-lag-cadence.test.ts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LagEvaluator, LAG_DEFAULTS, resolveLagSettings, type GroupMembers, type GroupVerdict, type LagSettings, type PartitionVerdict } from '../agent/kafka/lag/index.js';

const test = suite('lag evaluator');
const S = 1000;
const G = 'orders-service';
const TOPIC = 'orders';

/** One reading of one partition: time (s), committed offset (undefined: none), log end, broker commit time (s). */
interface Reading {
  t: number;
  c: number | undefined;
  e: number | undefined;
  ts?: number;
}

/** One poll as the sensor does it: the committed offset first, then the log end. */
function read(ev: LagEvaluator, r: Reading, group = G, topic = TOPIC, partition = 0): void {
  ev.committed(group, topic, partition, r.c, r.t * S, r.ts === undefined ? undefined : r.ts * S);
  if (r.e !== undefined) ev.logEnd(topic, partition, r.e, r.t * S);
}

/** Feeds readings, evaluating after each; returns partition 0's verdict at each reading. */
function replay(ev: LagEvaluator, readings: Reading[], group = G): PartitionVerdict[] {
  return readings.map((r) => {
    read(ev, r, group);
    return ev.evaluate(group, r.t * S).partitions[0]!;
  });
}

/** Burrow's wiki examples: 10 commits 60 s apart, offsets and lags as printed there. */
function burrow(offsets: number[], lags: number[], withCommitTimes = false): Reading[] {
  return offsets.map((c, i) => ({ t: i * 60, c, e: c + lags[i]!, ...(withCommitTimes ? { ts: i * 60 } : {}) }));
}
const ADVANCING = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
const statuses = (vs: PartitionVerdict[]): string[] => vs.map((v) => v.status);

/** Burrow's STOP rule (time since the last commit > the window's span), for comparison. */
function burrowStop(commitTimes: number[], now: number, window = 10): boolean {
  const w = commitTimes.filter((t) => t <= now).slice(-window);
  return w.length > 0 && now - w.at(-1)! > w.at(-1)! - w[0]!;
}

// ---------------------------------------------------------------------------------------------
// Burrow's documented examples (wiki "Consumer Lag Evaluation Rules")

test('Burrow example 1: lag 0 somewhere in the window is OK even though it grows at the end', () => {
  const v = replay(new LagEvaluator(), burrow(ADVANCING, [0, 0, 0, 0, 0, 0, 1, 3, 5, 5]));
  assert.equal(statuses(v), Array(10).fill('OK'));
  assert.is(v[9]!.lag, 5);
  assert.is(v[9]!.reason, undefined);
});

test('Burrow example 2: the same offset committed again and again while lag grows is STALL (ERR)', () => {
  const ev = new LagEvaluator();
  const v = replay(ev, burrow(Array(10).fill(10), [1, 1, 1, 1, 1, 2, 2, 2, 3, 3], true));
  assert.equal(statuses(v), [...Array(9).fill('OK'), 'STALL'], 'STALL once the window is full');
  assert.match(v[9]!.reason!, /commits keep coming at offset 10/);
  const g = ev.evaluate(G, 540 * S);
  assert.is(g.status, 'ERR');
  assert.is(g.worst, 'STALL');
});

test('Burrow example 2 without commit times: STOP, unless membership shows an owner (then STALL)', () => {
  const noTimes = burrow(Array(10).fill(10), [1, 1, 1, 1, 1, 2, 2, 2, 3, 3]);
  const v = replay(new LagEvaluator(), noTimes);
  assert.is(v[9]!.status, 'STOP', 'an unchanged offset and no other sign of life');
  // No spacing known: a full window (540 s) of no progress, past max.poll.interval (300 s).
  assert.is(v[9]!.reason, 'no commit in 540 s of watching while the log end grew by 2; silent past max.poll.interval (300 s): presumed gone; membership unknown; lag 3');
  const ev = new LagEvaluator();
  ev.members(G, { state: 'Stable', members: 1, assigned: [{ topic: TOPIC, partitions: [0] }] });
  const owned = replay(ev, noTimes);
  assert.is(owned[9]!.status, 'STALL');
  assert.match(owned[9]!.reason!, /silent past max\.poll\.interval \(300 s\) yet a member owns it \(Stable, 1 members\): alive, not progressing/);
});

test('Burrow example 3: offsets advance but lag never goes down: WARN', () => {
  const ev = new LagEvaluator();
  const v = replay(ev, burrow(ADVANCING, [1, 1, 1, 1, 1, 2, 2, 2, 3, 3]));
  assert.equal(statuses(v), [...Array(9).fill('OK'), 'WARN'], 'WARN needs the full window');
  // 9 commits and the first offset read (a point of the series too).
  assert.is(v[9]!.reason, 'lag never went down across the last 10 commits (1 -> 3): consuming slower than producers');
  assert.is(ev.evaluate(G, 540 * S).status, 'WARN');
});

test('Burrow example 4: lag going up and down on a busy topic is OK', () => {
  const v = replay(new LagEvaluator(), burrow(ADVANCING, [5, 3, 5, 2, 1, 1, 2, 1, 4, 6]));
  assert.equal(statuses(v), Array(10).fill('OK'));
});

test('Burrow example 5: no commit after T+540 while records keep arriving: WARN (late) after 2 x 60 s, STOP once silent past max.poll.interval', () => {
  const ev = new LagEvaluator();
  replay(ev, burrow(ADVANCING, [5, 3, 5, 2, 1, 1, 2, 1, 4, 6]));
  // Burrow's example keeps the log end at 106; here records keep arriving, 1 a minute.
  const later = Array.from({ length: 11 }, (_, i) => ({ t: 600 + i * 60, c: 100, e: 107 + i }));
  const v = replay(ev, later);
  // Commits came every 60 s: late at 2 x 60 s (660). Membership unknown: STOP once the silence
  // (plus half a reading interval) reaches 300 s, at 840 (Burrow: past T+1080, the window's span).
  assert.equal(statuses(v), ['OK', 'WARN', 'WARN', 'WARN', 'STOP', 'STOP', 'STOP', 'STOP', 'STOP', 'STOP', 'STOP']);
  assert.is(v[1]!.reason, 'no commit for 120 s (commits came every ~60 s) while the log end grew by 2; membership unknown: STOP if still silent at 300 s; lag 8');
  assert.is(v[4]!.reason, 'no commit for 300 s (commits came every ~60 s) while the log end grew by 5; silent past max.poll.interval (300 s): presumed gone; membership unknown; lag 11');
  const commits = ADVANCING.map((_, i) => i * 60);
  assert.equal(later.map((r) => burrowStop(commits, r.t)), [...Array(9).fill(false), true, true], 'Burrow: STOP past T+1080');
  assert.is(ev.evaluate(G, 1200 * S).status, 'ERR');
});

test('Burrow example 5 as printed (lag 6 held, no new records): not STOP; ABANDONED once silent past max.poll.interval', () => {
  const ev = new LagEvaluator();
  replay(ev, burrow(ADVANCING, [5, 3, 5, 2, 1, 1, 2, 1, 4, 6]));
  const later = Array.from({ length: 11 }, (_, i) => ({ t: 600 + i * 60, c: 100, e: 106 }));
  const v = replay(ev, later);
  // Nothing new to consume: lateness is not news (OK); past 300 s of silence, membership unknown,
  // it is inventory: ABANDONED (not unhealthy), never STOP.
  assert.equal(statuses(v), ['OK', 'OK', 'OK', 'OK', 'ABANDONED', 'ABANDONED', 'ABANDONED', 'ABANDONED', 'ABANDONED', 'ABANDONED', 'ABANDONED']);
  assert.match(v[4]!.reason!, /^no commit for 300 s \(commits came every ~60 s\) and no new records for \d+ s; membership unknown: lag 6 held, not growing \(inventory, not an incident\)$/);
  const g = ev.evaluate(G, 1200 * S);
  assert.is(g.status, 'ABANDONED');
  assert.is(g.totalLag, 6);
});

test('a committed-offset reading too old to judge (a failed poll) is UNKNOWN, not STOP', () => {
  const ev = new LagEvaluator();
  replay(ev, burrow(ADVANCING, [5, 3, 5, 2, 1, 1, 2, 1, 4, 6]));
  ev.logEnd(TOPIC, 0, 200, 1200 * S);
  const p = ev.evaluate(G, 1200 * S).partitions[0]!;
  assert.is(p.status, 'UNKNOWN');
  assert.is(p.reason, 'no committed-offset reading for 660 s: too old to judge');
  assert.is(p.lag, 100, 'from the last committed offset read (an upper bound)');
});

test('Burrow evaluator test 7: offsets going backwards are REWIND, even though lag decreased', () => {
  const ev = new LagEvaluator();
  const v = replay(ev, [
    { t: 100, c: 1000, e: 1100 },
    { t: 200, c: 2000, e: 2150 },
    { t: 300, c: 3000, e: 3200 },
    { t: 400, c: 2000, e: 3250 },
    { t: 500, c: 4000, e: 4300 },
  ]);
  assert.equal(statuses(v), ['OK', 'OK', 'OK', 'REWIND', 'REWIND']);
  assert.is(v[3]!.reason, 'committed offset went back from 3000 to 2000');
  assert.is(ev.evaluate(G, 600 * S).partitions[0]!.status, 'REWIND', 'still within 3 readings of the rewind');
  assert.is(ev.evaluate(G, 600 * S).status, 'ERR');
});

// ---------------------------------------------------------------------------------------------
// Cases measured wrong with Burrow's rules on a real broker with kafkajs consumers

/**
 * (a) A live kafkajs consumer at a quarter of the write rate: 100 records/s written, 25/s
 * consumed, committed after each batch; batches grow with lag, so commits come 15, 47, 126 and
 * then 340 s apart. Polled every 5 s from t = 0, when it was caught up.
 */
function slowConsumer(until: number): { readings: Reading[]; commits: number[] } {
  const commits = [0, 15, 62, 188, 528];
  const readings: Reading[] = [];
  for (let t = 0; t <= until; t += 5) {
    const last = commits.filter((c) => c <= t).at(-1)!;
    readings.push({ t, c: 25 * last, e: 100 * t });
  }
  return { readings, commits };
}

test('(a) slow is not dead: a consumer at 1/4 of the write rate with commits 15 -> 47 -> 126 -> 340 s apart is WARN, never STOP', () => {
  const { readings, commits } = slowConsumer(600);
  const ev = new LagEvaluator();
  const v = replay(ev, readings);
  const byT = new Map(readings.map((r, i) => [r.t, v[i]!]));
  const bad = v.filter((x) => x.status === 'STOP' || x.status === 'STALL');
  assert.equal(bad.map((x) => x.reason), [], 'never STOP or STALL');
  // Where Burrow's rule called it stopped, we call it slow.
  // Until its second commit is seen (t = 65 s) there is not enough to call it slow: OK.
  const burrowSaidStop = readings.filter((r) => r.t >= 65 && burrowStop(commits, r.t)).map((r) => r.t);
  assert.ok(burrowSaidStop.length >= 20, `Burrow's rule says STOP at ${burrowSaidStop.length} polls`);
  for (const t of burrowSaidStop) assert.is(byT.get(t)!.status, 'WARN', `WARN at t=${t}`);
  assert.is(byT.get(100)!.reason, 'lag never went down across the last 3 commits (0 -> 4950): consuming slower than producers');
  assert.is(byT.get(300)!.reason, 'lag never went down across the last 4 commits (0 -> 14300): consuming slower than producers');
  assert.is(byT.get(300)!.lag, 30000 - 4700);
  assert.is(byT.get(300)!.lagSeconds, 300 - 47, 'the record at 4700 was written at t = 47 s');
  assert.is(byT.get(300)!.produceRate, 100);
  // From its second commit on, it is WARN at every poll, including between commits; OK before.
  assert.equal([...new Set(v.filter((_, i) => readings[i]!.t >= 65).map((x) => x.status))], ['WARN']);
  assert.equal([...new Set(v.filter((_, i) => readings[i]!.t < 65).map((x) => x.status))], ['OK']);
});

test('(a) the same consumer, really dead after its commit at 188 s: STOP once the silence passes 2 x the extrapolated gap', () => {
  const ev = new LagEvaluator();
  const readings: Reading[] = [];
  const commits = [0, 15, 62, 188];
  for (let t = 0; t <= 1300; t += 5) readings.push({ t, c: 25 * commits.filter((c) => c <= t).at(-1)!, e: 100 * t });
  const v = replay(ev, readings);
  const firstStop = readings[v.findIndex((x) => x.status === 'STOP')]!.t;
  // Polls see the commits at 15, 65 and 190 s (gaps 15, 50, 125 s). Over the last gap 12 500
  // records were written for 3 150 consumed (x 3.97): the next gap is expected near 496 s, and
  // STOP comes at 2 x 496 s of silence (less half a poll interval): 190 + 990 s.
  assert.is(firstStop, 1180);
  // 990 s is past max.poll.interval (300 s) too: the larger bound decides.
  assert.is(v.find((x) => x.status === 'STOP')!.reason, 'no commit for 990 s (commits came every ~496 s) while the log end grew by 99000; silent past max.poll.interval (300 s): presumed gone; membership unknown; lag 113300');
  assert.equal([...new Set(v.filter((_, i) => readings[i]!.t >= 65 && readings[i]!.t < 1180).map((x) => x.status))], ['WARN']);
});

/** (b) A consumer keeping up (committing at every 5 s poll, caught up) until it dies at t = 100 s. */
function diesAt100(until: number): Reading[] {
  const readings: Reading[] = [];
  for (let t = 0; t <= until; t += 5) readings.push({ t, c: 100 * Math.min(t, 100), e: 100 * t });
  return readings;
}

test('(b) dead without membership: WARN (late) at the second poll without a commit, STOP once silent past max.poll.interval (the price of no membership)', () => {
  const readings = diesAt100(420);
  const v = replay(new LagEvaluator(), readings);
  const at = (t: number): PartitionVerdict => v[readings.findIndex((r) => r.t === t)]!;
  assert.is(at(100).status, 'OK');
  assert.is(at(105).status, 'OK', 'one poll without a commit: not yet');
  assert.is(at(105).lag, 500);
  assert.is(at(110).status, 'WARN', 'the second poll without a commit: late');
  assert.is(at(110).reason, 'no commit for 10 s (commits came every ~5 s) while the log end grew by 1000; membership unknown: STOP if still silent at 300 s; lag 1000');
  // Without membership a batch committer may be that silent and alive; Kafka removes a member
  // that does not poll for max.poll.interval.ms (300 s): only then STOP.
  assert.equal([...new Set(v.filter((_, i) => readings[i]!.t >= 110 && readings[i]!.t < 400).map((x) => x.status))], ['WARN']);
  assert.is(at(400).status, 'STOP');
  assert.is(at(400).reason, 'no commit for 300 s (commits came every ~5 s) while the log end grew by 30000; silent past max.poll.interval (300 s): presumed gone; membership unknown; lag 30000');
  assert.is(at(150).lag, 5000, 'lag keeps growing from log ends, with no commits');
  assert.is(at(150).lagSeconds, 50);
  // Burrow's rule: STOP when the silence passes the window's span (45 s of commits).
  const commits = readings.filter((r) => r.t <= 100).map((r) => r.t);
  assert.is(readings.find((r) => r.t > 100 && burrowStop(commits, r.t))!.t, 150);
  // The bound is a setting: consumers with max.poll.interval.ms = 30 s are STOP after 30 s.
  const quick = replay(new LagEvaluator({ maxPollIntervalMs: 30_000 }), readings);
  assert.is(readings[quick.findIndex((x) => x.status === 'STOP')]!.t, 130);
});

test('(b) with membership: a member that leaves makes it STOP at once; a killed one that stays listed is WARN (late), then STOP when the broker drops it', () => {
  const member: GroupMembers = { state: 'Stable', members: 1, assigned: [{ topic: TOPIC, partitions: [0] }] };
  const empty: GroupMembers = { state: 'Empty', members: 0 };
  // Graceful: LeaveGroup, the group is Empty at the next poll.
  let ev = new LagEvaluator();
  ev.members(G, member);
  for (const r of diesAt100(100)) read(ev, r);
  read(ev, { t: 105, c: 10000, e: 10500 });
  ev.members(G, empty);
  let p = ev.evaluate(G, 105 * S).partitions[0]!;
  assert.is(p.status, 'STOP');
  assert.is(p.reason, 'lag 500 and the group has no members (Empty); 500 records arrived since it was last active');
  const g = ev.evaluate(G, 105 * S);
  assert.is(g.status, 'ERR');
  assert.is(g.event, undefined, 'members-left was reported by the evaluation before');
  // Killed: the broker keeps the member until its session times out (30 s in kafkajs).
  ev = new LagEvaluator();
  ev.members(G, member);
  const seen: string[] = [];
  const reasons: string[] = [];
  for (const r of diesAt100(140)) {
    if (r.t === 135) ev.members(G, empty);
    read(ev, r);
    if (r.t < 100) continue;
    p = ev.evaluate(G, r.t * S).partitions[0]!;
    seen.push(`${r.t} ${p.status}`);
    reasons.push(p.reason ?? '');
  }
  // A member that owns it is alive by Kafka's account: late, not STALL, until it is dropped.
  assert.equal(seen, ['100 OK', '105 OK', '110 WARN', '115 WARN', '120 WARN', '125 WARN', '130 WARN', '135 STOP', '140 STOP']);
  assert.is(reasons[2], 'no commit for 10 s (commits came every ~5 s) while the log end grew by 1000; a member owns it (Stable, 1 members): STALL if still silent at 300 s; lag 1000');
});

test('(c) a caught-up consumer whose offsets are reset to 0 is REWIND (before the zero-lag OK), for 3 readings', () => {
  const readings: Reading[] = [];
  for (let t = 0; t <= 100; t += 5) readings.push({ t, c: 100 * t, e: 100 * t });
  readings.push({ t: 105, c: 0, e: 10500 }, { t: 110, c: 2000, e: 11000 }, { t: 115, c: 6000, e: 11500 }, { t: 120, c: 11000, e: 12000 });
  const v = replay(new LagEvaluator(), readings);
  assert.equal(statuses(v.slice(-5)), ['OK', 'REWIND', 'REWIND', 'REWIND', 'OK']);
  assert.is(v.at(-4)!.reason, 'committed offset went back from 10000 to 0');
  assert.is(v.at(-4)!.lag, 10500);
});

test('(c) a REWIND between two evaluations is still reported once; an idle topic reset too', () => {
  const ev = new LagEvaluator();
  for (let t = 0; t <= 60; t += 5) read(ev, { t, c: 5000, e: 5000 }); // idle, caught up
  ev.evaluate(G, 60 * S);
  for (const t of [65, 70, 75, 80, 85]) read(ev, { t, c: t === 65 ? 0 : 5000, e: 5000 }); // reset, then re-read at once
  const p = ev.evaluate(G, 85 * S).partitions[0]!;
  assert.is(p.status, 'REWIND', 'four readings later, never reported yet');
  assert.is(ev.evaluate(G, 90 * S).partitions[0]!.status, 'OK', 'reported once: done');
});

// ---------------------------------------------------------------------------------------------
// The other complaints about Burrow

test('an idle caught-up consumer that commits nothing for an hour is OK (no false STOP)', () => {
  const ev = new LagEvaluator();
  const seen = new Set<string>();
  for (let t = 0; t <= 3600; t += 30) {
    read(ev, { t, c: 5000, e: 5000 });
    const g = ev.evaluate(G, t * S);
    seen.add(`${g.status} ${g.partitions[0]!.status} ${g.totalLag} ${g.partitions[0]!.lagSeconds}`);
  }
  assert.equal([...seen], ['OK OK 0 0']);
  // Even when nobody is in the group any more: nothing to consume.
  ev.members(G, { state: 'Empty', members: 0 });
  assert.is(ev.evaluate(G, 3630 * S).partitions[0]!.status, 'OK');
});

test('an idle consumer that wakes to a burst and keeps up is OK; one that is dead is WARN after a window of silence, STOP past max.poll.interval', () => {
  const ev = new LagEvaluator();
  for (let t = 0; t <= 600; t += 5) read(ev, { t, c: 5000, e: 5000 }); // idle for 10 minutes
  read(ev, { t: 605, c: 5000, e: 6000 }); // a burst arrives just before the log-end read
  assert.is(ev.evaluate(G, 605 * S).partitions[0]!.status, 'OK', 'was caught up a poll ago: the idle hour is not silence');
  read(ev, { t: 610, c: 6000, e: 6000 });
  assert.is(ev.evaluate(G, 610 * S).partitions[0]!.status, 'OK');
  // The same idle consumer, dead when the burst comes. It never committed while watched, so no
  // spacing is known: late after a full window of silence since it was last caught up (Burrow's
  // span rule); without membership, STOP once silent past max.poll.interval (300 s).
  const dead = new LagEvaluator();
  for (let t = 0; t <= 600; t += 5) read(dead, { t, c: 5000, e: 5000 });
  const seen: string[] = [];
  for (let t = 605; t <= 905; t += 5) {
    read(dead, { t, c: 5000, e: 6000 });
    const s = dead.evaluate(G, t * S).partitions[0]!.status;
    if (s !== seen.at(-1)?.split(' ')[1]) seen.push(`${t} ${s}`);
  }
  assert.equal(seen, ['605 OK', '645 WARN', '900 STOP']);
  assert.is(dead.evaluate(G, 905 * S).partitions[0]!.reason, 'no commit in the 305 s since it was last caught up while the log end grew by 1000; silent past max.poll.interval (300 s): presumed gone; membership unknown; lag 1000');
});

test('a healthy consumer committing every 30 s (polled every 5 s) stays OK; the same one dead is WARN after 2 x 30 s, STOP past max.poll.interval', () => {
  const noise = [40, 60, 45, 55, 50, 42, 58, 47, 53, 44, 61, 39, 52, 48, 57, 43, 56, 41, 59, 46, 54];
  const healthy = (until: number, deadAfter = Infinity): Reading[] => {
    const readings: Reading[] = [];
    for (let t = 0; t <= until; t += 5) {
      const k = Math.floor(Math.min(t, deadAfter) / 30); // the last commit, at 30 k s
      readings.push({ t, c: 3000 * k + 100 - noise[k % noise.length]!, e: 100 * t + 100 });
    }
    return readings;
  };
  const v = replay(new LagEvaluator(), healthy(600));
  assert.equal([...new Set(statuses(v))], ['OK'], 'no false WARN from lag rising between commits, no false STOP');
  const readings = healthy(600, 300);
  const dead = replay(new LagEvaluator(), readings);
  assert.is(readings[dead.findIndex((x) => x.status === 'WARN')]!.t, 360, 'last commit seen at 300 s, commits came every 30 s');
  assert.is(readings[dead.findIndex((x) => x.status === 'STOP')]!.t, 600, '300 s (max.poll.interval) after it');
});

test('a healthy low-rate consumer with noisy lag (10 records/s, commits at every poll) is never WARN', () => {
  // Lag at the polls: 1, 15, 30 ... (14 and 15 more records behind twice in a row: 1.4 written
  // per record consumed over two gaps, by chance), never monotonic over 10 commits.
  const noise = [1, 15, 30, 12, 3, 25, 8, 28, 2, 19, 6, 27, 11, 4, 22];
  const readings: Reading[] = [];
  for (let t = 0; t <= 600; t += 5) readings.push({ t, c: 10 * t + 100 - noise[(t / 5) % noise.length]!, e: 10 * t + 100 });
  const v = replay(new LagEvaluator(), readings);
  assert.equal([...new Set(statuses(v))], ['OK']);
});

test('negative lag (committed read after a newer commit, log end older) is clamped at 0', () => {
  const ev = new LagEvaluator();
  ev.logEnd(TOPIC, 0, 1000, 0);
  ev.committed(G, TOPIC, 0, 1050, 1);
  const p = ev.evaluate(G, 2).partitions[0]!;
  assert.is(p.lag, 0);
  assert.is(p.status, 'OK');
  assert.is(p.lagSeconds, 0);
  assert.is(ev.evaluate(G, 2).totalLag, 0);
});

/** Every number in a value, recursively. */
function numbers(x: unknown, out: number[] = []): number[] {
  if (typeof x === 'number') out.push(x);
  else if (Array.isArray(x)) x.forEach((y) => numbers(y, out));
  else if (x && typeof x === 'object') Object.values(x).forEach((y) => numbers(y, out));
  return out;
}

test('unknown, never NaN: no committed offset, no log end yet, an unknown group', () => {
  const ev = new LagEvaluator();
  ev.committed(G, TOPIC, 0, undefined, 0);
  ev.logEnd(TOPIC, 0, 500, 0);
  ev.committed(G, TOPIC, 1, 100, 0); // no log end read for partition 1
  ev.committed(G, TOPIC, 2, -1, 0); // Kafka's "none"
  const g = ev.evaluate(G, 0);
  assert.equal(g.partitions.map((p) => [p.partition, p.status, p.lag, p.lagSeconds, p.reason]), [
    [0, 'UNKNOWN', undefined, undefined, 'no committed offset'],
    [1, 'UNKNOWN', undefined, undefined, 'no log-end offset read yet'],
    [2, 'UNKNOWN', undefined, undefined, 'no committed offset'],
  ]);
  assert.is(g.status, 'NOTFOUND');
  assert.is(g.totalLag, 0);
  assert.is(g.unknownPartitions, 3);
  assert.is(g.maxLag, undefined);
  assert.ok(numbers(g).every((n) => !Number.isNaN(n)), 'no NaN anywhere');
  assert.is(JSON.stringify(g).includes('null'), false);
  // Once partition 1's log end is read, its lag is known; the others stay unknown.
  ev.logEnd(TOPIC, 1, 160, 1);
  const g2 = ev.evaluate(G, 1);
  assert.is(g2.status, 'OK');
  assert.is(g2.totalLag, 60);
  assert.is(g2.unknownPartitions, 2);
  const none = ev.evaluate('nobody', 0);
  assert.is(none.status, 'NOTFOUND');
  assert.equal(none.partitions, []);
  assert.ok(numbers(none).every((n) => !Number.isNaN(n)));
});

test('lag in seconds: interpolated in the log-end history (flat runs kept), extrapolated and capped beyond it', () => {
  const ev = new LagEvaluator();
  const ends: [number, number][] = [[0, 0], [10, 1000], [20, 3000], [25, 3000], [30, 3000], [40, 4000]];
  for (const [t, e] of ends) ev.logEnd(TOPIC, 0, e, t * S);
  const at40 = (c: number): PartitionVerdict => {
    const e = new LagEvaluator();
    for (const [t, x] of ends) e.logEnd(TOPIC, 0, x, t * S);
    e.committed(G, TOPIC, 0, c, 40 * S);
    return e.evaluate(G, 40 * S).partitions[0]!;
  };
  assert.is(at40(2000).lagSeconds, 25, 'offset 2000 was reached at 15 s (between 1000 at 10 s and 3000 at 20 s)');
  assert.is(at40(3000).lagSeconds, 10, 'the log end sat at 3000 until 30 s');
  assert.is(at40(3500).lagSeconds, 5);
  assert.is(at40(4000).lagSeconds, 0);
  assert.is(at40(500).lagSeconds, 35);
  assert.is(at40(500).lagSecondsCapped, false);

  // Beyond a short history (3 readings, 100 records/s): extrapolated at the history's rate.
  const beyond = (settings: Partial<LagSettings>, ends2: [number, number][], c: number): PartitionVerdict => {
    const e = new LagEvaluator({ logEndHistory: 3, ...settings });
    for (const [t, x] of ends2) e.logEnd(TOPIC, 0, x, t * S);
    e.committed(G, TOPIC, 0, c, 120 * S);
    return e.evaluate(G, 120 * S).partitions[0]!;
  };
  const steady: [number, number][] = [[90, 9000], [100, 10000], [110, 11000], [120, 12000]];
  let p = beyond({}, steady, 5000);
  assert.is(p.lagSeconds, 70, '5000 at 100/s before 10000 at 100 s: written at 50 s');
  assert.is(p.lagSecondsCapped, false);
  p = beyond({ lagSecondsCapMs: 30_000 }, steady, 5000);
  assert.is(p.lagSeconds, 30, 'capped');
  assert.is(p.lagSecondsCapped, true);
  // A quiet history after a burst: 1 record/s while 1 000 000 behind would say 11 days.
  p = beyond({}, [[100, 2_000_000], [110, 2_000_010], [120, 2_000_020]], 1_000_000);
  assert.is(p.lagSeconds, 3600, 'capped at lagSecondsCapMs (1 h)');
  assert.is(p.lagSecondsCapped, true);
  // No rate at all (flat): a lower bound, the age of the oldest reading, flagged.
  p = beyond({}, [[100, 10000], [110, 10000], [120, 10000]], 5000);
  assert.is(p.lagSeconds, 20);
  assert.is(p.lagSecondsCapped, true);
});

test('lag in seconds: a short log-end history keeps its bends (the best-predicted reading goes, not the oldest)', () => {
  // 10 records/s for 5 minutes, then 100/s for 5 minutes, read every 10 s; only 4 readings kept.
  const ev = new LagEvaluator({ logEndHistory: 4 });
  for (let t = 0; t <= 600; t += 10) ev.logEnd(TOPIC, 0, t <= 300 ? 10 * t : 3000 + 100 * (t - 300), t * S);
  ev.committed(G, TOPIC, 0, 1000, 600 * S);
  ev.committed(G, 'other', 0, 1000, 600 * S);
  const p = ev.evaluate(G, 600 * S).partitions[0]!;
  assert.is(p.lag, 32000);
  assert.is(p.lagSeconds, 500, 'offset 1000 was written at t = 100 s (a ring of the last 4 readings would say 320 s)');
  assert.is(p.lagSecondsCapped, false);
  assert.is(p.produceRate, undefined, 'one committed reading: no window yet');
});

test('totals per group and per topic; max lag; log ends shared by the groups reading a topic', () => {
  const ev = new LagEvaluator();
  const lags: [string, number, number | undefined][] = [['orders', 0, 10], ['orders', 1, 20], ['orders', 2, 30], ['payments', 0, 5], ['payments', 1, undefined]];
  for (const [topic, p, lag] of lags) ev.committed(G, topic, p, lag === undefined ? undefined : 1000, 0);
  for (const [topic, p] of lags) ev.committed('audit', topic, p, 1000, 0);
  for (const [topic, p, lag] of lags) ev.logEnd(topic, p, 1000 + (lag ?? 7), 0);
  const g = ev.evaluate(G, 0);
  assert.is(g.totalLag, 65);
  assert.is(g.unknownPartitions, 1);
  assert.equal(g.topics, [
    { topic: 'orders', lag: 60, partitions: 3, unknown: 0, maxLagSeconds: 0, maxLagSecondsFrom: 'interpolated', catchUpSeconds: undefined, retention: undefined },
    { topic: 'payments', lag: 5, partitions: 2, unknown: 1, maxLagSeconds: 0, maxLagSecondsFrom: 'interpolated', catchUpSeconds: undefined, retention: undefined },
  ]);
  assert.is(g.maxLag!.topic, 'orders');
  assert.is(g.maxLag!.partition, 2);
  assert.is(g.maxLag!.lag, 30);
  const audit = ev.evaluate('audit', 0);
  assert.is(audit.totalLag, 72, 'the same log ends, another group');
  assert.equal(audit.topics.map((t) => [t.topic, t.lag]), [['orders', 60], ['payments', 12]]);
  assert.is(ev.stats().topicPartitions, 5, 'one log-end history per topic-partition');
  assert.is(ev.stats().partitions, 10);
});

test('completeness: the share of the window filled, per partition and (mean) per group', () => {
  const ev = new LagEvaluator();
  for (let i = 0; i < 10; i++) {
    ev.committed(G, TOPIC, 0, i, i * S);
    if (i >= 5) ev.committed(G, TOPIC, 1, i, i * S);
    ev.logEnd(TOPIC, 0, i, i * S);
    ev.logEnd(TOPIC, 1, i, i * S);
    if (i === 3) assert.is(ev.evaluate(G, i * S).partitions[0]!.complete, 0.4);
  }
  const g = ev.evaluate(G, 9 * S);
  assert.equal(g.partitions.map((p) => p.complete), [1, 0.5]);
  assert.is(g.complete, 0.75);
  for (let i = 10; i < 20; i++) ev.committed(G, TOPIC, 0, i, i * S);
  assert.is(ev.evaluate(G, 19 * S).partitions[0]!.complete, 1, 'never more than 1');
});

test('consume and produce rates over the window', () => {
  const ev = new LagEvaluator();
  const v = replay(ev, Array.from({ length: 12 }, (_, i) => ({ t: i * 10, c: 800 * i, e: 1000 * i })));
  assert.is(v[0]!.consumeRate, undefined, 'one reading: unknown');
  assert.is(v[11]!.consumeRate, 80);
  assert.is(v[11]!.produceRate, 100);
  assert.is(v[11]!.status, 'WARN', 'lag 0, 200, 400 ... never goes down');
});

test('membership: a partition no member of a Stable group is assigned is STOP once records arrive; a rebalance falls back to commit spacing', () => {
  const ev = new LagEvaluator();
  for (let t = 0; t <= 50; t += 5) {
    read(ev, { t, c: 100 * t, e: 100 * t + 50 }, G, TOPIC, 0); // keeping pace, 50 behind
    read(ev, { t, c: 100 * t, e: 100 * t + 50 }, G, TOPIC, 1);
  }
  ev.members(G, { state: 'Stable', members: 2, assigned: [{ topic: TOPIC, partitions: [0] }] });
  // Partition 1 advanced in this very round: whether records still arrive unconsumed is for the
  // next round to tell.
  let g = ev.evaluate(G, 50 * S);
  assert.equal(g.partitions.map((p) => p.status), ['OK', 'UNKNOWN']);
  read(ev, { t: 55, c: 5500, e: 5550 }, G, TOPIC, 0);
  read(ev, { t: 55, c: 5000, e: 5550 }, G, TOPIC, 1);
  g = ev.evaluate(G, 55 * S);
  assert.equal(g.partitions.map((p) => p.status), ['OK', 'STOP']);
  assert.is(g.partitions[1]!.reason, 'lag 550 and no member of the group (Stable, 2 members) is assigned this partition; 500 records arrived since it was last active');
  assert.is(g.status, 'ERR');
  assert.is(g.reason, '1 of 2 partitions not OK, worst STOP; orders-1: lag 550 and no member of the group (Stable, 2 members) is assigned this partition; 500 records arrived since it was last active');
  ev.members(G, { state: 'PreparingRebalance', members: 2 });
  assert.equal(ev.evaluate(G, 55 * S).partitions.map((p) => p.status), ['OK', 'OK']);
  read(ev, { t: 60, c: 5500, e: 6000 }, G, TOPIC, 0);
  read(ev, { t: 65, c: 5500, e: 6500 }, G, TOPIC, 0);
  const p = ev.evaluate(G, 65 * S).partitions[0]!;
  assert.is(p.status, 'WARN', 'late: a rebalance is no evidence of death');
  assert.match(p.reason!, /; the group is rebalancing \(PreparingRebalance\): STOP if still silent at 300 s; lag 1000$/);
  ev.members(G, undefined);
  assert.is(ev.evaluate(G, 60 * S).members, undefined);
});

test('bounded: maxGroups and maxPartitions refuse (counted); forget and forgetTopic free', () => {
  const ev = new LagEvaluator({ maxGroups: 2, maxPartitions: 3 });
  assert.is(ev.committed('g1', TOPIC, 0, 1, 0), true);
  assert.is(ev.committed('g2', TOPIC, 0, 1, 0), true);
  assert.is(ev.committed('g3', TOPIC, 0, 1, 0), false);
  assert.is(ev.committed('g2', TOPIC, 1, 1, 0), true);
  assert.is(ev.committed('g2', TOPIC, 2, 1, 0), false, 'a fourth partition');
  assert.equal(ev.stats().refused, 2);
  assert.equal([...ev.groupNames()], ['g1', 'g2']);
  assert.is(ev.forget('g1'), true);
  assert.is(ev.forget('g1'), false);
  assert.is(ev.committed('g3', TOPIC, 0, 1, 0), true);
  assert.is(ev.stats().partitions, 3);
  ev.logEnd('other', 0, 5, 0);
  assert.is(ev.forgetTopic(TOPIC), true);
  assert.equal([ev.stats().partitions, ev.stats().topicPartitions], [0, 1]);
  assert.is(ev.evaluate('g2', 0).status, 'NOTFOUND');
  assert.ok(ev.stats().bytes > 0);
});

test('settings: defaults documented, bad values refused', () => {
  assert.is(LAG_DEFAULTS.windowSize, 10);
  assert.is(resolveLagSettings({ allowedLag: 5 }).allowedLag, 5);
  assert.throws(() => resolveLagSettings({ windowSize: 1 }), /windowSize must be an integer >= 2/);
  assert.throws(() => resolveLagSettings({ minStopMs: -1 }), /minStopMs must be a finite number >= 0/);
  assert.throws(() => new LagEvaluator({ stopFactor: 0.5 }), /stopFactor must be >= 1/);
});

test('allowedLag: lag within it is OK whatever the commits do', () => {
  const ev = new LagEvaluator({ allowedLag: 100 });
  const v = replay(ev, Array.from({ length: 30 }, (_, i) => ({ t: i * 5, c: 1000, e: 1000 + Math.min(100, 10 * i) })));
  assert.equal([...new Set(statuses(v))], ['OK']);
  const g: GroupVerdict = ev.evaluate(G, 150 * S);
  assert.is(g.totalLag, 100);
});

test.run();
