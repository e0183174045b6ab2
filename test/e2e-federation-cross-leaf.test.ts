// End to end: a story that spans two leaves (issue 16, --correlate-leaves), real processes. Leaf
// "east" hears the agent beside broker 1 of cluster prod (kafka-1); leaf "west" hears the services
// that produce to and consume from that cluster (order-1, payment-1, billing-1): the recorded
// cascade, split by agent, streamed to each leaf as its agents sent it. Both forward raw signals
// (--upstream-signals) to an upstream started with --correlate-leaves. East alone sees a broker
// diverging, west alone producers and a consumer in trouble; the upstream tells ONE story, rooted
// at broker 1, naming both leaves, as its own (no leaf). Before it, an incident one leaf sees whole
// (producer exhaustion, all in east) adds no narrative upstream beyond the leaf's, counted as
// suppressed. A third leaf without --upstream-signals is named in a warning and a gauge.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EventKind, Narrative_State, nowNs, type Event, type Narrative, type Signal } from '../proto/index.js';
import { aggregator, tempDir, until, type AggregatorProc } from './support/procs.js';
import { aggregatorClient, Collector, streamSignals, type Client } from './support/client.js';
import { loadScenario, SECOND } from './support/scenarios.js';

const test = suite('end to end: a story across two leaves (--correlate-leaves)');
const procs: AggregatorProc[] = [];

test.after(async () => {
  for (const p of procs.reverse()) await p.kill('SIGKILL');
});

const PIPE = ['--tick-ms', '100', '--resolve-after-ms', '1000', '--situation-hold-ms', '500', '--cause-wait-ms', '3000', '--time-scale', '0.2'];

const metric = async (up: AggregatorProc, re: RegExp): Promise<number> => {
  const m = re.exec(await (await fetch(`http://127.0.0.1:${up.httpPort}/metrics`)).text());
  return m ? Number(m[1]) : 0;
};
const fed = (up: AggregatorProc): Promise<number> => metric(up, /kafkaobs_federation_correlated_signals_total\{outcome="fed"\} (\d+)/);
const suppressed = (up: AggregatorProc): Promise<number> => metric(up, /kafkaobs_federation_cross_leaf_narratives_total\{outcome="suppressed"\} (\d+)/);
const published = (up: AggregatorProc): Promise<number> => metric(up, /kafkaobs_federation_cross_leaf_narratives_total\{outcome="published"\} (\d+)/);

/** Another recording's agents under other names (so their sequences are their own). */
const renamed = (signals: Signal[], prefix: string): Signal[] =>
  signals.map((s) => ({ ...s, sourceId: `${prefix}${s.sourceId}`, clock: Object.fromEntries(Object.entries(s.clock).map(([k, v]) => [`${prefix}${k}`, v])) }));

/** A recording rebased to start now, so that it can be played at its own pace. */
function startingNow(name: string): Signal[] {
  const recorded = loadScenario(name).signals;
  const span = recorded.at(-1)!.timestamp - recorded[0]!.timestamp;
  return loadScenario(name, { rebaseEndTo: nowNs() + span }).signals;
}

/**
 * Streams `signals` at the recording's pace (as its agents sent them), in windows of a second,
 * each leaf its agents' part; the upstream has correlated each window before the next is sent.
 */
async function split(signals: Signal[], leafOf: (s: Signal) => Client, up: AggregatorProc, fedBefore: number): Promise<number> {
  let sent = fedBefore;
  for (let i = 0; i < signals.length; ) {
    const end = signals[i]!.timestamp + SECOND;
    const window: Signal[] = [];
    while (i < signals.length && signals[i]!.timestamp < end) window.push(signals[i++]!);
    const ahead = Number((end - nowNs()) / 1_000_000n);
    if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
    const byLeaf = new Map<Client, Signal[]>();
    for (const s of window) byLeaf.set(leafOf(s), [...(byLeaf.get(leafOf(s)) ?? []), s]);
    for (const [client, part] of byLeaf) await streamSignals(client, [part]);
    sent += window.length;
    await until(async () => (await fed(up)) >= sent, `the upstream to correlate ${sent} signals`);
  }
  return sent;
}

const own = (events: Event[]): Narrative[] => events.filter((e) => e.narrative && !e.leaf && !e.narrative.leaf).map((e) => e.narrative!);

