// Loads the recorded scenario timelines (test/fixtures/scenarios, see index.json) and replays
// them through a pipeline with a fake clock, as the aggregator would live: the clock is the
// latest time heard so far (signals arrive in file order, which is arrival order), and the
// pipeline ticks every second of it, as the aggregator's timer would.
import { join } from 'node:path';
import type { Event, Signal } from '../../proto/index.js';
import { loadScenarioFrom, scenarioIndexIn, type Scenario, type ScenarioMeta } from '../../demo/scenarios.js';
import type { Pipeline, PipelineSettings } from '../../aggregator/pipeline.js';
import { AGGREGATOR_DEFAULTS } from '../../aggregator/config.js';
import { pipelineSettings } from '../../aggregator/server.js';
import { TIMING } from '../../demo/estate.js';
import type { EventPayload } from '../../aggregator/event-log.js';
import { ROOT } from './procs.js';

export const SCENARIO_DIR = join(ROOT, 'test', 'fixtures', 'scenarios');

export type { Scenario, ScenarioMeta } from '../../demo/scenarios.js';

/** The index of test/fixtures/scenarios (the loader is the product's: aggregator/scenarios.ts). */
export const scenarioIndex = (): ScenarioMeta[] => scenarioIndexIn(SCENARIO_DIR);

/** A scenario of test/fixtures/scenarios; `rebaseEndTo` moves it so that it ends then. */
export const loadScenario = (name: string, opts: { rebaseEndTo?: bigint } = {}): Scenario => loadScenarioFrom(SCENARIO_DIR, name, opts);

export const SECOND = 1_000_000_000n;

/**
 * The pipeline settings the aggregator ran with when `meta` was recorded: the same time scale
 * (`--time-scale`) and narrative hysteresis as the incident's live run (demo/estate.ts).
 */
export function recordedPipeline(meta: ScenarioMeta): Partial<PipelineSettings> {
  const t = TIMING.normal;
  return pipelineSettings({ ...AGGREGATOR_DEFAULTS, defaultCluster: 'prod', timeScale: meta.timeScale ?? 1, causeWaitMs: t.causeWaitMs, resolveAfterMs: t.resolveAfterMs, situationHoldMs: t.situationHoldMs }, 'n');
}

/** An event as the log would hold it, with the clock time it was produced at. */
export type Timed = EventPayload & { at: bigint };

/**
 * Replays signals through `pipeline`: the clock follows the latest timestamp heard, ticks run
 * every `tickNs` of it, and `afterNs` of quiet ticking follows the last signal.
 */
export function replay(pipeline: Pipeline, signals: Signal[], opts: { tickNs?: bigint; afterNs?: bigint; from?: bigint } = {}): Timed[] {
  const tickNs = opts.tickNs ?? SECOND;
  const out: EventPayload[] = [];
  const timed: Timed[] = [];
  let clock = opts.from ?? pipeline.now;
  let nextTick = clock + tickNs;
  const flush = (at: bigint): void => {
    for (const e of out) timed.push(Object.assign(e, { at }));
    out.length = 0;
  };
  const advance = (to: bigint): void => {
    while (nextTick <= to) {
      pipeline.tick(nextTick, out);
      flush(nextTick);
      nextTick += tickNs;
    }
    if (to > clock) clock = to;
  };
  for (const s of signals) {
    if (s.timestamp > clock) advance(s.timestamp);
    pipeline.ingest(s, clock, out);
    flush(clock);
  }
  advance(clock + (opts.afterNs ?? 0n));
  return timed;
}

/** Events of one kind, in order. */
export const findingsOf = (events: (Timed | Event)[]) => events.filter((e) => e.finding).map((e) => e.finding!);
export const situationsOf = (events: (Timed | Event)[]) => events.filter((e) => e.situation).map((e) => e.situation!);
export const narrativesOf = (events: (Timed | Event)[]) => events.filter((e) => e.narrative).map((e) => e.narrative!);

/**
 * The recording in the order it would arrive if `sourceId`'s agent delivered `delayNs` late (its
 * signals keep their timestamps): a real timeline, reordered as a slow agent or network would.
 */
export function arrivingLate(signals: readonly Signal[], sourceId: string, delayNs: bigint): Signal[] {
  const arrival = (s: Signal): bigint => s.timestamp + (s.sourceId === sourceId ? delayNs : 0n);
  return [...signals].sort((a, b) => (arrival(a) < arrival(b) ? -1 : arrival(a) > arrival(b) ? 1 : 0));
}
