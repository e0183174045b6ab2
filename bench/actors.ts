// Actors benchmark (`node dist/bench/actors.js`, or phase [5] of `npm run bench`): what deciding
// costs the aggregator per narrative revision, and how fast deliveries go out to a receiver.
//   a. decisions: narrative revisions through four dry-run actors (log, webhook, Slack,
//      PagerDuty), each outcome appended to an EventLog as the aggregator does;
//   b. deliveries: a live webhook actor POSTing to a local HTTP receiver (in this process),
//      at concurrency 4 and 16: deliveries/s, and publish -> received latency.
// Tunables: BENCH_ACTOR_DECISIONS (200000), BENCH_ACTOR_DELIVERIES (5000).
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Narrative_State, Situation_Level, Status_Confidence, nowNs, type Narrative } from '../proto/index.js';
import { EventLog } from '../aggregator/event-log.js';
import { ActorRunner } from '../actors/runner.js';
import { DELIVERY_DEFAULTS, type ActorSpec, type ActorsSettings } from '../actors/config.js';
import { fmt, fmtInt, nowMs, percentile } from './common.js';

const envInt = (name: string, dflt: number): number => {
  const n = Number(process.env[name]);
  return Number.isInteger(n) && n > 0 ? n : dflt;
};
const out = (s = ''): void => void process.stdout.write(`${s}\n`);
const silent = pino({ level: 'silent' });

function narrative(id: string, state: Narrative_State): Narrative {
  const t = nowNs();
  return {
    id, state, situation: `Producer buffer exhaustion in service-${id}`,
    causalChain: [
      { subject: 'cluster/prod/broker/1', sign: 'status DEGRADED', time: t, sourceId: 'b1', seq: 1n, detail: '3 under-replicated partitions', clock: {}, stage: '' },
      { subject: `service/s${id}/pod/p/producer/p1`, sign: 'queue OVERFLOW', time: t, sourceId: 'p', seq: 2n, detail: 'buffer 97% used', clock: {}, stage: '' },
    ],
    rootCause: 'broker-1 under-replicated partitions -> produce latency -> buffer backpressure',
    rootSubject: `service/s${id}`,
    recommendation: 'Restore the replicas on broker 1; raise buffer.memory meanwhile',
    confidence: Status_Confidence.MEASURED, level: Situation_Level.CRITICAL,
    openedAt: t, updatedAt: t, resolvedAt: state === Narrative_State.RESOLVED ? t : 0n, revision: state === Narrative_State.RESOLVED ? 2 : 1, findingIds: [], leaves: [],
  };
}

const common = { kind: 'alert' as const, minConfidence: Status_Confidence.MEASURED, minLevel: Situation_Level.WARNING, rateLimitMs: 0, notifyUpdates: false };
const http = (url: string, concurrency: number) => ({ url, headers: {}, delivery: { ...DELIVERY_DEFAULTS, concurrency, queueCapacity: 1_000_000 }, target: new URL(url).host });

export async function benchDecisions(n: number): Promise<{ perSec: number; usPerRevision: number }> {
  const url = 'http://127.0.0.1:9/never-called';
  const actors: ActorSpec[] = [
    { ...common, type: 'log', name: 'log', dryRun: true, target: 'log' },
    { ...common, ...http(url, 4), type: 'webhook', name: 'webhook', dryRun: true },
    { ...common, ...http(url, 4), type: 'slack', name: 'slack', dryRun: true },
    { ...common, ...http(url, 4), type: 'pagerduty', name: 'pagerduty', dryRun: true, routingKey: 'k', dedupKeyPrefix: 'kafka-obs/' },
  ];
  const log = new EventLog(200_000);
  const runner = new ActorRunner({ settings: { actors, disabled: [], secrets: [] }, emit: (action) => log.append({ action }, nowNs()), logger: silent, registry: new Registry() });
  const revisions: Narrative[] = [];
  for (let i = 0; i < n / 2; i++) revisions.push(narrative(String(i), Narrative_State.OPEN));
  for (let i = 0; i < n / 2; i++) revisions.push(narrative(String(i), Narrative_State.RESOLVED));
  const t0 = nowMs();
  for (const r of revisions) runner.onNarrative(r);
  const ms = nowMs() - t0;
  await runner.stop(0);
  return { perSec: (revisions.length / ms) * 1000, usPerRevision: (ms * 1000) / revisions.length };
}

