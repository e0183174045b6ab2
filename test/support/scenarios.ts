// Loads the recorded scenario timelines (test/fixtures/scenarios, see index.json) and replays
// them through a pipeline with a fake clock, as the aggregator would live: the clock is the
// latest time heard so far (signals arrive in file order, which is arrival order), and the
// pipeline ticks every second of it, as the aggregator's timer would.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { signalFromJson, type Event, type Signal } from '../../proto/index.js';
import type { Pipeline } from '../../aggregator/pipeline.js';
import type { EventPayload } from '../../aggregator/event-log.js';
import { ROOT } from './procs.js';

export const SCENARIO_DIR = join(ROOT, 'test', 'fixtures', 'scenarios');

export interface ScenarioMeta {
  name: string;
  file: string;
  description: string;
  signals: number;
  durationSeconds: number;
  troubleAtSeconds?: number;
  recoveryAtSeconds?: number;
}

export interface Scenario {
  meta: ScenarioMeta;
  /** In arrival order. */
  signals: Signal[];
  /** The timestamp the timeline starts from (after any rebase). */
  startNs: bigint;
}

export function scenarioIndex(): ScenarioMeta[] {
  return (JSON.parse(readFileSync(join(SCENARIO_DIR, 'index.json'), 'utf8')) as { scenarios: ScenarioMeta[] }).scenarios;
}

/**
 * Reads a scenario. `rebaseEndTo` shifts every timestamp so the latest one falls there (to replay
 * into a live aggregator, whose clock is now); relative times are kept.
 */
export function loadScenario(name: string, opts: { rebaseEndTo?: bigint } = {}): Scenario {
  const meta = scenarioIndex().find((s) => s.name === name);
  if (!meta) throw new Error(`no scenario "${name}" in ${SCENARIO_DIR}/index.json`);
  const lines = readFileSync(join(SCENARIO_DIR, meta.file), 'utf8').split('\n').filter((l) => l.trim() !== '');
  const signals = lines.map((l, i) => {
    try {
      return signalFromJson(JSON.parse(l));
    } catch (e) {
      throw new Error(`${meta.file}:${i + 1}: ${(e as Error).message}`);
    }
  });
  let min = signals[0]!.timestamp;
  let max = min;
  for (const s of signals) {
    if (s.timestamp < min) min = s.timestamp;
    if (s.timestamp > max) max = s.timestamp;
  }
  // Timelines start on a whole second; skewed agents may stamp a little before it.
  const start = min - (min % 1_000_000_000n);
  if (opts.rebaseEndTo !== undefined) {
    const shift = opts.rebaseEndTo - max;
    for (const s of signals) s.timestamp += shift;
    return { meta, signals, startNs: start + shift };
  }
  return { meta, signals, startNs: start };
}

export const SECOND = 1_000_000_000n;

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
