// Narrative latency (phase `narrative-latency` of `npm run bench`): how long after the evidence a
// narrative reaches a subscriber, end to end — the real aggregator (the CLI, its own process), one
// real agent per recorded source (the CLI, each its own process, agent id = the recorded source
// id), and a subscriber on the aggregator's Subscribe (in this process, so send and receive times
// share one clock). The driver (this process too) hands each recorded signal to its source's agent
// through the agent's local intake (LocalAgent/Emit), paced; the agent numbers it, batches it and
// streams it to the aggregator as it would a service's.
//
// The recordings (test/fixtures/scenarios: cascade, slow-consumer, managed-kafka by default) are
// played in compressed time: the healthy baseline BENCH_NARRATIVE_BASELINE_SPEED times faster
// (20), the incident from the scenario's troubleAtSeconds on BENCH_NARRATIVE_SPEED times faster
// (5). How compression stays within the rules: the aggregator's clock is its own wall clock
// (arrival time) — it measures the waits (a narrative rooted only in a symptom waits --cause-wait-ms
// for its cause; resolution, situation hold); signal timestamps order evidence and measure the
// windows between signals (broker inference's 30 s, slow-consumer's reading span, cascade
// tolerance). So the timestamps keep the recording's spacing exactly (shifted so that a signal
// sent at the trouble's start is stamped with its send time: baseline signals look late, incident
// signals run ahead of the wall clock by up to (1 - 1/speed) of the incident time so far, well
// inside the aggregator's 5-minute future-skew allowance), while the wall-clock waits are divided by
// the incident speed through the aggregator's flags (--cause-wait-ms, --resolve-after-ms,
// --situation-hold-ms). Unscaled: the 1 s minimum gap between updates of one narrative, the 250 ms
// tick, the 150 s evidence TTLs (longer than the compressed incident: nothing expires early).
// The agents stamp their own source, sequence and vector clock (their own entry only: the
// recording's cross-source clock entries are not replayed), so a chain may be ordered a little
// differently from the recording's; when a narrative opens does not depend on it. Each scenario is
// played until 2 s after its last milestone is due, not to its end (resolution is not measured).
//
// Figures, per scenario and milestone (the narrative's OPEN; for the cascade also the first
// revision that names the cascade, i.e. carries a cascading-failure finding):
//   (i)  first causal signal -> subscriber: from the Emit of the earliest-sent signal cited in the
//        milestone revision's causal chain to that revision arriving at the subscriber. Measured in
//        compressed time, so mostly the (compressed) time the incident takes to show; also given
//        at real speed, estimated as the rules' own delay in a pure replay of the recording at
//        recorded pace and default settings (the time from that signal to the instant the pipeline
//        publishes) plus the measured (ii).
//   (ii) evidence complete -> subscriber: from the moment the rules had all they need to the
//        revision arriving. That moment comes from a pure replay of exactly what the aggregator
//        is sent (same timestamps, sources, sequence numbers, the driver's schedule as clock,
//        ticks every 5 ms, the aggregator's settings): either the signal whose ingest produced the
//        revision (then: from that signal's Emit) or, when time publishes it (a symptom-rooted
//        incident after --cause-wait-ms, an update held back by the 1 s gap), the instant the
//        rules allow it (then: from that instant on the driver's clock; the live aggregator adds
//        up to one 250 ms tick, and the replay's 5 ms ticks may place that instant up to 5 ms late).
//        Either way (ii) includes the agent (its 5 ms batching linger), both gRPC hops and the
//        subscriber's process. The aggregator's own event log is checked to agree: the signal
//        event right before the narrative event, in the same batch, must be the replay's trigger.
//        This is the figure the issue's "≤ 1 s beyond the evidence the rules need" is about.
//
// The recordings are those `npm run record` made from real agents, at --time-scale 0.2 (five times
// faster than life): the aggregator runs at the recording's time scale, its waits scaled alike.
// Tunables: BENCH_NARRATIVE_SCENARIOS (cascade,slow-consumer,managed-kafka), BENCH_NARRATIVE_SPEED
// (1: the recording's own pace), BENCH_NARRATIVE_BASELINE_SPEED (2), BENCH_NARRATIVE_RUNS (1 per scenario).
import { createChannel, createClient, type Channel } from 'nice-grpc';
import {
  LocalAgentDefinition,
  Narrative_State,
  SignalAggregatorDefinition,
  describeSign,
  directDefinition,
  type Event,
  type Narrative,
  type Signal,
} from '../proto/index.js';
import { Pipeline, type PipelineSettings } from '../aggregator/pipeline.js';
import { pipelineSettings } from '../aggregator/server.js';
import { AGGREGATOR_DEFAULTS } from '../aggregator/config.js';
import type { EventPayload } from '../aggregator/event-log.js';
import { loadScenarioFrom, type Scenario } from '../demo/scenarios.js';
import { fmt, httpGet, metric, sleep, waitUntil } from './common.js';
import { startAggregatorProc, startAgentProc, stopAll, type AgentProc } from './procs.js';
import { SCENARIO_DIR, type BenchRow } from './pipeline.js';

