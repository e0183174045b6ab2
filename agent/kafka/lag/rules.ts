// The evaluation rules for one group-partition, in order (see evaluator.ts for the full text).
import type { LogEndHistory } from './log-end-history.js';
import type { LagSettings } from './settings.js';
import type { GroupState, LagSecondsFrom, PartitionStatus, PartitionVerdict } from './types.js';
import {
  F_ANCHOR_L,
  F_CAUGHTUP,
  F_CCOUNT,
  F_CHEAD,
  F_FIRST,
  F_LIFE,
  F_PROGRESS,
  F_RATIO,
  F_RCOUNT,
  F_READINGS,
  F_REWIND_AT,
  F_REWIND_FROM,
  F_REWIND_LAG,
  F_REWIND_SHOWN,
  F_REWIND_TO,
  F_RET_RISK,
  F_RHEAD,
  F_RT_MS,
  F_RT_OFFSET,
  F_SLOW_GAPS,
  F_TP,
  SLOW_RATIO,
  type PartitionStore,
} from './partition-store.js';

/**
 * What membership says about one partition: `owned` (a Stable group with members, and the
 * partition in their assignment or the assignment unknown), `none` (Empty/Dead, or no members),
 * `unowned` (Stable, assignment known, partition not in it), `rebalancing`, or `unknown`.
 */
export type Ownership = 'unknown' | 'owned' | 'none' | 'unowned' | 'rebalancing';

export interface JudgeContext {
  store: PartitionStore;
  history: LogEndHistory;
  settings: Readonly<LagSettings>;
}

/** A gap is "growing" when it is this much longer than the one before (batch-style committers). */
const GROWING = 1.5;
/** A committed-offset reading older than this many reading intervals (and minStopMs) is stale. */
const STALE_READINGS = 3;
/** The WARN rule (a) needs the lag at this many commits at least. */
const WARN_POINTS = 3;
/** The WARN rule (b) needs this many consecutive slow busy gaps. */
const SLOW_GAPS = 2;

/** A retention risk clears only when the deletion is this many horizons away (hysteresis). */
const RETENTION_CLEAR = 1.5;

const sec = (ms: number): string => `${Math.round(ms / 1000)} s`;
/** A duration for people: "45 s", "12 min", "3.5 h", "2.0 days". */
export function humanDuration(seconds: number): string {
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}
const int = (n: number): string => String(Math.round(n));

function membershipNote(ownership: Ownership, state: GroupState | undefined): string {
  if (ownership === 'rebalancing') return `; the group is rebalancing (${state ?? 'unknown state'})`;
  if (ownership === 'unknown') return '; membership unknown';
  return '';
}

