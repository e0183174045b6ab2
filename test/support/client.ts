// A subscriber as a user's program would be: a nice-grpc client of SignalAggregator.
import { createChannel, createClientFactory, type Channel, type Metadata } from 'nice-grpc';
import { Queue_Sign, SignalAggregatorDefinition, directDefinition, type Ack, type Event, type Signal, type SubscribeRequest } from '../../proto/index.js';

export function aggregatorClient(address: string, channelOrUndefined?: Channel) {
  const channel = channelOrUndefined ?? createChannel(address.replace(/^grpc:\/\//, ''));
  return { channel, client: createClientFactory().create(directDefinition(SignalAggregatorDefinition), channel) };
}

export type Client = ReturnType<typeof aggregatorClient>['client'];

/** Collects events in the background; `until` resolves once a predicate over them holds. */
export class Collector {
  readonly events: Event[] = [];
  private readonly abort = new AbortController();
  private waiters: { test: (events: Event[]) => boolean; resolve: () => void }[] = [];
  readonly done: Promise<void>;
  error: unknown;

  constructor(client: Client, request: Partial<SubscribeRequest>, metadata?: Metadata) {
    this.done = (async () => {
      try {
        for await (const e of client.subscribe({ kinds: [], subjectPrefix: '', ...request }, { signal: this.abort.signal, ...(metadata ? { metadata } : {}) })) {
          this.events.push(e);
          for (const w of [...this.waiters]) if (w.test(this.events)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve();
          }
        }
      } catch (e) {
        if (!this.abort.signal.aborted) this.error = e;
      }
    })();
  }

  until(test: (events: Event[]) => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    if (test(this.events)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what} (have ${this.events.length} events${this.error ? `, error ${String(this.error)}` : ''})`)), timeoutMs);
      this.waiters.push({ test, resolve: () => { clearTimeout(t); resolve(); } });
    });
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}

/** Sends signals on one StreamSignals stream as an agent would, and returns the acks (one per source per batch). */
export async function streamSignals(client: Client, batches: Signal[][]): Promise<Ack[]> {
  const acks: Ack[] = [];
  const expected = batches.reduce((n, b) => n + Math.max(1, new Set(b.map((s) => s.sourceId)).size), 0);
  async function* requests() {
    for (const signals of batches) yield { signals };
  }
  for await (const ack of client.streamSignals(requests())) {
    acks.push(ack);
    if (acks.length === expected) break;
  }
  return acks;
}

let seq = 1n;
/** A valid signal for tests, with fields overridable. */
export function signal(over: Partial<Signal> = {}): Signal {
  return {
    sourceId: 'test-agent',
    seq: seq++,
    subject: 'service/orders/pod/orders-1/producer/order-producer',
    timestamp: BigInt(Date.now()) * 1_000_000n,
    queue: { sign: Queue_Sign.PRESSURE, units: 85 },
    context: {},
    clock: {},
    ...over,
  };
}
