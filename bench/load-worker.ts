// Bench worker (forked by bench/run.ts). Two roles:
//   load       simulates N agents, each on its own gRPC channel (own TCP connection) with one
//              StreamSignals stream, writing pre-encoded batches and keeping a bounded number of
//              unacknowledged batches in flight.
//   subscribe  one Subscribe stream to everything; counts events, gaps, and offset holes.
import { setMaxListeners } from 'node:events';
import { ChannelCredentials, Client, Metadata, credentials, type ClientReadableStream } from '@grpc/grpc-js';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { createChannel, createClient, type Channel } from 'nice-grpc';
import {
  Ack,
  EventKind,
  Gap,
  Queue_Sign,
  Signal,
  Status_Condition,
  Status_Confidence,
  SubscribeRequest,
} from '../proto/index.js';
import { nowMs, positionsOf, serveIpc, varintBytes, writeVarint8 } from './common.js';

const role = process.argv[2];

// ---------------------------------------------------------------------------------------------
// load

export interface LoadArgs {
  address: string;
  agents: number;
  /** Global index of this worker's first agent (so source ids are unique across workers). */
  agentBase: number;
  batchSize: number;
  maxInFlight: number;
  subjectsPerAgent: number;
}

export interface LoadSnap {
  t: number;
  batchesSent: number;
  signalsSent: number;
  acks: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  firstRejection: string;
  streamErrors: number;
  firstError: string;
  streamsEnded: number;
  bytesPerSignal: number;
}

/** 2^49: every seq from here to 2^56 is an 8-byte varint, so seqs can be patched in place. */
const SEQ_BASE = 2 ** 49;
/** Distinct sentinel values used to find where to patch in the encoded templates. */
const SEQ_SENTINEL = SEQ_BASE + 0x5a5a5a5;
const TS_SENTINEL = 1_700_000_000_123_456_789n; // 9-byte varint, like every current unix-nanos time
const TEMPLATES = 4;

interface Template {
  bytes: Buffer;
  /** Two per signal: the seq field and the agent's own clock entry. */
  seqPos: number[];
  tsPos: number[];
}

/** The signals an agent sends: ~20 subjects, mostly steady queue/status signs, one PRESSURE per batch. */
function buildTemplates(g: number, batchSize: number, subjectsPerAgent: number): Template[] {
  const sourceId = `bench-agent-${g}`;
  const subjects = Array.from({ length: subjectsPerAgent }, (_, j) => `service/svc-${g % 10}/pod/pod-${g}/producer/p-${j}`);
  const seqNeedle = varintBytes(BigInt(SEQ_SENTINEL));
  const tsNeedle = varintBytes(TS_SENTINEL);
  const out: Template[] = [];
  for (let t = 0; t < TEMPLATES; t++) {
    const signals: Signal[] = [];
    for (let i = 0; i < batchSize; i++) {
      const j = i % subjectsPerAgent;
      const s: Signal = {
        sourceId,
        seq: BigInt(SEQ_SENTINEL),
        subject: subjects[j]!,
        timestamp: TS_SENTINEL,
        context: { 'client-id': `producer-${g}-${j}`, topic: `orders-events-${j % 5}` },
        clock: { [sourceId]: BigInt(SEQ_SENTINEL) },
      };
      if (i === (t * 37 + 11) % batchSize) s.queue = { sign: Queue_Sign.PRESSURE, units: 85 }; // a cell turns DIVERGING, then back
      else if (i % 5 === 4) s.status = { condition: Status_Condition.STABLE, confidence: Status_Confidence.MEASURED };
      else s.queue = { sign: Queue_Sign.ENQUEUE, units: 100 + ((i * 7) % 900) };
      signals.push(s);
    }
    const enc = Buffer.from(encodeBatch(signals));
    const seqPos = positionsOf(enc, seqNeedle);
    const tsPos = positionsOf(enc, tsNeedle);
    if (seqPos.length !== 2 * batchSize || tsPos.length !== batchSize) {
      throw new Error(`template layout unexpected: ${seqPos.length} seq and ${tsPos.length} timestamp positions for ${batchSize} signals`);
    }
    out.push({ bytes: enc, seqPos, tsPos });
  }
  return out;
}

function encodeBatch(signals: Signal[]): Uint8Array {
  // SignalBatch { repeated Signal signals = 1; }
  const parts: Uint8Array[] = [];
  for (const s of signals) {
    const body = Signal.encode(s).finish();
    parts.push(Uint8Array.of(0x0a), varintBytes(BigInt(body.length)), body);
  }
  return Buffer.concat(parts);
}

