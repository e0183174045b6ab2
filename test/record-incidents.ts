// `npm run record [-- NAME ...]`: plays the incidents of demo/incidents.ts with real JVMs, real
// agents and a real aggregator, and writes what a subscriber received — every signal, in arrival
// order, as the agents sent it — to test/fixtures/scenarios/<name>.ndjson, with its phases and time
// scale in index.json. These recordings are what the fast scenario tests (test/scenarios.test.ts),
// the benchmarks and `kafka-obs demo --no-jvm` replay: timelines recorded from the real agents,
// never written by hand. Prints, per incident, the time from its first causal change to the
// narrative at the subscriber, and how many narratives and findings it produced.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Signal } from '../proto/index.js';
import { INCIDENTS } from '../demo/incidents.js';
import { TIMING } from '../demo/estate.js';
import type { ScenarioMeta } from '../demo/scenarios.js';
import { SCENARIO_DIR } from './support/scenarios.js';
import { TABLE_HEADER, playIncident, tableLine } from './support/incidents.js';

const names = process.argv.slice(2);
const chosen = names.length ? INCIDENTS.filter((i) => names.includes(i.name)) : INCIDENTS;
if (names.length && chosen.length !== names.length) {
  process.stderr.write(`unknown incident(s): ${names.filter((n) => !INCIDENTS.some((i) => i.name === n)).join(', ')}; known: ${INCIDENTS.map((i) => i.name).join(', ')}\n`);
  process.exit(2);
}

const indexFile = join(SCENARIO_DIR, 'index.json');
const index = JSON.parse(readFileSync(indexFile, 'utf8')) as { startsAt?: string; scenarios: ScenarioMeta[] };
const lines: string[] = [];
let failed = 0;
for (const inc of chosen) {
  process.stdout.write(`recording ${inc.name}: ${inc.title}...\n`);
  const played = await playIncident(inc.name, { record: true });
  const view = played.result.view;
  if (!view || view.recorded.length === 0) {
    process.stdout.write(`  nothing recorded: ${played.problems.join('; ')}\n${played.output.slice(-30).join('\n')}\n`);
    failed++;
    continue;
  }
  const signals = view.recorded;
  const first = signals.reduce((m, s) => (s.timestamp < m ? s.timestamp : m), signals[0]!.timestamp);
  const start = first - (first % 1_000_000_000n);
  const last = signals.reduce((m, s) => (s.timestamp > m ? s.timestamp : m), first);
  const startMs = Number(start / 1_000_000n);
  const phases = played.result.phaseStarts.map((p) => ({ title: p.title, atSeconds: Math.max(0, Math.round((p.atMs - startMs) / 100) / 10) }));
  const file = `${inc.name}.ndjson`;
  writeFileSync(join(SCENARIO_DIR, file), `${signals.map((s) => JSON.stringify(Signal.toJSON(s))).join('\n')}\n`);
  const trouble = phases.find((p) => inc.phases.find((q) => q.title === p.title)?.trouble);
  const recovery = phases.length > 2 ? phases.at(-1) : undefined;
  const meta: ScenarioMeta = {
    name: inc.name,
    file,
    description: `${inc.title}: ${inc.description}.`,
    signals: signals.length,
    durationSeconds: Math.ceil(Number(last - start) / 1e9),
    ...(trouble ? { troubleAtSeconds: trouble.atSeconds } : {}),
    ...(recovery && inc.expect.narratives > 0 ? { recoveryAtSeconds: recovery.atSeconds } : {}),
    phases,
    timeScale: TIMING.normal.timeScale,
    incident: inc.name,
    recorded: `npm run record -- ${inc.name}: ${inc.members.length} JVMs and agents, polls every ${TIMING.normal.pollIntervalMs} ms, --time-scale ${TIMING.normal.timeScale}`,
  };
  index.scenarios = [...index.scenarios.filter((s) => s.name !== inc.name), meta];
  writeFileSync(indexFile, `${JSON.stringify(index, null, 2)}\n`);
  lines.push(tableLine(played));
  process.stdout.write(`  ${signals.length} signals over ${meta.durationSeconds} s -> ${file}; ${played.problems.length ? `PROBLEMS: ${played.problems.join('; ')}` : 'the story as expected'}\n`);
  if (played.problems.length) failed++;
}
process.stdout.write(`\n${TABLE_HEADER}\n${lines.join('\n')}\n`);
process.exit(failed ? 1 : 0);
