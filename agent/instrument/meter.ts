// One kafkajs client's meter: its instrumentation events and send outcomes are counted here as
// they happen (plain field updates, no allocation on the common paths, nothing that can throw),
// and turned into signals only when the instrumentation collects, about once a second. Pure: no
// I/O and no clock of its own (collect() is given the time), so tests drive it with synthetic
// kafkajs events and a fake clock.
//
// What becomes what (the README's table is the user-facing version):
//   REQUEST               -> per broker: mean duration per reading -> translator trend
//                            (status DIVERGING/CONVERGING/STABLE on <client>/request-latency-broker-<id>)
//   REQUEST_TIMEOUT       -> service EXPIRE on the client, per broker (node-id), count
//   REQUEST_QUEUE_SIZE    -> the most queued per reading -> translator threshold
//                            (queue ENQUEUE / PRESSURE / OVERFLOW on <client>/request-queue)
//   producer.send         -> service SUCCESS (summarised) / FAIL (per broker when the error names one),
//                            SUCCESS right after a FAIL when the last send of the window succeeded
//   GROUP_JOIN            -> resource GRANT (units: partitions) event=group_join; duration -> rebalance-latency
//   REBALANCING           -> service SUSPEND event=rebalancing; joins so far -> translator spacing (ERRATIC)
//   HEARTBEAT             -> resource TIMEOUT when they stop while in a group, GRANT when they resume
//   COMMIT_OFFSETS        -> service SUCCESS on <client>/commits (summarised)
//   START/END_BATCH_PROCESS -> the largest offsetLag per reading -> translator (lag, lag-trend)
//   CRASH                 -> service FAIL event=crash (SUCCESS event=recovered at the next join)
//   CONNECT / STOP / DISCONNECT -> service START / STOP
import {
  Resource_Sign,
  Service_Orientation,
  Service_Sign,
  type Signal,
} from '../../proto/gen/kafkaobs/v1/signal.js';
import type { Translator } from '../translate/engine.js';
// proto's modules one by one, not its index: the index loads every generated service (aggregator,
// verdicts, health), which would sit in the instrumented service's heap for nothing.
import { ASPECT } from '../../proto/aspects.js';
import { entity, subjectOf, type ClientRole } from '../../proto/subject.js';
import { METRICS } from './rules.js';
import type { BatchProcessPayload, CrashPayload, GroupJoinPayload, RequestPayload, RequestQueueSizePayload, RequestTimeoutPayload } from './types.js';

/**
 * Requests whose duration is mostly waiting by design: a Fetch parks at the broker up to
 * maxWaitTimeInMs, a JoinGroup/SyncGroup until the group has rebalanced. They would drown the
 * round-trip time the latency trend is about.
 */
export const LONG_POLL_APIS: ReadonlySet<string> = new Set(['Fetch', 'JoinGroup', 'SyncGroup']);

export interface MeterSettings {
  /** A healthy stream of outcomes (sends, commits) is summarised in one SUCCESS at most this often. */
  successEveryMs: number;
  /** No HEARTBEAT for this long while in a group: resource TIMEOUT (kafkajs' default session timeout is 30 s). */
  heartbeatStallMs: number;
}

export const METER_DEFAULTS: MeterSettings = { successEveryMs: 10_000, heartbeatStallMs: 30_000 };

/** What the instrumentation lends a meter when it collects. */
export interface CollectEnv {
  translator: Translator;
  service: string;
  pod: string;
  /** Added to every signal's context (e.g. cluster). */
  context: Readonly<Record<string, string>>;
  /** The broker's node id for "host:port", when known. */
  nodeOf(address: string): string | undefined;
  /** A unique name for this client among the instrumentation's clients of the same role. */
  claim(role: ClientRole, wanted: string, meter: ClientMeter): string;
}

