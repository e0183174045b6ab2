// The consumer-lag evaluator: the pure core of the Admin-API partition sensor (ARCHITECTURE.md §5).
// No I/O and no clock of its own: every reading carries its time (ms since the epoch).
//
// How the sensor uses it, each poll:
//   for each group: ev.committed(group, topic, partition, offsetOrUndefined, now)   // first
//                   ev.members(group, describeGroupsAnswerOrUndefined)
//   for each topic-partition read: ev.logEnd(topic, partition, offset, now, logStart) // then
//   for each lagging group-partition whose record it read (or has cached):
//                   ev.recordTime(group, topic, partition, committedOffset, recordTimestampMs)
//   for each group: publish(ev.evaluate(group, now))
//   ev.forget(group) when a group is gone; ev.forgetTopic(topic) when a topic is deleted.
// Committed offsets are read before log ends so that lag (log end - committed) is not negative
// from reading them at different moments; what is left is clamped at 0.
//
// Lag is computed on every evaluation from the latest committed offset and the latest log end,
// not only when the group commits: a dead consumer's lag keeps growing. Lag is "unknown"
// (undefined, never NaN) without a committed offset or before the first log end. Lag in seconds
// is the age of the next record to consume (the oldest unconsumed one). When the sensor has read
// the broker's timestamp of the record at the committed offset (recordTime(), for that very
// offset), it is now - that timestamp: exact whatever the producers do (lagSecondsFrom
// 'record-timestamp'; the interpolation is given beside it, lagSecondsInterpolated). Otherwise
// (not read yet, not allowed, over the sensor's per-round budget) it is interpolated in the
// topic-partition's log-end history (Kafka Lag Exporter's method, 'interpolated'): off by up to a
// reading interval where a burst fell between two readings, and only a bound for records older
// than the history (written before the agent or the group's first commit was seen); older than
// the history it is extrapolated at the history's mean rate and capped at max(lagSecondsCapMs,
// age of the oldest reading), flagged lagSecondsCapped (also set when the history shows no rate:
// then it is the age of the oldest reading, a bound). A full history drops the reading its
// neighbours predict best, not the oldest (see log-end-history.ts), so steady partitions keep a
// long span and bursty ones their bends.
// Catch-up: lag / (consume rate - produce rate) over the window, when consuming outpaces
// producing (undefined otherwise); a topic's and the group's are their longest partition's, and
// undefined when any lagging partition is not catching up.
// Retention: the log start given with each log end (the earliest offset held) keeps a short
// history of its moves; its rate (records/s over the last moves, two at least: the first reading
// is not a step; slowing down when no move comes for longer than their spacing) less the consume
// rate is how fast deletion closes on the committed offset. headroom = committed -
// log start; secondsLeft = headroom / that closing rate, when positive. 'at-risk' when secondsLeft
// <= retentionHorizonMs (held until it exceeds 1.5 x that), 'lost' when the committed offset is
// already below the log start (records deleted unconsumed). Retention deletes whole segments, so
// the log start moves in steps and the projection is an average: a record inside the oldest
// segment goes with the next step. This is a judgement beside the status, not a status: the
// signal planner makes an at-risk or lost partition (not ABANDONED) DEGRADED.
//
// A *reading* is one poll of a group's committed offset; a *commit* is a reading whose offset
// moved forward (kafkajs's fetchOffsets gives no commit times). An unchanged offset at the log
// end means caught up, not "no commit". When the broker's commit timestamp is known (commitMs),
// a new timestamp with the same offset counts as a commit of the same offset: a sign of life.
//
// Why the silence rules are what they are (measured on a real 2.2 broker, ARCHITECTURE.md §12):
// kafkajs commits at the end of each fetched batch and batches grow with lag, so a live consumer
// at a quarter of the write rate committed at 0.6, 1.9, 11.4, 30.7 s and later 83-180 s apart.
// Any bound extrapolated from past gaps is outgrown by the next batch sooner or later; a long
// silence with work waiting is therefore never called dead for being longer than usual alone.
// What does tell: (1) membership: Kafka itself removes a member that stops heartbeating (session
// timeout, kafkajs 30 s) or polling (max.poll.interval.ms, 300 s; kafkajs's rebalanceTimeout
// 60 s), so "nobody owns the partition" means nobody consumes it, and "a member owns it" means a
// consumer alive, however long its batch; (2) without membership, Kafka's own limit: a member
// silent for longer than max.poll.interval.ms would have been removed, so only then is silence
// with records arriving STOP (maxPollIntervalMs, a setting: set it to the consumers' own; a
// kafkajs consumer heartbeats per message and its batches may outlast it); (3) the log end: lag
// that does not grow (nothing new arriving) is not an incident, whoever consumes or not; (4)
// progress: a committed offset that advances, however rarely.
// What a user gives up without membership (the librdkafka mock cluster, servers or ACLs that do
// not answer DescribeGroups): a dead consumer is WARN (late) after max(minStopMs, 2 x its usual
// commit spacing) and STOP only after max(maxPollIntervalMs, that), 5 minutes by default, instead
// of within two evaluation intervals with membership (a killed member that does not leave is WARN
// until the broker drops it: the session timeout); a consumer stuck without dying looks the same.
//
// The rules, per partition, in this order (the first that applies decides). "Last active" is the
// later of the last commit and the last caught-up reading (time at the log end is not silence),
// else the rewind, else the first reading; "silence" is the time since; "arrived" is how much the
// log end grew since then; "growing" means records arrived and the log end moved within
// abandonAfterMs (10 min): its lag grows.
//  1. REWIND   the committed offset went below the previous reading's. Checked before every
//              other rule (Burrow's zero-lag OK ran first and hid resets of caught-up groups).
//              Reported for rewindHoldReadings readings (default 3, the one that went back
//              included) and in any case until one evaluate() has reported it. Every window is
//              restarted at the rewind, so nothing from before it (a caught-up reading, a commit
//              gap, a slow-gap count) counts afterwards (see 8c).
//  2. UNKNOWN  no committed offset, or no log end read yet (lag undefined).
//  3. UNKNOWN  the newest committed-offset reading is older than max(minStopMs, 3 reading
//              intervals): a poll that failed must not look like a consumer that stopped (lag
//              is still reported, from the last committed offset read: an upper bound).
//  4. OK       lag <= allowedLag now: caught up, however old the last commit (idle topics).
//  5. Nobody owns it (membership known: the group is Empty or Dead or has no members, or it is
//     Stable and its decoded assignment lacks the partition):
//       STOP      when growing: records arrive and nobody consumes them. A consumer that leaves
//                 while records arrive is STOP at the first evaluation that sees it gone, or the
//                 next (when it committed in the same round).
//       ABANDONED when not growing and the log end was read again since it was last active: no
//                 consumer and nothing new, lag held constant: inventory, not an incident.
//       UNKNOWN   otherwise (one log-end reading since: not yet known which), for one round.
//  6. Late: eligible and silence + half the reading spacing >= lateAfter = max(minStopMs,
//     stopFactor x expected). The expected spacing, from the commit history: the largest recent
//     "busy gap" (time from the later of the previous commit and the last caught-up reading to
//     the commit); when the gaps grow (the last > 1.5 x the one before, or only one known), the
//     last gap times the produce/consume ratio over it (records written per record consumed,
//     clamped to 1..gapGrowthCap): a batch committer at 1/4 of the write rate sees gaps grow ~4x.
//     Without any known gap: eligible once the window is full, lateAfter = max(minStopMs, window
//     span) (Burrow's span rule). When late:
//       6a. STALL     the same offset keeps being committed (broker commit times moved within
//                     lateAfter): alive, not progressing.
//       6b. silence + half a spacing >= goneAfter = max(maxPollIntervalMs, lateAfter): longer
//           than Kafka lets a live member go without polling:
//             STALL     a member owns it (Stable): alive by Kafka's account, not progressing;
//             STOP      membership unknown (or rebalancing) and growing: presumed gone;
//             ABANDONED membership unknown, not growing, the log end read again since: no
//                       commit for long, nothing new, lag constant.
//       6c. WARN      growing, not yet gone: a batch still in progress, a stuck consumer or a dead
//                     one; membership (rule 5) or Kafka's own limit (6b) will tell which.
//     Late but not growing (nothing new to consume) falls through: that is not news.
//  7. OK       lag <= allowedLag at some reading in the window (Burrow's rule 1).
//  8. WARN     consuming slower than producers:
//              (c) since a rewind, until the window is full with 3 commits of its own: the lag at
//                  the rewind and at each commit since never went down, and it is higher now (a
//                  consumer reset to 0 that does not catch up: WARN from the end of the hold);
//              and, the window full:
//              (a) the lag at the last commits never went down, over at least 3 commits, and
//                  grew from the first to the last (Burrow's rule 5; unlike Burrow, a lag that
//                  stays the same is a consumer keeping pace). The first offset ever read counts
//                  as a point: its lag bounds from above the lag at the commit before it, so it
//                  can only make "never went down" harder (a group watched only from its first
//                  commit, as without DescribeGroups, is judged one commit sooner);
//              (b) the last 2 busy gaps were both slow (at least 1.25 records written per record
//                  consumed) and the last gap is > 1.5 x the one before: a batch committer
//                  falling behind, whose commits get sparser;
//              (d) over the commit history (at least 3 commits) at least 1.25 records written
//                  per record consumed, the lag at the last commit above the first, and the last
//                  gap not catching up (ratio >= 1): the trend of (a), robust to one commit whose
//                  lag dipped (batch sizes vary). With steady gaps and a noisy lag, none of these
//                  holds by chance (a noisy low-rate consumer has slow gaps now and then).
//              "Now" is not a point: between two commits lag always rises.
//  9. OK       otherwise.
// So a live slow consumer is WARN from its third commit on (8a/8b/8d), through every gap (6c
// when a gap outgrows the extrapolation), and never STALL or STOP: with membership it is owned
// (6b needs maxPollIntervalMs of silence), without it its gaps stay below maxPollIntervalMs.
// The group: its worst partition (OK < ABANDONED < WARN < STOP < STALL < REWIND) capped at ERR;
// ABANDONED when its worst partition is ABANDONED and no member is known to be in it (membership
// says none, or is unknown); NOTFOUND when it has no partition with a known lag. Completeness is
// the mean window fill. event 'members-left': membership went from some members to none since
// the last evaluate() (said once; STOP or ABANDONED follow from the log end, not from the event).
import { LogEndHistory } from './log-end-history.js';
import { PartitionStore } from './partition-store.js';
import { judgePartition, type JudgeContext, type Ownership } from './rules.js';
import { resolveLagSettings, type LagSettings } from './settings.js';
import type { GroupMembers, GroupStatus, GroupVerdict, LagEvaluatorStats, PartitionStatus, PartitionVerdict, TopicLag } from './types.js';

