// Stand-ins for the actors' world: real local HTTP servers as webhook receivers (Slack,
// PagerDuty, any webhook), narratives as the reporters publish them, the actions the actors
// publish back, and a logger whose lines the test can read.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import {
  Action_Sign,
  EventKind,
  Narrative_State,
  Situation_Level,
  Status_Confidence,
  nowNs,
  type Action,
  type Narrative,
} from '../../proto/index.js';
import type { EventLog } from '../../aggregator/event-log.js';
import { followBatches } from '../../aggregator/subscription.js';
import { loadActorsSettings, type ActorsSettings } from '../../actors/config.js';
import { tempDir } from './procs.js';

export interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: any;
  raw: string;
  /** performance.now() when the request had arrived in full. */
  at: number;
}

/** What the receiver answers; `hold` keeps the request open (a hanging receiver). */
export type Answer = { status: number; body?: string; headers?: Record<string, string> } | 'hold';

/** A real HTTP server that records every POST and answers as the test says. */
export class Receiver {
  readonly requests: Received[] = [];
  private readonly held: ServerResponse[] = [];
  private waiters: { test: (r: Received[]) => boolean; resolve: () => void }[] = [];
  answer: (r: Received, all: Received[]) => Answer = () => ({ status: 200, body: 'ok' });
  private constructor(private readonly server: Server, readonly port: number) {}

  static async start(): Promise<Receiver> {
    let self: Receiver | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => self!.onRequest(req, res, Buffer.concat(chunks).toString('utf8')));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    self = new Receiver(server, (server.address() as AddressInfo).port);
    return self;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse, raw: string): void {
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      body = undefined;
    }
    const r: Received = { path: req.url ?? '', headers: req.headers, body, raw, at: performance.now() };
    this.requests.push(r);
    const a = this.answer(r, this.requests);
    if (a === 'hold') this.held.push(res);
    else {
      res.writeHead(a.status, { 'content-type': 'text/plain', ...a.headers });
      res.end(a.body ?? '');
    }
    for (const w of [...this.waiters]) {
      if (w.test(this.requests)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  until(test: (r: Received[]) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    if (test(this.requests)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`receiver: timed out waiting for ${what} (have ${this.requests.length} requests)`)), timeoutMs);
      this.waiters.push({ test, resolve: () => { clearTimeout(t); resolve(); } });
    });
  }

  async close(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Action events as a subscriber of the event log sees them. */
export class ActionCollector {
  readonly actions: Action[] = [];
  private readonly abort = new AbortController();
  private waiters: { test: (a: Action[]) => boolean; resolve: () => void }[] = [];
  private readonly done: Promise<void>;

  constructor(log: EventLog) {
    this.done = (async () => {
      const batches = followBatches(log, { kinds: new Set([EventKind.ACTION]), subjectPrefix: '' }, log.nextOffset, this.abort.signal, { onGap: () => {} }, nowNs, 1000);
      for await (const batch of batches) {
        for (const e of batch) if (e.action) this.actions.push(e.action);
        for (const w of [...this.waiters]) {
          if (w.test(this.actions)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve();
          }
        }
      }
    })();
  }

  until(test: (a: Action[]) => boolean, what: string, timeoutMs = 20_000): Promise<Action[]> {
    if (test(this.actions)) return Promise.resolve(this.actions);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}; actions so far:\n${this.actions.map(describeAction).join('\n')}`)), timeoutMs);
      this.waiters.push({ test, resolve: () => { clearTimeout(t); resolve(this.actions); } });
    });
  }

  of(actor: string, sign?: Action_Sign, narrativeId?: string): Action[] {
    return this.actions.filter((a) => a.actor === actor && (sign === undefined || a.sign === sign) && (narrativeId === undefined || a.narrativeId === narrativeId));
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}

export function describeAction(a: Action): string {
  return `${a.actor} ${Action_Sign[a.sign]} ${a.narrativeId} attempt=${a.attempt} dry=${a.dryRun} target=${a.target}: ${a.detail}`;
}

/** A narrative as the reporters publish it: broker under-replication cascading to producers. */
export function narrative(over: Partial<Narrative> = {}): Narrative {
  const t0 = nowNs() - 60_000_000_000n;
  return {
    id: 'n-1',
    state: Narrative_State.OPEN,
    situation: 'Producer buffer exhaustion in order-service',
    causalChain: [
      { subject: 'cluster/prod/broker/1', sign: 'status DEGRADED', time: t0, sourceId: 'broker-1-agent', seq: 10n, detail: '3 under-replicated partitions', clock: {}, stage: '' },
      { subject: 'service/orders/pod/orders-1/producer/p1', sign: 'status DIVERGING', time: t0 + 5_000_000_000n, sourceId: 'orders-1', seq: 20n, detail: 'request-latency-avg 480 ms', clock: {}, stage: '' },
      { subject: 'service/orders/pod/orders-1/producer/p1', sign: 'queue OVERFLOW', time: t0 + 9_000_000_000n, sourceId: 'orders-1', seq: 21n, detail: 'buffer 97% used', clock: {}, stage: '' },
    ],
    rootCause: 'broker-1 under-replicated partitions -> produce latency -> buffer backpressure',
    rootSubject: 'cluster/prod/broker/1',
    recommendation: 'Restore the replicas on broker 1 (check its disk and network); meanwhile raise buffer.memory on order-producer',
    confidence: Status_Confidence.MEASURED,
    level: Situation_Level.CRITICAL,
    openedAt: t0 + 9_000_000_000n,
    updatedAt: t0 + 9_000_000_000n,
    resolvedAt: 0n,
    revision: 1,
    findingIds: ['f-1'],
    leaves: [],
    ...over,
  };
}

/** Revisions of one incident: open, two updates, resolve. */
export function incident(id: string, rootSubject = `cluster/prod/broker/${id}`, over: Partial<Narrative> = {}): Narrative[] {
  const base = narrative({ id, rootSubject, ...over });
  return [
    { ...base, state: Narrative_State.OPEN, revision: 1 },
    { ...base, state: Narrative_State.UPDATED, revision: 2, causalChain: [...base.causalChain, { subject: 'service/orders/consumer/c1', sign: 'queue OVERFLOW', time: nowNs(), sourceId: 'c', seq: 1n, detail: 'lag 25000', clock: {}, stage: '' }] },
    { ...base, state: Narrative_State.UPDATED, revision: 3, confidence: Status_Confidence.CONFIRMED },
    { ...base, state: Narrative_State.RESOLVED, revision: 4, resolvedAt: nowNs() },
  ];
}

export function publish(log: EventLog, ...narratives: Narrative[]): void {
  for (const n of narratives) log.append({ narrative: n }, nowNs());
  log.publish();
}

/** A pino logger writing JSON lines into `lines` (and to stderr with TEST_VERBOSE). */
export function captureLogger(lines: string[]): Logger {
  return pino({ level: 'debug' }, { write: (s: string) => { lines.push(s); if (process.env.TEST_VERBOSE) process.stderr.write(s); } });
}

/** Writes `yaml` to a file and loads it as the aggregator would (--actors). */
export function actorsFrom(yaml: string, env: NodeJS.ProcessEnv = {}, dryRun?: boolean): ActorsSettings {
  const file = join(tempDir('actors-'), 'actors.yaml');
  writeFileSync(file, yaml);
  return loadActorsSettings({ file, env, dryRun });
}
