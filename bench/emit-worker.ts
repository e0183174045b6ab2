// Bench worker: drives an agent through its local gRPC intake (kafkaobs.v1.LocalAgent/Emit) at a
// paced rate, and (optionally) subscribes to the aggregator in the same process so the send time
// stamped into each signal (context "t0", process.hrtime in ns) and the arrival time share a clock.
// The subscriber reads SubscribeBatches (what a consumer of a busy stream uses: one message per
// group of events); `batches: false` reads Subscribe, one message per event.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ChannelCredentials, Client, Metadata, credentials, type ClientReadableStream } from '@grpc/grpc-js';
import { createChannel, createClient, type Channel } from 'nice-grpc';
import {
  Event,
  EventBatch,
  EventKind,
  LocalAgentDefinition,
  Queue_Sign,
  SubscribeRequest,
  directDefinition,
  type Signal,
} from '../proto/index.js';
import { nowMs, percentile, serveIpc, sleep } from './common.js';

export interface EmitArgs {
  /** host:port of the agent's LocalAgent gRPC intake. */
  agentAddress: string;
  rate: number;
  warmupMs: number;
  durationMs: number;
  /** Most signals per Emit call. */
  batch: number;
  /** Most Emit calls awaiting their reply. */
  maxInFlight: number;
  /** Subject prefix of the signals (and of the subscription). */
  subjectPrefix: string;
  /** How long to wait after the last send for deliveries still on their way. */
  drainMs: number;
}

export interface EmitResult {
  /** Signals handed to Emit during the measured window / its length. */
  achievedRate: number;
  sent: number;
  sentMeasured: number;
  accepted: number;
  rejected: number;
  firstRejection: string;
  droppedByAgent: number;
  emitErrors: number;
  firstError: string;
  /** Times (after warm-up) the driver could not send what was due because maxInFlight calls were open. */
  stalls: number;
  delivered: number;
  deliveredMeasured: number;
  subscriberGaps: number;
  latencyMs?: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number; n: number };
  /** Split at the aggregator's event time (its wall clock, ms resolution): driver->aggregator, aggregator->subscriber. */
  toAggregatorMs?: { p50: number; p99: number; max: number };
  toSubscriberMs?: { p50: number; p99: number; max: number };
  /** Emit call to its reply, as the driver sees it. */
  emitRttMs: { p50: number; p99: number; max: number };
  /** The driver process's own event-loop delay during the run (beyond the 1 ms sampling). */
  driverLoopMs: { p50: number; p99: number; max: number };
}

const wallMs = (): number => performance.timeOrigin + performance.now();

let subClient: Client | undefined;
let subCall: ClientReadableStream<Event[]> | undefined;
let subCancelled = false;
let subError = '';
let delivered = 0;
let deliveredMeasured = 0;
let subscriberGaps = 0;
let measureFrom = 0n; // hrtime ns: signals sent before it are warm-up
let latencies: number[] = [];
let toAgg: number[] = [];
let toSub: number[] = [];

function received(events: Event[]): void {
  const now = process.hrtime.bigint();
  const wall = wallMs();
  for (const e of events) {
    if (e.gap) {
      subscriberGaps++;
      continue;
    }
    const t0 = e.signal?.context.t0;
    if (!t0) continue;
    delivered++;
    const sentAt = BigInt(t0);
    if (measureFrom !== 0n && sentAt >= measureFrom) {
      deliveredMeasured++;
      latencies.push(Number(now - sentAt) / 1e6);
      const tw = Number(e.signal!.context.tw);
      const at = Number(e.time) / 1e6;
      toAgg.push(at - tw);
      toSub.push(wall - at);
    }
  }
}