/**
 * A live webhook actor POSTing to a receiver in this process. burst: all `n` published at once
 * (deliveries/s); paced: one at a time, each awaited (publish -> received latency, unqueued).
 */
export async function benchDeliveries(n: number, concurrency: number, mode: 'burst' | 'paced'): Promise<{ perSec: number; p50: number; p99: number; max: number }> {
  const publishedAt = new Map<string, number>();
  const latencies: number[] = [];
  const waiting = new Map<string, () => void>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const id = (JSON.parse(Buffer.concat(chunks).toString()) as { narrative: { id: string } }).narrative.id;
      latencies.push(nowMs() - publishedAt.get(id)!);
      res.writeHead(204).end();
      waiting.get(id)?.();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const settings: ActorsSettings = { actors: [{ ...common, ...http(url, concurrency), type: 'webhook', name: 'webhook', dryRun: false }], disabled: [], secrets: [] };
  const log = new EventLog(100_000);
  const runner = new ActorRunner({ settings, emit: (action) => log.append({ action }, nowNs()), logger: silent, registry: new Registry() });
  const received = (id: string) => new Promise<void>((r) => waiting.set(id, r));
  const t0 = nowMs();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const id = String(i);
    const got = received(id);
    publishedAt.set(id, nowMs());
    runner.onNarrative(narrative(id, Narrative_State.OPEN));
    if (mode === 'paced') await got;
    else pending.push(got);
  }
  await Promise.all(pending);
  const ms = nowMs() - t0;
  await runner.stop(0);
  server.closeAllConnections();
  server.close();
  latencies.sort((a, b) => a - b);
  return { perSec: (n / ms) * 1000, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1)! };
}

/** Prints the figures; returns summary rows for run.ts. */
export async function runActorsBench(): Promise<{ what: string; value: string }[]> {
  const decisions = envInt('BENCH_ACTOR_DECISIONS', 200_000);
  const deliveries = envInt('BENCH_ACTOR_DELIVERIES', 5000);
  await benchDecisions(20_000); // warm-up
  const d = await benchDecisions(decisions);
  out(`    decisions, 4 dry-run actors   ${fmtInt(d.perSec)} narrative revisions/s (${fmt(d.usPerRevision, 2)} µs each, 4 Action events appended)`);
  const rows = [{ what: 'actors: decide (4 actors, dry-run)', value: `${fmtInt(d.perSec)} revisions/s` }];
  for (const c of [4, 16]) {
    const r = await benchDeliveries(deliveries, c, 'burst');
    out(`    webhook deliveries, concurrency ${String(c).padEnd(2)} ${fmtInt(r.perSec)}/s (${fmtInt(deliveries)} narratives published at once)`);
    rows.push({ what: `actors: webhook deliveries (conc. ${c})`, value: `${fmtInt(r.perSec)}/s` });
  }
  const p = await benchDeliveries(500, 4, 'paced');
  out(`    publish -> webhook received     p50 ${fmt(p.p50, 2)} ms, p99 ${fmt(p.p99, 2)} ms, max ${fmt(p.max, 1)} ms (500, one at a time)`);
  rows.push({ what: 'actors: publish -> webhook p50 / p99', value: `${fmt(p.p50, 2)} / ${fmt(p.p99, 2)} ms` });
  return rows;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  out('[5] actors: decision cost and webhook delivery rate (in process, receiver on 127.0.0.1)');
  runActorsBench().then(() => process.exit(0), (e: Error) => {
    out(`actors bench failed: ${e.stack ?? e.message}`);
    process.exit(1);
  });
}
