// The Kafka source: what the Admin API tells, no JMX needed (so it works on managed Kafka too).
// Each round: cluster metadata (partition health, brokers), then for every tracked consumer
// group its membership (where the broker answers DescribeGroups), its committed offsets, and only
// then the log-end offsets of the topics involved — committed before log-end, so lag read at two
// moments can only be over-stated by what was produced in between, never negative. The pure
// evaluator (lag/) judges each partition and group; this file turns judgements into signals.
import { pino, type Logger } from 'pino';
import type { Signal } from '../../proto/index.js';
import { loadRules } from '../translate/index.js';
import { PollingSensor, type PollOutcome } from '../sources/polling.js';
import type { CheckResult, SensorContext } from '../sensor.js';
import { KafkaCallError, type ClusterMetadata, type CommittedOffset, type GroupDescription, type KafkaAdminClient } from './client.js';
import { describeKafka, type KafkaSettings } from './settings.js';
import { PartitionWatch } from './partitions.js';
import { probeBroker } from './probe.js';
import { LagEvaluator, type GroupMembers, type GroupState } from './lag/index.js';
import { SignalPlanner } from './signals.js';
import { RecordTimes, type LaggingPartition } from './record-times.js';
import { OAuthTokenSource, describeAwsCredentials } from './sasl.js';

/** How many Admin requests a round keeps in flight at once (groups, topics). */
const CONCURRENCY = 8;

async function inParallel<T, R>(items: readonly T[], f: (t: T) => Promise<R>, limit = CONCURRENCY): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** What one round learned about the groups, for status and --check. */
interface GroupRound {
  tracked: string[];
  untracked: number;
  listing: 'ok' | 'unsupported' | 'denied' | 'failed' | 'off';
  membership: 'ok' | 'unsupported' | 'denied' | 'none';
  /** Configured groups with no committed offset at all. */
  empty: string[];
  problems: string[];
}

export class KafkaSensor extends PollingSensor {
  private readonly watch: PartitionWatch;
  private readonly evaluator: LagEvaluator;
  private planner?: SignalPlanner;
  private client?: KafkaAdminClient;
  /** Requests this cluster does not serve (the mock cluster, old brokers): not asked again. */
  private readonly unsupported = new Set<string>();
  private lastGroups?: GroupRound;
  private readonly saidEmpty = new Set<string>();
  private lastMetadata?: { brokers: number; topics: number; partitions: number; underReplicated: number; offline: number; controller: number | undefined };
  /** Record timestamps read and held (exact lag in seconds), with their budget and counters. */
  private readonly recordTimes: RecordTimes;
  /** How long the last round's record-timestamp read took, ms, and how many it asked. */
  private lastRecordRead?: { ms: number; reads: number };

  constructor(private readonly settings: KafkaSettings, private readonly makeClient: (logger: Logger) => KafkaAdminClient) {
    super(`kafka:${settings.brokers[0]}`, { intervalMs: settings.intervalMs, rules: loadRules(undefined), description: describeKafka(settings), backoffMaxMs: Math.max(60_000, settings.intervalMs) });
    this.watch = new PartitionWatch(settings.excludeTopics);
    this.evaluator = new LagEvaluator({ ...settings.lag, windowSize: settings.windowSize, allowedLag: settings.allowedLag, maxGroups: settings.maxTrackedGroups });
    this.recordTimes = new RecordTimes({ maxReadsPerRound: settings.recordTimestampReads, retryDeniedMs: 600_000 });
  }

  protected override async open(): Promise<boolean> {
    const ctx = this.ctx as SensorContext;
    this.client = this.makeClient(ctx.logger);
    this.planner = new SignalPlanner(ctx.names, this.settings.heartbeatMs ?? this.options.rules.defaults.heartbeatMs);
    return true;
  }

  protected override async close(): Promise<void> {
    await this.client?.disconnect();
  }

