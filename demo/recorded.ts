// The demo without JVMs: the cascade scenario's recorded timeline (three brokers, a lag monitor,
// order-service, payment-service and billing-service, as their agents sent it) replayed through
// live agents, paced in time — each recorded source's signals go to an agent's intake (POST
// /v1/signals), which stamps, numbers and streams them to the aggregator as it would any service's.
// Time is compressed: the quiet baseline most, the incident least.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SEVERITY, Signal, Status_Condition, assess } from '../proto/index.js';
import { parseSubject } from '../proto/index.js';
import { loadScenarioFrom } from './scenarios.js';
import type { AgentHandle, Processes } from './processes.js';
import type { Phase, PhaseContext } from './script.js';

/** Where the build puts the recorded cascade (from test/fixtures/scenarios). */
export const RECORDINGS = fileURLToPath(new URL('./recordings/', import.meta.url));
export const SCENARIO = 'cascade';

/** How long each part of the recording takes to replay (ms, before --fast shortens it). */
export const RECORDED_PACE = { baselineMs: 8000, incidentMs: 32_000, recoveryMs: 16_000 };

export function recordedAvailable(): boolean {
  return existsSync(join(RECORDINGS, 'index.json'));
}

interface Timed {
  /** Recorded time since the start, ms: the latest timestamp heard so far (arrival order). */
  atMs: number;
  agent: string;
  signal: Signal;
}

const DIVERGING = SEVERITY[Status_Condition.DIVERGING];
const unhealthy = (s: Signal): boolean => (SEVERITY[assess(s)?.condition ?? Status_Condition.CONDITION_UNSPECIFIED] ?? 0) >= DIVERGING;

/** kafka-1, kafka-2 -> kafka; order-1, order-2 -> order; lag-monitor -> lag-monitor. */
const agentOf = (sourceId: string): string => sourceId.replace(/-\d+$/, '') || sourceId;

export interface RecordedEstate {
  agents: AgentHandle[];
  phases: Phase[];
  description: string[];
}