interface GroupState {
  slots: number[];
  topics: string[];
  partitions: number[];
  /** topic -> partition -> position in slots (-1: none) */
  index: Map<string, number[]>;
  members: GroupMembers | undefined;
  assigned: Map<string, Set<number>> | undefined;
  /** Members in the last membership known (undefined: never known); an unanswered round keeps it. */
  knownMembers: number | undefined;
  /** Members went from some to none since the last evaluate(). */
  membersLeft: boolean;
}

const RANK: Record<PartitionStatus, number> = { UNKNOWN: 0, OK: 1, ABANDONED: 1.5, WARN: 2, STOP: 4, STALL: 5, REWIND: 6 };

export class LagEvaluator {
  readonly settings: Readonly<LagSettings>;
  private readonly history: LogEndHistory;
  private readonly store: PartitionStore;
  private readonly ctx: JudgeContext;
  private readonly groups = new Map<string, GroupState>();
  private refused = 0;

  constructor(settings: Partial<LagSettings> = {}) {
    this.settings = resolveLagSettings(settings);
    this.history = new LogEndHistory(this.settings.logEndHistory, this.settings.maxTopicPartitions);
    this.store = new PartitionStore(this.settings.windowSize, this.settings.commitHistory, this.settings.allowedLag);
    this.ctx = { store: this.store, history: this.history, settings: this.settings };
  }

