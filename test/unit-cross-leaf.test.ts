// Stories across leaves (--correlate-leaves), without processes: the rule that says which leaves a
// narrative's evidence spans (storyLeaves), the gate that publishes only the stories spanning two
// or more (CrossLeafGate), and the correlator on the recorded cascade split between two leaves —
// the broker's agent behind "east", the services' agents behind "west" — against each leaf alone.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Narrative_State, Situation_Level, Status_Confidence, type Evidence, type Narrative, type Signal } from '../proto/index.js';
import { Pipeline } from '../aggregator/pipeline.js';
import { CrossLeafGate, LeafCorrelator, storyLeaves, type EstateIndex } from '../aggregator/federation/correlate.js';
import { loadScenario, narrativesOf, recordedPipeline, replay, SECOND } from './support/scenarios.js';

const test = suite('stories across leaves (--correlate-leaves)');

const ev = (subject: string, sourceId: string): Evidence => ({ subject, sign: 'status DEGRADED', time: 1n, sourceId, seq: 1n, detail: '', clock: {}, stage: 'other' });
const narrative = (id: string, state: Narrative_State, chain: Evidence[], rootSubject: string): Narrative => ({
  id, state, situation: 's', causalChain: chain, rootCause: 'r', rootSubject, recommendation: '', confidence: Status_Confidence.MEASURED,
  level: Situation_Level.CRITICAL, openedAt: 1n, updatedAt: 2n, resolvedAt: state === Narrative_State.RESOLVED ? 3n : 0n, revision: 1, findingIds: [], leaves: [],
});
const index = (sources: Record<string, string>, entities: Record<string, string[]>): EstateIndex => ({
  ofSource: (s) => sources[s],
  ofEntity: (e) => entities[e],
});

test('storyLeaves: each step\'s source names its leaf; a step without a known source and the root count by entity', () => {
  const idx = index({ 'kafka-1': 'east', 'order-1': 'west' }, { 'cluster/prod/broker/1': ['east'], 'cluster/prod/broker/2': ['north'] });
  const broker = ev('cluster/prod/broker/1#under-replicated', 'kafka-1');
  const producer = ev('service/order/pod/order-1/producer/p#buffer', 'order-1');
  assert.equal(storyLeaves(narrative('a', Narrative_State.OPEN, [broker, producer], 'cluster/prod/broker/1'), idx), ['east', 'west']);
  assert.equal(storyLeaves(narrative('b', Narrative_State.OPEN, [producer], 'service/order/pod/order-1/producer/p'), idx), ['west']);
  assert.equal(storyLeaves(narrative('c', Narrative_State.OPEN, [producer], 'cluster/prod/broker/1'), idx), ['east', 'west'], 'the root\'s estate counts');
  assert.equal(storyLeaves(narrative('d', Narrative_State.OPEN, [ev('cluster/prod/broker/2#x', '')], ''), idx), ['north'], 'a step without a source: by its entity');
  assert.equal(storyLeaves(narrative('e', Narrative_State.OPEN, [ev('cluster/prod/broker/9#x', 'nobody')], ''), idx), []);
});

test('CrossLeafGate: silent until the story spans two leaves, then OPEN as revision 1 naming them; later revisions follow until resolved', () => {
  const g = new CrossLeafGate();
  assert.is(g.pass(narrative('x', Narrative_State.OPEN, [], ''), ['west']), undefined);
  assert.is(g.pass({ ...narrative('x', Narrative_State.UPDATED, [], ''), revision: 2 }, ['west']), undefined);
  const opened = g.pass({ ...narrative('x', Narrative_State.UPDATED, [], ''), revision: 3, leaf: 'nope' }, ['east', 'west'])!;
  assert.is(opened.state, Narrative_State.OPEN);
  assert.is(opened.revision, 1);
  assert.equal(opened.leaves, ['east', 'west']);
  assert.is(opened.leaf, undefined, 'the upstream\'s own: no leaf');
  const later = g.pass({ ...narrative('x', Narrative_State.UPDATED, [], ''), revision: 4 }, ['west', 'north'])!;
  assert.is(later.revision, 2);
  assert.equal(later.leaves, ['east', 'north', 'west'], 'leaves are only ever added');
  const resolved = g.pass({ ...narrative('x', Narrative_State.RESOLVED, [], ''), revision: 5 }, ['west'])!;
  assert.is(resolved.state, Narrative_State.RESOLVED);
  assert.is(resolved.revision, 3);
  assert.equal(g.stats, { published: 1, revisions: 3, suppressed: 0 });
  // A single-leaf story: never published, counted once when it resolves.
  assert.is(g.pass(narrative('y', Narrative_State.OPEN, [], ''), ['east']), undefined);
  assert.is(g.pass(narrative('y', Narrative_State.RESOLVED, [], ''), ['east']), undefined);
  assert.is(g.stats.suppressed, 1);
  assert.is(g.openCount, 0);
});

