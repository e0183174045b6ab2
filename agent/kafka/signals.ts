// From judgements to signals, without a storm: a subject is sent when its state changes, while it
// is unhealthy (every round, so observers see lag grow reading by reading), and otherwise once
// per heartbeat. Subjects (proto/subject.ts):
//   cluster/<c>/topic/<t>/partition/<n>#replicas            partition health (replicas, ISR, leader)
//   cluster/<c>/broker/<id>#metadata                        a broker the cluster stopped listing: DOWN
//   cluster/<c>/group/<g>#lag                               the group's evaluation (Burrow status, lags)
//   cluster/<c>/group/<g>/topic/<t>#lag                     the group's total lag on one topic
//   cluster/<c>/group/<g>/topic/<t>/partition/<n>#lag       one partition's evaluation
// All three carry lag in time and retention (proto's CTX: lag-seconds, lag-seconds-from,
// catch-up-seconds, log-start-offset, retention-headroom, retention-seconds-left; a topic's and a
// group's from their partition most at risk, named in retention-partition). A retention risk
// (at-risk or lost, not ABANDONED) makes the subject DEGRADED and unhealthy: sent every round.
import { ASPECT, CTX, Status_Condition, Status_Confidence, entity, isUnder, subjectOf, type Signal } from '../../proto/index.js';
import { sensorSignal, type SubjectNames } from '../sensor.js';
import type { MetadataJudgement } from './partitions.js';
import type { GroupVerdict, PartitionStatus, PartitionVerdict } from './lag/index.js';

interface Sent {
  key: string;
  at: number;
}

const C = Status_Condition;

/** Burrow's partition statuses as conditions; the name travels in context "burrow". */
const PARTITION_CONDITION: Record<Exclude<PartitionStatus, 'UNKNOWN'>, Status_Condition> = {
  OK: C.STABLE,
  WARN: C.DIVERGING,
  STALL: C.DEGRADED,
  STOP: C.DEGRADED,
  REWIND: C.DEGRADED,
  // Nobody consuming and nothing new arriving: inventory, not an incident.
  ABANDONED: C.STABLE,
};

const fmt = (n: number | undefined, digits = 0): string => (n === undefined || !Number.isFinite(n) ? 'unknown' : digits ? n.toFixed(digits) : String(Math.round(n)));

/** Unconsumed records deleted, or about to be, by retention (an ABANDONED partition's are inventory). */
const retentionRisk = (p: PartitionVerdict | undefined): boolean => p !== undefined && p.status !== 'ABANDONED' && (p.retention === 'at-risk' || p.retention === 'lost');

/** A retention risk makes a lag judgement at least DEGRADED. */
const withRetention = (c: Status_Condition, risk: boolean): Status_Condition => (risk && (c === C.STABLE || c === C.DIVERGING || c === C.CONVERGING) ? C.DEGRADED : c);

/**
 * The time and retention keys of proto's CTX, from one partition's verdict (absent when unknown):
 * lag-seconds-from, catch-up-seconds, log-start-offset, retention-headroom, retention-seconds-left.
 */
function timeContext(context: Record<string, string>, from: PartitionVerdict['lagSecondsFrom'], catchUp: number | undefined, r: PartitionVerdict | undefined): void {
  if (from) context[CTX.lagSecondsFrom] = from;
  if (catchUp !== undefined) context[CTX.catchUpSeconds] = fmt(catchUp, 1);
  if (!r || r.retentionHeadroom === undefined) return;
  context[CTX.logStartOffset] = fmt(r.logStart);
  context[CTX.retentionHeadroom] = fmt(r.retentionHeadroom);
  if (r.retentionSecondsLeft !== undefined) context[CTX.retentionSecondsLeft] = fmt(r.retentionSecondsLeft, 0);
  if (r.logStartRate !== undefined) context['log-start-rate'] = fmt(r.logStartRate, 1);
  if (r.retention) context.retention = r.retention;
}

/** A judgement's reason and the retention sentence, one string. */
const reasons = (...rs: (string | undefined)[]): string | undefined => rs.filter((r) => r).join('; ') || undefined;