test('one story across east (broker) and west (its clients), rooted at the broker, naming both; a one-leaf incident adds nothing upstream', async () => {
  const up = await aggregator(['--data-dir', tempDir('xleaf-up-'), '--correlate-leaves', ...PIPE]);
  procs.push(up);
  const leaf = (name: string, signals: boolean) => aggregator(['--upstream', up.url, '--leaf-name', name, '--default-cluster', 'prod', ...(signals ? ['--upstream-signals'] : []), ...PIPE]);
  const [east, west, north] = await Promise.all([leaf('east', true), leaf('west', true), leaf('north', false)]);
  procs.push(east!, west!, north!);
  await Promise.all([east!, west!, north!].map((l) => l.waitForLog((x) => x.msg.startsWith('federation: connected'))));
  // The leaf that forwards no raw signals is named (log and gauge): its estate cannot join a story.
  await up.waitForLog((x) => x.msg.includes('leaf "north" forwards no raw signals'));
  await until(async () => (await metric(up, /kafkaobs_federation_leaf_forwards_signals\{leaf="north"\} (\d+)/)) === 0 && (await metric(up, /kafkaobs_federation_leaf_forwards_signals\{leaf="east"\} (\d+)/)) === 1, 'the gauge per leaf');

  const { client: upClient, channel: upChannel } = aggregatorClient(up.url);
  const { client: eastClient, channel: eastChannel } = aggregatorClient(east!.url);
  const { client: westClient, channel: westChannel } = aggregatorClient(west!.url);
  const upSub = new Collector(upClient, { kinds: [EventKind.NARRATIVE] });
  await until(async () => /kafkaobs_subscribers_open 1\b/.test(await (await fetch(`http://127.0.0.1:${up.httpPort}/metrics`)).text()), 'the upstream subscriber');

  // 1. An incident east sees whole: east tells it (forwarded), the upstream adds nothing.
  const solo = renamed(startingNow('producer-exhaustion'), 'solo-');
  let sent = await split(solo, () => eastClient, up, 0);
  await upSub.until((ev) => ev.some((e) => e.leaf === 'east' && e.narrative?.state === Narrative_State.RESOLVED), 'east\'s own story of it, resolved, upstream', 30_000);
  await until(async () => (await suppressed(up)) >= 1, 'the upstream\'s own telling of it suppressed (one leaf)', 20_000);
  assert.equal(own(upSub.events), [], 'no narrative of the upstream\'s own for a one-leaf incident');
  assert.is(await published(up), 0);

  // 2. The cascade, split by agent: broker 1's to east, its clients' to west.
  const cascade = startingNow('cascade');
  sent = await split(cascade, (s) => (s.sourceId === 'kafka-1' ? eastClient : westClient), up, sent);
  assert.is(sent, solo.length + cascade.length);
  await upSub.until((ev) => own(ev).some((n) => n.state === Narrative_State.RESOLVED), 'the upstream\'s cross-leaf story, resolved', 30_000);
  const mine = own(upSub.events);
  assert.equal([...new Set(mine.map((n) => n.id))].length, 1, `one story of the upstream's own: ${mine.map((n) => `${n.id}#${n.revision} ${n.situation}`).join('; ')}`);
  assert.is(mine[0]!.state, Narrative_State.OPEN);
  assert.is(mine[0]!.revision, 1);
  assert.is(mine[0]!.rootSubject, 'cluster/prod/broker/1', 'rooted at the broker');
  assert.equal(mine[0]!.leaves, ['east', 'west'], 'naming both leaves');
  assert.equal(mine.map((n) => n.revision), mine.map((_, i) => i + 1), 'revisions 1, 2, … with no gaps');
  const chain = mine.at(-1)!.causalChain;
  assert.ok(chain.some((e) => e.sourceId === 'kafka-1') && chain.some((e) => e.sourceId !== 'kafka-1'), 'its chain holds the broker\'s and the clients\' evidence');
  assert.is(await published(up), 1);

  // Each leaf alone: at most its part.
  const leafStories = upSub.events.filter((e) => e.narrative && e.leaf).map((e) => e.narrative!);
  const eastCascade = leafStories.filter((n) => n.leaf === 'east' && n.causalChain.some((e) => e.sourceId === 'kafka-1'));
  assert.ok(eastCascade.length > 0, 'east told the broker\'s part');
  assert.ok(eastCascade.every((n) => n.causalChain.every((e) => e.sourceId === 'kafka-1')), 'east saw only the broker');
  const westStories = leafStories.filter((n) => n.leaf === 'west');
  assert.ok(westStories.length > 0, 'west told its clients\' part');
  assert.ok(westStories.every((n) => n.rootSubject !== 'cluster/prod/broker/1' && n.causalChain.every((e) => e.sourceId !== 'kafka-1')), 'west never saw the broker\'s own signals');
  assert.ok(leafStories.every((n) => n.leaves.length === 0));

  // Listed upstream beside the leaves' (ListNarratives and the HTTP API), as its own.
  const listed = (await upClient.listNarratives({ includeResolved: true, limit: 0, subjectPrefix: '' })).narratives.filter((n) => n.id === mine[0]!.id);
  assert.is(listed.length, 1);
  assert.is(listed[0]!.leaf, undefined);
  assert.equal(listed[0]!.leaves, ['east', 'west']);
  const http = (await (await fetch(`http://127.0.0.1:${up.httpPort}/api/narratives/latest?resolved=true`)).json()) as { narratives: { narrative: { id: string; leaves?: string[]; leaf?: string } }[] };
  const entry = http.narratives.find(({ narrative: n }) => n.id === mine[0]!.id);
  assert.equal(entry?.narrative.leaves, ['east', 'west'], 'the HTTP API names the leaves');
  assert.is(entry?.narrative.leaf, undefined);

  await upSub.close();
  for (const c of [upChannel, eastChannel, westChannel]) c.close();
});

test.run();
