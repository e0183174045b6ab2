// The SignalAggregator gRPC service: StreamSignals (agents in), Subscribe (events out), GetCell, ListNarratives.
import { ServerError, Status, type CallContext, type MethodDefinition } from 'nice-grpc';
import {
  Event,
  EventBatch,
  EventKind,
  ReplayRequest,
  Signal,
  SignalAggregatorDefinition,
  SignalBatch,
  directDefinition,
  nowNs,
  type Ack,
  type FederationAck,
  type FederationBatch,
  type Cell,
  type GetCellRequest,
  type ListNarrativesRequest,
  type ListNarrativesResponse,
  type SubscribeRequest,
} from '../proto/index.js';
import type { HierarchyManager } from '../hierarchy/manager.js';
import type { EventLog } from './event-log.js';
import type { Ingress } from './ingress.js';
import type { AggregatorMetrics } from './metrics.js';
import { followRaw, under, type SubscriptionFilter } from './subscription.js';
import { innerOf, indexEvents, readVarint } from './journal/codec.js';
import type { Journal } from './journal/journal.js';
import type { RawSignals } from './ingress.js';
import { BinaryReader } from '@bufbuild/protobuf/wire';

/** Batches of one stream ingested and waiting for their group commit, at most. */
const PIPELINE = 16;

/** Most events in one SubscribeBatches message (~1 MB: under the 4 MiB default receive limit of gRPC clients). */
const SUBSCRIBE_BATCH = 5000;
import type { Logger } from 'pino';
import type { IdentityContext } from './auth.js';
import { ANONYMOUS, SourcePermit, type Identity } from './identity.js';
import { FederationRefusal, type FederationUpstream } from './federation/upstream.js';

/** A frame that could not be read as a SignalBatch: carried as data so the stream can say why. */
const FRAME_PROBLEM = Symbol('frameProblem');
/** Each signal's bytes as they arrived: stored in the journal as they are. */
const RAW = Symbol('raw');
type CheckedBatch = SignalBatch & { [FRAME_PROBLEM]?: { reason: 'malformed_frame' | 'oversize_batch' | 'invalid_utf8'; message: string }; [RAW]?: RawSignals };

/** Invalid UTF-8 in a string field: where it is, so the refusal can say so. */
class InvalidUtf8 extends Error {
  constructor(readonly at: number) {
    super('invalid UTF-8');
  }
}
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The first byte of `b` that is not part of a well-formed UTF-8 sequence. */
export function invalidUtf8At(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    const n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n === 0 || i + n > b.length) return i;
    for (let k = 1; k < n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return i;
    // Overlong forms, surrogates and code points past U+10FFFF.
    if ((c === 0xe0 && b[i + 1]! < 0xa0) || (c === 0xed && b[i + 1]! > 0x9f) || (c === 0xf0 && b[i + 1]! < 0x90) || (c === 0xf4 && b[i + 1]! > 0x8f)) return i;
    i += n;
  }
  return -1;
}

/** Strings as UTF-8 or a refusal: never silently replaced with U+FFFD. */
function strictUtf8(b: Uint8Array): string {
  try {
    return utf8.decode(b);
  } catch {
    throw new InvalidUtf8(b.byteOffset + Math.max(0, invalidUtf8At(b)));
  }
}

/** Decodes a SignalBatch keeping where each signal's own bytes are (no copy, no view per signal). */
function decodeBatch(bytes: Uint8Array): CheckedBatch {
  const signals: Signal[] = [];
  const reader = new BinaryReader(bytes, strictUtf8);
  const n = bytes.length;
  const spans: number[] = [];
  while (reader.pos < n) {
    const tag = reader.uint32();
    if (tag === 0x0a) {
      const len = reader.uint32();
      const start = reader.pos;
      if (start + len > n) throw new RangeError('premature EOF');
      signals.push(Signal.decode(reader, len));
      spans.push(start, start + len);
    } else reader.skip(tag & 7);
  }
  return { signals, [RAW]: { bytes, spans } };
}

/** A message already encoded (events served from the bytes they were stored as). */
const encodedOr = <T>(encode: (v: T) => Uint8Array) => (v: T | Uint8Array): Uint8Array => (v instanceof Uint8Array ? v : encode(v));