function subscribe(a: { aggregatorAddress: string; subjectPrefix: string; batches?: boolean }): void {
  subClient = new Client(a.aggregatorAddress, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  const req = SubscribeRequest.encode({ kinds: [EventKind.SIGNAL], subjectPrefix: a.subjectPrefix }).finish();
  const batches = a.batches ?? true;
  subCall = subClient.makeServerStreamRequest<Uint8Array, Event[]>(
    batches ? '/kafkaobs.v1.SignalAggregator/SubscribeBatches' : '/kafkaobs.v1.SignalAggregator/Subscribe',
    () => Buffer.from(req),
    batches ? (b: Buffer) => EventBatch.decode(b).events : (b: Buffer) => [Event.decode(b)],
    req,
    new Metadata(),
  );
  subCall.on('data', received);
  subCall.on('error', (e: Error) => {
    if (!subCancelled) subError ||= e.message;
  });
}

let channel: Channel | undefined;

async function run(a: EmitArgs): Promise<EmitResult> {
  channel ??= createChannel(a.agentAddress, ChannelCredentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  const client = createClient(directDefinition(LocalAgentDefinition), channel);
  const r: EmitResult = {
    achievedRate: 0, sent: 0, sentMeasured: 0, accepted: 0, rejected: 0, firstRejection: '', droppedByAgent: 0,
    emitErrors: 0, firstError: '', stalls: 0, delivered: 0, deliveredMeasured: 0, subscriberGaps: 0,
    emitRttMs: { p50: NaN, p99: NaN, max: NaN }, driverLoopMs: { p50: NaN, p99: NaN, max: NaN },
  };
  delivered = 0;
  deliveredMeasured = 0;
  latencies = [];
  toAgg = [];
  toSub = [];
  measureFrom = 0n;
  let inFlight = 0;
  const rtts: number[] = [];
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const pending = new Set<Promise<void>>();
  let k = 0;

  const emit = (n: number): void => {
    const t0 = process.hrtime.bigint();
    const tw = wallMs().toFixed(3);
    const ts = BigInt(Date.now()) * 1_000_000n;
    const signals: Signal[] = [];
    for (let i = 0; i < n; i++, k++) {
      signals.push({
        sourceId: '',
        seq: 0n,
        subject: `${a.subjectPrefix}/pod/lat-0/producer/p-${k % 20}`,
        timestamp: ts,
        queue: { sign: Queue_Sign.ENQUEUE, units: 100 + (k % 900) },
        context: { t0: t0.toString(), tw, topic: `orders-events-${k % 5}` },
        clock: {},
      });
    }
    inFlight++;
    const p = client.emit({ signals }).then(
      (reply) => {
        if (measureFrom !== 0n && t0 >= measureFrom) rtts.push(Number(process.hrtime.bigint() - t0) / 1e6);
        r.accepted += reply.accepted;
        r.droppedByAgent += reply.dropped;
        if (reply.rejections.length > 0) {
          r.rejected += reply.rejections.length;
          r.firstRejection ||= reply.rejections[0]!.reason;
        }
      },
      (e: Error) => {
        r.emitErrors++;
        r.firstError ||= e.message;
      },
    ).finally(() => {
      inFlight--;
      pending.delete(p);
    });
    pending.add(p);
  };

  // Connect before the clock starts: the first call otherwise waits for the connection.
  await client.emit({ signals: [] });
  loop.enable();
  const start = process.hrtime.bigint();
  const totalNs = BigInt(a.warmupMs + a.durationMs) * 1_000_000n;
  const warmNs = BigInt(a.warmupMs) * 1_000_000n;
  let sentAtMeasureStart = -1;
  let measureStartNs = 0n;
  for (;;) {
    const now = process.hrtime.bigint();
    const elapsed = now - start;
    if (elapsed >= totalNs) break;
    if (sentAtMeasureStart < 0 && elapsed >= warmNs) {
      sentAtMeasureStart = r.sent;
      measureStartNs = now;
      measureFrom = now;
      loop.reset();
    }
    let due = Math.floor((Number(elapsed) / 1e9) * a.rate) - r.sent;
    while (due > 0) {
      if (inFlight >= a.maxInFlight) {
        if (measureFrom !== 0n) r.stalls++;
        break;
      }
      const n = Math.min(due, a.batch);
      emit(n);
      r.sent += n;
      due -= n;
    }
    await sleep(1);
  }
  const endNs = process.hrtime.bigint();
  loop.disable();
  const late = (ns: number): number => Math.max(0, ns / 1e6 - 1);
  r.driverLoopMs = { p50: late(loop.percentile(50)), p99: late(loop.percentile(99)), max: late(loop.max) };
  r.sentMeasured = r.sent - Math.max(0, sentAtMeasureStart);
  r.achievedRate = r.sentMeasured / (Number(endNs - measureStartNs) / 1e9);
  // Let the last Emit calls answer and the last signals arrive.
  const deadline = Date.now() + a.drainMs;
  while (Date.now() < deadline && (pending.size > 0 || (subCall && delivered < r.accepted))) await sleep(20);
  {
    const s = Float64Array.from(rtts).sort();
    r.emitRttMs = { p50: percentile(s, 50), p99: percentile(s, 99), max: s.length ? s[s.length - 1]! : NaN };
  }
  r.delivered = delivered;
  r.deliveredMeasured = deliveredMeasured;
  r.subscriberGaps = subscriberGaps;
  if (subCall) {
    const sorted = Float64Array.from(latencies).sort();
    let sum = 0;
    for (const v of sorted) sum += v;
    r.latencyMs = {
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      p999: percentile(sorted, 99.9),
      max: sorted.length ? sorted[sorted.length - 1]! : NaN,
      mean: sorted.length ? sum / sorted.length : NaN,
      n: sorted.length,
    };
    const pct = (xs: number[]) => {
      const s = Float64Array.from(xs).sort();
      return { p50: percentile(s, 50), p99: percentile(s, 99), max: s.length ? s[s.length - 1]! : NaN };
    };
    r.toAggregatorMs = pct(toAgg);
    r.toSubscriberMs = pct(toSub);
  }
  if (subError) r.firstError ||= `subscriber: ${subError}`;
  return r;
}

serveIpc({
  subscribe,
  run,
  snap: () => ({ t: nowMs(), delivered, subscriberGaps, subError }),
  stop() {
    subCancelled = true;
    subCall?.cancel();
    subClient?.close();
    channel?.close();
    return {};
  },
});
