// Plays an incident of demo/incidents.ts as `kafka-obs demo --incident <name>` does — real
// FakeKafkaJvm processes, a real `kafka-obs agent` beside each reading it over JMX, a real
// aggregator, a subscriber — and sums up what the subscriber saw, for the scenario tests and the
// recorder (`npm run record`).
import { Narrative_State, compareClocks, isUnder, type Evidence, type Narrative } from '../../proto/index.js';
import { stageRank } from '../../observers/index.js';
import { incident as findIncident, type Incident } from '../../demo/incidents.js';
import { runDemo, type DemoResult } from '../../demo/run.js';
import { judge } from '../../demo/script.js';
import { findJava } from '../../agent/jmx/bridge.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

export interface Played {
  incident: Incident;
  result: DemoResult;
  /** The demo's output (what a user reads), for failure messages. */
  output: string[];
  /** The narrative the incident is about (judge's), if any. */
  narrative?: Narrative;
  problems: string[];
  /** Seconds from the first causal change (the trouble phase's start) to the narrative at the subscriber. */
  secondsToNarrative?: number;
  narratives: number;
  findings: number;
  revisions: number;
}

export async function playIncident(name: string, o: { record?: boolean; fast?: boolean } = {}): Promise<Played> {
  const inc = findIncident(name);
  if (!inc) throw new Error(`no incident ${name}`);
  const output: string[] = [];
  const demo = runDemo({ incident: name, fast: o.fast ?? false, mode: 'jvm', color: false, verbose: false, write: (l) => output.push(l), env: { ...process.env, LOG_LEVEL: 'info' }, record: o.record });
  const result = await demo.done;
  const view = result.view;
  const verdict = view ? judge(inc, view, true) : { ok: false, problems: ['no subscriber view'], narrative: undefined };
  const problems = [...(result.error ? [`the demo failed: ${result.error}`] : []), ...verdict.problems];
  const n = verdict.narrative;
  const arrived = n && view ? view.arrivedAt.get(n.id) : undefined;
  return {
    incident: inc,
    result,
    output,
    narrative: n,
    problems: [...problems, ...(n ? chainProblems(n) : [])],
    secondsToNarrative: arrived !== undefined && result.troubleAtMs !== undefined ? (arrived - result.troubleAtMs) / 1000 : undefined,
    narratives: view?.narratives.size ?? 0,
    findings: view?.findings.size ?? 0,
    revisions: view?.counts.narratives ?? 0,
  };
}

/**
 * The chain must read in causal order: evidence about the root entity first, then the stages of
 * the story in order (broker, client latency and errors, buffers, rebalances, lag), each in time.
 */
export function chainProblems(n: Narrative): string[] {
  const chain = n.causalChain;
  const out: string[] = [];
  if (chain.length === 0) return ['its causal chain is empty'];
  const first = chain[0]!;
  if (!isUnder(first.subject, n.rootSubject)) out.push(`its chain starts at ${first.subject}, not at its root ${n.rootSubject}`);
  // Happens-before (vector clocks: the same agent's evidence, or agents that exchanged clocks) is
  // never contradicted; where clocks cannot tell, the story's order (broker, then clients) leads.
  for (let i = 0; i < chain.length; i++) {
    for (let j = i + 1; j < chain.length; j++) {
      if (compareClocks(chain[i]!.clock, chain[j]!.clock) === 'after') out.push(`its chain puts ${describe(chain[j]!)} after ${describe(chain[i]!)}, which happened after it`);
    }
  }
  const firstClient = chain.findIndex((e) => stageRank(e.stage) > 0);
  const lateBroker = chain.findIndex((e, i) => i > firstClient && stageRank(e.stage) === 0 && compareClocks(e.clock, chain[firstClient]!.clock) !== 'after');
  if (firstClient >= 0 && lateBroker >= 0) out.push(`its chain tells the clients (${describe(chain[firstClient]!)}) before the broker evidence ${describe(chain[lateBroker]!)}`);
  if (n.state !== Narrative_State.RESOLVED) out.push('it is not resolved');
  return out;
}

function describe(e: Evidence): string {
  return `${e.subject} (${e.stage}, ${e.sign})`;
}

/** One line of the table the tests and the recorder print. */
export function tableLine(p: Played): string {
  const t = p.secondsToNarrative === undefined ? '-' : `${p.secondsToNarrative.toFixed(1)} s`;
  return `${p.incident.name.padEnd(20)} ${t.padStart(9)}  ${String(p.narratives).padStart(10)}  ${String(p.findings).padStart(8)}  ${String(p.revisions).padStart(9)}  ${p.problems.length ? `PROBLEMS: ${p.problems.join('; ')}` : 'as expected'}`;
}

export const TABLE_HEADER = `${'incident'.padEnd(20)} ${'to story'.padStart(9)}  ${'narratives'.padStart(10)}  ${'findings'.padStart(8)}  ${'revisions'.padStart(9)}  verdict`;

/**
 * A suite that plays `names` one after the other and holds each to its incident's expectation,
 * printing per incident (and as a table at the end) its time to story, narratives and findings.
 */
export function incidentSuite(title: string, names: readonly string[]): void {
  const test = suite(`incidents: ${title}`);
  const lines: string[] = [];
  test.before(() => {
    assert.ok(findJava(process.env), 'a JDK is needed (java on the PATH or JAVA_HOME): these tests run real JVMs');
  });
  for (const name of names) {
    test(name, async () => {
      const played = await playIncident(name);
      lines.push(tableLine(played));
      process.stdout.write(`${tableLine(played)}\n`);
      if (played.problems.length) assert.unreachable(`${name}: ${played.problems.join('; ')}\n--- what the demo printed (last 80 lines) ---\n${played.output.slice(-80).join('\n')}`);
    });
  }
  test.after(() => {
    process.stdout.write(`\n${TABLE_HEADER}\n${lines.join('\n')}\n`);
  });
  test.run();
}