  protected async poll(): Promise<PollOutcome> {
    const client = this.client!;
    const now = Date.now();
    let md: ClusterMetadata;
    try {
      md = await client.metadata();
    } catch (e) {
      const err = e as KafkaCallError;
      return { ok: false, reason: err.reason ?? 'internal', message: err.message };
    }
    const judged = this.watch.judge(md, await this.notAnswering(md));
    this.lastMetadata = {
      brokers: md.brokers.length,
      topics: md.topics.filter((t) => !this.settings.excludeTopics.test(t.name)).length,
      partitions: judged.partitions.length,
      underReplicated: judged.underReplicated,
      offline: judged.offline,
      controller: md.controller,
    };
    const planner = this.planner!;
    const signals: Signal[] = [];
    planner.metadata(judged, now, signals);

    const round = await this.groupRound(client, md);
    // Judged as of now, after the readings (the evaluator ages them against this time).
    const judgedAt = Date.now();
    for (const g of round.tracked) planner.group(this.evaluator.evaluate(g, judgedAt), judgedAt, signals);
    this.lastGroups = round;
    const problemReason = round.problems.some((p) => /not allowed \(/.test(p)) ? 'permission' : 'incomplete';
    return { ok: true, readings: [], problems: round.problems, problemReason, values: judged.partitions.length + round.tracked.length, signals };
  }

  /** Which groups, their membership, committed offsets, then log ends; feeds the evaluator. */
  private async groupRound(client: KafkaAdminClient, md: ClusterMetadata): Promise<GroupRound> {
    const s = this.settings;
    const problems: string[] = [];
    let listing: GroupRound['listing'] = 'off';
    let discovered: string[] = [];
    if (s.discoverGroups) {
      const r = await this.optionalRequest('ListGroups', 'groups come from configuration only (KAFKA_CONSUMER_GROUPS)', 'cannot list consumer groups', problems, () => client.listGroups());
      listing = r.state;
      discovered = r.value ?? [];
    }
    const all = [...new Set([...s.groups, ...discovered.sort()])];
    const tracked = all.slice(0, s.maxTrackedGroups);
    const untracked = all.length - tracked.length;
    if (untracked > 0) problems.push(`${untracked} group(s) beyond maxTrackedGroups=${s.maxTrackedGroups} are not evaluated`);

    let membership: GroupRound['membership'] = 'none';
    const described = new Map<string, GroupDescription>();
    if (tracked.length) {
      const r = await this.optionalRequest('DescribeGroups', 'lag is judged from offsets and commit spacing alone', 'cannot describe consumer groups', problems, async () => {
        for (let i = 0; i < tracked.length; i += 100) for (const d of await client.describeGroups(tracked.slice(i, i + 100))) described.set(d.group, d);
      });
      membership = r.state === 'failed' ? 'none' : r.state;
    }

    // Committed offsets first, for every group; log ends after, so lag is never negative by timing.
    const committedAt = Date.now();
    const allTopics = md.topics.map((t) => t.name).filter((t) => !s.excludeTopics.test(t));
    const committed = await inParallel(tracked, async (g) => {
      try {
        const c = await client.committedOffsets(g);
        if (c.length > 0 || allTopics.length === 0) return c;
        // Some servers (the librdkafka mock, older brokers) answer "all topics" with nothing:
        // ask for every topic and keep the ones the group has committed on.
        return onlyCommittedTopics(await client.committedOffsets(g, allTopics));
      } catch (e) {
        problems.push((e as KafkaCallError).message);
        return undefined;
      }
    });
    const topics = new Set<string>();
    const empty: string[] = [];
    for (let i = 0; i < tracked.length; i++) {
      const c = committed[i];
      if (!c) continue;
      for (const o of c) if (!s.excludeTopics.test(o.topic)) topics.add(o.topic);
      if (c.length === 0 && s.groups.includes(tracked[i]!)) empty.push(tracked[i]!);
    }
    // Topics a described member is assigned but the group never committed on count too.
    for (const d of described.values()) for (const m of d.members) for (const t of m.assignment.keys()) if (!s.excludeTopics.test(t)) topics.add(t);
    const known = new Set(md.topics.map((t) => t.name));
    const ends = await inParallel([...topics].filter((t) => known.has(t)), async (t) => {
      try {
        return { topic: t, offsets: await client.logEndOffsets(t) };
      } catch (e) {
        problems.push((e as KafkaCallError).message);
        return { topic: t, offsets: [] };
      }
    });
    // The evaluator pairs each committed reading with the log end read after it: committed first.
    const ev = this.evaluator;
    for (let i = 0; i < tracked.length; i++) {
      const g = tracked[i]!;
      const d = described.get(g);
      ev.members(g, d ? membersOf(d) : undefined);
      const c = committed[i];
      if (!c) continue;
      for (const o of c) if (!s.excludeTopics.test(o.topic)) ev.committed(g, o.topic, o.partition, o.offset, committedAt);
      // Partitions a member holds without a commit yet: lag unknown, not absent.
      if (d) for (const [t, ps] of assignedOf(d)) for (const p of ps) if (!c.some((o) => o.topic === t && o.partition === p)) ev.committed(g, t, p, undefined, committedAt);
    }
    const readAt = Date.now();
    for (const { topic, offsets } of ends) for (const o of offsets) ev.logEnd(topic, o.partition, o.offset, readAt, o.start);
    await this.readRecordTimes(client, tracked, committed, ends);
    // Groups that left the tracked set are forgotten, so memory follows the cap.
    const trackedNow = new Set(tracked);
    for (const g of this.lastGroups?.tracked ?? []) {
      if (trackedNow.has(g)) continue;
      ev.forget(g);
      this.planner?.forgetGroup(g);
    }
    // Not a problem of the source (the group may not have started yet): said once, in the log.
    for (const g of empty) {
      if (this.saidEmpty.has(g)) continue;
      this.saidEmpty.add(g);
      this.ctx?.logger.info({ group: g }, 'configured group has no committed offsets yet (not yet consuming, or the name is wrong)');
    }
    return { tracked, untracked, listing, membership, empty, problems };
  }

  /**
   * The broker's timestamps of the records at the lagging groups' committed offsets (those not
   * held yet, within the per-round budget), given to the evaluator: exact lag in seconds. A read
   * that fails or is not allowed leaves those partitions interpolated, counted; never a problem of
   * the round (lag itself was read).
   */
  private async readRecordTimes(client: KafkaAdminClient, tracked: readonly string[], committed: readonly (CommittedOffset[] | undefined)[], ends: readonly { topic: string; offsets: { partition: number; offset: number }[] }[]): Promise<void> {
    const rt = this.recordTimes;
    if (!client.recordTimes || rt.off || this.settings.recordTimestampReads <= 0) return;
    const endOf = new Map<string, number>();
    for (const { topic, offsets } of ends) for (const o of offsets) endOf.set(`${topic}\u0000${o.partition}`, o.offset);
    const lagging: { group: string; l: LaggingPartition }[] = [];
    for (let i = 0; i < tracked.length; i++) {
      for (const o of committed[i] ?? []) {
        if (o.offset === undefined) continue;
        const end = endOf.get(`${o.topic}\u0000${o.partition}`);
        if (end !== undefined && end > o.offset) lagging.push({ group: tracked[i]!, l: { topic: o.topic, partition: o.partition, offset: o.offset, lag: end - o.offset } });
      }
    }
    const now = Date.now();
    const reads = rt.plan(lagging.map((x) => x.l), now);
    if (reads.length) {
      const t0 = performance.now();
      // Bounded: a broker that does not answer must not hold up the round's judgements.
      const limitMs = Math.min(this.settings.requestTimeoutMs, Math.max(1_000, this.settings.intervalMs / 2));
      let timer: NodeJS.Timeout | undefined;
      const read = client.recordTimes(reads);
      read.catch(() => undefined);
      try {
        const answered = await Promise.race([
          read,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new KafkaCallError('timeout', `record timestamps: no answer within ${limitMs} ms`, 'record timestamps')), limitMs);
          }),
        ]);
        const refused = rt.absorb(answered, Date.now());
        for (const topic of refused) this.ctx?.logger.warn({ source: this.options.description, topic }, `record timestamps of topic ${topic} cannot be read (the agent's principal needs Read on it): lag in seconds is interpolated from log-end offsets there`);
      } catch (e) {
        const err = e as KafkaCallError;
        rt.roundFailed(err.reason ?? 'internal');
        if (err.reason === 'unsupported') this.ctx?.logger.warn({ source: this.options.description }, `record timestamps cannot be read (${err.message}): lag in seconds is interpolated from log-end offsets`);
        else this.ctx?.logger.debug({ source: this.options.description, err: err.message }, 'record timestamps not read this round');
      } finally {
        clearTimeout(timer);
      }
      this.lastRecordRead = { ms: performance.now() - t0, reads: reads.length };
    }
    for (const { group, l } of lagging) {
      const ts = rt.lookup(l.topic, l.partition, l.offset);
      if (ts !== undefined) this.evaluator.recordTime(group, l.topic, l.partition, l.offset, ts);
    }
    rt.endRound();
  }

  /**
   * A request the round can do without: 'unsupported' (said once, never asked again), 'denied'
   * (a missing permission, a problem of this round) or 'failed' (any other error, a problem too).
   */
  private async optionalRequest<T>(request: string, without: string, deniedAs: string, problems: string[], f: () => Promise<T>): Promise<{ state: 'ok' | 'unsupported' | 'denied' | 'failed'; value?: T }> {
    if (this.unsupported.has(request)) return { state: 'unsupported' };
    try {
      return { state: 'ok', value: await f() };
    } catch (e) {
      const err = e as KafkaCallError;
      if (err.reason === 'unsupported') {
        this.unsupported.add(request);
        this.ctx?.logger.warn({ source: this.options.description }, `the cluster does not serve ${request}: ${without}`);
        return { state: 'unsupported' };
      }
      problems.push(err.reason === 'permission' ? `${deniedAs}: ${err.message}` : err.message);
      return { state: err.reason === 'permission' ? 'denied' : 'failed' };
    }
  }

  /** The listed brokers that do not answer an ApiVersions probe (3 s at most, all at once). */
  private async notAnswering(md: ClusterMetadata): Promise<Set<number>> {
    const answers = await Promise.all(md.brokers.map((b) => probeBroker(b, this.settings, Math.min(this.settings.requestTimeoutMs, 3_000))));
    return new Set(md.brokers.filter((_, i) => !answers[i]).map((b) => b.id));
  }

  /** What --check says about lag in seconds: record timestamps readable, or why interpolated. */
  private async checkRecordTimes(client: KafkaAdminClient, sample: CommittedOffset | undefined): Promise<string> {
    if (this.settings.recordTimestampReads <= 0) return 'lag in seconds: interpolated from log-end offsets (record timestamp reads are off: KAFKA_RECORD_TIMESTAMP_READS=0)';
    if (!client.recordTimes) return 'lag in seconds: interpolated from log-end offsets (this client cannot read records)';
    if (!sample || sample.offset === undefined) return `lag in seconds: from the broker's record timestamps at committed offsets (up to ${this.settings.recordTimestampReads} reads a round; needs Read on the topics); no committed offset to try one on`;
    const where = `${sample.topic}/${sample.partition} at offset ${sample.offset}`;
    try {
      const [r] = await client.recordTimes([{ topic: sample.topic, partition: sample.partition, offset: sample.offset }]);
      const o = r!.outcome;
      if (o.kind === 'ok') return `lag in seconds: from the broker's record timestamps (read ${where}: written ${new Date(o.timestampMs).toISOString()}); up to ${this.settings.recordTimestampReads} reads a round`;
      if (o.kind === 'none') return `lag in seconds: from the broker's record timestamps (${where}: caught up, nothing to read); up to ${this.settings.recordTimestampReads} reads a round`;
      if (o.kind === 'deleted') return `lag in seconds: ${where} is below the log start${o.logStart !== undefined ? ` (${o.logStart})` : ''}: its records were deleted by retention`;
      return `lag in seconds: interpolated from log-end offsets where record timestamps cannot be read (${where}: ${o.message})`;
    } catch (e) {
      return `lag in seconds: interpolated from log-end offsets where record timestamps cannot be read (${(e as Error).message})`;
    }
  }

  override status(): Record<string, unknown> {
    const g = this.lastGroups;
    return {
      ...super.status(),
      cluster: this.lastMetadata,
      groups: g ? { tracked: g.tracked.length, untracked: g.untracked, listing: g.listing, membership: g.membership } : undefined,
      recordTimestamps: { ...this.recordTimes.stats(), off: this.recordTimes.off || this.settings.recordTimestampReads <= 0, maxReadsPerRound: this.settings.recordTimestampReads, lastRound: this.lastRecordRead },
    };
  }

  async check(): Promise<CheckResult> {
    const source = this.options.description;
    const facts: string[] = [];
    const errors: string[] = [];
    const logger = silentLogger();
    const client = this.makeClient(logger);
    try {
      // The login's secrets, found and described (never shown) before the cluster is asked.
      const login = await loginFacts(this.settings);
      if (login) (login.ok ? facts : errors).push(login.text);
      const md = await client.metadata();
      const notAnswering = await this.notAnswering(md);
      facts.push(`brokers listed: ${md.brokers.length} (${md.brokers.map((b) => `${b.id} at ${b.host}:${b.port}${notAnswering.has(b.id) ? ' NOT ANSWERING' : ''}`).join(', ')}), controller ${md.controller ?? 'unknown'}`);
      if (notAnswering.size) errors.push(`broker(s) ${[...notAnswering].join(', ')} listed by the cluster but not answering from here`);
      const judged = new PartitionWatch(this.settings.excludeTopics).judge(md, notAnswering);
      const topics = new Set(judged.partitions.map((p) => p.topic));
      facts.push(`topics: ${topics.size}, partitions: ${judged.partitions.length} (${judged.underReplicated} under-replicated, ${judged.offline} offline)`);
      let groups: string[] = [];
      if (this.settings.discoverGroups) {
        try {
          groups = await client.listGroups();
          facts.push(`consumer groups listed: ${groups.length}${groups.length ? ` (${groups.slice(0, 10).join(', ')}${groups.length > 10 ? ', ...' : ''})` : ''}`);
        } catch (e) {
          const err = e as KafkaCallError;
          if (err.reason === 'unsupported') facts.push('listing groups: not served by this cluster; groups come from KAFKA_CONSUMER_GROUPS / kafka.groups');
          else errors.push(err.reason === 'permission' ? `permission missing: Describe on the cluster / groups to list consumer groups (${err.message})` : err.message);
        }
      }
      const all = [...new Set([...this.settings.groups, ...groups])];
      if (all.length === 0) facts.push('no consumer groups to evaluate');
      if (all.length) {
        try {
          const d = await client.describeGroups(all.slice(0, 100));
          facts.push(`membership: ${d.map((x) => `${x.group} ${x.state} (${x.members.length} member(s))`).slice(0, 10).join(', ')}`);
        } catch (e) {
          const err = e as KafkaCallError;
          if (err.reason === 'unsupported') facts.push('membership (DescribeGroups): not served by this cluster; lag is judged from offsets and commit spacing');
          else errors.push(err.reason === 'permission' ? `permission missing: Describe on group(s) (${err.message})` : err.message);
        }
      }
      let sample: CommittedOffset | undefined;
      for (const g of all.slice(0, 20)) {
        try {
          let c = await client.committedOffsets(g);
          if (c.length === 0 && topics.size) c = onlyCommittedTopics(await client.committedOffsets(g, [...topics]));
          sample ??= c.find((o) => o.offset !== undefined);
          const topicsOf = [...new Set(c.map((o) => o.topic))];
          if (c.length) facts.push(`group ${g}: committed offsets on ${c.length} partition(s) of ${topicsOf.join(', ')}`);
          else if (this.settings.groups.includes(g)) errors.push(`group ${g}: no committed offsets (not yet consuming, or the name is wrong)`);
        } catch (e) {
          const err = e as KafkaCallError;
          errors.push(err.reason === 'permission' ? `permission missing: Describe on group ${g} (${err.message})` : err.message);
        }
      }
      const firstTopic = [...topics][0];
      if (firstTopic !== undefined) {
        try {
          const ends = await client.logEndOffsets(firstTopic);
          facts.push(`log-end offsets readable (topic ${firstTopic}: ${ends.length} partition(s))`);
        } catch (e) {
          const err = e as KafkaCallError;
          errors.push(err.reason === 'permission' ? `permission missing: Describe on topic ${firstTopic} (${err.message})` : err.message);
        }
      }
      facts.push(await this.checkRecordTimes(client, sample));
    } catch (e) {
      errors.push((e as Error).message);
    } finally {
      await client.disconnect();
    }
    return { source, ok: errors.length === 0, facts, errors };
  }
}

