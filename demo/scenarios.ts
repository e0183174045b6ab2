// Recorded incident timelines: a directory with an index.json ({"scenarios": [...]}, each with
// its file, description, duration, phases and the time scale it was recorded at) and one NDJSON
// file per incident, one canonical-JSON Signal per line in arrival order, as real agents sent them
// (`npm run record` plays each incident of demo/incidents.ts with real JVMs and agents and writes
// what a subscriber received). The tests replay them through the pipeline (test/fixtures/
// scenarios); `kafka-obs demo --no-jvm` replays them through live agents (the build copies them
// to dist/demo/recordings).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { signalFromJson, type Signal } from '../proto/index.js';

export interface ScenarioMeta {
  name: string;
  file: string;
  description: string;
  signals: number;
  durationSeconds: number;
  troubleAtSeconds?: number;
  recoveryAtSeconds?: number;
  /** The incident's phases as recorded: title and start, seconds from the start. */
  phases?: { title: string; atSeconds: number }[];
  /** The --time-scale the agents and the aggregator ran at (replays use the same). */
  timeScale?: number;
  /** Which incident of demo/incidents.ts was recorded. */
  incident?: string;
  /** When and how it was recorded (for people). */
  recorded?: string;
}

export interface Scenario {
  meta: ScenarioMeta;
  /** In arrival order. */
  signals: Signal[];
  /** The timestamp the timeline starts from (after any rebase). */
  startNs: bigint;
}

export class ScenarioError extends Error {}

export function scenarioIndexIn(dir: string): ScenarioMeta[] {
  let text: string;
  try {
    text = readFileSync(join(dir, 'index.json'), 'utf8');
  } catch (e) {
    throw new ScenarioError(`no scenario index in ${dir}: ${(e as Error).message}`);
  }
  return (JSON.parse(text) as { scenarios: ScenarioMeta[] }).scenarios;
}

/**
 * Reads a scenario of `dir`. `rebaseEndTo` shifts every timestamp so the latest one falls there
 * (to replay into a live aggregator, whose clock is now); relative times are kept.
 */
export function loadScenarioFrom(dir: string, name: string, opts: { rebaseEndTo?: bigint } = {}): Scenario {
  const meta = scenarioIndexIn(dir).find((s) => s.name === name);
  if (!meta) throw new ScenarioError(`no scenario "${name}" in ${dir}/index.json`);
  const lines = readFileSync(join(dir, meta.file), 'utf8').split('\n').filter((l) => l.trim() !== '');
  const signals = lines.map((l, i) => {
    try {
      return signalFromJson(JSON.parse(l));
    } catch (e) {
      throw new ScenarioError(`${meta.file}:${i + 1}: ${(e as Error).message}`);
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