export interface SignalServiceLimits {
  maxBatchSignals: number;
  maxBatchBytes: number;
  /** Signal streams open at once, at most (0: no limit). */
  maxSignalStreams: number;
  /** Subscriptions (Subscribe, SubscribeBatches) open at once, at most (0: no limit). */
  maxSubscribers: number;
  /** A signal stream that sends nothing this long is ended (agents send a keepalive meanwhile; 0: never). */
  streamIdleTimeoutMs: number;
  /** Most cells in one GetCell answer (and the default). */
  maxResponseCells: number;
  /** Most narratives in one ListNarratives answer (and the default). */
  maxResponseNarratives: number;
}

/** The service definition with a decoder that turns unreadable or oversize frames into data. */
export function signalAggregatorDefinition(limits: SignalServiceLimits) {
  const base = directDefinition(SignalAggregatorDefinition, {
    streamSignals: (bytes: Uint8Array): CheckedBatch => {
      if (bytes.length > limits.maxBatchBytes) {
        return { signals: [], [FRAME_PROBLEM]: { reason: 'oversize_batch', message: `SignalBatch of ${bytes.length} bytes exceeds the limit of ${limits.maxBatchBytes} bytes; send smaller batches` } };
      }
      try {
        return decodeBatch(bytes);
      } catch (e) {
        if (e instanceof InvalidUtf8) {
          return { signals: [], [FRAME_PROBLEM]: { reason: 'invalid_utf8', message: `SignalBatch holds a string that is not UTF-8: invalid byte at offset ${e.at - bytes.byteOffset} of the ${bytes.length}-byte message; nothing of it was taken` } };
        }
        return { signals: [], [FRAME_PROBLEM]: { reason: 'malformed_frame', message: `malformed SignalBatch frame (${bytes.length} bytes): ${(e as Error).message}` } };
      }
    },
  });
  const encodeEvent = encodedOr<Event>((v) => Event.encode(v).finish());
  const subscribe: MethodDefinition<SubscribeRequest, SubscribeRequest, Event | Uint8Array, Event, false, true> = { ...base.subscribe, responseSerialize: encodeEvent };
  const replay: MethodDefinition<ReplayRequest, ReplayRequest, Event | Uint8Array, Event, false, true> = { ...base.replay, responseSerialize: encodeEvent };
  const subscribeBatches: MethodDefinition<SubscribeRequest, SubscribeRequest, EventBatch | Uint8Array, EventBatch, false, true> = {
    ...base.subscribeBatches,
    responseSerialize: encodedOr<EventBatch>((v) => EventBatch.encode(v).finish()),
  };
  return { ...base, subscribe, subscribeBatches, replay };
}

/**
 * A stream's requests, each as the next request, or 'drain' once the aggregator drains, or 'idle'
 * when none came for `idleMs`. One abort listener and one idle timer per stream, re-armed for each
 * request (not a listener, a timer and a chain of promises per request). (Not Promise.race against
 * one long-lived promise: every race would leave a reaction on it holding its batch until shutdown.)
 */
class Requests<T> {
  private settle: ((r: IteratorResult<T> | 'drain' | 'idle') => void) | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly onDrain = (): void => this.settle?.('drain');

  constructor(
    private readonly iterator: AsyncIterator<T>,
    private readonly draining: AbortSignal,
    idleMs: number,
  ) {
    draining.addEventListener('abort', this.onDrain, { once: true });
    // Fires only while a request is awaited; once fired, refresh() arms it again.
    this.timer = idleMs > 0 ? setTimeout(() => this.settle?.('idle'), idleMs) : undefined;
  }

  next(): Promise<IteratorResult<T> | 'drain' | 'idle'> {
    if (this.draining.aborted) return Promise.resolve('drain');
    this.timer?.refresh();
    return new Promise((resolve, reject) => {
      this.settle = resolve;
      this.iterator.next().then(
        (r) => {
          this.settle = undefined;
          resolve(r);
        },
        (e: unknown) => {
          this.settle = undefined;
          reject(e);
        },
      );
    });
  }

  close(): void {
    this.settle = undefined;
    clearTimeout(this.timer);
    this.draining.removeEventListener('abort', this.onDrain);
  }
}