  /**
   * One log-end reading of a topic-partition (shared by every group). Returns false when it was
   * not kept (offset not a number >= 0, or maxTopicPartitions reached).
   */
  logEnd(topic: string, partition: number, offset: number | undefined, nowMs: number, logStart?: number): boolean {
    if (offset === undefined || !(offset >= 0) || offset === Infinity) return false;
    const slot = this.history.slot(topic, partition, true);
    if (slot < 0) {
      this.refused++;
      return false;
    }
    this.history.add(slot, nowMs, offset);
    // The log start read with it (the earliest offset held), when the sensor knows it.
    if (logStart !== undefined && logStart >= 0 && logStart <= offset) this.history.addLogStart(slot, nowMs, logStart);
    return true;
  }

  /**
   * The broker's timestamp (ms) of the first record at or after `offset` in a partition a group
   * reads: given for the group's committed offset, it makes lag in seconds exact (the age of the
   * oldest unconsumed record). Kept until the committed offset moves; returns false when the
   * group-partition is not tracked or the values are not numbers.
   */
  recordTime(group: string, topic: string, partition: number, offset: number, timestampMs: number): boolean {
    const pos = this.groups.get(group)?.index.get(topic)?.[partition];
    if (pos === undefined || pos < 0 || !(offset >= 0) || !Number.isFinite(timestampMs)) return false;
    this.store.recordTime(this.groups.get(group)!.slots[pos]!, offset, timestampMs);
    return true;
  }