interface BrokerStats {
  readonly address: string;
  // Since the last reading, requests other than long polls:
  n: number;
  sum: number;
  max: number;
  pendingSum: number;
  pendingMax: number;
  // Since the last collect:
  requests: number;
  timeouts: number;
  timeoutApi: string;
  failures: number;
  failError: ErrorFacts | undefined;
  failTopic: string;
  // Queue: now, and the most since the last reading.
  queueNow: number;
  queueMax: number;
  /** Readings in a row with nothing heard (for forgetting brokers that went away). */
  idle: number;
  /** A FAIL or EXPIRE went out naming this broker: a SUCCESS must follow when it works again. */
  troubled: boolean;
}

interface ErrorFacts {
  type: string;
  message: string;
  broker: string | undefined;
}

interface LagEntry {
  topic: string;
  partition: number;
  lag: number;
}

const MAX_BROKERS = 256;
const MAX_LAG_PARTITIONS = 10_000;
const MAX_CRASHES_KEPT = 4;

const fmt = (v: number): string => (Number.isInteger(v) ? String(v) : String(Number(v.toFixed(2))));

function newBroker(address: string): BrokerStats {
  return {
    address, n: 0, sum: 0, max: 0, pendingSum: 0, pendingMax: 0, requests: 0, timeouts: 0, timeoutApi: '',
    failures: 0, failError: undefined, failTopic: '', queueNow: 0, queueMax: 0, idle: 0, troubled: false,
  };
}

/** The error kafkajs gave, reduced to what a reader needs: its type, its message, the broker it names. */
export function errorFacts(e: unknown): ErrorFacts {
  let root: unknown = e;
  for (let i = 0; i < 5 && typeof root === 'object' && root !== null; i++) {
    const cause = (root as { cause?: unknown }).cause;
    if (typeof cause !== 'object' || cause === null) break;
    root = cause;
  }
  const r = (typeof root === 'object' && root !== null ? root : {}) as { type?: unknown; name?: unknown; broker?: unknown };
  const top = (typeof e === 'object' && e !== null ? e : {}) as { message?: unknown; name?: unknown; broker?: unknown };
  const type = typeof r.type === 'string' ? r.type : typeof r.name === 'string' ? r.name : typeof top.name === 'string' ? top.name : 'Error';
  const message = (typeof top.message === 'string' ? top.message : String(e)).slice(0, 300);
  const broker = typeof r.broker === 'string' ? r.broker : typeof top.broker === 'string' ? top.broker : undefined;
  return { type, message, broker };
}

function signal(subject: string, sign: Partial<Signal>, context: Record<string, string>, atMs: number): Signal {
  return { sourceId: '', seq: 0n, subject, timestamp: BigInt(Math.round(atMs)) * 1_000_000n, context, clock: {}, ...sign };
}

const service = (sign: Service_Sign): Partial<Signal> => ({ service: { sign, orientation: Service_Orientation.CALLER } });
const resource = (sign: Resource_Sign, units: number): Partial<Signal> => ({ resource: { sign, units } });

export class ClientMeter {
  /** The client id kafkajs reports in network events (the Kafka instance's clientId). */
  private seenClientId: string | undefined;
  private name: string | undefined;
  private readonly brokers = new Map<string, BrokerStats>();
  private queueSeen = false;
  /** Handler errors swallowed (a payload of an unexpected shape): counted, never thrown. */
  handlerErrors = 0;

  // Lifecycle since the last collect.
  private connects = 0;
  private stops = 0;
  private disconnects = 0;
  /** Connected (and not disconnected since): collect skips a meter that is neither this nor busy. */
  connected = false;

  // Producer sends: successes since the last SUCCESS went out, failures without a broker since the last collect.
  private sendsOk = 0;
  private recordsOk = 0;
  private sendMsSum = 0;
  private sendMsMax = 0;
  private sendFailures = 0;
  private sendFailError: ErrorFacts | undefined;
  private sendFailTopic = '';
  private lastSendOutcome: 'none' | 'success' | 'fail' = 'none';
  /** Whether the most recent send settled successfully (outcomes in one window are only counted). */
  private lastSendOk = true;
  private lastSendSuccessAt = -Infinity;