export interface SignalServiceDeps {
  ingress: Ingress;
  hierarchy: HierarchyManager;
  /** Answers ListNarratives from the reporters' state. */
  listNarratives(request: ListNarrativesRequest): ListNarrativesResponse;
  log: EventLog;
  metrics: AggregatorMetrics;
  logger: Logger;
  limits: SignalServiceLimits;
  /** Aborts when the aggregator drains: open streams finish their current batch and end. */
  draining: AbortSignal;
  /** Aborts when subscribers must end (after the drain has flushed what they are owed). */
  closing: AbortSignal;
  journal: Journal;
  /** Why signals are not being taken, if they are not (e.g. the disk is full). */
  refusing(): string | undefined;
  /** Open subscriptions and how far each has been delivered (the drain waits for them). */
  subscribers: Set<{ cursor: bigint }>;
  /** Open signal streams (the drain waits for them to finish their batch). */
  streams: { open(): void; close(): void; readonly count: number };
  /** A refusal counted by reason (stream_limit, subscriber_limit, idle_stream, foreign_source). */
  refused(reason: string): void;
  /** Takes what leaf aggregators forward (Federate). */
  federation: FederationUpstream;
}

const VERDICT_KINDS = new Set([EventKind.FINDING, EventKind.SITUATION, EventKind.NARRATIVE, EventKind.ACTION]);

function checkKinds(kinds: readonly EventKind[]): void {
  for (const k of kinds) {
    if (!EventKind[k] || k === EventKind.EVENT_KIND_UNSPECIFIED) {
      throw new ServerError(Status.INVALID_ARGUMENT, `unknown event kind ${k} (expected SIGNAL, CELL_CHANGE, GAP, FINDING, SITUATION, NARRATIVE or ACTION)`);
    }
  }
}

/**
 * Journalled events for a Replay request, as encoded events (oldest first). Verdicts older than
 * the main log's retention come from the verdict store.
 */
export async function* replayEvents(journal: Journal, req: ReplayRequest, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  const filter: SubscriptionFilter = { kinds: new Set(req.kinds), subjectPrefix: req.subjectPrefix };
  const limit = req.limit > 0 ? req.limit : Infinity;
  let n = 0;
  const inTime = (t: bigint): boolean => (req.fromTime === 0n || t >= req.fromTime) && (req.toTime === 0n || t < req.toTime);
  const inOffsets = (o: bigint): boolean => (req.fromOffset === 0n || o >= req.fromOffset) && (req.toOffset === 0n || o < req.toOffset);
  let from = req.fromOffset;
  if (req.fromTime !== 0n) {
    const byTime = await journal.offsetAtTime(req.fromTime);
    if (byTime > from) from = byTime;
  }
  // Verdicts older than the main log.
  const onlyVerdicts = filter.kinds.size > 0 && [...filter.kinds].every((k) => VERDICT_KINDS.has(k));
  if ((filter.kinds.size === 0 || onlyVerdicts) && from < journal.firstOffset) {
    for await (const v of journal.verdicts({ fromOffset: req.fromOffset, toOffset: journal.firstOffset })) {
      if (signal.aborted) return;
      const idx = indexEvents(v.framed);
      if (!inTime(idx.times[0]!) || !inOffsets(v.offset)) continue;
      if (filter.kinds.size > 0 && !filter.kinds.has(idx.kinds[0]!)) continue;
      const inner = innerOf(v.framed, 0);
      if (filter.subjectPrefix !== '' && !under(idx.subjects[0]!, filter.subjectPrefix)) {
        const e = Event.decode(inner);
        if (!e.narrative?.causalChain.some((x) => under(x.subject, filter.subjectPrefix))) continue;
      }
      yield inner;
      if (++n >= limit) return;
    }
  }
  const firsts = filter.subjectPrefix !== '' ? await journal.blocksForSubject(filter.subjectPrefix, from, req.toOffset) : undefined;
  const blocks = firsts
    ? (async function* () {
        for (const f of firsts) {
          const bytes = await journal.block(f);
          if (bytes) yield { first: f, bytes };
        }
      })()
    : journal.blocksFrom(from, req.toOffset, signal);
  for await (const b of blocks) {
    if (signal.aborted) return;
    const idx = indexEvents(b.bytes);
    for (let i = 0; i < idx.offsets.length; i++) {
      const t = idx.times[i]!;
      if (req.toTime !== 0n && t >= req.toTime && !firsts) return;
      if (!inTime(t) || !inOffsets(idx.offsets[i]!)) continue;
      const kind = idx.kinds[i]!;
      if (filter.kinds.size > 0 && !filter.kinds.has(kind)) continue;
      const inner = innerOf(b.bytes, idx.starts[i]!);
      if (filter.subjectPrefix !== '' && !under(idx.subjects[i]!, filter.subjectPrefix)) {
        if (kind !== EventKind.NARRATIVE) continue;
        const e = Event.decode(inner);
        if (!e.narrative?.causalChain.some((x) => under(x.subject, filter.subjectPrefix))) continue;
      }
      yield inner;
      if (++n >= limit) return;
    }
  }
}