export const NARRATIVE_TARGET_MS = 1000;

const MS = 1_000_000n;
const SECOND = 1_000_000_000n;
const REPLAY_TICK_NS = 5n * MS;

const envNum = (name: string, dflt: number): number => {
  const n = Number(process.env[name]);
  return Number.isFinite(n) && n > 0 ? n : dflt;
};

// ---------------------------------------------------------------------------------------------
// Milestones and the pure replay

interface Milestone {
  key: 'opened' | 'cascade';
  label: string;
  test(n: Narrative): boolean;
}

const MILESTONES: Milestone[] = [
  { key: 'opened', label: 'narrative opened', test: (n) => n.state === Narrative_State.OPEN },
  { key: 'cascade', label: 'cascade named', test: (n) => n.state !== Narrative_State.RESOLVED && n.findingIds.some((id) => id.startsWith('cascading-failure')) },
];

interface Produced {
  narrative: Narrative;
  /** Index of the signal whose ingest produced it, or -1 when a tick did. */
  by: number;
  /** The pipeline clock when it was produced. */
  at: bigint;
}

/** Feeds `signals` at `clock[i]`, ticking every `tickNs` in between and `tailNs` after; returns every narrative event. */
function replayNarratives(signals: Signal[], clock: bigint[], settings: PipelineSettings, tickNs: bigint, tailNs: bigint): Produced[] {
  const pipeline = new Pipeline(settings);
  const out: EventPayload[] = [];
  const produced: Produced[] = [];
  const collect = (by: number, at: bigint): void => {
    for (const e of out) if (e.narrative) produced.push({ narrative: e.narrative, by, at });
    out.length = 0;
  };
  let next = clock[0]! - (clock[0]! % tickNs) + tickNs;
  const tickTo = (t: bigint): void => {
    for (; next <= t; next += tickNs) {
      pipeline.tick(next, out);
      collect(-1, next);
    }
  };
  for (let i = 0; i < signals.length; i++) {
    tickTo(clock[i]!);
    pipeline.ingest(structuredClone(signals[i]!), clock[i]!, out);
    collect(i, clock[i]!);
  }
  tickTo(clock.at(-1)! + tailNs);
  return produced;
}

/** The first narrative event (of the first narrative) that reaches the milestone. */
function find(produced: Produced[], m: Milestone): Produced | undefined {
  const first = produced[0]?.narrative.id;
  return produced.find((p) => p.narrative.id === first && m.test(p.narrative));
}

// ---------------------------------------------------------------------------------------------
// The plan: who sends what when, stamped how

interface Plan {
  sc: Scenario;
  /** In arrival order, as recorded. */
  recorded: Signal[];
  /** Recorded arrival (the latest timestamp heard so far) from the start, ns. */
  recArrivalNs: bigint[];
  /** When the driver sends it, from the start of the playback, ns. */
  sendNs: bigint[];
  /** Its timestamp, from the start of the playback (may be before 0: the baseline looks late). */
  stampNs: bigint[];
  /** As the aggregator will see it: source = the agent, seq = the agent's count, clock = its own entry. */
  seen: Signal[];
  troubleNs: bigint;
  speed: number;
  baselineSpeed: number;
}