/** Replays `signals` through a correlator, each forwarded by the estate `estateOf` names; the narratives it publishes. */
function correlate(signals: readonly Signal[], estateOf: (s: Signal) => string, settings: ReturnType<typeof recordedPipeline>): { published: Narrative[]; c: LeafCorrelator } {
  const c = new LeafCorrelator(settings);
  const published: Narrative[] = [];
  let clock = 0n;
  let nextTick = 0n;
  for (const s of signals) {
    if (nextTick === 0n) nextTick = s.timestamp + SECOND;
    while (nextTick <= s.timestamp) {
      c.tick(nextTick, published);
      nextTick += SECOND;
    }
    if (s.timestamp > clock) clock = s.timestamp;
    c.signal(estateOf(s), s, clock, published);
  }
  for (let i = 0; i < 120; i++) c.tick((nextTick += SECOND), published);
  return { published, c };
}

test('the cascade split between two leaves: one story upstream, rooted at broker 1, naming both; each leaf alone tells a part', () => {
  const sc = loadScenario('cascade');
  const settings = recordedPipeline(sc.meta);
  const estate = (s: Signal): string => (s.sourceId === 'kafka-1' ? 'east' : 'west');
  const from = sc.signals[0]!.timestamp;
  const east = narrativesOf(replay(new Pipeline(settings), sc.signals.filter((s) => estate(s) === 'east'), { afterNs: 120n * SECOND, from }));
  const west = narrativesOf(replay(new Pipeline(settings), sc.signals.filter((s) => estate(s) === 'west'), { afterNs: 120n * SECOND, from }));
  const { published, c } = correlate(sc.signals, estate, settings);
  const ids = [...new Set(published.map((n) => n.id))];
  assert.is(ids.length, 1, 'one cross-leaf story');
  const first = published[0]!;
  assert.is(first.state, Narrative_State.OPEN);
  assert.is(first.rootSubject, 'cluster/prod/broker/1');
  assert.equal(first.leaves, ['east', 'west']);
  assert.is(published.at(-1)!.state, Narrative_State.RESOLVED);
  assert.ok(east.every((n) => !n.causalChain.some((e) => e.sourceId !== 'kafka-1')), 'east alone sees only the broker');
  assert.ok(!west.some((n) => n.causalChain.some((e) => e.sourceId === 'kafka-1')), 'west alone never sees the broker\'s own signals');
  assert.ok(!west.some((n) => n.rootSubject === 'cluster/prod/broker/1'), 'west alone roots its stories at its services');
  assert.ok(new Set(west.map((n) => n.id)).size >= 2, 'west alone: several partial stories');
  assert.equal([...new Set(east.map((n) => n.rootSubject))], ['cluster/prod/broker/1'], 'east alone: the broker, no clients');
  assert.equal(c.gate.stats, { published: 1, revisions: published.length, suppressed: 0 });
});

test('an incident one leaf sees whole: nothing published upstream, counted suppressed', () => {
  const sc = loadScenario('cascade');
  const { published, c } = correlate(sc.signals, () => 'west', recordedPipeline(sc.meta));
  assert.equal(published, []);
  assert.ok(c.gate.stats.suppressed >= 1, `suppressed ${c.gate.stats.suppressed}`);
  assert.is(c.gate.stats.published, 0);
});

test('one agent\'s signals forwarded by two leaves are fed once (by source and seq)', () => {
  const sc = loadScenario('producer-exhaustion');
  const c = new LeafCorrelator(recordedPipeline(sc.meta));
  const out: Narrative[] = [];
  for (const s of sc.signals) {
    c.signal('east', s, s.timestamp, out);
    c.signal('west', s, s.timestamp, out);
  }
  assert.is(c.stats.signals, sc.signals.length);
  assert.is(c.stats.duplicates, sc.signals.length);
});

test.run();