export class SignalPlanner {
  private readonly sent = new Map<string, Sent>();
  /** Rounds in a row each subject has been in its current unhealthy state (for CONFIRMED). */
  private readonly streak = new Map<string, number>();

  constructor(private readonly names: SubjectNames, private readonly heartbeatMs: number) {}

  /** Decides whether `subject` in state `key` goes out now, and remembers it when it does. */
  private due(subject: string, key: string, unhealthy: boolean, now: number): boolean {
    const prev = this.sent.get(subject);
    if (prev && prev.key === key && !unhealthy && now - prev.at < this.heartbeatMs) return false;
    this.sent.set(subject, { key, at: now });
    return true;
  }

  private confidence(subject: string, key: string, unhealthy: boolean, base: Status_Confidence): Status_Confidence {
    if (!unhealthy) {
      // Healthy again: the count of rounds in a row starts over (streaks are kept per subject and state).
      for (const k of this.streak.keys()) if (k.startsWith(`${subject}\u0000`)) this.streak.delete(k);
      return base;
    }
    const k = `${subject}\u0000${key}`;
    const n = (this.streak.get(k) ?? 0) + 1;
    this.streak.set(k, n);
    if (n === 1) for (const other of this.streak.keys()) if (other !== k && other.startsWith(`${subject}\u0000`)) this.streak.delete(other);
    return n >= 3 && base === Status_Confidence.MEASURED ? Status_Confidence.CONFIRMED : base;
  }

  metadata(j: MetadataJudgement, now: number, out: Signal[]): void {
    const ts = BigInt(now) * 1_000_000n;
    for (const p of j.partitions) {
      const subject = subjectOf(entity.partition(this.names.cluster, p.topic, p.partition), ASPECT.replicas);
      const unhealthy = p.state !== 'ok';
      if (!this.due(subject, `${p.state}/${p.leader}`, unhealthy, now)) continue;
      const condition = p.state === 'offline' ? C.DEFECTIVE : p.state === 'under-replicated' ? C.DEGRADED : C.STABLE;
      const context: Record<string, string> = {
        topic: p.topic,
        partition: String(p.partition),
        replicas: p.replicas.join(','),
        isr: p.isr.join(','),
        leader: p.leader >= 0 ? String(p.leader) : 'none',
        state: p.state,
      };
      if (p.outOfSync.length) context['out-of-sync'] = p.outOfSync.join(',');
      if (p.reportedIsr) context['reported-isr'] = p.reportedIsr.join(',');
      if (p.leaderMovedFrom !== undefined) {
        context.event = 'leader-moved';
        context['leader-was'] = String(p.leaderMovedFrom);
      }
      const confidence = this.confidence(subject, p.state, unhealthy, Status_Confidence.MEASURED);
      out.push(sensorSignal(subject, { status: { condition, confidence } }, context, ts));
    }
    for (const b of j.brokers) {
      const subject = subjectOf(entity.broker(this.names.cluster, b.id), ASPECT.metadata);
      // Brokers are judged by their own JMX or by their partitions; this source speaks of one only
      // when it stops answering or the cluster stops listing it (and once more when it is back).
      if (b.alive && !b.changed) continue;
      if (b.alive && !this.sent.has(subject)) continue;
      if (!this.due(subject, b.alive ? 'alive' : 'missing', !b.alive, now)) continue;
      const context: Record<string, string> = { 'broker-id': String(b.id), source: 'cluster-metadata' };
      if (!b.alive) context.reason = b.why === 'not-answering' ? 'listed in cluster metadata but not answering requests' : 'not listed in cluster metadata';
      if (b.outOfSync) context['out-of-sync-replicas'] = String(b.outOfSync);
      const confidence = this.confidence(subject, b.alive ? 'alive' : 'missing', !b.alive, Status_Confidence.MEASURED);
      out.push(sensorSignal(subject, { status: { condition: b.alive ? C.STABLE : C.DOWN, confidence } }, context, ts));
    }
  }