function plan(name: string, speed: number, baselineSpeed: number): Plan {
  const sc = loadScenarioFrom(SCENARIO_DIR, name);
  const troubleNs = BigInt(Math.round((sc.meta.troubleAtSeconds ?? 0) * 1000)) * MS;
  const toSend = (rec: bigint): bigint => {
    const r = Number(rec);
    const t = Number(troubleNs);
    return BigInt(Math.round(r < t ? r / baselineSpeed : t / baselineSpeed + (r - t) / speed));
  };
  let latest = sc.startNs;
  const recArrivalNs: bigint[] = [];
  const sendNs: bigint[] = [];
  const stampNs: bigint[] = [];
  const seen: Signal[] = [];
  const seqs = new Map<string, bigint>();
  // A signal sent at the trouble's start carries its send time; the recording's spacing is kept.
  const anchor = toSend(troubleNs) - troubleNs;
  for (const s of sc.signals) {
    if (s.timestamp > latest) latest = s.timestamp;
    const rec = latest - sc.startNs;
    recArrivalNs.push(rec);
    sendNs.push(toSend(rec));
    stampNs.push(s.timestamp - sc.startNs + anchor);
    const seq = (seqs.get(s.sourceId) ?? 0n) + 1n;
    seqs.set(s.sourceId, seq);
    seen.push({ ...s, seq, timestamp: 0n, clock: { [s.sourceId]: seq } });
  }
  return { sc, recorded: sc.signals, recArrivalNs, sendNs, stampNs, seen, troubleNs, speed, baselineSpeed };
}

/**
 * The aggregator flags that scale its wall-clock waits to the incident's speed, and its windows to
 * the recording's time scale (incidents are recorded at --time-scale 0.2: already 5× faster than life).
 */
function aggregatorFlags(speed: number, timeScale: number): string[] {
  const d = AGGREGATOR_DEFAULTS;
  return [
    '--time-scale', String(timeScale),
    '--default-cluster', 'prod',
    '--cause-wait-ms', String(Math.round((d.causeWaitMs * timeScale) / speed)),
    '--resolve-after-ms', String(Math.round((d.resolveAfterMs * timeScale) / speed)),
    '--situation-hold-ms', String(Math.round((d.situationHoldMs * timeScale) / speed)),
  ];
}

function settingsFor(flags: string[]): PipelineSettings {
  const v = (f: string): number => Number(flags[flags.indexOf(f) + 1]);
  return pipelineSettings({ ...AGGREGATOR_DEFAULTS, defaultCluster: 'prod', timeScale: v('--time-scale'), causeWaitMs: v('--cause-wait-ms'), resolveAfterMs: v('--resolve-after-ms'), situationHoldMs: v('--situation-hold-ms') }, 'n-');
}

// ---------------------------------------------------------------------------------------------
// One live run

export interface MilestoneResult {
  scenario: string;
  milestone: Milestone['key'];
  label: string;
  situation: string;
  revision: number;
  /** (i): first causal signal's Emit -> subscriber, ms (compressed time). */
  firstCausalMs: number;
  firstCausal: string;
  /** (ii): evidence complete -> subscriber, ms. */
  completeMs: number;
  completedBy: string;
  /** Of (ii): -> the aggregator's event time (Date.now, ±1 ms), and from there -> subscriber. */
  toAggregatorMs: number;
  toSubscriberMs: number;
  liveAgrees: boolean;
  liveNote: string;
  /** The pure replay at recorded pace: rules' own delay from the first causal signal, s. */
  rulesDelayRealS: number;
}

interface Received {
  event: Event;
  at: number;
}