  // Consumer group.
  group: string | undefined;
  private memberId = '';
  private joinsTotal = 0;
  private joins = 0;
  private lastJoin: GroupJoinPayload | undefined;
  private rebalancings = 0;
  private inGroup = false;
  private lastHeartbeatAt = 0;
  private heartbeats = 0;
  private stalled = false;
  private commits = 0;
  private committedPartitions = 0;
  private lastCommitSignalAt = -Infinity;
  private readonly lags = new Map<string, LagEntry>();
  private lagUpdated = false;
  private batches = 0;
  private batchMsSum = 0;
  private crashes: { at: number; payload: CrashPayload }[] = [];
  private crashCount = 0;
  private crashedSinceJoin = false;
  private observedRebalances = false;

  constructor(
    readonly role: ClientRole,
    /** The name the user gave (instrumentation option), else the client id kafkajs reports. */
    private readonly wantedName: string | undefined,
    private readonly settings: MeterSettings = METER_DEFAULTS,
    group?: string,
  ) {
    this.group = group;
  }

  /** The client's name in subjects (once settled). */
  get clientId(): string | undefined {
    return this.name;
  }

  // --- event handlers: called from kafkajs' emitter, must stay cheap ---------------------------

  private broker(address: string): BrokerStats {
    let b = this.brokers.get(address);
    if (b === undefined) {
      if (this.brokers.size >= MAX_BROKERS) this.forgetOneBroker();
      b = newBroker(address);
      this.brokers.set(address, b);
    }
    return b;
  }

  request(p: unknown): void {
    const r = p as Partial<RequestPayload> | null;
    if (r === null || typeof r !== 'object' || typeof r.broker !== 'string') return;
    if (this.seenClientId === undefined && typeof r.clientId === 'string') this.seenClientId = r.clientId;
    const b = this.broker(r.broker);
    b.requests++;
    const d = r.duration;
    if (typeof d !== 'number' || !(d >= 0) || LONG_POLL_APIS.has(r.apiName as string)) return;
    b.n++;
    b.sum += d;
    if (d > b.max) b.max = d;
    const pd = r.pendingDuration;
    if (typeof pd === 'number' && pd > 0) {
      b.pendingSum += pd;
      if (pd > b.pendingMax) b.pendingMax = pd;
    }
  }

  requestTimeout(p: unknown): void {
    const r = p as Partial<RequestTimeoutPayload> | null;
    if (r === null || typeof r !== 'object' || typeof r.broker !== 'string') return;
    if (this.seenClientId === undefined && typeof r.clientId === 'string') this.seenClientId = r.clientId;
    const b = this.broker(r.broker);
    b.timeouts++;
    b.timeoutApi = typeof r.apiName === 'string' ? r.apiName : '';
  }

  requestQueueSize(p: unknown): void {
    const r = p as Partial<RequestQueueSizePayload> | null;
    if (r === null || typeof r !== 'object' || typeof r.broker !== 'string' || typeof r.queueSize !== 'number') return;
    const b = this.broker(r.broker);
    b.queueNow = r.queueSize;
    if (r.queueSize > b.queueMax) b.queueMax = r.queueSize;
    this.queueSeen = true;
  }

  connect(): void {
    this.connects++;
    this.connected = true;
  }

  disconnect(): void {
    this.disconnects++;
    this.connected = false;
    this.inGroup = false;
  }

  stop(): void {
    this.stops++;
    this.inGroup = false;
  }

  /** producer.send / sendBatch resolved. */
  sendOk(records: number, ms: number): void {
    this.sendsOk++;
    this.lastSendOk = true;
    this.recordsOk += records;
    this.sendMsSum += ms;
    if (ms > this.sendMsMax) this.sendMsMax = ms;
  }

