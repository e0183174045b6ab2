// The demo without JVMs: an incident's timeline as real agents sent it (recorded from a run with
// real JVMs, `npm run record`; test/fixtures/scenarios), replayed through live agents — each
// recorded source's signals go to an agent of the same name, through its intake (POST
// /v1/signals), which stamps, numbers and streams them to the aggregator as it would any
// service's — at the pace they were recorded (shortened by --fast), phase by phase.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Signal } from '../proto/index.js';
import { loadScenarioFrom, scenarioIndexIn } from './scenarios.js';
import type { Incident, Phase, PhaseContext } from './incidents.js';
import type { AgentHandle, Processes } from './processes.js';

/** Where the build puts the recorded incidents (from test/fixtures/scenarios). */
export const RECORDINGS = fileURLToPath(new URL('./recordings/', import.meta.url));

export function recordedAvailable(name: string): boolean {
  return existsSync(join(RECORDINGS, 'index.json')) && scenarioIndexIn(RECORDINGS).some((s) => s.name === name);
}

export interface RecordedEstate {
  agents: AgentHandle[];
  phases: Phase[];
  description: string[];
}

export async function startRecordedEstate(processes: Processes, aggregatorUrl: string, inc: Incident, note: (s: string) => void): Promise<RecordedEstate> {
  if (!recordedAvailable(inc.name)) throw new Error(`no recorded timeline of ${inc.name} in ${RECORDINGS} (the build copies them from test/fixtures/scenarios)`);
  const sc = loadScenarioFrom(RECORDINGS, inc.name);
  // Recorded time of each signal (ms since the start): the latest timestamp heard so far, as the
  // aggregator's clock would have read it (arrival order).
  let latest = sc.startNs;
  const timed = sc.signals.map((s) => {
    if (s.timestamp > latest) latest = s.timestamp;
    return { atMs: Number((latest - sc.startNs) / 1_000_000n), signal: s };
  });
  const ids = [...new Set(sc.signals.map((s) => s.sourceId))];
  note(`starting ${ids.length} agents to relay the recorded sources (${ids.join(', ')})...`);
  const agents = await Promise.all(ids.map((id) => processes.agent(id, aggregatorUrl, [])));
  const byId = new Map(agents.map((a) => [a.id, a]));

  let rejected = 0;
  const post = async (agent: AgentHandle, signals: Signal[]): Promise<void> => {
    // The agent fills source, sequence, time and clock, as for any service beside it.
    const body = signals.map((s) => Signal.toJSON({ ...s, sourceId: '', seq: 0n, timestamp: 0n, clock: {} }));
    const r = await fetch(`http://127.0.0.1:${agent.httpPort}/v1/signals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const reply = (await r.json()) as { rejections?: unknown[] };
    rejected += reply.rejections?.length ?? (r.ok ? 0 : signals.length);
  };

  /** Plays the recording from `fromMs` to `toMs` (recorded time), at its pace. */
  const play = async (ctx: PhaseContext, fromMs: number, toMs: number): Promise<void> => {
    const startWall = Date.now();
    const slice = timed.filter((t) => t.atMs >= fromMs && t.atMs < toMs);
    for (let i = 0; i < slice.length; ) {
      const at = slice[i]!.atMs;
      await ctx.pace.until(startWall + (at - fromMs) * ctx.pace.scale);
      // Everything due within 20 ms goes at once, one request per agent.
      const due: (typeof timed)[number][] = [];
      while (i < slice.length && slice[i]!.atMs - at < 20) due.push(slice[i++]!);
      await Promise.all(
        ids.map((id) => {
          const mine = due.filter((t) => t.signal.sourceId === id).map((t) => t.signal);
          return mine.length ? post(byId.get(id)!, mine) : undefined;
        }),
      );
    }
    await ctx.pace.until(startWall + (toMs - fromMs) * ctx.pace.scale);
    if (rejected > 0) ctx.view.note(`${rejected} recorded signal(s) refused by the agents`);
  };

  // The phases as recorded (their start times), told with the incident's own words.
  const endMs = Math.max(sc.meta.durationSeconds * 1000, timed.at(-1)?.atMs ?? 0) + 1;
  const marks = sc.meta.phases ?? [{ title: inc.phases[0]!.title, atSeconds: 0 }];
  const phases: Phase[] = marks.map((m, i) => {
    const fromMs = m.atSeconds * 1000;
    const toMs = i + 1 < marks.length ? marks[i + 1]!.atSeconds * 1000 : endMs;
    const detail = inc.phases.find((p) => p.title === m.title)?.detail ?? '';
    return { title: m.title, detail: `recorded ${Math.round(fromMs / 1000)}-${Math.round(toMs / 1000)} s: ${detail}`, play: (ctx) => play(ctx, fromMs, toMs) };
  });
  return {
    agents,
    phases,
    description: [`recorded    ${sc.meta.description}`, `            ${sc.signals.length} signals over ${Math.round(endMs / 1000)} s, from ${ids.length} agents (${ids.join(', ')})`],
  };
}
