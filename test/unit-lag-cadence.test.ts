// The consumer-lag evaluator fed what the Admin-API sensor emits (members, then committed
// offsets, then log ends, then one evaluation per round, as agent/kafka/sensor.ts does), on
// recorded offset histories with the cadence measured on a real Kafka 2.2 broker with a kafkajs
// consumer at default auto-commit (ARCHITECTURE.md §12): commits at 0.6, 1.9, 11.4, 30.7 s, then
// 83-180 s apart, the producer writing 4x what the consumer reads. Every evaluation along the
// whole timeline is asserted, not only the last one. Then the reset, the dead consumer, the
// abandoned groups and the group whose members leave, down to the signals sent.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LagEvaluator, type GroupMembers, type GroupVerdict } from '../agent/kafka/lag/index.js';
import { SignalPlanner } from '../agent/kafka/signals.js';
import { Status_Condition, Status_Confidence, type Signal } from '../proto/index.js';

const test = suite('lag evaluator: the measured kafkajs cadence');
const S = 1000;
const TOPIC = 'orders';
/** Records/s written to the partition. */
const W = 20;
/** The measured commit spacings (s): commits at 0.6, 1.9, 11.4, 30.7 s, then 83-180 s apart. */
const GAPS = [0.6, 1.3, 9.5, 19.3, 83, 112, 97, 150, 131, 180, 165, 122, 178, 140];
/** kafkajs batches are capped (maxBytesPerPartition): at most this many records from the 5th on. */
const CAP = 600;

interface Commit {
  t: number;
  offset: number;
}

/**
 * A kafkajs consumer at default auto-commit: it commits at the end of each batch, and a batch is
 * what the log held when it was fetched, right after the previous commit (at most CAP records).
 * The first fetch returns at 0.1 s.
 */
function kafkajsCommits(): Commit[] {
  const out: Commit[] = [];
  let t = 0;
  let fetchedAt = 0.1;
  let offset = 0;
  for (const gap of GAPS) {
    t = Math.round((t + gap) * 10) / 10;
    offset = Math.min(Math.floor(W * fetchedAt), offset + CAP);
    out.push({ t, offset });
    fetchedAt = t;
  }
  return out;
}

/** The committed offset read at time t (s): the last commit at or before t; undefined before the first. */
function committedAt(commits: readonly Commit[], t: number): number | undefined {
  let c: number | undefined;
  for (const x of commits) if (x.t <= t) c = x.offset;
  return c;
}

interface Round {
  t: number;
  v: GroupVerdict;
}

/**
 * One sensor round at time t (s), as agent/kafka/sensor.ts does it: membership, committed
 * offsets (at t), log ends (15 ms later), then the verdict (5 ms after that).
 */
function round(ev: LagEvaluator, group: string, t: number, committed: number | undefined, logEnd: number, members: GroupMembers | undefined, topic = TOPIC): GroupVerdict {
  ev.members(group, members);
  ev.committed(group, topic, 0, committed, t * S);
  ev.logEnd(topic, 0, logEnd, t * S + 15);
  return ev.evaluate(group, t * S + 20);
}

const owned: GroupMembers = { state: 'Stable', members: 1, assigned: [{ topic: TOPIC, partitions: [0] }] };
const empty: GroupMembers = { state: 'Empty', members: 0 };

/** Every round from 0 to `until` s, every `poll` s. */
function timeline(poll: number, until: number, each: (t: number) => void): void {
  for (let k = 0; k * poll <= until + 1e-9; k++) each(Math.round(k * poll * 1000) / 1000);
}

/** "t status" at each change of the partition's status: what a failure message shows. */
function changes(rounds: Round[]): string {
  const out: string[] = [];
  let last = '';
  for (const r of rounds) {
    const s = `${r.v.status}/${r.v.partitions[0]?.status}`;
    if (s !== last) out.push(`${r.t} ${s}`);
    last = s;
  }
  return out.join(', ');
}

const POLLS = [0.5, 2];
const MEMBERSHIP: [string, GroupMembers | undefined][] = [
  ['membership known (Stable, partition assigned)', owned],
  ['membership unknown (no DescribeGroups)', undefined],
];

// ---------------------------------------------------------------------------------------------
// The slow, live consumer