  /** producer.send / sendBatch rejected. */
  sendFailed(error: unknown, topic: string): void {
    this.lastSendOk = false;
    const f = errorFacts(error);
    if (f.broker !== undefined) {
      const b = this.broker(f.broker);
      b.failures++;
      b.failError = f;
      b.failTopic = topic;
    } else {
      this.sendFailures++;
      this.sendFailError = f;
      this.sendFailTopic = topic;
    }
  }

  heartbeat(at: number): void {
    this.heartbeats++;
    this.lastHeartbeatAt = at;
  }

  commitOffsets(p: unknown): void {
    this.commits++;
    const topics = (p as { topics?: unknown } | null)?.topics;
    if (Array.isArray(topics)) {
      for (const t of topics) {
        const parts = (t as { partitions?: unknown } | null)?.partitions;
        if (Array.isArray(parts)) this.committedPartitions += parts.length;
      }
    }
  }

  groupJoin(p: unknown, at: number): void {
    const j = p as Partial<GroupJoinPayload> | null;
    if (j === null || typeof j !== 'object') return;
    this.joins++;
    this.joinsTotal++;
    this.lastJoin = j as GroupJoinPayload;
    if (typeof j.groupId === 'string') this.group = j.groupId;
    if (typeof j.memberId === 'string') this.memberId = j.memberId;
    this.inGroup = true;
    this.lastHeartbeatAt = at;
    // A new assignment: lags of partitions this member no longer has would be stale.
    this.lags.clear();
  }

  rebalancing(p: unknown): void {
    this.rebalancings++;
    this.inGroup = false;
    const r = p as { groupId?: unknown; memberId?: unknown } | null;
    if (typeof r?.groupId === 'string') this.group = r.groupId;
    if (typeof r?.memberId === 'string') this.memberId = r.memberId;
  }

  batch(p: unknown, end: boolean): void {
    const b = p as Partial<BatchProcessPayload> | null;
    if (b === null || typeof b !== 'object' || typeof b.topic !== 'string') return;
    const lag = Number(b.offsetLag);
    if (Number.isFinite(lag)) {
      const key = `${b.topic}\u0000${b.partition}`;
      const e = this.lags.get(key);
      if (e !== undefined) e.lag = Math.max(0, lag);
      else if (this.lags.size < MAX_LAG_PARTITIONS) this.lags.set(key, { topic: b.topic, partition: Number(b.partition), lag: Math.max(0, lag) });
      this.lagUpdated = true;
    }
    if (end) {
      this.batches++;
      if (typeof b.duration === 'number') this.batchMsSum += b.duration;
    }
  }

  crash(p: unknown, at: number): void {
    this.crashCount++;
    this.inGroup = false;
    this.crashedSinceJoin = true;
    if (this.crashes.length < MAX_CRASHES_KEPT) this.crashes.push({ at, payload: (p ?? {}) as CrashPayload });
  }

  // --- collect: about once a second, off the service's hot path --------------------------------

  /** True when nothing at all happened since the last collect and there is nothing to judge. */
  private quiet(): boolean {
    return !this.connected && this.connects === 0 && this.stops === 0 && this.disconnects === 0 && this.sendsOk === 0 && this.sendFailures === 0
      && this.crashes.length === 0 && this.joins === 0 && this.rebalancings === 0 && this.commits === 0 && !this.lagUpdated && this.brokers.size === 0;
  }

  /** True once the client disconnected and everything it said has been collected. */
  get finished(): boolean {
    return !this.connected && this.quiet();
  }