async function runScenario(name: string, speed: number, baselineSpeed: number, extraArgs: string[], out: (s?: string) => void): Promise<MilestoneResult[]> {
  const p = plan(name, speed, baselineSpeed);
  const flags = aggregatorFlags(speed, p.sc.meta.timeScale ?? 1);
  const settings = settingsFor(flags);

  // What the rules do with exactly this input and schedule (the absolute times do not matter).
  const base = 2_000_000_000n * SECOND;
  const stamped = p.seen.map((s, i) => ({ ...s, timestamp: base + p.stampNs[i]! }));
  const produced = replayNarratives(stamped, p.sendNs.map((t) => base + t), settings, REPLAY_TICK_NS, 60n * SECOND);
  const expected = MILESTONES.map((m) => ({ m, p: find(produced, m) })).filter((x): x is { m: Milestone; p: Produced } => x.p !== undefined);
  if (expected.length === 0) throw new Error(`${name}: the pure replay of the compressed schedule produced no narrative`);
  // Drop a later milestone that is the very same revision as an earlier one.
  const milestones = expected.filter((x, i) => expected.findIndex((y) => y.p === x.p) === i);
  const readyNs = (x: { p: Produced }): bigint => (x.p.by >= 0 ? p.sendNs[x.p.by]! : x.p.at - base);
  const stopNs = milestones.reduce((mx, x) => (readyNs(x) > mx ? readyNs(x) : mx), 0n) + 2n * SECOND;
  const count = p.sendNs.findIndex((t) => t > stopNs);
  const n = count < 0 ? p.seen.length : count;

  // The same at recorded pace with default settings: the rules' own delay.
  const realClock = p.recArrivalNs.map((t) => p.sc.startNs + t);
  const realProduced = replayNarratives(p.recorded, realClock, settingsFor(aggregatorFlags(1, p.sc.meta.timeScale ?? 1)), 10n * MS, 60n * SECOND);

  const agentIds = [...new Set(p.seen.slice(0, n).map((s) => s.sourceId))];
  out(`    ${name}: ${p.sc.meta.description}`);
  out(`      ${n} of ${p.seen.length} recorded signals (to ${fmt(Number(p.recArrivalNs[n - 1]!) / 1e9, 0)} s of the recording) played in ${fmt(Number(p.sendNs[n - 1]!) / 1e9, 1)} s: baseline ${baselineSpeed}×, from ${fmt(Number(p.troubleNs) / 1e9, 0)} s on ${speed}×; ${agentIds.length} agents; aggregator ${flags.join(' ')}`);

  const agg = await startAggregatorProc([...flags, ...extraArgs]);
  const channels: Channel[] = [];
  try {
    const agents = await Promise.all(agentIds.map((id) => startAgentProc(agg.grpcPort, id, false)));
    const byId = new Map<string, AgentProc>(agentIds.map((id, i) => [id, agents[i]!]));
    const clients = new Map(agentIds.map((id) => {
      const ch = createChannel(byId.get(id)!.grpcAddress);
      channels.push(ch);
      return [id, createClient(directDefinition(LocalAgentDefinition), ch)] as const;
    }));
    await Promise.all([...clients.values()].map((c) => c.emit({ signals: [] })));

    // The subscriber: every event (signals included, to check which one preceded the narrative).
    const aggChannel = createChannel(agg.address);
    channels.push(aggChannel);
    const sub = createClient(directDefinition(SignalAggregatorDefinition), aggChannel);
    const received: Received[] = [];
    const abort = new AbortController();
    let subError: unknown;
    const subDone = (async () => {
      try {
        for await (const event of sub.subscribe({ kinds: [], subjectPrefix: '' }, { signal: abort.signal })) received.push({ event, at: performance.now() });
      } catch (e) {
        if (!abort.signal.aborted) subError = e;
      }
    })();
    await waitUntil('the subscriber to be registered', 10_000, async () => ((metric((await httpGet(agg.metricsUrl, 3000)).body, 'kafkaobs_subscribers_open') ?? 0) >= 1 ? true : undefined));

    // Play: every signal due goes at once, one Emit per agent, in order per agent.
    const sentAt = new Array<number>(n).fill(NaN);
    const t0 = performance.now();
    // The wall clock (the aggregator's, Date.now) at t0, for the timestamps and for its event times.
    const epoch0 = BigInt(Date.now()) * MS - BigInt(Math.round((performance.now() - t0) * 1e6));
    const epochMs = Number(epoch0) / 1e6;
    const chains = new Map<string, Promise<void>>();
    let emitErrors = 0;
    let rejected = 0;
    let firstProblem = '';
    for (let i = 0; i < n; ) {
      const due = t0 + Number(p.sendNs[i]!) / 1e6;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait - 0.5);
      while (performance.now() < due) await new Promise((r) => setImmediate(r));
      const batch = new Map<string, number[]>();
      const now = performance.now();
      for (; i < n && t0 + Number(p.sendNs[i]!) / 1e6 <= now; i++) {
        const id = p.seen[i]!.sourceId;
        const list = batch.get(id);
        if (list) list.push(i);
        else batch.set(id, [i]);
      }
      for (const [id, idx] of batch) {
        const signals = idx.map((k) => ({ ...p.recorded[k]!, sourceId: '', seq: 0n, timestamp: epoch0 + p.stampNs[k]!, clock: {} }));
        const prev = chains.get(id) ?? Promise.resolve();
        chains.set(id, prev.then(async () => {
          const at = performance.now();
          for (const k of idx) sentAt[k] = at;
          try {
            const r = await clients.get(id)!.emit({ signals });
            if (r.rejections.length) {
              rejected += r.rejections.length;
              firstProblem ||= r.rejections[0]!.reason;
            }
          } catch (e) {
            emitErrors++;
            firstProblem ||= (e as Error).message;
          }
        }));
      }
    }
    await Promise.all(chains.values());
    if (emitErrors || rejected) throw new Error(`${name}: ${emitErrors} Emit errors, ${rejected} signals rejected by the agents (${firstProblem})`);

    // Wait for every milestone to reach the subscriber.
    const narrativeEvents = (): Received[] => received.filter((r) => r.event.narrative);
    const liveFind = (m: Milestone): Received | undefined => {
      const ns = narrativeEvents();
      const first = ns[0]?.event.narrative!.id;
      return ns.find((r) => r.event.narrative!.id === first && m.test(r.event.narrative!));
    };
    try {
      await waitUntil('the narrative milestones at the subscriber', 10_000, () => (milestones.every((x) => liveFind(x.m)) ? true : undefined), 20);
    } catch (e) {
      throw new Error(`${name}: ${(e as Error).message}; got ${narrativeEvents().map((r) => `${Narrative_State[r.event.narrative!.state]} r${r.event.narrative!.revision}`).join(', ') || 'no narrative'}${subError ? `; subscriber error ${String(subError)}` : ''}`);
    }
    abort.abort();
    await subDone;

    // Sent signals by what the aggregator sees of them: subject and timestamp.
    const key = (subject: string, ts: bigint): string => `${subject}\u0000${ts}`;
    const sentIndex = new Map<string, number>();
    for (let k = 0; k < n; k++) sentIndex.set(key(p.recorded[k]!.subject, epoch0 + p.stampNs[k]!), k);
    const describe = (k: number): string => `${p.seen[k]!.sourceId} ${p.recorded[k]!.subject} ${describeSign(p.recorded[k]!)} (recorded ${fmt(Number(p.recArrivalNs[k]!) / 1e9, 1)} s)`;
    const results: MilestoneResult[] = [];
    for (const x of milestones) {
      const live = liveFind(x.m)!;
      const nv = live.event.narrative!;
      // (i): the earliest-sent signal the revision cites.
      const cited = nv.causalChain.map((e) => sentIndex.get(key(e.subject, e.time))).filter((k): k is number => k !== undefined);
      const firstK = cited.length ? cited.reduce((a, b) => (sentAt[a]! <= sentAt[b]! ? a : b)) : -1;
      // (ii): when the rules had what they need.
      const readyAt = x.p.by >= 0 ? sentAt[x.p.by]! : t0 + Number(x.p.at - base) / 1e6;
      // The live log's view: the signal event just before the narrative's, in the same batch (same time).
      const before = received.filter((r) => r.event.offset < live.event.offset);
      let liveTrigger = -1;
      for (let j = before.length - 1; j >= 0; j--) {
        const ev = before[j]!.event;
        if (ev.time !== live.event.time) break;
        if (ev.signal) {
          liveTrigger = sentIndex.get(key(ev.signal.subject, ev.signal.timestamp)) ?? -2;
          break;
        }
      }
      const liveAgrees = liveTrigger === x.p.by || (x.p.by < 0 && liveTrigger === -1);
      const liveNote = liveAgrees ? (x.p.by >= 0 ? 'the live log agrees: that signal\'s batch produced it' : 'the live log agrees: a tick produced it') : `the live log differs: ${liveTrigger >= 0 ? `produced with ${describe(liveTrigger)}` : liveTrigger === -1 ? 'produced by a tick' : 'after a signal not sent by the driver'}`;
      const eventWallMs = Number(live.event.time / MS);
      const readyWallMs = epochMs + (readyAt - t0);
      // At recorded pace: the same milestone, from the same first causal signal (by recorded identity).
      const real = find(realProduced, x.m);
      let rulesDelayRealS = NaN;
      if (real && firstK >= 0) rulesDelayRealS = Number(real.at - (p.sc.startNs + p.recArrivalNs[firstK]!)) / 1e9;
      results.push({
        scenario: name,
        milestone: x.m.key,
        label: x.m.label,
        situation: nv.situation,
        revision: nv.revision,
        firstCausalMs: firstK >= 0 ? live.at - sentAt[firstK]! : NaN,
        firstCausal: firstK >= 0 ? describe(firstK) : 'not found in the chain',
        completeMs: live.at - readyAt,
        completedBy: x.p.by >= 0 ? `its ingest of ${describe(x.p.by)}${x.p.by === firstK ? ' — the first causal signal itself' : ''}` : `time: the rules allow it ${fmt(Number(x.p.at - base) / 1e9 - Number(p.sendNs[Math.max(0, firstK)]!) / 1e9, 2)} s after the first causal signal was sent (cause wait / update gap)`,
        toAggregatorMs: eventWallMs - readyWallMs,
        toSubscriberMs: epochMs + (live.at - t0) - eventWallMs,
        liveAgrees,
        liveNote,
        rulesDelayRealS,
      });
    }
    return results;
  } finally {
    for (const ch of channels) ch.close();
    await stopAll();
  }
}

