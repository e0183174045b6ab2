// The SignalAggregator gRPC service: StreamSignals (agents in), Subscribe (events out), GetCell, ListNarratives.
import { ServerError, Status, type CallContext } from 'nice-grpc';
import {
  EventKind,
  SignalAggregatorDefinition,
  SignalBatch,
  directDefinition,
  nowNs,
  type Ack,
  type Cell,
  type Event,
  type EventBatch,
  type GetCellRequest,
  type ListNarrativesRequest,
  type ListNarrativesResponse,
  type SubscribeRequest,
} from '../proto/index.js';
import type { HierarchyManager } from '../hierarchy/manager.js';
import type { EventLog } from './event-log.js';
import type { Ingress } from './ingress.js';
import type { AggregatorMetrics } from './metrics.js';
import { followBatches } from './subscription.js';

/** Most events in one SubscribeBatches message (~1 MB: under the 4 MiB default receive limit of gRPC clients). */
const SUBSCRIBE_BATCH = 5000;
import type { Logger } from 'pino';

/** A frame that could not be read as a SignalBatch: carried as data so the stream can say why. */
const FRAME_PROBLEM = Symbol('frameProblem');
type CheckedBatch = SignalBatch & { [FRAME_PROBLEM]?: { reason: 'malformed_frame' | 'oversize_batch'; message: string } };

export interface SignalServiceLimits {
  maxBatchSignals: number;
  maxBatchBytes: number;
}

/** The service definition with a decoder that turns unreadable or oversize frames into data. */
export function signalAggregatorDefinition(limits: SignalServiceLimits) {
  return directDefinition(SignalAggregatorDefinition, {
    streamSignals: (bytes: Uint8Array): CheckedBatch => {
      if (bytes.length > limits.maxBatchBytes) {
        return { signals: [], [FRAME_PROBLEM]: { reason: 'oversize_batch', message: `SignalBatch of ${bytes.length} bytes exceeds the limit of ${limits.maxBatchBytes} bytes; send smaller batches` } };
      }
      try {
        return SignalBatch.decode(bytes);
      } catch (e) {
        return { signals: [], [FRAME_PROBLEM]: { reason: 'malformed_frame', message: `malformed SignalBatch frame (${bytes.length} bytes): ${(e as Error).message}` } };
      }
    },
  });
}

/**
 * The next request, or 'drain' once the aggregator drains. (Not Promise.race against one
 * long-lived promise: every race would leave a reaction on it holding its batch until shutdown.)
 */
function nextOrDrain<T>(iterator: AsyncIterator<T>, draining: AbortSignal): Promise<IteratorResult<T> | 'drain'> {
  return new Promise((resolve, reject) => {
    const onDrain = (): void => resolve('drain');
    draining.addEventListener('abort', onDrain, { once: true });
    iterator.next().then(resolve, reject).finally(() => draining.removeEventListener('abort', onDrain));
  });
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
}

export function signalService(d: SignalServiceDeps) {
  async function* subscription(request: SubscribeRequest, context: CallContext): AsyncIterable<Event[]> {
    for (const k of request.kinds) {
      if (!EventKind[k] || k === EventKind.EVENT_KIND_UNSPECIFIED) {
        throw new ServerError(Status.INVALID_ARGUMENT, `unknown event kind ${k} (expected SIGNAL, CELL_CHANGE, GAP, FINDING, SITUATION, NARRATIVE or ACTION)`);
      }
    }
    d.metrics.subscribersOpen.inc();
    const stop = AbortSignal.any([context.signal, d.draining]);
    try {
      yield* followBatches(
        d.log,
        { kinds: new Set(request.kinds), subjectPrefix: request.subjectPrefix },
        request.fromOffset,
        stop,
        {
          onGap: (missed) => {
            d.metrics.subscriberGaps.inc();
            d.metrics.subscriberMissed.inc(Number(missed));
          },
        },
        nowNs,
        SUBSCRIBE_BATCH,
      );
    } finally {
      d.metrics.subscribersOpen.dec();
    }
  }

  return {
    async *streamSignals(requests: AsyncIterable<SignalBatch>, context: CallContext): AsyncIterable<Ack> {
      d.metrics.streamsOpen.inc();
      const iterator = requests[Symbol.asyncIterator]();
      try {
        while (!d.draining.aborted) {
          const next = await nextOrDrain(iterator, d.draining);
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
          yield* d.ingress.ingest(batch);
        }
      } finally {
        d.metrics.streamsOpen.dec();
        void iterator.return?.();
      }
    },

    async *subscribe(request: SubscribeRequest, context: CallContext): AsyncIterable<Event> {
      for await (const batch of subscription(request, context)) yield* batch;
    },

    async *subscribeBatches(request: SubscribeRequest, context: CallContext): AsyncIterable<EventBatch> {
      for await (const events of subscription(request, context)) yield { events };
    },

    async getCell(request: GetCellRequest): Promise<Cell> {
      const cell = d.hierarchy.get(request.path, request.depth);
      if (!cell) throw new ServerError(Status.NOT_FOUND, `no cell at path "${request.path}" (use "" for the root)`);
      return cell;
    },

    async listNarratives(request: ListNarrativesRequest): Promise<ListNarrativesResponse> {
      return d.listNarratives(request);
    },
  };
}
