// Delivery at the edge: a bounded queue per actor that POSTs requests with a timeout, retries
// with exponential backoff and jitter (honouring Retry-After), and never makes its caller wait.
// One narrative's requests go one at a time and in order (a resolve never overtakes its trigger);
// different narratives go concurrently, so one slow or failing delivery holds up nobody else.
import type { DeliverySettings } from './config.js';
import type { HttpRequest } from './actor.js';

export interface DeliveryJob {
  /** Requests with the same key are sent in order, one at a time (the narrative id). */
  key: string;
  request: HttpRequest;
}

/** How each job ended, or that it will be tried again. Called once per attempt outcome. */
export interface DeliveryReport<J extends DeliveryJob> {
  delivered(job: J, attempt: number, status: number, elapsedMs: number): void;
  retrying(job: J, attempt: number, delayMs: number, why: string): void;
  failed(job: J, attempt: number, why: string): void;
  dropped(job: J, attempt: number, why: string): void;
}

type Attempt = { ok: true; status: number } | { ok: false; retry: boolean; why: string; retryAfterMs?: number };

interface Entry<J> {
  job: J;
  attempts: number;
  enqueuedAt: number;
  /** Holds its key between attempts: later jobs of the same narrative wait behind it. */
  owner: boolean;
}

export class DeliveryQueue<J extends DeliveryJob> {
  private readonly waiting: Entry<J>[] = [];
  private readonly busyKeys = new Set<string>();
  private readonly backingOff = new Map<NodeJS.Timeout, Entry<J>>();
  private inFlight = 0;
  private readonly stopping = new AbortController();
  private idleWaiters: (() => void)[] = [];
  private readonly settled = new Set<Promise<void>>();

  constructor(
    private readonly settings: DeliverySettings,
    private readonly report: DeliveryReport<J>,
    private readonly random: () => number = Math.random,
  ) {}

  /** Jobs not finished: waiting, in flight, or between attempts. */
  get depth(): number {
    return this.waiting.length + this.inFlight + this.backingOff.size;
  }

  /** Takes a job, or drops it (reported) when the queue is full or stopping; never waits. */
  offer(job: J): boolean {
    if (this.stopping.signal.aborted) {
      this.report.dropped(job, 0, 'the aggregator is stopping');
      return false;
    }
    if (this.depth >= this.settings.queueCapacity) {
      this.report.dropped(job, 0, `delivery queue full (${this.settings.queueCapacity} waiting)`);
      return false;
    }
    this.waiting.push({ job, attempts: 0, enqueuedAt: performance.now(), owner: false });
    this.pump();
    return true;
  }

  /** Waits up to `graceMs` for what is queued, then abandons the rest (each reported as dropped). */
  async stop(graceMs: number): Promise<void> {
    if (this.depth > 0 && graceMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
    }
    this.stopping.abort();
    for (const [timer, e] of this.backingOff) {
      clearTimeout(timer);
      this.report.dropped(e.job, e.attempts, `the aggregator stopped before a retry (after ${e.attempts} attempt(s))`);
    }
    this.backingOff.clear();
    for (const e of this.waiting.splice(0)) this.report.dropped(e.job, e.attempts, 'the aggregator stopped before it was sent');
    await Promise.all(this.settled);
  }