  /**
   * One reading of a group's committed offset for a partition, once per poll; undefined (or a
   * negative offset, Kafka's -1) when the group has none. commitMs: the broker's commit
   * timestamp when the sensor knows it (only compared with the previous one). Returns false
   * when refused (maxGroups, maxPartitions or maxTopicPartitions reached).
   */
  committed(group: string, topic: string, partition: number, offset: number | undefined, nowMs: number, commitMs?: number): boolean {
    const g = this.group(group);
    if (!g) return false;
    let slot: number;
    const pos = g.index.get(topic)?.[partition];
    if (pos !== undefined && pos >= 0) slot = g.slots[pos]!;
    else {
      if (this.store.slab.live >= this.settings.maxPartitions) {
        this.refused++;
        return false;
      }
      const tp = this.history.slot(topic, partition, true);
      if (tp < 0) {
        this.refused++;
        return false;
      }
      this.history.ref(tp, 1);
      slot = this.store.alloc(tp);
      let parts = g.index.get(topic);
      if (!parts) g.index.set(topic, (parts = []));
      while (parts.length <= partition) parts.push(-1);
      parts[partition] = g.slots.length;
      g.slots.push(slot);
      g.topics.push(topic);
      g.partitions.push(partition);
    }
    const off = offset !== undefined && offset >= 0 && offset !== Infinity ? offset : NaN;
    this.store.record(slot, this.history, off, nowMs, commitMs !== undefined && commitMs >= 0 ? commitMs : NaN);
    return true;
  }

  /** Membership from DescribeGroups; undefined when the broker did not answer (rules fall back). */
  members(group: string, info: GroupMembers | undefined): void {
    const g = this.group(group);
    if (!g) return;
    g.members = info;
    g.assigned = undefined;
    if (info) {
      const n = info.state === 'Empty' || info.state === 'Dead' ? 0 : Math.max(0, info.members);
      if (n === 0 && g.knownMembers !== undefined && g.knownMembers > 0) g.membersLeft = true;
      else if (n > 0) g.membersLeft = false;
      g.knownMembers = n;
    }
    if (info?.assigned) {
      g.assigned = new Map();
      for (const { topic, partitions } of info.assigned) {
        let set = g.assigned.get(topic);
        if (!set) g.assigned.set(topic, (set = new Set()));
        for (const p of partitions) set.add(p);
      }
    }
  }