  /**
   * Signals for what happened since the last collect. `reading` also takes a reading of the
   * series the translator judges (latency, request queue, lag, rebalances).
   */
  collect(now: number, reading: boolean, env: CollectEnv): Signal[] {
    const out: Signal[] = [];
    if (this.quiet()) return out;
    this.name ??= env.claim(this.role, this.wantedName ?? this.seenClientId ?? 'kafkajs', this);
    const subject = entity.client(env.service, env.pod, this.role, this.name);
    const base: Record<string, string> = { ...env.context, 'client-id': this.name };
    if (this.group !== undefined && this.role === 'consumer') base.group = this.group;

    if (this.connects > 0) out.push(signal(subjectOf(subject, ASPECT.connection), service(Service_Sign.START), { ...base, event: 'connect' }, now));
    this.recover(now, subject, base, env, out);
    if (this.role === 'consumer') this.collectConsumer(now, reading, subject, base, env, out);
    if (this.role === 'producer') this.collectSends(now, subject, base, env, out);
    this.collectBrokers(now, reading, subject, base, env, out);
    if (this.stops > 0) out.push(signal(subjectOf(subject, ASPECT.connection), service(Service_Sign.STOP), { ...base, event: 'stop' }, now));
    if (this.disconnects > 0) out.push(signal(subjectOf(subject, ASPECT.connection), service(Service_Sign.STOP), { ...base, event: 'disconnect' }, now));
    this.connects = this.stops = this.disconnects = 0;
    return out;
  }

  private brokerContext(b: BrokerStats, env: CollectEnv, base: Record<string, string>): Record<string, string> {
    const node = env.nodeOf(b.address);
    return node === undefined ? { ...base, broker: b.address } : { ...base, 'node-id': node, broker: b.address };
  }

  private collectSends(now: number, subject: string, base: Record<string, string>, env: CollectEnv, out: Signal[]): void {
    let failed = this.sendFailures;
    for (const b of this.brokers.values()) failed += b.failures;
    if (failed > 0) {
      const c: Record<string, string> = { event: 'send', sends: String(this.sendsOk + failed), succeeded: String(this.sendsOk) };
      for (const b of this.brokers.values()) {
        if (b.failures === 0) continue;
        out.push(signal(subjectOf(subject, ASPECT.sends), service(Service_Sign.FAIL), { ...this.brokerContext(b, env, base), ...c, failed: String(b.failures), ...errorContext(b.failError, b.failTopic) }, now));
        b.troubled = true;
        b.failures = 0;
        b.failError = undefined;
      }
      if (this.sendFailures > 0) {
        out.push(signal(subjectOf(subject, ASPECT.sends), service(Service_Sign.FAIL), { ...base, ...c, failed: String(this.sendFailures), ...errorContext(this.sendFailError, this.sendFailTopic) }, now));
        this.sendFailures = 0;
        this.sendFailError = undefined;
      }
      this.lastSendOutcome = 'fail';
      // Sends that succeeded after the last failure: the client works again, say so now.
      if (!this.lastSendOk) {
        this.resetSendSuccesses();
        return;
      }
    }
    if (this.sendsOk > 0 && (this.lastSendOutcome !== 'success' || now - this.lastSendSuccessAt >= this.settings.successEveryMs)) {
      const c: Record<string, string> = { event: 'send', sends: String(this.sendsOk), records: String(this.recordsOk), 'send-ms-avg': fmt(this.sendMsSum / this.sendsOk), 'send-ms-max': fmt(this.sendMsMax) };
      out.push(signal(subjectOf(subject, ASPECT.sends), service(Service_Sign.SUCCESS), { ...base, ...c }, now));
      this.lastSendOutcome = 'success';
      this.lastSendSuccessAt = now;
      this.resetSendSuccesses();
    }
  }

  private resetSendSuccesses(): void {
    this.sendsOk = this.recordsOk = this.sendMsSum = this.sendMsMax = 0;
  }

  /**
   * Brokers named in a FAIL or EXPIRE (streams of their own at the aggregator, by node-id) that
   * answered requests since without a timeout or failure: a SUCCESS for each, so they heal.
   */
  private recover(now: number, subject: string, base: Record<string, string>, env: CollectEnv, out: Signal[]): void {
    for (const b of this.brokers.values()) {
      if (!b.troubled || b.requests === 0 || b.timeouts > 0 || b.failures > 0) continue;
      out.push(signal(subjectOf(subject, ASPECT.requests), service(Service_Sign.SUCCESS), { ...this.brokerContext(b, env, base), event: 'request', recovered: 'true', requests: String(b.requests) }, now));
      b.troubled = false;
    }
  }