  private pump(): void {
    while (this.inFlight < this.settings.concurrency && !this.stopping.signal.aborted) {
      const i = this.waiting.findIndex((e) => e.owner || !this.busyKeys.has(e.job.key));
      if (i < 0) break;
      const [entry] = this.waiting.splice(i, 1) as [Entry<J>];
      this.busyKeys.add(entry.job.key);
      entry.owner = true;
      this.inFlight++;
      const p = this.attempt(entry).finally(() => this.settled.delete(p));
      this.settled.add(p);
    }
    if (this.depth === 0 && this.idleWaiters.length > 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  private async attempt(entry: Entry<J>): Promise<void> {
    entry.attempts++;
    const result = await post(entry.job.request, this.settings.timeoutMs, this.stopping.signal);
    this.inFlight--;
    const { job, attempts } = entry;
    if (result.ok) {
      this.busyKeys.delete(job.key);
      this.report.delivered(job, attempts, result.status, performance.now() - entry.enqueuedAt);
    } else if (this.stopping.signal.aborted) {
      this.busyKeys.delete(job.key);
      this.report.dropped(job, attempts, `the aggregator stopped during attempt ${attempts}`);
    } else if (!result.retry) {
      this.busyKeys.delete(job.key);
      this.report.failed(job, attempts, result.why);
    } else if (attempts >= this.settings.attempts) {
      this.busyKeys.delete(job.key);
      this.report.failed(job, attempts, `gave up after ${attempts} attempt(s); last: ${result.why}`);
    } else {
      const delay = this.delayBefore(attempts + 1, result.retryAfterMs);
      this.report.retrying(job, attempts, delay, result.why);
      const timer = setTimeout(() => {
        this.backingOff.delete(timer);
        this.waiting.unshift(entry);
        this.pump();
      }, delay);
      this.backingOff.set(timer, entry);
    }
    this.pump();
  }

  /**
   * Exponential backoff with "equal jitter": half the step fixed, half random, so retries from
   * many narratives spread out but none comes back at once. A Retry-After (429/503) is a floor.
   */
  private delayBefore(attempt: number, retryAfterMs: number | undefined): number {
    const { backoffBaseMs, backoffMaxMs, retryAfterMaxMs } = this.settings;
    const step = Math.min(backoffMaxMs, backoffBaseMs * 2 ** (attempt - 2));
    const jittered = Math.round(step / 2 + (this.random() * step) / 2);
    return retryAfterMs === undefined ? jittered : Math.max(jittered, Math.min(retryAfterMs, retryAfterMaxMs));
  }
}

const USER_AGENT = 'kafka-obs/0.1.0';
const RETRY_STATUS = new Set([408, 425, 429]);
/** Enough of an error body to say why; receivers answer in a line ("invalid_token"). */
const BODY_EXCERPT = 300;

/** One POST. Never throws: every way it can go wrong is an outcome with a reason. */
export async function post(req: HttpRequest, timeoutMs: number, stop: AbortSignal): Promise<Attempt> {
  const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), stop]);
  try {
    // Redirects are not followed: the body would go somewhere nobody configured.
    const res = await fetch(req.url, { method: 'POST', headers: { 'user-agent': USER_AGENT, ...req.headers }, body: req.body, signal, redirect: 'manual' });
    const text = await readSome(res, BODY_EXCERPT);
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
    const why = `HTTP ${res.status}${text ? `: ${oneLine(text)}` : ''}`;
    if (res.status >= 300 && res.status < 400) return { ok: false, retry: false, why: `${why} (redirects are not followed)` };
    const retry = res.status >= 500 || RETRY_STATUS.has(res.status);
    return { ok: false, retry, why, retryAfterMs: retry ? retryAfter(res.headers.get('retry-after')) : undefined };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    if (err.name === 'TimeoutError') return { ok: false, retry: true, why: `no answer within ${timeoutMs} ms` };
    if (stop.aborted) return { ok: false, retry: false, why: 'stopped' };
    const cause = err.cause?.code ?? err.cause?.message ?? err.message;
    return { ok: false, retry: true, why: `cannot reach the receiver: ${cause}` };
  }
}

/** Reads at most `max` characters of the body and lets the rest go. */
async function readSome(res: Response, max: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (text.length < max) {
      const { done, value } = await reader.read();
      if (done) return text;
      text += decoder.decode(value, { stream: true });
    }
    await reader.cancel();
  } catch {
    // A body cut short still leaves the status, which is what counts.
  }
  return text.slice(0, max);
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Retry-After: seconds, or an HTTP date. */
export function retryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const s = Number(header.trim());
  if (Number.isFinite(s) && s >= 0) return Math.round(s * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