// ---------------------------------------------------------------------------------------------
// The phase

export async function narrativeLatencyBench(out: (s?: string) => void, extraArgs: string[] = []): Promise<BenchRow[]> {
  const scenarios = (process.env.BENCH_NARRATIVE_SCENARIOS ?? 'cascade,slow-consumer,managed-kafka').split(',').map((s) => s.trim()).filter(Boolean);
  // The recordings are already compressed (recorded at --time-scale 0.2): played at their pace.
  const speed = envNum('BENCH_NARRATIVE_SPEED', 1);
  const baselineSpeed = envNum('BENCH_NARRATIVE_BASELINE_SPEED', 2);
  const runs = Math.round(envNum('BENCH_NARRATIVE_RUNS', 1));
  const all: MilestoneResult[] = [];
  const failed: string[] = [];
  for (const name of scenarios) {
    for (let r = 0; r < runs; r++) {
      let results: MilestoneResult[];
      try {
        results = await runScenario(name, speed, baselineSpeed, extraArgs, out);
      } catch (e) {
        // One scenario failing (a process that did not start, a narrative that never came) does not hide the others.
        out(`      !! ${name} failed: ${(e as Error).message}`);
        failed.push(name);
        continue;
      }
      for (const x of results) {
        out(`      ${x.label} (revision ${x.revision}): "${x.situation}"`);
        out(`        (i)  first causal signal -> subscriber   ${fmt(x.firstCausalMs, 0).padStart(7)} ms   at ${speed}×; first causal: ${x.firstCausal}`);
        out(`        (ii) evidence complete -> subscriber     ${fmt(x.completeMs, 0).padStart(7)} ms   completed by ${x.completedBy}`);
        out(`             of which -> aggregator event ${fmt(x.toAggregatorMs, 0)} ms (its clock, ±1 ms), -> subscriber ${fmt(x.toSubscriberMs, 0)} ms; ${x.liveNote}`);
        if (Number.isFinite(x.rulesDelayRealS)) out(`        at recorded pace the rules publish it ${fmt(x.rulesDelayRealS, 2)} s after the first causal signal arrives: (i) ≈ ${fmt(x.rulesDelayRealS + x.completeMs / 1000, 2)} s`);
      }
      all.push(...results);
    }
  }
  const rows: BenchRow[] = [];
  const groups = new Map<string, MilestoneResult[]>();
  for (const x of all) {
    const k = `${x.scenario}: ${x.label}`;
    groups.set(k, [...(groups.get(k) ?? []), x]);
  }
  const range = (xs: number[]): string => {
    const lo = Math.min(...xs);
    const hi = Math.max(...xs);
    return lo === hi || xs.length === 1 ? fmt(lo, 0) : `${fmt(lo, 0)}-${fmt(hi, 0)}`;
  };
  for (const [k, xs] of groups) {
    const worst = Math.max(...xs.map((x) => x.completeMs));
    rows.push({ what: `${k}, (ii) / (i)`, value: `${range(xs.map((x) => x.completeMs))} / ${range(xs.map((x) => x.firstCausalMs))} ms`, target: `(ii) ≤ ${NARRATIVE_TARGET_MS} ms`, verdict: worst <= NARRATIVE_TARGET_MS ? 'meets' : 'MISSES' });
  }
  if (failed.length) {
    rows.push({ what: `narrative latency: ${[...new Set(failed)].join(', ')}`, value: `${failed.length} run(s) failed`, target: '', verdict: 'FAILED' });
    throw Object.assign(new Error(`narrative latency failed for ${[...new Set(failed)].join(', ')}`), { rows });
  }
  return rows;
}