test('the recorded history is the one that fooled the extrapolation: the 83 s gap outgrows 2 x the gap before x its write/consume ratio', () => {
  const commits = kafkajsCommits();
  assert.equal(commits.slice(0, 5).map((c) => c.t), [0.6, 1.9, 11.4, 30.7, 113.7]);
  const gaps = commits.slice(1).map((c, i) => Math.round((c.t - commits[i]!.t) * 10) / 10);
  assert.ok(gaps.slice(3).every((g) => g >= 83 && g <= 180), `later gaps 83-180 s: ${gaps.join(' ')}`);
  // Over the 19.3 s gap to 30.7 s: 386 records written, 190 consumed (x 2.03): the old rule
  // expected the next commit within 2 x 19.3 x 2.03 = 78 s; it came 83 s later.
  const ratio = (W * 19.3) / (commits[3]!.offset - commits[2]!.offset);
  assert.ok(83 > 2 * 19.3 * ratio, `83 s > ${(2 * 19.3 * ratio).toFixed(0)} s`);
  // And the consumer reads about a quarter of what is written.
  const last = commits.at(-1)!;
  const share = last.offset / (W * last.t);
  assert.ok(share > 0.2 && share < 0.3, `consumed ${(share * 100).toFixed(0)} % of the writes`);
});

for (const poll of POLLS) {
  for (const [label, members] of MEMBERSHIP) {
    test(`slow live consumer, kafkajs cadence, readings every ${poll} s, ${label}: WARN at every evaluation from its third commit on (OK before: too few commits to tell slow from between-commits), never STALL or STOP`, () => {
      const commits = kafkajsCommits();
      const end = commits.at(-1)!.t + 60;
      const ev = new LagEvaluator();
      const rounds: Round[] = [];
      timeline(poll, end, (t) => rounds.push({ t, v: round(ev, 'billing', t, committedAt(commits, t), Math.floor(W * (t + 0.015)), members) }));
      const history = changes(rounds);
      // Three commits are what it takes to tell slow from a consumer between two commits: seen at
      // 11.5 s with readings every 0.5 s; with readings every 2 s, 0.6 and 1.9 s are one reading,
      // so the third is the one at 30.7 s, seen at 32 s.
      const warnFrom = poll === 0.5 ? 11.5 : 32;
      for (const { t, v } of rounds) {
        const p = v.partitions[0]!;
        assert.ok(p.status !== 'STALL' && p.status !== 'STOP' && v.status !== 'ERR', `t=${t}: ${p.status} (${p.reason}); ${history}`);
        if (t >= warnFrom) {
          assert.is(v.status, 'WARN', `t=${t}: group ${v.status}, partition ${p.status} (${p.reason}); ${history}`);
          assert.is(p.status, 'WARN', `t=${t}`);
        } else assert.ok(v.status === 'OK' || v.status === 'NOTFOUND', `t=${t}: before its third commit ${v.status}; ${history}`);
      }
      // The lag grew all along, and lag in seconds is the age of the next record to read.
      const at = (t: number): GroupVerdict => rounds.find((r) => r.t >= t)!.v;
      const final = rounds.at(-1)!;
      assert.ok(final.v.totalLag > at(300).totalLag && at(300).totalLag > at(warnFrom).totalLag);
      const p = final.v.partitions[0]!;
      const age = final.t - p.committed! / W; // the record at the committed offset was written then
      assert.ok(Math.abs(p.lagSeconds! - age) <= poll + 0.1, `lag seconds ${p.lagSeconds} ~ ${age}`);
      // Through the longest gap (180 s) the reason says why it is WARN.
      assert.match(at(700).partitions[0]!.reason!, /consuming slower than producers/);
    });
  }
}