/** Drops the topics on which nothing is committed (every partition without an offset). */
function onlyCommittedTopics(offsets: CommittedOffset[]): CommittedOffset[] {
  const used = new Set(offsets.filter((o) => o.offset !== undefined).map((o) => o.topic));
  return offsets.filter((o) => used.has(o.topic));
}

/**
 * Membership for the evaluator. Assignments that could not be read (another protocol, an
 * undecodable one: every member's empty) are unknown, not "nothing assigned": a live group would
 * otherwise look as if nobody owned its partitions.
 */
function membersOf(d: GroupDescription): GroupMembers {
  const assigned = assignedOf(d);
  return {
    state: d.state as GroupState,
    members: d.members.length,
    assigned: assigned.size ? [...assigned].map(([topic, partitions]) => ({ topic, partitions })) : undefined,
  };
}

function assignedOf(d: GroupDescription): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const m of d.members) for (const [t, ps] of m.assignment) out.set(t, [...(out.get(t) ?? []), ...ps]);
  return out;
}

/** What --check says of an OAUTHBEARER token or AWS credentials: found and what they are, or why not. */
async function loginFacts(s: KafkaSettings): Promise<{ ok: boolean; text: string } | undefined> {
  if (s.sasl?.mechanism === 'OAUTHBEARER') {
    try {
      return { ok: true, text: await new OAuthTokenSource(s.sasl).describe() };
    } catch (e) {
      return { ok: false, text: (e as Error).message };
    }
  }
  if (s.sasl?.mechanism === 'AWS_MSK_IAM') {
    try {
      return { ok: true, text: await describeAwsCredentials() };
    } catch (e) {
      return { ok: false, text: `AWS credentials for AWS_MSK_IAM could not be loaded (the default chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a web identity token (IRSA), the container endpoint, instance metadata): ${(e as Error).message}` };
    }
  }
  return undefined;
}

/** --check prints results, not kafkajs's chatter. */
function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
