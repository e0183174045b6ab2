// Scenarios, fast: the incidents' timelines as real agents sent them (test/fixtures/scenarios,
// recorded by `npm run record` from real JVMs, real agents and a real aggregator — never written by
// hand) replayed through the real pipeline with a fake clock and the settings the aggregator ran
// with when they were recorded. Each is held to what its incident expects (demo/incidents.ts):
// exactly one narrative with the right root and words and a causal chain in causal order,
// resolved; silence on the idle estate. The slow, live version of the same is the
// e2e-incidents-* suite.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Narrative_State, signalProblem, type Finding, type Narrative, type Signal } from '../proto/index.js';
import { Pipeline } from '../aggregator/pipeline.js';
import { incident } from '../demo/incidents.js';
import { judge } from '../demo/script.js';
import { chainProblems } from './support/incidents.js';
import { arrivingLate, loadScenario, recordedPipeline, replay, scenarioIndex, SECOND, type Timed } from './support/scenarios.js';

const test = suite('scenarios (recorded from real agents; pure pipeline, fake clock)');

interface Story {
  openings: Map<string, Narrative>;
  narratives: Map<string, Narrative>;
  findings: Map<string, Finding>;
}

function storyOf(events: Timed[]): Story {
  const s: Story = { openings: new Map(), narratives: new Map(), findings: new Map() };
  for (const e of events) {
    if (e.finding) s.findings.set(e.finding.id, e.finding);
    if (e.narrative) {
      s.narratives.set(e.narrative.id, e.narrative);
      if (!s.openings.has(e.narrative.id)) s.openings.set(e.narrative.id, e.narrative);
    }
  }
  return s;
}

/** Replays a recording (in `order`, arrival order by default) and a quiet minute after it. */
function replayed(name: string, order?: (signals: Signal[]) => Signal[]): { story: Story; events: Timed[] } {
  const sc = loadScenario(name);
  const pipeline = new Pipeline(recordedPipeline(sc.meta));
  const events = replay(pipeline, order ? order(sc.signals) : sc.signals, { from: sc.startNs, tickNs: SECOND / 4n, afterNs: 60n * SECOND });
  return { story: storyOf(events), events };
}

const recorded = scenarioIndex().filter((m) => m.incident !== undefined);

test('the recordings are what real agents sent: valid signals, each source numbering its own in order, every incident recorded', () => {
  assert.ok(recorded.length >= 8, `recorded incidents: ${recorded.map((m) => m.name).join(', ')}`);
  for (const meta of recorded) {
    const sc = loadScenario(meta.name);
    assert.is(sc.signals.length, meta.signals, `${meta.name}: index.json counts its signals`);
    assert.ok(meta.timeScale !== undefined && meta.phases !== undefined, `${meta.name}: recorded with its time scale and phases`);
    const seen = new Map<string, bigint>();
    for (const s of sc.signals) {
      assert.is(signalProblem(s, s.timestamp), undefined, `${meta.name}: ${s.sourceId}#${s.seq}`);
      assert.ok(s.seq > (seen.get(s.sourceId) ?? 0n), `${meta.name}: ${s.sourceId}#${s.seq} in order`);
      seen.set(s.sourceId, s.seq);
      assert.is(s.clock[s.sourceId], s.seq, 'its clock carries its own seq');
    }
  }
});

for (const meta of recorded) {
  const inc = incident(meta.incident!)!;
  test(`${meta.name}: ${inc.expect.narratives ? 'one narrative, the right root and words, in causal order, resolved' : 'silence'}`, () => {
    const { story } = replayed(meta.name);
    const verdict = judge(inc, story, true);
    const problems = [...verdict.problems, ...(verdict.narrative ? chainProblems(verdict.narrative) : [])];
    assert.equal(problems, [], `${meta.name}: ${problems.join('; ')}`);
    if (inc.expect.narratives === 0) assert.is(story.findings.size, 0, `no finding at all: ${[...story.findings.values()].map((f) => f.summary).join(' | ')}`);
  });
}

test("cascade with broker 1's agent delivering 9 s late (the recording's arrival order changed): still one narrative, rooted at broker 1", () => {
  const { story } = replayed('cascade', (signals) => arrivingLate(signals, 'kafka-1', 9n * SECOND));
  const verdict = judge(incident('cascade')!, story, true);
  assert.equal(verdict.problems, [], verdict.problems.join('; '));
  assert.is(verdict.narrative!.state, Narrative_State.RESOLVED);
  assert.equal(chainProblems(verdict.narrative!), []);
});

test('replaying a recording twice tells the same story (the pipeline is deterministic given the signals and the clock)', () => {
  const a = replayed('cascade').events.filter((e) => e.narrative).map((e) => [e.narrative!.revision, e.narrative!.situation, e.narrative!.rootCause]);
  const b = replayed('cascade').events.filter((e) => e.narrative).map((e) => [e.narrative!.revision, e.narrative!.situation, e.narrative!.rootCause]);
  assert.equal(a, b);
});

test.run();