test('one batch that catches up (the lag at its commit dips) is OK for that gap only: at the next slow commit it is WARN again (rule 8d), not 10 commits later', () => {
  const commits = kafkajsCommits();
  // The 8th batch reads 6 000 records instead of 600 (a fetch that returned much more).
  const bumped = commits.map((c, i) => (i >= 7 ? { t: c.t, offset: c.offset + 5400 } : c));
  const ev = new LagEvaluator();
  const rounds: Round[] = [];
  timeline(0.5, bumped.at(-1)!.t + 30, (t) => rounds.push({ t, v: round(ev, 'billing', t, committedAt(bumped, t), Math.floor(W * (t + 0.015)), undefined) }));
  const status = (t: number): string => rounds.find((r) => r.t >= t)!.v.partitions[0]!.status;
  assert.is(status(472), 'WARN');
  assert.is(status(473), 'OK', 'the lag at this commit went down: it caught up over this gap');
  assert.is(status(604), 'WARN', `the next commit was slow again; ${changes(rounds)}`);
  assert.match(rounds.find((r) => r.t >= 604)!.v.partitions[0]!.reason!, /records written per record consumed over the last \d+ commits/);
  for (const { t, v } of rounds) if (t >= 604) assert.is(v.partitions[0]!.status, 'WARN', `t=${t}`);
});

// ---------------------------------------------------------------------------------------------
// The same consumer dead

for (const poll of POLLS) {
  test(`the slow consumer killed mid-batch (readings every ${poll} s): WARN until the broker drops it (session timeout), then STOP within two evaluation intervals`, () => {
    const commits = kafkajsCommits().filter((c) => c.t <= 322.7);
    const diedAt = 340;
    const droppedAt = diedAt + 30; // kafkajs sessionTimeout
    const ev = new LagEvaluator();
    const rounds: Round[] = [];
    timeline(poll, 500, (t) => rounds.push({ t, v: round(ev, 'billing', t, committedAt(commits, t), Math.floor(W * (t + 0.015)), t < droppedAt ? owned : empty) }));
    const firstStop = rounds.find((r) => r.v.partitions[0]!.status === 'STOP')!;
    assert.ok(firstStop.t >= droppedAt && firstStop.t <= droppedAt + 2 * poll, `STOP at ${firstStop.t} s; ${changes(rounds)}`);
    assert.match(firstStop.v.partitions[0]!.reason!, /the group has no members \(Empty\); \d+ records arrived since it was last active/);
    assert.is(firstStop.v.status, 'ERR');
    const warnFrom = poll === 0.5 ? 11.5 : 32;
    for (const { t, v } of rounds) {
      if (t >= warnFrom && t < droppedAt) assert.is(v.status, 'WARN', `t=${t}: alive by Kafka's account`);
      if (t >= firstStop.t) assert.is(v.partitions[0]!.status, 'STOP', `t=${t}`);
    }
    const left = rounds.filter((r) => r.v.event === 'members-left');
    assert.equal(left.map((r) => r.t), [rounds.find((r) => r.t >= droppedAt)!.t], 'members-left said once, when the member was dropped');
  });

  test(`the slow consumer killed mid-batch, membership unknown (readings every ${poll} s): WARN, then STOP once silent past max.poll.interval (300 s): what going without membership costs`, () => {
    const commits = kafkajsCommits().filter((c) => c.t <= 322.7);
    const ev = new LagEvaluator();
    const rounds: Round[] = [];
    timeline(poll, 700, (t) => rounds.push({ t, v: round(ev, 'billing', t, committedAt(commits, t), Math.floor(W * (t + 0.015)), undefined) }));
    const seenCommit = rounds.find((r) => r.t >= 322.7)!.t;
    const firstStop = rounds.find((r) => r.v.partitions[0]!.status === 'STOP')!;
    // STOP when the silence plus half a reading interval reaches 300 s.
    assert.ok(Math.abs(firstStop.t - (seenCommit + 300)) <= poll, `STOP at ${firstStop.t}, last commit seen at ${seenCommit}; ${changes(rounds)}`);
    assert.match(firstStop.v.partitions[0]!.reason!, /silent past max\.poll\.interval \(300 s\): presumed gone; membership unknown/);
    const warnFrom = poll === 0.5 ? 11.5 : 32;
    for (const { t, v } of rounds) if (t >= warnFrom && t < firstStop.t) assert.is(v.status, 'WARN', `t=${t}`);
  });
}