  /** The verdict on a group now. Call after the poll's log ends were given. */
  evaluate(group: string, nowMs: number): GroupVerdict {
    const g = this.groups.get(group);
    const verdict: GroupVerdict = {
      group,
      atMs: nowMs,
      status: 'NOTFOUND',
      worst: undefined,
      complete: 0,
      totalLag: 0,
      unknownPartitions: 0,
      maxLag: undefined,
      maxLagSeconds: undefined,
      maxLagSecondsFrom: undefined,
      catchUpSeconds: undefined,
      retention: undefined,
      topics: [],
      partitions: [],
      members: g?.members,
      event: undefined,
      reason: g ? 'no committed offsets read yet' : 'group not tracked',
    };
    if (!g) return verdict;
    if (g.membersLeft) {
      verdict.event = 'members-left';
      g.membersLeft = false;
    }
    if (g.slots.length === 0) return verdict;
    const m = g.members;
    const byTopic = new Map<string, TopicLag>();
    let worst: PartitionStatus = 'UNKNOWN';
    let worstAt: PartitionVerdict | undefined;
    let notOk = 0;
    let abandoned = 0;
    let complete = 0;
    let catchUpKnown = true;
    const catchUpOf = new Map<string, boolean>();
    for (let i = 0; i < g.slots.length; i++) {
      const topic = g.topics[i]!;
      const partition = g.partitions[i]!;
      const v = judgePartition(this.ctx, g.slots[i]!, topic, partition, nowMs, ownershipOf(m, g.assigned, topic, partition), m?.state, m?.members ?? 0);
      verdict.partitions.push(v);
      complete += v.complete;
      if (RANK[v.status] > RANK[worst]) {
        worst = v.status;
        worstAt = v;
      }
      if (v.status !== 'OK' && v.status !== 'UNKNOWN') notOk++;
      if (v.status === 'ABANDONED') abandoned++;
      let t = byTopic.get(topic);
      if (!t) {
        t = { topic, lag: 0, partitions: 0, unknown: 0, maxLagSeconds: undefined, maxLagSecondsFrom: undefined, catchUpSeconds: undefined, retention: undefined };
        byTopic.set(topic, t);
        verdict.topics.push(t);
      }
      t.partitions++;
      if (v.lag === undefined) {
        t.unknown++;
        verdict.unknownPartitions++;
      } else {
        t.lag += v.lag;
        verdict.totalLag += v.lag;
        if (!verdict.maxLag || v.lag > verdict.maxLag.lag!) verdict.maxLag = v;
      }
      if (v.lagSeconds !== undefined) {
        if (!(v.lagSeconds <= t.maxLagSeconds!)) {
          t.maxLagSeconds = v.lagSeconds;
          t.maxLagSecondsFrom = v.lagSecondsFrom;
        }
        if (!(v.lagSeconds <= verdict.maxLagSeconds!)) {
          verdict.maxLagSeconds = v.lagSeconds;
          verdict.maxLagSecondsFrom = v.lagSecondsFrom;
        }
      }
      // Caught up when every lagging partition is: the longest catch-up, unknown if one is not shrinking.
      if (v.lag !== undefined && v.lag > 0) {
        if (v.catchUpSeconds === undefined) {
          catchUpKnown = false;
          catchUpOf.set(topic, false);
        } else {
          if (catchUpOf.get(topic) !== false) {
            catchUpOf.set(topic, true);
            if (!(v.catchUpSeconds <= t.catchUpSeconds!)) t.catchUpSeconds = v.catchUpSeconds;
          }
          if (!(v.catchUpSeconds <= verdict.catchUpSeconds!)) verdict.catchUpSeconds = v.catchUpSeconds;
        }
      }
      if (worseRetention(v, t.retention)) t.retention = v;
      if (worseRetention(v, verdict.retention)) verdict.retention = v;
    }
    if (!catchUpKnown) verdict.catchUpSeconds = undefined;
    for (const t of verdict.topics) if (catchUpOf.get(t.topic) !== true) t.catchUpSeconds = undefined;
    const n = g.slots.length;
    verdict.complete = complete / n;
    verdict.worst = worst;
    // Abandoned is the group's state only when no member is known to be in it: a live group with
    // one forgotten topic is a live group.
    const memberless = !m || m.state === 'Empty' || m.state === 'Dead' || m.members <= 0;
    verdict.status = groupStatus(worst, verdict.unknownPartitions === n, memberless);
    const where = worstAt ? `${worstAt.topic}-${worstAt.partition}: ${worstAt.reason}` : '';
    verdict.reason =
      verdict.status === 'NOTFOUND'
        ? 'no partition has a known lag (no committed offsets or no log ends)'
        : verdict.status === 'ABANDONED'
          ? `${abandoned} of ${n} partitions abandoned (nobody consuming, no new records), holding lag ${Math.round(verdict.totalLag)}; ${where}`
          : verdict.status === 'OK'
            ? abandoned
              ? `${abandoned} of ${n} partitions abandoned (nobody consuming, no new records); ${where}`
              : undefined
            : `${notOk} of ${n} partitions not OK, worst ${worst}; ${where}`;
    return verdict;
  }

