// `kafka-obs tail` follows the aggregator through restarts: when the stream ends (the aggregator
// drains on SIGTERM) or the connection fails, it says so, waits until the aggregator answers its
// health check again and subscribes anew, resuming after the last event it printed.
import { ClientError, Status } from 'nice-grpc-common';
import { HealthCheckResponse_ServingStatus, type Event, type HealthCheckRequest, type HealthCheckResponse, type SubscribeRequest } from '../proto/index.js';
import { setTimeout as wait } from 'node:timers/promises';

export interface FollowClients {
  subscribe(request: SubscribeRequest, options: { signal: AbortSignal }): AsyncIterable<Event>;
  check(request: HealthCheckRequest, options: { signal: AbortSignal }): Promise<HealthCheckResponse>;
}

export interface FollowOptions {
  request: SubscribeRequest;
  /** Stop after this many events (Infinity: never). */
  limit: number;
  /** Where the aggregator is, for messages. */
  url: string;
  /** Each event, as it comes. */
  onEvent(e: Event): void;
  /** A line for people (stderr): reconnecting, reconnected. */
  say(line: string): void;
  signal: AbortSignal;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Waits between attempts; replaceable so tests of the loop need not wait. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** Errors that another attempt cannot fix: wrong token, bad request. Everything else is retried. */
const FINAL = new Set([Status.UNAUTHENTICATED, Status.PERMISSION_DENIED, Status.INVALID_ARGUMENT, Status.UNIMPLEMENTED]);

export class FollowError extends Error {}

/** Resolves when the limit is reached or the signal aborts; rejects with FollowError on a final error. */
export async function follow(clients: FollowClients, o: FollowOptions): Promise<void> {
  const sleep = o.sleep ?? defaultSleep;
  const base = o.backoffBaseMs ?? 250;
  const max = o.backoffMaxMs ?? 5000;
  let n = 0;
  let last: bigint | undefined;
  let attempt = 0;
  // A health check comes before each subscription: an aggregator that was never reached (a wrong
  // URL, a refused certificate) is an error to report, one that was reached and went away is waited for.
  let connected = false;
  let reached = false;
  while (!o.signal.aborted) {
    if (!connected) {
      try {
        const health = await clients.check({ service: '' }, { signal: o.signal });
        if (health.status !== HealthCheckResponse_ServingStatus.SERVING) throw new Error(`health: ${HealthCheckResponse_ServingStatus[health.status] ?? health.status}`);
        connected = true;
        attempt = 0;
        if (reached) o.say(`reconnected to the aggregator at ${o.url}${last !== undefined ? `; resuming after event #${last}` : ''}`);
        reached = true;
      } catch (e) {
        if (o.signal.aborted) return;
        if (!reached || (e instanceof ClientError && FINAL.has(e.code))) throw new FollowError(e instanceof ClientError ? `${Status[e.code]}: ${e.details}` : (e as Error).message);
        await sleep(delay(attempt++, base, max), o.signal);
        continue;
      }
    }
    const request = last === undefined ? o.request : { ...o.request, fromOffset: last + 1n };
    try {
      for await (const e of clients.subscribe(request, { signal: o.signal })) {
        if (e.offset > 0n) last = e.offset;
        o.onEvent(e);
        if (++n >= o.limit) return;
      }
      if (o.signal.aborted) return;
      o.say(`the aggregator at ${o.url} ended the stream (it is stopping or restarting); reconnecting`);
    } catch (e) {
      if (o.signal.aborted) return;
      if (e instanceof ClientError && FINAL.has(e.code)) throw new FollowError(`${Status[e.code]}: ${e.details}`);
      if (e instanceof ClientError && e.code === Status.OUT_OF_RANGE && last !== undefined) {
        // The aggregator came back with another journal (a new or replaced data directory): our
        // offsets mean nothing there. Follow its journal from the start, so nothing since is missed.
        o.say(`the aggregator at ${o.url} has another journal (${e.details}); following it from its start`);
        last = -1n;
        continue;
      }
      const why = e instanceof ClientError ? `${Status[e.code]}: ${e.details}` : (e as Error).message;
      o.say(`lost the aggregator at ${o.url} (${why}); reconnecting`);
    }
    connected = false;
    await sleep(delay(attempt++, base, max), o.signal);
  }
}

/** Exponential backoff with jitter (half to all of the step), so many tails do not come back at once. */
function delay(attempt: number, base: number, max: number): number {
  const cap = Math.min(max, base * 2 ** Math.min(attempt, 20));
  return Math.round(cap / 2 + (Math.random() * cap) / 2);
}

/** Waits `ms`, or less if `signal` aborts (never rejects). */
function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return wait(ms, undefined, { signal }).catch(() => {});
}