test('maxPollIntervalMs is the consumers\' own bound: set below their longest batch, it calls the live slow consumer dead in its 83 s gap', () => {
  const commits = kafkajsCommits();
  const ev = new LagEvaluator({ maxPollIntervalMs: 60_000 });
  const rounds: Round[] = [];
  timeline(0.5, 200, (t) => rounds.push({ t, v: round(ev, 'billing', t, committedAt(commits, t), Math.floor(W * (t + 0.015)), undefined) }));
  // Silent since 31 s; late, and past 60 s, at 2 x 39.5 s: STOP at 111 s, 3 s before its commit.
  assert.is(changes(rounds), '0 NOTFOUND/UNKNOWN, 1 OK/OK, 11.5 WARN/WARN, 111 ERR/STOP, 114 WARN/WARN');
});

test('a consumer keeping up that leaves its group while records arrive: STOP at the first evaluation that sees the group Empty (the next one when its last commit comes in that same round)', () => {
  for (const poll of POLLS) {
    for (const commitsOnLeaving of [false, true]) {
      const ev = new LagEvaluator();
      const leftAt = 60;
      const rounds: Round[] = [];
      timeline(poll, 80, (t) => {
        const end = 1000 + Math.floor(W * (t + 0.015));
        const last = commitsOnLeaving ? leftAt : leftAt - poll; // when its last commit was read
        rounds.push({ t, v: round(ev, 'billing', t, 1000 + Math.floor(W * Math.min(t, last)) - 3, end, t < leftAt ? owned : empty) });
      });
      const stopAt = commitsOnLeaving ? leftAt + poll : leftAt;
      const gap = commitsOnLeaving ? `, ${leftAt} OK/UNKNOWN` : '';
      assert.equal(changes(rounds), `0 OK/OK${gap}, ${stopAt} ERR/STOP`, `readings every ${poll} s, last commit in the round that sees it gone: ${commitsOnLeaving}`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// The reset

for (const poll of POLLS) {
  for (const [label, members] of MEMBERSHIP) {
    test(`a caught-up consumer reset to 0, then reading at 5/s while 20/s are written (readings every ${poll} s, ${label}): REWIND, then WARN at every evaluation while lag grows; nothing from before the reset counts`, () => {
      const resetAt = 60;
      // After the reset the consumer reads 5 records/s from offset 0, committing with the kafkajs cadence.
      const after: Commit[] = [];
      let t = resetAt;
      for (const gap of GAPS.slice(0, 9)) {
        t = Math.round((t + gap) * 10) / 10;
        after.push({ t, offset: Math.floor(5 * (t - resetAt)) });
      }
      const end = after.at(-1)!.t + 30;
      const ev = new LagEvaluator();
      const rounds: Round[] = [];
      timeline(poll, end, (t) => {
        const logEnd = Math.floor(W * (t + 0.015));
        // Before the reset: at the log end, committing every second.
        const c = t < resetAt ? W * Math.floor(t) : (committedAt(after, t) ?? 0);
        rounds.push({ t, v: round(ev, 'billing', t, c, logEnd, members) });
      });
      const history = changes(rounds);
      const post = rounds.filter((r) => r.t >= resetAt);
      // The reading that sees the reset says REWIND; it is held 3 readings.
      assert.equal(post.slice(0, 3).map((r) => r.v.partitions[0]!.status), ['REWIND', 'REWIND', 'REWIND'], history);
      assert.is(post[0]!.v.partitions[0]!.reason, `committed offset went back from ${W * Math.floor(resetAt - poll)} to 0`);
      for (const { t, v } of post.slice(3)) {
        const p = v.partitions[0]!;
        assert.is(p.status, 'WARN', `t=${t}: ${p.status} (${p.reason}); ${history}`);
        assert.is(v.status, 'WARN');
      }
      // Lag grew at about 15 records/s over the whole run after the reset.
      const first = post[0]!;
      const last = post.at(-1)!;
      const rate = (last.v.totalLag - first.v.totalLag) / (last.t - first.t);
      assert.ok(rate > 13 && rate < 17, `lag grew ${rate.toFixed(1)} records/s`);
      assert.match(post[3]!.v.partitions[0]!.reason!, /^lag grew from 1200 at the rewind to \d+ and never went down: consuming slower than producers$/);
    });
  }
}

test('a reset consumer that catches up: REWIND, then OK once its commits bring the lag down', () => {
  const ev = new LagEvaluator();
  const seen: string[] = [];
  timeline(0.5, 90, (t) => {
    // Reset to 0 at 60 s; from 61 s it reads 200 records/s, committing every second.
    const c = t < 60 ? W * Math.floor(t) : t < 61 ? 0 : Math.min(Math.floor(W * t), 200 * Math.floor(t - 60));
    const s = round(ev, 'billing', t, c, Math.floor(W * (t + 0.015)), owned).partitions[0]!.status;
    if (s !== seen.at(-1)?.split(' ')[1]) seen.push(`${t} ${s}`);
  });
  assert.equal(seen, ['0 OK', '60 REWIND', '61.5 OK']);
});

// ---------------------------------------------------------------------------------------------
// Abandoned groups, members leaving, and the signals they make

const NAMES = { service: 'lag-monitor', pod: 'lag-monitor-1', cluster: 'prod' };
const isGroupSignal = (s: Signal): boolean => s.context['partition-status'] !== undefined;

/** 25 groups, each on a topic of its own with 40-1000 records left unread and nothing new written. */
function abandonedEstate(members: GroupMembers | undefined, until: number, poll = 10): { rounds: Map<string, Round[]>; signals: Signal[] } {
  const ev = new LagEvaluator();
  const planner = new SignalPlanner(NAMES, 60_000);
  const rounds = new Map<string, Round[]>();
  const signals: Signal[] = [];
  timeline(poll, until, (t) => {
    for (let g = 0; g < 25; g++) {
      const group = `old-service-${g}`;
      const topic = `old-topic-${g}`;
      const v = round(ev, group, t, 5000, 5040 + 40 * g, members, topic);
      if (!rounds.has(group)) rounds.set(group, []);
      rounds.get(group)!.push({ t, v });
      planner.group(v, t * S + 20, signals);
    }
  });
  return { rounds, signals };
}

test('25 abandoned groups (Empty, constant lag, no new records): ABANDONED from the second round, never unhealthy; signals STABLE, on change and heartbeat only', () => {
  const { rounds, signals } = abandonedEstate(empty, 600);
  for (const [group, rs] of rounds) {
    assert.equal(changes(rs), '0 OK/UNKNOWN, 10 ABANDONED/ABANDONED', group);
    const p = rs.at(-1)!.v.partitions[0]!;
    assert.match(p.reason!, /^the group has no members \(Empty\) and no new records seen: lag \d+ held, not growing \(inventory, not an incident\)$/);
  }
  assert.ok(signals.length > 0);
  for (const s of signals) assert.is(s.status!.condition, Status_Condition.STABLE, `${s.subject}: ${JSON.stringify(s.context)}`);
  const groupSignals = signals.filter(isGroupSignal);
  const ofOne = groupSignals.filter((s) => s.context.topics === 'old-topic-3');
  // Round 0 (not yet known), round 1 (ABANDONED: a change), then once a minute: 2 + 9 over 10 minutes.
  assert.is(ofOne.length, 11, ofOne.map((s) => s.context.burrow).join(' '));
  const last = ofOne.at(-1)!;
  assert.equal([last.context.burrow, last.context.abandoned, last.context['total-lag']], ['ABANDONED', 'true', '160']);
  assert.is(last.context.inventory, 'no consumer and no new records; holds lag 160');
  assert.match(last.context.reason!, /^1 of 1 partitions abandoned \(nobody consuming, no new records\), holding lag 160/);
  assert.is(last.context['group-state'], 'Empty');
  // The per-partition and per-topic subjects are STABLE too (checked above), and as sparse.
  assert.ok(signals.length <= 3 * 25 * 11, `${signals.length} signals`);
});

test('abandoned groups without membership (no commits, no new records): OK, then ABANDONED once silent past max.poll.interval; never unhealthy', () => {
  const { rounds, signals } = abandonedEstate(undefined, 600);
  for (const [group, rs] of rounds) {
    // No commit seen: its window must fill (100 s) before silence counts; then 300 s of it.
    assert.equal(changes(rs), '0 OK/OK, 300 ABANDONED/ABANDONED', group);
    assert.match(rs.at(-1)!.v.partitions[0]!.reason!, /^no commit in \d+ s of watching and no new records seen; membership unknown: lag \d+ held, not growing \(inventory, not an incident\)$/);
  }
  for (const s of signals) assert.is(s.status!.condition, Status_Condition.STABLE);
});

test('an abandoned group whose topic gets new records is STOP (nobody consumes them), sent every round', () => {
  const ev = new LagEvaluator();
  const planner = new SignalPlanner(NAMES, 60_000);
  const rounds: Round[] = [];
  const signals: Signal[] = [];
  timeline(10, 200, (t) => {
    // Nothing new until 100 s, then a record a second.
    const v = round(ev, 'old-service', t, 5000, t < 100 ? 5100 : 5100 + (t - 90), empty);
    rounds.push({ t, v });
    planner.group(v, t * S, signals);
  });
  assert.is(changes(rounds), '0 OK/UNKNOWN, 10 ABANDONED/ABANDONED, 100 ERR/STOP');
  assert.is(rounds.at(-1)!.v.partitions[0]!.reason, 'lag 210 and the group has no members (Empty); 110 records arrived since it was last active');
  const after = signals.filter((s) => isGroupSignal(s) && s.timestamp >= 100n * 1_000_000_000n);
  assert.is(after.length, 11, 'sent every round while unhealthy');
  assert.ok(after.every((s) => s.status!.condition === Status_Condition.DEGRADED && s.context.burrow === 'ERR'));
});

test('a group that just lost all its members: one members-left signal (TENTATIVE), then ABANDONED on an idle topic, STOP where records keep arriving', () => {
  for (const busy of [false, true]) {
    const ev = new LagEvaluator();
    const planner = new SignalPlanner(NAMES, 60_000);
    const signals: Signal[] = [];
    const verdicts: GroupVerdict[] = [];
    timeline(5, 180, (t) => {
      // Live until 60 s, 40 records behind (its last commit read at 55 s), on a topic whose
      // producers stopped at 20 s (or not).
      const endAt = (x: number): number => (busy ? 1000 + 10 * x : 1000 + 10 * Math.min(x, 20));
      const v = round(ev, 'billing', t, endAt(Math.min(t, 55)) - 40, endAt(t), t < 60 ? owned : empty);
      verdicts.push(v);
      planner.group(v, t * S, signals);
    });
    const left = signals.filter((s) => isGroupSignal(s) && s.context.event === 'members-left');
    assert.is(left.length, 1, `busy=${busy}: members-left once`);
    assert.is(left[0]!.context.members, '0');
    assert.is(verdicts.filter((v) => v.event === 'members-left').length, 1);
    const after = verdicts.filter((v) => v.atMs >= 60 * S);
    if (!busy) {
      assert.is(left[0]!.status!.condition, Status_Condition.STABLE);
      assert.is(left[0]!.status!.confidence, Status_Confidence.TENTATIVE, 'not an alarm by itself');
      assert.is(left[0]!.context.burrow, 'ABANDONED');
      assert.ok(after.every((v) => v.status === 'ABANDONED'), after.map((v) => v.status).join(' '));
      const groupSignals = signals.filter((s) => isGroupSignal(s) && s.timestamp >= 60n * 1_000_000_000n);
      assert.is(groupSignals.length, 3, 'the event, then once a minute (heartbeat)');
    } else {
      assert.is(left[0]!.status!.condition, Status_Condition.DEGRADED, 'records keep arriving: STOP');
      assert.ok(after.every((v) => v.status === 'ERR' && v.worst === 'STOP'), after.map((v) => v.worst).join(' '));
    }
  }
});

test('members coming back clear a pending members-left; an unanswered round does not count as members leaving', () => {
  const ev = new LagEvaluator();
  round(ev, 'g', 0, 100, 100, owned);
  round(ev, 'g', 1, 100, 100, undefined); // DescribeGroups failed this round
  assert.is(round(ev, 'g', 2, 100, 100, owned).event, undefined);
  ev.members('g', empty);
  ev.members('g', owned);
  assert.is(ev.evaluate('g', 3 * S).event, undefined);
  assert.is(round(ev, 'g', 4, 100, 100, undefined).event, undefined);
  assert.is(round(ev, 'g', 5, 100, 100, empty).event, 'members-left', 'the last known count was 1');
  assert.is(round(ev, 'g', 6, 100, 100, empty).event, undefined, 'said once');
});

test.run();