  group(v: GroupVerdict, now: number, out: Signal[]): void {
    // Nothing known yet (no committed offset, no log end): no judgement to send.
    if (v.status === 'NOTFOUND') return;
    const ts = BigInt(now) * 1_000_000n;
    const n = this.names;
    // Few readings yet: say so (TENTATIVE) rather than sound sure.
    const base = v.complete < 0.3 ? Status_Confidence.TENTATIVE : Status_Confidence.MEASURED;
    let consumeRate: number | undefined;
    let produceRate: number | undefined;
    for (const p of v.partitions) {
      if (p.consumeRate !== undefined) consumeRate = (consumeRate ?? 0) + p.consumeRate;
      if (p.produceRate !== undefined) produceRate = (produceRate ?? 0) + p.produceRate;
      if (p.status === 'UNKNOWN') continue;
      const subject = subjectOf(entity.groupPartition(n.cluster, v.group, p.topic, p.partition), ASPECT.lag);
      const risk = retentionRisk(p);
      const unhealthy = (p.status !== 'OK' && p.status !== 'ABANDONED') || risk;
      const state = `${p.status}${risk ? `/${p.retention}` : ''}`;
      if (!this.due(subject, `${state}/${p.lag === 0 ? 'caught-up' : 'behind'}`, unhealthy, now)) continue;
      const context: Record<string, string> = {
        burrow: p.status,
        lag: fmt(p.lag),
        'committed-offset': fmt(p.committed),
        'log-end-offset': fmt(p.logEnd),
        'lag-seconds': fmt(p.lagSeconds, 1),
      };
      if (p.lagSecondsCapped) context['lag-seconds-capped'] = 'true';
      if (p.lagSecondsInterpolated !== undefined) context['lag-seconds-interpolated'] = fmt(p.lagSecondsInterpolated, 1);
      timeContext(context, p.lagSecondsFrom, p.catchUpSeconds, p);
      if (p.consumeRate !== undefined) context[CTX.consumeRate] = fmt(p.consumeRate, 1);
      if (p.produceRate !== undefined) context[CTX.produceRate] = fmt(p.produceRate, 1);
      const reason = reasons(p.reason, risk ? p.retentionReason : undefined);
      if (reason) context.reason = reason;
      const confidence = this.confidence(subject, state, unhealthy, base);
      out.push(sensorSignal(subject, { status: { condition: withRetention(PARTITION_CONDITION[p.status], risk), confidence } }, context, ts));
    }
    for (const t of v.topics) {
      const subject = subjectOf(entity.groupTopic(n.cluster, v.group, t.topic), ASPECT.lag);
      const lagging = (v.status === 'WARN' || v.status === 'ERR') && t.lag > 0;
      const risk = retentionRisk(t.retention);
      const unhealthy = lagging || risk;
      if (!this.due(subject, `${lagging ? 'lag' : 'ok'}${risk ? `/${t.retention!.retention}` : ''}`, unhealthy, now)) continue;
      const context: Record<string, string> = { topic: t.topic, 'total-lag': fmt(t.lag), partitions: String(t.partitions), 'lag-seconds': fmt(t.maxLagSeconds, 1) };
      if (t.unknown) context['unknown-partitions'] = String(t.unknown);
      timeContext(context, t.maxLagSecondsFrom, t.catchUpSeconds, t.retention);
      if (t.retention) context['retention-partition'] = `${t.topic}/${t.retention.partition}`;
      const rates = ratesOf(v.partitions.filter((p) => p.topic === t.topic));
      if (rates.consume !== undefined) context[CTX.consumeRate] = fmt(rates.consume, 1);
      if (rates.produce !== undefined) context[CTX.produceRate] = fmt(rates.produce, 1);
      if (risk) context.reason = t.retention!.retentionReason!;
      out.push(sensorSignal(subject, { status: { condition: withRetention(lagging ? C.DIVERGING : C.STABLE, risk), confidence: base } }, context, ts));
    }
    const subject = subjectOf(entity.group(n.cluster, v.group), ASPECT.lag);
    const risk = retentionRisk(v.retention);
    const unhealthy = v.status === 'WARN' || v.status === 'ERR' || risk;
    // Catching up (lag reaching 0) is news even when the status stays OK; so is the last member
    // leaving (once, whatever the status).
    const key = `${v.status}${risk ? `/${v.retention!.retention}` : ''}/${v.totalLag === 0 ? 'caught-up' : 'behind'}`;
    if (!this.due(subject, key, unhealthy, now) && !v.event) return;
    if (v.event) this.sent.set(subject, { key, at: now });
    const condition = withRetention(v.status === 'WARN' ? C.DIVERGING : v.status === 'ERR' ? C.DEGRADED : C.STABLE, risk);
    const counts = new Map<string, number>();
    for (const p of v.partitions) counts.set(p.status, (counts.get(p.status) ?? 0) + 1);
    const context: Record<string, string> = {
      burrow: v.status,
      'total-lag': fmt(v.totalLag),
      'max-lag': fmt(v.maxLag?.lag),
      'lag-seconds': fmt(v.maxLagSeconds, 1),
      partitions: String(v.partitions.length),
      'partition-status': [...counts].map(([s, c]) => `${s}=${c}`).join(','),
      completeness: v.complete.toFixed(2),
      topics: v.topics.map((t) => t.topic).join(','),
    };
    if (v.worst && v.worst !== v.status) context.worst = v.worst;
    if (v.topics.length === 1) context.topic = v.topics[0]!.topic;
    if (v.unknownPartitions) context['unknown-partitions'] = String(v.unknownPartitions);
    if (v.maxLag) context['max-lag-partition'] = `${v.maxLag.topic}/${v.maxLag.partition}`;
    if (v.members) {
      context.members = String(v.members.members);
      context['group-state'] = v.members.state;
    }
    if (consumeRate !== undefined) context['consume-rate'] = fmt(consumeRate, 1);
    if (produceRate !== undefined) context['produce-rate'] = fmt(produceRate, 1);
    timeContext(context, v.maxLagSecondsFrom, v.catchUpSeconds, v.retention);
    if (v.retention) context['retention-partition'] = `${v.retention.topic}/${v.retention.partition}`;
    if (v.status === 'ABANDONED') {
      context.abandoned = 'true';
      context.inventory = `no consumer and no new records; holds lag ${fmt(v.totalLag)}`;
    } else {
      const abandoned = counts.get('ABANDONED');
      if (abandoned) context['abandoned-partitions'] = String(abandoned);
    }
    if (v.event) context.event = v.event;
    const reason = reasons(v.reason, risk ? v.retention!.retentionReason : undefined);
    if (reason) context.reason = reason;
    // Members leaving is news, not an alarm by itself: whatever follows (STOP) speaks for itself.
    const measured = this.confidence(subject, `${v.status}${risk ? `/${v.retention!.retention}` : ''}`, unhealthy, base);
    const confidence = v.event && !unhealthy ? Status_Confidence.TENTATIVE : measured;
    out.push(sensorSignal(subject, { status: { condition, confidence } }, context, ts));
  }

  /** Forget subjects of a group no longer tracked. */
  forgetGroup(group: string): void {
    const prefix = entity.group(this.names.cluster, group);
    for (const k of this.sent.keys()) if (isUnder(k, prefix)) this.sent.delete(k);
    for (const k of this.streak.keys()) if (isUnder(k.split('\u0000')[0]!, prefix)) this.streak.delete(k);
  }
}

/** Records/s consumed and produced over partitions (undefined when no partition knows). */
function ratesOf(ps: readonly PartitionVerdict[]): { consume: number | undefined; produce: number | undefined } {
  let consume: number | undefined;
  let produce: number | undefined;
  for (const p of ps) {
    if (p.consumeRate !== undefined) consume = (consume ?? 0) + p.consumeRate;
    if (p.produceRate !== undefined) produce = (produce ?? 0) + p.produceRate;
  }
  return { consume, produce };
}