  private collectBrokers(now: number, reading: boolean, subject: string, base: Record<string, string>, env: CollectEnv, out: Signal[]): void {
    for (const b of this.brokers.values()) {
      if (b.timeouts === 0) continue;
      out.push(signal(subjectOf(subject, ASPECT.requests), service(Service_Sign.EXPIRE), { ...this.brokerContext(b, env, base), event: 'request_timeout', api: b.timeoutApi, count: String(b.timeouts) }, now));
      b.troubled = true;
    }
    if (reading) {
      let queueMax = -1;
      let queueBroker: BrokerStats | undefined;
      for (const [address, b] of this.brokers) {
        if (b.n > 0) {
          const node = env.nodeOf(address);
          const context: Record<string, string> = { ...this.brokerContext(b, env, base), node: node ?? address, requests: String(b.n), 'max-ms': fmt(b.max) };
          if (b.pendingSum > 0) {
            context['pending-ms-avg'] = fmt(b.pendingSum / b.n);
            context['pending-ms-max'] = fmt(b.pendingMax);
          }
          for (const s of env.translator.observe({ metric: METRICS.requestLatency, entity: subject, value: b.sum / b.n, atMs: now, context })) out.push(s);
        }
        if (this.queueSeen && b.queueMax > queueMax) {
          queueMax = b.queueMax;
          queueBroker = b;
        }
        const heard = b.requests > 0 || b.n > 0 || b.timeouts > 0 || b.queueMax > 0;
        b.idle = heard ? 0 : b.idle + 1;
        b.n = b.sum = b.max = b.pendingSum = b.pendingMax = 0;
        b.queueMax = b.queueNow;
      }
      if (queueBroker !== undefined) {
        for (const s of env.translator.observe({ metric: METRICS.requestQueue, entity: subject, value: queueMax, atMs: now, context: this.brokerContext(queueBroker, env, base) })) out.push(s);
      }
      for (const [address, b] of this.brokers) if (b.idle >= 10 && (!b.troubled || !this.connected) && b.queueNow === 0) this.brokers.delete(address);
    }
    for (const b of this.brokers.values()) {
      b.requests = 0;
      b.timeouts = 0;
    }
  }

  private forgetOneBroker(): void {
    let victim: string | undefined;
    let idle = -1;
    for (const [address, b] of this.brokers) {
      if (b.idle > idle) {
        idle = b.idle;
        victim = address;
      }
    }
    if (victim !== undefined) this.brokers.delete(victim);
  }