/** StreamSignals taking pre-encoded SignalBatch bytes (the aggregator decodes them as usual). */
const rawStreamSignals = {
  streamSignals: {
    path: '/kafkaobs.v1.SignalAggregator/StreamSignals',
    requestStream: true,
    responseStream: true,
    requestSerialize: (b: Uint8Array) => b,
    requestDeserialize: (b: Uint8Array) => b,
    responseSerialize: (a: Ack) => Ack.encode(a).finish(),
    responseDeserialize: (b: Uint8Array) => Ack.decode(b),
    options: {},
  },
} as const;

function runLoad() {
  const snap: LoadSnap = {
    t: 0, batchesSent: 0, signalsSent: 0, acks: 0, accepted: 0, duplicates: 0, rejected: 0, firstRejection: '',
    streamErrors: 0, firstError: '', streamsEnded: 0, bytesPerSignal: 0,
  };
  let stopping = false;
  // Ack latency: per batch, from its write to its ack (one ack per batch: one source per batch).
  let latencies: number[] = [];
  const channels: Channel[] = [];
  const running: Promise<void>[] = [];
  const wakers = new Set<() => void>();
  const abort = new AbortController();
  setMaxListeners(0, abort.signal); // one listener per stream

  async function agent(g: number, a: LoadArgs): Promise<void> {
    const templates = buildTemplates(g, a.batchSize, a.subjectsPerAgent);
    if (snap.bytesPerSignal === 0) snap.bytesPerSignal = templates[0]!.bytes.length / a.batchSize;
    // A local subchannel pool: without it grpc-js shares one connection between channels to the same target.
    const channel = createChannel(a.address, ChannelCredentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    channels.push(channel);
    const client = createClient(rawStreamSignals, channel);
    let inFlight = 0;
    const sentAt: number[] = [];
    let wake: (() => void) | undefined;
    let nextSeq = SEQ_BASE + 1;
    let n = 0;
    const tsBytes = new Uint8Array(9);

    async function* batches(): AsyncGenerator<Uint8Array> {
      while (!stopping) {
        while (inFlight >= a.maxInFlight && !stopping) {
          await new Promise<void>((r) => {
            wake = r;
            wakers.add(r);
          });
        }
        if (stopping) return;
        const tpl = templates[n++ % TEMPLATES]!;
        const buf = Buffer.from(tpl.bytes);
        const ts = varintBytes(BigInt(Date.now()) * 1_000_000n);
        tsBytes.set(ts);
        for (const p of tpl.tsPos) buf.set(tsBytes, p);
        const sp = tpl.seqPos;
        for (let k = 0; k < a.batchSize; k++) {
          const seq = nextSeq + k;
          writeVarint8(buf, sp[2 * k]!, seq);
          writeVarint8(buf, sp[2 * k + 1]!, seq);
        }
        nextSeq += a.batchSize;
        inFlight++;
        sentAt.push(performance.now());
        snap.batchesSent++;
        snap.signalsSent += a.batchSize;
        yield buf;
      }
    }

    try {
      for await (const ack of client.streamSignals(batches(), { signal: abort.signal })) {
        inFlight--;
        const t = sentAt.shift();
        if (t !== undefined && latencies.length < 2_000_000) latencies.push(performance.now() - t);
        snap.acks++;
        snap.accepted += ack.accepted;
        snap.duplicates += ack.duplicates;
        if (ack.rejections.length > 0) {
          snap.rejected += ack.rejections.length;
          snap.firstRejection ||= ack.rejections[0]!.reason;
        }
        if (wake) {
          const w = wake;
          wake = undefined;
          wakers.delete(w);
          w();
        }
      }
      snap.streamsEnded++;
    } catch (e) {
      if (!abort.signal.aborted) {
        snap.streamErrors++;
        snap.firstError ||= (e as Error).message;
      }
    }
  }

  serveIpc({
    start(a: LoadArgs) {
      for (let i = 0; i < a.agents; i++) running.push(agent(a.agentBase + i, a));
      return {};
    },
    snap(): LoadSnap {
      return { ...snap, t: nowMs() };
    },
    resetLatency() {
      latencies = [];
      return {};
    },
    latency(): { n: number; p50: number; p99: number; max: number } {
      const l = Float64Array.from(latencies).sort();
      const at = (p: number): number => (l.length ? l[Math.min(l.length - 1, Math.ceil((p / 100) * l.length) - 1)]! : NaN);
      return { n: l.length, p50: at(50), p99: at(99), max: l.length ? l[l.length - 1]! : NaN };
    },
    async stop(): Promise<LoadSnap> {
      stopping = true;
      for (const w of wakers) w();
      wakers.clear();
      // Streams end once their in-flight batches are acknowledged; cut them off after a while.
      const timer = setTimeout(() => abort.abort(), 5000);
      await Promise.allSettled(running);
      clearTimeout(timer);
      for (const c of channels) c.close();
      return { ...snap, t: nowMs() };
    },
  });
}

// ---------------------------------------------------------------------------------------------
// subscribe

export interface SubscribeArgs {
  address: string;
  kinds: EventKind[];
  subjectPrefix: string;
  /** Use SubscribeBatches (several events per message) instead of Subscribe. */
  batches: boolean;
}

export interface SubscribeSnap {
  t: number;
  events: number;
  signals: number;
  cellChanges: number;
  gaps: number;
  /** Sum of `missed` over gap events. */
  gapMissed: number;
  /** Offsets skipped without a gap event saying so (only meaningful with no filters). */
  silentHoles: number;
  lastOffset: number;
  ended: boolean;
  error: string;
}

/** Reads only what is needed from an encoded Event: its offset, which payload, and a gap's numbers. */
function scanEvent(b: Uint8Array): { offset: number; kind: number; gap?: Gap } {
  const r = new BinaryReader(b);
  let offset = 0;
  let kind = 0;
  let gap: Gap | undefined;
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === 0) offset = Number(r.uint64());
    else if (wire === 2 && (field === 10 || field === 11 || field === 12)) {
      const len = r.uint32();
      kind = field;
      if (field === 12) gap = Gap.decode(b.subarray(r.pos, r.pos + len));
      r.pos += len;
    } else r.skip(wire);
  }
  return { offset, kind, gap };
}