export function signalService(d: SignalServiceDeps) {
  const permits = new Map<string, SourcePermit>();
  const permitOf = (identity: Identity): SourcePermit => {
    const key = `${identity.via}:${identity.name}`;
    let p = permits.get(key);
    if (!p) {
      if (permits.size >= 100_000) permits.clear(); // certificate names are unbounded in principle
      p = new SourcePermit(identity);
      permits.set(key, p);
    }
    return p;
  };
  async function* subscription(request: SubscribeRequest, context: CallContext): AsyncIterable<Uint8Array> {
    checkKinds(request.kinds);
    if (d.limits.maxSubscribers > 0 && d.subscribers.size >= d.limits.maxSubscribers) {
      d.refused('subscriber_limit');
      throw new ServerError(Status.RESOURCE_EXHAUSTED, `${d.subscribers.size} subscriptions are open, the most this aggregator takes (--max-subscribers ${d.limits.maxSubscribers}); try again later`);
    }
    if (request.fromOffset !== undefined && request.fromOffset > d.log.nextOffset) {
      // Offsets never restart on one journal: an offset past its end was read from another one.
      throw new ServerError(Status.OUT_OF_RANGE, `from_offset ${request.fromOffset} is past the end of this aggregator's journal (next offset ${d.log.nextOffset}, journal ${d.journal.id}): it comes from another journal (a new or replaced data directory); resume from 0 or from an offset of this one`);
    }
    d.metrics.subscribersOpen.inc();
    const stop = AbortSignal.any([context.signal, d.closing]);
    const progress = { cursor: 0n };
    d.subscribers.add(progress);
    try {
      for await (const chunk of followRaw(
        d.log,
        { kinds: new Set(request.kinds), subjectPrefix: request.subjectPrefix },
        request.fromOffset,
        stop,
        {
          onGap: (missed) => {
            d.metrics.subscriberGaps.inc();
            d.metrics.subscriberMissed.inc(Number(missed));
          },
          onProgress: (cursor) => {
            progress.cursor = cursor;
          },
        },
        nowNs,
        SUBSCRIBE_BATCH,
      )) yield chunk.bytes;
    } finally {
      d.subscribers.delete(progress);
      d.metrics.subscribersOpen.dec();
    }
  }

  return {
    async *streamSignals(requests: AsyncIterable<SignalBatch>, context: CallContext & Partial<IdentityContext>): AsyncIterable<Ack> {
      if (d.limits.maxSignalStreams > 0 && d.streams.count >= d.limits.maxSignalStreams) {
        d.refused('stream_limit');
        throw new ServerError(Status.RESOURCE_EXHAUSTED, `${d.streams.count} signal streams are open, the most this aggregator takes (--max-streams ${d.limits.maxSignalStreams}); try again later or add an aggregator`);
      }
      // Each source id is held to the caller's identity (one permit per identity, shared by its streams).
      const permit = permitOf(context.identity ?? ANONYMOUS);
      d.metrics.streamsOpen.inc();
      d.streams.open();
      const iterator = requests[Symbol.asyncIterator]();
      const incoming = new Requests(iterator, d.draining, d.limits.streamIdleTimeoutMs);
      // Batches are read and ingested while earlier ones are being written: their acks wait, in
      // order, for their group commit (durable acknowledgement), at most PIPELINE batches deep.
      const pending: { done: Promise<void>; acks: Ack[] }[] = [];
      let failure: unknown;
      let finished = false;
      let wake: (() => void) | undefined;
      let room: (() => void) | undefined;
      const notify = (): void => {
        const w = wake;
        wake = undefined;
        w?.();
      };
      const reader = (async () => {
        try {
          while (!d.draining.aborted) {
            while (pending.length >= PIPELINE) await new Promise<void>((r) => (room = r));
            const next = await incoming.next();
            if (next === 'idle') {
              d.refused('idle_stream');
              throw new ServerError(Status.DEADLINE_EXCEEDED, `signal stream sent nothing for ${d.limits.streamIdleTimeoutMs / 1000} s (--stream-idle-timeout); agents send a keepalive meanwhile, so this stream was ended`);
            }
            if (next === 'drain' || next.done) break;
            const batch = next.value as CheckedBatch;
            const problem = batch[FRAME_PROBLEM];
            if (problem) {
              d.ingress.countRejected(problem.reason);
              d.metrics.streamErrors.inc({ reason: problem.reason });
              d.logger.warn({ peer: context.peer, reason: problem.reason }, problem.message);
              throw new ServerError(problem.reason === 'oversize_batch' ? Status.RESOURCE_EXHAUSTED : Status.INVALID_ARGUMENT, problem.message);
            }
            if (batch.signals.length > d.limits.maxBatchSignals) {
              d.ingress.countRejected('oversize_batch', batch.signals.length);
              d.metrics.streamErrors.inc({ reason: 'oversize_batch' });
              const message = `SignalBatch holds ${batch.signals.length} signals, more than the limit of ${d.limits.maxBatchSignals}; send smaller batches`;
              d.logger.warn({ peer: context.peer }, message);
              throw new ServerError(Status.RESOURCE_EXHAUSTED, message);
            }
            if (!permit.any) {
              const signals = batch.signals;
              let last = '';
              for (let i = 0; i < signals.length; i++) {
                const id = signals[i]!.sourceId;
                if (id === last) continue;
                if (!permit.allows(id)) {
                  d.refused('foreign_source');
                  const who = permit.identity;
                  const message = `source_id "${id}" is not among the sources identity "${who.name}" (${who.via}) may speak for (${who.sources.length > 0 ? who.sources.join(', ') : 'none'}); nothing of this batch was taken`;
                  d.logger.warn({ peer: context.peer, identity: who.name, sourceId: id }, 'signal stream refused: a source id not its own');
                  throw new ServerError(Status.PERMISSION_DENIED, message);
                }
                last = id;
              }
            }
            const refusal = d.refusing();
            if (refusal) {
              // Not taken, not acknowledged: the agent keeps it and sends it again.
              d.metrics.streamErrors.inc({ reason: 'unavailable' });
              throw new ServerError(Status.UNAVAILABLE, `not taking signals: ${refusal}`);
            }
            const acks = d.ingress.ingest(batch, batch[RAW]);
            pending.push({ done: d.ingress.committed(), acks });
            notify();
          }
        } catch (e) {
          failure = e;
        } finally {
          finished = true;
          notify();
        }
      })();
      try {
        for (;;) {
          const head = pending[0];
          if (head) {
            await head.done;
            pending.shift();
            room?.();
            room = undefined;
            yield* head.acks;
            continue;
          }
          if (finished) break;
          await new Promise<void>((r) => (wake = r));
        }
        await reader;
        if (failure) throw failure;
      } finally {
        incoming.close();
        d.metrics.streamsOpen.dec();
        d.streams.close();
        void iterator.return?.();
      }
    },

    async *federate(requests: AsyncIterable<FederationBatch>, context: CallContext & Partial<IdentityContext>): AsyncIterable<FederationAck> {
      if (d.limits.maxSignalStreams > 0 && d.streams.count >= d.limits.maxSignalStreams) {
        d.refused('stream_limit');
        throw new ServerError(Status.RESOURCE_EXHAUSTED, `${d.streams.count} signal streams are open, the most this aggregator takes (--max-streams ${d.limits.maxSignalStreams}); try again later`);
      }
      const permit = permitOf(context.identity ?? ANONYMOUS);
      d.metrics.streamsOpen.inc();
      d.streams.open();
      const iterator = requests[Symbol.asyncIterator]();
      const incoming = new Requests(iterator, d.draining, d.limits.streamIdleTimeoutMs);
      // The leaf and HA group this stream speaks for, once its first batch was taken.
      let member: { leaf: string; group: string } | undefined;
      try {
        for (;;) {
          const next = await incoming.next();
          if (next === 'idle') {
            d.refused('idle_stream');
            throw new ServerError(Status.DEADLINE_EXCEEDED, `federation stream sent nothing for ${d.limits.streamIdleTimeoutMs / 1000} s (--stream-idle-timeout)`);
          }
          if (next === 'drain' || next.done) break;
          const batch = next.value;
          try {
            d.federation.check(batch, d.limits.maxBatchSignals);
          } catch (e) {
            if (!(e instanceof FederationRefusal)) throw e;
            d.refused(e.reason);
            d.metrics.streamErrors.inc({ reason: e.reason });
            d.logger.warn({ peer: context.peer, reason: e.reason }, e.message);
            throw new ServerError(e.reason === 'oversize_batch' ? Status.RESOURCE_EXHAUSTED : Status.INVALID_ARGUMENT, e.message);
          }
          if (!permit.any && !permit.allows(batch.leaf)) {
            d.refused('foreign_source');
            const who = permit.identity;
            d.logger.warn({ peer: context.peer, identity: who.name, leaf: batch.leaf }, 'federation stream refused: a leaf name not its own');
            throw new ServerError(Status.PERMISSION_DENIED, `leaf "${batch.leaf}" is not among the sources identity "${who.name}" (${who.via}) may speak for (${who.sources.length > 0 ? who.sources.join(', ') : 'none'}); nothing of this batch was taken`);
          }
          const refusal = d.refusing();
          if (refusal) {
            d.metrics.streamErrors.inc({ reason: 'unavailable' });
            throw new ServerError(Status.UNAVAILABLE, `not taking events: ${refusal}`);
          }
          if (!member) {
            member = { leaf: batch.leaf, group: batch.group };
            d.federation.connected(member.leaf, member.group);
          } else if (batch.leaf !== member.leaf || batch.group !== member.group) {
            d.refused('invalid_leaf');
            throw new ServerError(Status.INVALID_ARGUMENT, `a federation stream speaks for one leaf and group: it began as "${member.leaf}" (group "${member.group}") and now says "${batch.leaf.slice(0, 140)}" (group "${batch.group.slice(0, 140)}")`);
          }
          const ack = d.federation.ingest(batch);
          await d.log.committedAll();
          yield ack;
        }
      } finally {
        incoming.close();
        if (member) d.federation.disconnected(member.leaf, member.group);
        d.metrics.streamsOpen.dec();
        d.streams.close();
        void iterator.return?.();
      }
    },

    async *subscribe(request: SubscribeRequest, context: CallContext): AsyncIterable<Event | Uint8Array> {
      for await (const chunk of subscription(request, context)) {
        const idx = frameStarts(chunk);
        for (let i = 0; i < idx.length; i++) yield innerOf(chunk, idx[i]!);
      }
    },

    async *subscribeBatches(request: SubscribeRequest, context: CallContext): AsyncIterable<EventBatch | Uint8Array> {
      yield* subscription(request, context);
    },

    async *replay(request: ReplayRequest, context: CallContext): AsyncIterable<Event | Uint8Array> {
      checkKinds(request.kinds);
      if (request.toTime !== 0n && request.fromTime > request.toTime) throw new ServerError(Status.INVALID_ARGUMENT, `from_time ${request.fromTime} is after to_time ${request.toTime}`);
      yield* replayEvents(d.journal, request, AbortSignal.any([context.signal, d.closing]));
    },

    async getCell(request: GetCellRequest): Promise<Cell> {
      const limit = request.limit === 0 ? d.limits.maxResponseCells : Math.min(request.limit, d.limits.maxResponseCells);
      const cell = d.hierarchy.get(request.path, request.depth, { limit, after: request.after });
      if (!cell) throw new ServerError(Status.NOT_FOUND, `no cell at path "${request.path}" (use "" for the root)`);
      return d.federation.tagCells(cell);
    },

    async listNarratives(request: ListNarrativesRequest): Promise<ListNarrativesResponse> {
      const limit = request.limit === 0 ? d.limits.maxResponseNarratives : Math.min(request.limit, d.limits.maxResponseNarratives);
      return d.listNarratives({ ...request, limit });
    },
  };
}

/** Where each framed event of a run begins. */
function frameStarts(b: Uint8Array): number[] {
  const out: number[] = [];
  let pos = 0;
  while (pos < b.length) {
    out.push(pos);
    const [len, p] = readVarint(b, pos + 1);
    pos = p + len;
  }
  return out;
}