  /** The groups tracked. */
  groupNames(): IterableIterator<string> {
    return this.groups.keys();
  }

  /** Drops a group and its windows. */
  forget(group: string): boolean {
    const g = this.groups.get(group);
    if (!g) return false;
    for (const slot of g.slots) {
      this.history.ref(this.store.tpOf(slot), -1);
      this.store.release(slot);
    }
    this.groups.delete(group);
    return true;
  }

  /** Drops a topic's log-end histories and every group's windows on it (a deleted topic). */
  forgetTopic(topic: string): boolean {
    const dropped = this.history.forgetTopic(topic);
    if (!dropped.length) return false;
    for (const g of this.groups.values()) {
      if (!g.index.has(topic)) continue;
      const keep: number[] = [];
      for (let i = 0; i < g.slots.length; i++) {
        if (g.topics[i] === topic) this.store.release(g.slots[i]!);
        else keep.push(i);
      }
      g.slots = keep.map((i) => g.slots[i]!);
      g.topics = keep.map((i) => g.topics[i]!);
      g.partitions = keep.map((i) => g.partitions[i]!);
      g.index = new Map();
      g.topics.forEach((t, i) => {
        let parts = g.index.get(t);
        if (!parts) g.index.set(t, (parts = []));
        while (parts.length <= g.partitions[i]!) parts.push(-1);
        parts[g.partitions[i]!] = i;
      });
    }
    return true;
  }

  stats(): LagEvaluatorStats {
    return {
      groups: this.groups.size,
      partitions: this.store.slab.live,
      topicPartitions: this.history.live,
      refused: this.refused,
      bytes: this.store.slab.bytes + this.history.bytes,
    };
  }

  private group(name: string): GroupState | undefined {
    let g = this.groups.get(name);
    if (g) return g;
    if (this.groups.size >= this.settings.maxGroups) {
      this.refused++;
      return undefined;
    }
    g = { slots: [], topics: [], partitions: [], index: new Map(), members: undefined, assigned: undefined, knownMembers: undefined, membersLeft: false };
    this.groups.set(name, g);
    return g;
  }
}

function ownershipOf(m: GroupMembers | undefined, assigned: Map<string, Set<number>> | undefined, topic: string, partition: number): Ownership {
  if (!m) return 'unknown';
  if (m.state === 'Empty' || m.state === 'Dead' || m.members <= 0) return 'none';
  if (m.state === 'Stable') return !assigned || assigned.get(topic)?.has(partition) ? 'owned' : 'unowned';
  if (m.state === 'PreparingRebalance' || m.state === 'CompletingRebalance') return 'rebalancing';
  return 'unknown';
}

/** How close a partition is to losing unconsumed records: higher is worse (see GroupVerdict.retention). */
function retentionRank(v: PartitionVerdict): number {
  if (v.retentionHeadroom === undefined) return -Infinity;
  if (v.retention === 'lost') return 3e15 - v.retentionHeadroom; // headroom < 0: more deleted is worse
  if (v.retentionSecondsLeft !== undefined) return (v.retention === 'at-risk' ? 2e15 : 1e15) - v.retentionSecondsLeft;
  return -v.retentionHeadroom;
}

/** Whether `v` is closer to losing records than `than` (partitions not ABANDONED first). */
function worseRetention(v: PartitionVerdict, than: PartitionVerdict | undefined): boolean {
  if (v.retentionHeadroom === undefined) return false;
  if (!than) return true;
  const a = v.status !== 'ABANDONED';
  const b = than.status !== 'ABANDONED';
  if (a !== b) return a;
  return retentionRank(v) > retentionRank(than);
}

function groupStatus(worst: PartitionStatus, allUnknown: boolean, memberless: boolean): GroupStatus {
  if (allUnknown) return 'NOTFOUND';
  if (RANK[worst] >= RANK.STOP) return 'ERR';
  if (worst === 'WARN') return 'WARN';
  return worst === 'ABANDONED' && memberless ? 'ABANDONED' : 'OK';
}