export function judgePartition(
  ctx: JudgeContext,
  slot: number,
  topic: string,
  partition: number,
  nowMs: number,
  ownership: Ownership,
  state: GroupState | undefined,
  members: number,
): PartitionVerdict {
  const { store, history, settings: s } = ctx;
  store.fill(slot, history, true);
  const a = store.slab.chunk(slot);
  const b = store.slab.base(slot);
  const L = store.layout;
  const w = L.w;
  const tp = a[b + F_TP]!;
  const rCount = a[b + F_RCOUNT]!;
  const rHead = a[b + F_RHEAD]!;
  const newest = (rHead - 1 + w) % w;
  const oldest = (rHead - rCount + w) % w;
  const committed = rCount > 0 ? a[b + L.rC + newest]! : NaN;
  const logEnd = history.latest(tp);
  const lag = Number.isNaN(committed) || Number.isNaN(logEnd) ? NaN : Math.max(0, logEnd - committed);

  const t0 = a[b + L.rT + oldest]!;
  const t1 = a[b + L.rT + newest]!;
  const span = rCount >= 2 ? t1 - t0 : 0;
  const c0 = a[b + L.rC + oldest]!;
  const consumeRate = span > 0 && committed >= c0 ? ((committed - c0) / span) * 1000 : undefined;
  const produced = rCount >= 2 ? history.rateSince(tp, t0) : NaN;
  const produceRate = produced === produced ? produced * 1000 : undefined;
  // Lag within the allowed lag at some reading of the window: caught up since its oldest reading.
  const okInWindow = a[b + F_CAUGHTUP]! >= t0;
  const spacing = rCount >= 2 ? span / (rCount - 1) : 0;
  const slack = spacing / 2;

  // Lag in seconds: the age of the next record to consume. The broker's timestamp of that very
  // record when the sensor has read it (exact whatever the producers did: bursts, silences); else
  // interpolated in the log-end history (an estimate, off by up to a reading interval at a burst,
  // and only a lower bound for records older than the history).
  let lagSeconds: number | undefined;
  let lagSecondsFrom: LagSecondsFrom | undefined;
  let lagSecondsInterpolated: number | undefined;
  let lagSecondsCapped = false;
  if (lag === 0) lagSeconds = 0;
  else if (lag > 0) {
    const ms = history.lagMs(tp, committed, nowMs, s.lagSecondsCapMs);
    const interpolated = ms === ms ? ms / 1000 : undefined;
    const rtMs = a[b + F_RT_MS]!;
    if (a[b + F_RT_OFFSET] === committed && rtMs === rtMs) {
      lagSeconds = Math.max(0, nowMs - rtMs) / 1000;
      lagSecondsFrom = 'record-timestamp';
      lagSecondsInterpolated = interpolated;
    } else if (interpolated !== undefined) {
      lagSeconds = interpolated;
      lagSecondsFrom = 'interpolated';
      lagSecondsCapped = history.capped;
    }
  }
  // Catching up: at the window's rates, when consuming outpaces producing.
  const catchUpSeconds = lag > 0 && consumeRate !== undefined && consumeRate > (produceRate ?? 0) ? lag / (consumeRate - (produceRate ?? 0)) : undefined;

  // Retention: how far the committed offset is from the log start, and how soon the log start
  // (advancing at its observed rate) overtakes it at the consumer's rate: the window's rate, or
  // none once the rules below find it silent (late, stopped, unowned): a consumer that has stopped
  // does not move away from deletion at the pace it had before.
  const logStart = history.logStart(tp);
  let idle = false;
  const retentionOf = (): Pick<PartitionVerdict, 'logStart' | 'retentionHeadroom' | 'retentionSecondsLeft' | 'logStartRate' | 'retention' | 'retentionReason'> => {
    const out: ReturnType<typeof retentionOf> = { logStart: undefined, retentionHeadroom: undefined, retentionSecondsLeft: undefined, logStartRate: undefined, retention: undefined, retentionReason: undefined };
    if (logStart !== logStart) return out;
    out.logStart = logStart;
    if (committed !== committed) return out;
    const headroom = committed - logStart;
    out.retentionHeadroom = headroom;
    const lowRate = history.logStartRate(tp, nowMs) * 1000;
    if (lowRate === lowRate) out.logStartRate = lowRate;
    if (headroom < 0) {
      out.retention = 'lost';
      out.retentionReason = `${int(-headroom)} unconsumed records were deleted by retention: the committed offset ${int(committed)} is below the log start ${int(logStart)}`;
      a[b + F_RET_RISK] = 1;
      return out;
    }
    const consuming = idle ? 0 : (consumeRate ?? 0);
    // The log start moves in steps: its trend since the last step (not the step itself) is
    // what closes on the offset, so the time left counts down between steps.
    const closing = lag > 0 && lowRate > 0 ? lowRate - consuming : 0;
    if (closing > 0) out.retentionSecondsLeft = Math.max(0, headroom - lowRate * Math.max(0, (nowMs - history.logStartMovedAt(tp)) / 1000)) / closing;
    const horizon = s.retentionHorizonMs / 1000;
    const flagged = a[b + F_RET_RISK] === 1;
    const atRisk = out.retentionSecondsLeft !== undefined && out.retentionSecondsLeft <= (flagged ? RETENTION_CLEAR * horizon : horizon);
    a[b + F_RET_RISK] = atRisk ? 1 : 0;
    out.retention = atRisk ? 'at-risk' : 'ok';
    if (atRisk) {
      const pace = consuming ? `, consumed at ${consuming.toFixed(1)}/s` : ', not consumed';
      out.retentionReason = `unconsumed records of ${topic}/${partition} will be deleted in ~${humanDuration(out.retentionSecondsLeft!)}: the log start (${int(logStart)}) advances ${lowRate.toFixed(1)} records/s, ${int(headroom)} records below the committed offset ${int(committed)}${pace}`;
    }
    return out;
  };
  const progress = a[b + F_PROGRESS]!;

  let status: PartitionStatus = 'OK';
  let reason: string | undefined;
  const verdict = (): PartitionVerdict => ({
    topic,
    partition,
    status,
    lag: lag === lag ? lag : undefined,
    lagSeconds,
    lagSecondsFrom,
    lagSecondsInterpolated,
    lagSecondsCapped,
    catchUpSeconds,
    ...retentionOf(),
    committed: committed === committed ? committed : undefined,
    logEnd: logEnd === logEnd ? logEnd : undefined,
    consumeRate,
    produceRate,
    complete: rCount / w,
    lastCommitMs: progress === progress ? progress : undefined,
    reason,
  });

  // 1. REWIND: against the previous committed offset, before anything can call it OK.
  const rewindAt = a[b + F_REWIND_AT]!;
  if (rewindAt === rewindAt) {
    if (a[b + F_READINGS]! - rewindAt < s.rewindHoldReadings || a[b + F_REWIND_SHOWN] === 0) {
      a[b + F_REWIND_SHOWN] = 1;
      status = 'REWIND';
      reason = `committed offset went back from ${int(a[b + F_REWIND_FROM]!)} to ${int(a[b + F_REWIND_TO]!)}`;
      return verdict();
    }
    a[b + F_REWIND_AT] = NaN;
  }

  // 2. UNKNOWN: no committed offset, or no log end yet.
  if (lag !== lag) {
    status = 'UNKNOWN';
    reason = committed !== committed ? 'no committed offset' : 'no log-end offset read yet';
    return verdict();
  }

  // 3. UNKNOWN: the newest committed-offset reading is too old to judge (a failed poll is not a death).
  const age = nowMs - t1;
  if (age > Math.max(s.minStopMs, STALE_READINGS * spacing)) {
    status = 'UNKNOWN';
    reason = `no committed-offset reading for ${sec(age)}: too old to judge`;
    return verdict();
  }

  // 4. OK: caught up (or within the allowed lag) now, however long ago the last commit was.
  if (lag <= s.allowedLag) return verdict();

  // What the silence rules weigh: when it was last seen active (a commit that advanced, a reading
  // at the log end, the rewind, or else the first reading), and whether records arrived since.
  const caught = a[b + F_CAUGHTUP]!;
  let lastActive = progress === progress ? progress : caught;
  if (caught > lastActive) lastActive = caught;
  const sinceFirst = lastActive !== lastActive;
  if (sinceFirst) lastActive = a[b + F_FIRST]!;
  const silence = nowMs - lastActive;
  const anchor = a[b + F_ANCHOR_L]!;
  const arrived = anchor === anchor ? Math.max(0, logEnd - anchor) : 0;
  const grewAt = history.lastGrowth(tp);
  // Records arrived since it was last active, and the log end has moved lately: its lag grows.
  const growing = arrived > 0 && !(nowMs - grewAt >= s.abandonAfterMs);
  // The log end has been read again since it was last active (flat means something then).
  const observed = t1 > lastActive;
  const what = sinceFirst
    ? `no commit in ${sec(silence)} of watching`
    : lastActive === progress
      ? `no commit for ${sec(silence)}`
      : `no commit in the ${sec(silence)} since it was last caught up`;
  const quiet = (): string => (grewAt === grewAt ? `no new records for ${sec(nowMs - grewAt)}` : 'no new records seen');

  // 5. Membership says nobody owns it: STOP while records arrive, else ABANDONED (inventory).
  if (ownership === 'none' || ownership === 'unowned') {
    idle = true;
    const who = ownership === 'none' ? `the group has no members (${state ?? 'no members'})` : `no member of the group (${state}, ${members} members) is assigned this partition`;
    if (growing) {
      status = 'STOP';
      reason = `lag ${int(lag)} and ${who}; ${int(arrived)} records arrived since it was last active`;
    } else if (observed) {
      status = 'ABANDONED';
      reason = `${who} and ${quiet()}: lag ${int(lag)} held, not growing (inventory, not an incident)`;
    } else {
      status = 'UNKNOWN';
      reason = `${who}; lag ${int(lag)}: one log-end reading since it was last active, not yet known whether records still arrive`;
    }
    return verdict();
  }

  // 6. Silence: work waiting and no progress for longer than expected. The expected spacing of
  //    commits comes from the commit history, stretched when gaps grow (see evaluator.ts).
  let maxGap = NaN;
  let lastGap = NaN;
  let prevGap = NaN;
  const cCount = a[b + F_CCOUNT]!;
  const cHead = a[b + F_CHEAD]!;
  for (let i = 1; i <= cCount; i++) {
    const g = a[b + L.cGap + ((cHead - i + L.c) % L.c)]!;
    if (g !== g) continue;
    if (lastGap !== lastGap) lastGap = g;
    else if (prevGap !== prevGap) prevGap = g;
    if (!(g <= maxGap)) maxGap = g;
  }
  let expected = NaN;
  let eligible: boolean;
  let lateAfter: number;
  if (lastGap === lastGap) {
    const growingGaps = prevGap !== prevGap || lastGap > GROWING * prevGap;
    const ratio = a[b + F_RATIO]!;
    const r = ratio === ratio ? Math.min(s.gapGrowthCap, Math.max(1, ratio)) : 1;
    expected = Math.max(maxGap, growingGaps ? lastGap * r : lastGap);
    lateAfter = Math.max(s.minStopMs, s.stopFactor * expected);
    eligible = true;
  } else {
    // No spacing known yet: Burrow's own test, a full window with no progress in it.
    lateAfter = Math.max(s.minStopMs, span);
    eligible = rCount >= w;
  }
  const late = eligible && silence + slack >= lateAfter;
  if (late) {
    idle = true;
    const usual = expected === expected ? ` (commits came every ~${sec(expected)})` : '';
    const grew = arrived > 0 ? ` while the log end grew by ${int(arrived)}` : '';
    const life = a[b + F_LIFE]!;
    // 6a. The same offset committed again and again (broker commit times): alive, not progressing.
    if (life > lastActive && nowMs - life + slack < lateAfter) {
      status = 'STALL';
      reason = `commits keep coming at offset ${int(committed)}, but it has not moved: ${what}${usual}; lag ${int(lag)}`;
      return verdict();
    }
    // 6b. Silent for longer than Kafka lets a live member go without polling.
    const goneAfter = Math.max(s.maxPollIntervalMs, lateAfter);
    const pastPoll = `silent past max.poll.interval (${sec(s.maxPollIntervalMs)})`;
    if (silence + slack >= goneAfter) {
      if (ownership === 'owned') {
        status = 'STALL';
        reason = `${what}${usual}${grew}; ${pastPoll} yet a member owns it (${state}, ${members} members): alive, not progressing; lag ${int(lag)}`;
        return verdict();
      }
      if (growing) {
        status = 'STOP';
        reason = `${what}${usual}${grew}; ${pastPoll}: presumed gone${membershipNote(ownership, state)}; lag ${int(lag)}`;
        return verdict();
      }
      if (observed) {
        status = 'ABANDONED';
        reason = `${what}${usual} and ${quiet()}${membershipNote(ownership, state)}: lag ${int(lag)} held, not growing (inventory, not an incident)`;
        return verdict();
      }
    }
    // 6c. Late while records arrive, not (yet) known to be dead: a batch still in progress, a
    //     consumer stuck, or one gone; which one, membership or Kafka's own limit will tell.
    if (growing) {
      status = 'WARN';
      const then = ownership === 'owned' ? `a member owns it (${state}, ${members} members): STALL` : ownership === 'rebalancing' ? `the group is rebalancing (${state}): STOP` : 'membership unknown: STOP';
      reason = `${what}${usual}${grew}; ${then} if still silent at ${sec(goneAfter)}; lag ${int(lag)}`;
      return verdict();
    }
  }

  // 7. OK: lag was within the allowed lag somewhere in the window (Burrow's rule 1).
  if (okInWindow) return verdict();

  // 8. WARN: consuming slower than producers.
  //    (c) Since a rewind, before the window has its own evidence: the lag at the rewind and at
  //        every commit since never went down, and it is higher now than at the rewind (a reset
  //        consumer that does not catch up; nothing from before the rewind counts).
  const rewindLag = a[b + F_REWIND_LAG]!;
  if (rewindLag === rewindLag && (cCount < WARN_POINTS || rCount < w)) {
    let prev = rewindLag;
    let rising = true;
    for (let i = cCount; i >= 1 && rising; i--) {
      const x = a[b + L.cLag + ((cHead - i + L.c) % L.c)]!;
      if (x !== x) continue;
      if (x < prev) rising = false;
      prev = x;
    }
    if (rising && lag >= prev && lag > rewindLag) {
      status = 'WARN';
      reason = `lag grew from ${int(rewindLag)} at the rewind to ${int(lag)} and never went down: consuming slower than producers`;
      return verdict();
    }
  }
  if (rCount >= w) {
    //  (a) the lag at the last commits never went down, over at least 3 commits, and grew
    //      (Burrow's rule 5; unlike Burrow, a lag that stays the same is a consumer keeping pace);
    let points = 0;
    let first = NaN;
    let last = NaN;
    let firstEnd = NaN;
    let lastEnd = NaN;
    let rising = true;
    for (let i = cCount; i >= 1; i--) {
      const at = (cHead - i + L.c) % L.c;
      const x = a[b + L.cLag + at]!;
      if (x !== x) continue;
      if (x < last) rising = false;
      if (first !== first) {
        first = x;
        firstEnd = a[b + L.cEnd + at]!;
      }
      last = x;
      lastEnd = a[b + L.cEnd + at]!;
      points++;
    }
    if (rising && points >= WARN_POINTS && last > first) {
      status = 'WARN';
      reason = `lag never went down across the last ${points} commits (${int(first)} -> ${int(last)}): consuming slower than producers`;
      return verdict();
    }
    //  (b) the last 2 busy gaps were both slow and the gaps grow (a batch committer falling
    //      behind, whose commits get sparser; with steady gaps (a) and (d) decide);
    if (a[b + F_SLOW_GAPS]! >= SLOW_GAPS && lastGap > GROWING * prevGap) {
      status = 'WARN';
      reason = `consuming slower than producers: ${a[b + F_RATIO]!.toFixed(1)} records written per record consumed between the last commits; lag ${int(lag)}`;
      return verdict();
    }
    //  (d) across the commit history, at least SLOW_RATIO records written per record consumed,
    //      the lag grew, and the last gap did not catch up: the trend of (a), robust to one
    //      commit whose lag dipped (batch sizes vary).
    if (points >= WARN_POINTS && last > first) {
      const consumed = lastEnd - last - (firstEnd - first);
      const written = lastEnd - firstEnd;
      const ratio = a[b + F_RATIO]!;
      if (consumed > 0 && written >= SLOW_RATIO * consumed && ratio >= 1) {
        status = 'WARN';
        reason = `consuming slower than producers: ${(written / consumed).toFixed(1)} records written per record consumed over the last ${points} commits (lag ${int(first)} -> ${int(last)}); lag ${int(lag)}`;
        return verdict();
      }
    }
  }

  // 9. Otherwise OK.
  return verdict();
}