export async function startRecordedEstate(processes: Processes, aggregatorUrl: string, note: (s: string) => void): Promise<RecordedEstate> {
  if (!recordedAvailable()) throw new Error(`no recorded timeline in ${RECORDINGS} (the build copies it from test/fixtures/scenarios)`);
  const sc = loadScenarioFrom(RECORDINGS, SCENARIO);
  let latest = sc.startNs;
  const timed: Timed[] = sc.signals.map((s) => {
    if (s.timestamp > latest) latest = s.timestamp;
    return { atMs: Number((latest - sc.startNs) / 1_000_000n), agent: agentOf(s.sourceId), signal: s };
  });
  const ids = [...new Set(timed.map((t) => t.agent))];
  const sources = new Map(ids.map((id) => [id, [...new Set(timed.filter((t) => t.agent === id).map((t) => t.signal.sourceId))]]));
  note(`starting ${ids.length} agents to relay the recorded sources (${[...sources.values()].flat().join(', ')})...`);
  const agents = await Promise.all(ids.map((id) => processes.agent(id, aggregatorUrl, [])));
  const byId = new Map(agents.map((a) => [a.id, a]));

  // Where the story turns, in recorded time.
  const endMs = Math.max(sc.meta.durationSeconds * 1000, timed.at(-1)!.atMs);
  const first = (from: number, test: (t: Timed) => boolean): number | undefined => timed.find((t) => t.atMs >= from && unhealthy(t.signal) && test(t))?.atMs;
  const kind = (t: Timed): string => {
    const info = parseSubject(t.signal.subject);
    return info.kind === 'client' ? info.role ?? 'client' : info.kind;
  };
  const troubleMs = (sc.meta.troubleAtSeconds ?? 0) * 1000 || (first(0, (t) => kind(t) === 'broker' || kind(t) === 'partition') ?? 0);
  const recoveryMs = (sc.meta.recoveryAtSeconds ?? endMs / 1000) * 1000;
  const clamp = (v: number | undefined, lo: number): number => Math.min(Math.max(v ?? recoveryMs, lo), recoveryMs);
  const producersMs = clamp(first(troubleMs, (t) => kind(t) === 'producer'), troubleMs);
  const consumersMs = clamp(first(producersMs, (t) => kind(t) === 'consumer' || kind(t).startsWith('group')), producersMs);

  /** Recorded ms -> replay ms: each part of the recording squeezed into its share of the run. */
  const replayMs = (at: number): number => {
    if (at < troubleMs) return (at / Math.max(troubleMs, 1)) * RECORDED_PACE.baselineMs;
    if (at < recoveryMs) return RECORDED_PACE.baselineMs + ((at - troubleMs) / Math.max(recoveryMs - troubleMs, 1)) * RECORDED_PACE.incidentMs;
    return RECORDED_PACE.baselineMs + RECORDED_PACE.incidentMs + ((at - recoveryMs) / Math.max(endMs - recoveryMs, 1)) * RECORDED_PACE.recoveryMs;
  };

  let rejected = 0;
  const post = async (agent: AgentHandle, signals: Signal[]): Promise<void> => {
    // The agent fills source, sequence, time and clock, as for any service beside it.
    const body = signals.map((s) => Signal.toJSON({ ...s, sourceId: '', seq: 0n, timestamp: 0n, clock: {} }));
    const r = await fetch(`http://127.0.0.1:${agent.httpPort}/v1/signals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const reply = (await r.json()) as { rejections?: unknown[] };
    rejected += reply.rejections?.length ?? (r.ok ? 0 : signals.length);
  };

  /** Plays the recording from `fromMs` to `toMs` (recorded time), paced. */
  const play = async (ctx: PhaseContext, fromMs: number, toMs: number): Promise<void> => {
    const startWall = Date.now();
    const base = replayMs(fromMs);
    const slice = timed.filter((t) => t.atMs >= fromMs && t.atMs < toMs);
    for (let i = 0; i < slice.length; ) {
      const at = replayMs(slice[i]!.atMs);
      await ctx.pace.until(startWall + (at - base) * ctx.pace.scale);
      // Everything due within 20 ms goes at once, one request per agent.
      const due: Timed[] = [];
      while (i < slice.length && replayMs(slice[i]!.atMs) - at < 20) due.push(slice[i++]!);
      await Promise.all(ids.map((id) => {
        const mine = due.filter((t) => t.agent === id).map((t) => t.signal);
        return mine.length ? post(byId.get(id)!, mine) : undefined;
      }));
    }
    await ctx.pace.until(startWall + (replayMs(toMs) - base) * ctx.pace.scale);
    if (rejected > 0) ctx.view.note(`${rejected} recorded signal(s) refused by the agents`);
  };

  const seconds = (ms: number): string => `${Math.round(ms / 1000)} s`;
  const phases: Phase[] = [
    {
      title: 'Healthy baseline',
      detail: `recorded 0-${seconds(troubleMs)}: brokers, producers, consumers and the lag monitor report; everything is STABLE`,
      async play(ctx) {
        await play(ctx, 0, troubleMs);
        ctx.view.note(`${ctx.view.healthyStarts} subjects reported healthy so far (not listed one by one)`);
        await ctx.view.tree('The tree, healthy:');
      },
    },
    {
      title: 'Broker 1 loses replicas',
      detail: `recorded ${seconds(troubleMs)}: broker 1 reports under-replicated partitions; partitions of orders lose it from their ISR`,
      play: (ctx) => play(ctx, troubleMs, producersMs),
    },
    {
      title: 'Producers slow down, their buffers fill',
      detail: `recorded ${seconds(producersMs)}: order-service and payment-service wait longer for acks; order-service's buffers fill and exhaust`,
      play: (ctx) => play(ctx, producersMs, consumersMs),
    },
    {
      title: 'Consumers fall behind',
      detail: `recorded ${seconds(consumersMs)}: group billing's lag grows`,
      async play(ctx) {
        await play(ctx, consumersMs, recoveryMs);
        await ctx.view.tree('The tree, in the middle of the incident:');
      },
    },
    {
      title: 'Broker 1 recovers',
      detail: `recorded ${seconds(recoveryMs)}-${seconds(endMs)}: replicas back in sync; latencies converge, buffers drain, billing catches up`,
      play: (ctx) => play(ctx, recoveryMs, endMs + 1),
    },
  ];
  const width = Math.max(...ids.map((id) => id.length));
  return {
    agents,
    phases,
    description: [
      `recorded    ${sc.meta.description}`,
      `            ${sc.signals.length} signals over ${seconds(endMs)}, replayed in about ${seconds(RECORDED_PACE.baselineMs + RECORDED_PACE.incidentMs + RECORDED_PACE.recoveryMs)} (less with --fast)`,
      ...ids.map((id) => `agent       ${id.padEnd(width)}  relays ${sources.get(id)!.join(', ')}`),
    ],
  };
}