  private collectConsumer(now: number, reading: boolean, subject: string, base: Record<string, string>, env: CollectEnv, out: Signal[]): void {
    for (const c of this.crashes) {
      const f = errorFacts(c.payload.error);
      out.push(signal(subjectOf(subject, ASPECT.crashes), service(Service_Sign.FAIL), { ...base, event: 'crash', restart: String(c.payload.restart === true), 'error-type': f.type, error: f.message, crashes: String(this.crashCount) }, c.at));
    }
    this.crashes = [];
    if (this.rebalancings > 0) {
      out.push(signal(subjectOf(subject, ASPECT.membership), service(Service_Sign.SUSPEND), { ...base, event: 'rebalancing', 'member-id': this.memberId, count: String(this.rebalancings), ...this.heartbeatAge(now) }, now));
      this.rebalancings = 0;
      this.observedRebalances = true;
    }
    if (this.joins > 0) {
      const j = this.lastJoin;
      let partitions = 0;
      const assignment = j?.memberAssignment;
      if (assignment !== null && typeof assignment === 'object') {
        for (const ps of Object.values(assignment)) if (Array.isArray(ps)) partitions += ps.length;
      }
      const context: Record<string, string> = { ...base, event: 'group_join', 'member-id': this.memberId, leader: String(j?.isLeader === true), partitions: String(partitions), joins: String(this.joinsTotal) };
      if (typeof j?.duration === 'number') context['duration-ms'] = fmt(j.duration);
      out.push(signal(subjectOf(subject, ASPECT.membership), resource(Resource_Sign.GRANT, partitions), context, now));
      if (this.crashedSinceJoin) {
        out.push(signal(subjectOf(subject, ASPECT.crashes), service(Service_Sign.SUCCESS), { ...base, event: 'recovered', 'member-id': this.memberId }, now));
        this.crashedSinceJoin = false;
      }
      if (typeof j?.duration === 'number') {
        for (const s of env.translator.observe({ metric: METRICS.rebalanceLatency, entity: subject, value: j.duration, atMs: now, context: { ...base } })) out.push(s);
      }
      this.joins = 0;
      this.observedRebalances = true;
    }
    // Heartbeats: a member in a group that stops heartbeating is about to be thrown out of it.
    if (this.inGroup && !this.stalled && now - this.lastHeartbeatAt > this.settings.heartbeatStallMs) {
      this.stalled = true;
      out.push(signal(subjectOf(subject, ASPECT.heartbeat), resource(Resource_Sign.TIMEOUT, 0), { ...base, metric: 'heartbeat-age-ms', value: fmt(now - this.lastHeartbeatAt), 'member-id': this.memberId }, now));
    } else if (this.stalled && (now - this.lastHeartbeatAt <= this.settings.heartbeatStallMs || !this.inGroup)) {
      this.stalled = false;
      out.push(signal(subjectOf(subject, ASPECT.heartbeat), resource(Resource_Sign.GRANT, 1), { ...base, metric: 'heartbeat-age-ms', value: fmt(Math.max(0, now - this.lastHeartbeatAt)), 'member-id': this.memberId }, now));
    }
    if (this.commits > 0 && now - this.lastCommitSignalAt >= this.settings.successEveryMs) {
      out.push(signal(subjectOf(subject, ASPECT.commits), service(Service_Sign.SUCCESS), { ...base, event: 'commit_offsets', commits: String(this.commits), partitions: String(this.committedPartitions) }, now));
      this.commits = this.committedPartitions = 0;
      this.lastCommitSignalAt = now;
    }
    if (!reading) return;
    if (this.lagUpdated) {
      let worst: LagEntry | undefined;
      for (const e of this.lags.values()) if (worst === undefined || e.lag > worst.lag) worst = e;
      if (worst !== undefined) {
        const context: Record<string, string> = { ...base, lag: String(worst.lag), topic: worst.topic, partition: String(worst.partition), partitions: String(this.lags.size) };
        if (this.batches > 0) {
          context.batches = String(this.batches);
          context['batch-ms-avg'] = fmt(this.batchMsSum / this.batches);
        }
        for (const s of env.translator.observe({ metric: METRICS.lag, entity: subject, value: worst.lag, atMs: now, context })) out.push(s);
      }
      this.lagUpdated = false;
      this.batches = this.batchMsSum = 0;
    }
    if (this.observedRebalances || this.connected) {
      for (const s of env.translator.observe({ metric: METRICS.rebalances, entity: subject, value: this.joinsTotal, atMs: now, context: { ...base } })) out.push(s);
    }
  }

  private heartbeatAge(now: number): Record<string, string> {
    return this.heartbeats > 0 ? { 'heartbeat-age-ms': fmt(Math.max(0, now - this.lastHeartbeatAt)) } : {};
  }
}

function errorContext(f: ErrorFacts | undefined, topic: string): Record<string, string> {
  const c: Record<string, string> = {};
  if (f !== undefined) {
    c['error-type'] = f.type;
    c.error = f.message;
  }
  if (topic !== '') c.topic = topic;
  return c;
}