function runSubscribe() {
  const snap: SubscribeSnap = { t: 0, events: 0, signals: 0, cellChanges: 0, gaps: 0, gapMissed: 0, silentHoles: 0, lastOffset: 0, ended: false, error: '' };
  let client: Client | undefined;
  let call: ClientReadableStream<Uint8Array> | undefined;
  let cancelled = false;

  serveIpc({
    subscribe(a: SubscribeArgs) {
      client = new Client(a.address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': 16 * 1024 * 1024, 'grpc-node.flow_control_window': 8 * 1024 * 1024 });
      const req = SubscribeRequest.encode({ kinds: a.kinds, subjectPrefix: a.subjectPrefix }).finish();
      call = client.makeServerStreamRequest<Uint8Array, Uint8Array>(
        a.batches ? '/kafkaobs.v1.SignalAggregator/SubscribeBatches' : '/kafkaobs.v1.SignalAggregator/Subscribe',
        () => Buffer.from(req),
        (b: Buffer) => b,
        req,
        new Metadata(),
      );
      const onEvent = (b: Uint8Array) => {
        const e = scanEvent(b);
        snap.events++;
        if (e.kind === 10) snap.signals++;
        else if (e.kind === 11) snap.cellChanges++;
        else if (e.kind === 12) {
          snap.gaps++;
          snap.gapMissed += Number(e.gap?.missed ?? 0n);
        }
        // A gap event carries offset first-1, so the next event follows it without a hole.
        if (snap.lastOffset !== 0 && e.kind !== 12 && e.offset !== snap.lastOffset + 1) snap.silentHoles += Math.max(0, e.offset - snap.lastOffset - 1);
        snap.lastOffset = e.offset;
      };
      call.on('data', (b: Uint8Array) => {
        if (!a.batches) return onEvent(b);
        // EventBatch: field 1, repeated Event.
        const r = new BinaryReader(b);
        while (r.pos < r.len) {
          const tag = r.uint32();
          if (tag >>> 3 === 1 && (tag & 7) === 2) {
            const len = r.uint32();
            onEvent(b.subarray(r.pos, r.pos + len));
            r.pos += len;
          } else r.skip(tag & 7);
        }
      });
      call.on('error', (e: Error & { code?: number }) => {
        if (!cancelled) snap.error ||= e.message;
      });
      call.on('end', () => {
        snap.ended = true;
      });
      return {};
    },
    snap(): SubscribeSnap {
      return { ...snap, t: nowMs() };
    },
    stop(): SubscribeSnap {
      cancelled = true;
      call?.cancel();
      client?.close();
      return { ...snap, t: nowMs() };
    },
  });
}

if (role === 'load') runLoad();
else if (role === 'subscribe') runSubscribe();
else {
  process.stderr.write(`load-worker: unknown role "${role}" (load | subscribe)\n`);
  process.exit(2);
}
