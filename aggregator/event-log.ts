// The aggregator's event log: every event gets the next offset and is retained in a bounded ring.
// Subscribers are cursors over the ring, so a slow subscriber never slows ingest: when the ring
// overwrites what it has not read yet, it is told with a gap event how much it missed.
import type { Event } from '../proto/index.js';

export type EventPayload = Omit<Event, 'offset' | 'time'>;

export class EventLog {
  private readonly ring: (Event | undefined)[];
  /** Offset the next appended event gets (offsets start at 1; 0 means "none yet"). */
  private next = 1n;
  private waiters: (() => void)[] = [];

  constructor(readonly capacity: number) {
    this.ring = new Array<Event | undefined>(capacity);
  }

  /** Offset of the oldest retained event (equals nextOffset when empty). */
  get firstOffset(): bigint {
    const cap = BigInt(this.capacity);
    return this.next - 1n > cap ? this.next - cap : 1n;
  }

  get nextOffset(): bigint {
    return this.next;
  }

  append(payload: EventPayload, timeNs: bigint): Event {
    const event = payload as Event;
    event.offset = this.next;
    event.time = timeNs;
    this.ring[Number(this.next % BigInt(this.capacity))] = event;
    this.next++;
    return event;
  }

  /** Wakes cursors waiting for new events; called once per ingested batch, not per event. */
  publish(): void {
    if (this.waiters.length === 0) return;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The retained event at `offset`, or undefined if it is not retained (evicted or not yet written). */
  at(offset: bigint): Event | undefined {
    if (offset < this.firstOffset || offset >= this.next) return undefined;
    return this.ring[Number(offset % BigInt(this.capacity))];
  }

  /** Resolves when an event at or after `offset` exists, or when `signal` aborts. */
  waitFor(offset: bigint, signal: AbortSignal): Promise<void> {
    if (offset < this.next || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
