// End to end: the cascade's timeline as real agents sent it (test/fixtures/scenarios, recorded by
// `npm run record`), broker 1's agent delivering 9 s late, streamed over gRPC into a real
// aggregator process run at the recording's time scale, as its agents would. A subscriber gets one
// narrative —
// opened rooted at broker 1, updated, resolved after recovery — ListNarratives and the HTTP API
// list it, and `kafka-obs tail` prints it as text a person can read.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EventKind, Narrative_State, Situation_Level, entityOf, nowNs, type Narrative, type Signal } from '../proto/index.js';
import { aggregator, getJson, run, until, type AggregatorProc, type Proc } from './support/procs.js';
import { aggregatorClient, Collector, streamSignals } from './support/client.js';
import { arrivingLate, loadScenario, SECOND } from './support/scenarios.js';

const test = suite('end to end: narratives');
let agg: AggregatorProc;
let tail: Proc | undefined;

test.after(async () => {
  await tail?.kill();
  await agg?.kill();
});

const batches = (signals: Signal[], size = 200): Signal[][] => {
  const out: Signal[][] = [];
  for (let i = 0; i < signals.length; i += size) out.push(signals.slice(i, i + size));
  return out;
};

const narratives = (c: Collector): Narrative[] => c.events.filter((e) => e.narrative).map((e) => e.narrative!);

test('a cascade streamed in becomes one narrative a subscriber, ListNarratives, the HTTP API and tail all tell', async () => {
  // Short holds so resolution shows within the test; the rules are the defaults.
  agg = await aggregator(['--tick-ms', '100', '--resolve-after-ms', '1000', '--situation-hold-ms', '500', '--cause-wait-ms', '3000', '--time-scale', '0.2', '--default-cluster', 'prod']);
  const { client, channel } = aggregatorClient(agg.url);
  const sub = new Collector(client, { kinds: [EventKind.NARRATIVE, EventKind.SITUATION, EventKind.FINDING] });
  tail = run(['tail', '--aggregator-url', agg.url, '--kinds', 'narrative', '--no-color'], 'tail');
  const metrics = `http://127.0.0.1:${agg.httpPort}/metrics`;
  await until(async () => /kafkaobs_subscribers_open 2\b/.test(await (await fetch(metrics)).text()), 'the subscriber and tail to be subscribed');

  // The recorded timeline, moved so that it ends now; the incident first, then the recovery.
  const sc = loadScenario('cascade', { rebaseEndTo: nowNs() - SECOND });
  const recovery = sc.startNs + BigInt(Math.round(sc.meta.recoveryAtSeconds! * 1000)) * 1_000_000n;
  const late = arrivingLate(sc.signals, 'kafka-1', 9n * SECOND);
  const incident = late.filter((s) => s.timestamp < recovery);
  const after = late.filter((s) => s.timestamp >= recovery);
  const acks = await streamSignals(client, batches(incident));
  assert.is(acks.reduce((n, a) => n + a.accepted, 0), incident.length, 'every signal accepted');

  const billing = 'service/billing-service/pod/billing-1/consumer/billing-consumer';
  await sub.until((ev) => narratives({ events: ev } as Collector).some((n) => n.causalChain.some((e) => entityOf(e.subject) === billing)), 'the narrative to reach the consumers');
  const open = narratives(sub);
  assert.is(open[0]!.state, Narrative_State.OPEN);
  assert.is(open[0]!.rootSubject, 'cluster/prod/broker/1', 'opened rooted at the broker, though its signals came last');
  assert.is(new Set(open.map((n) => n.id)).size, 1, 'one narrative');
  const listed = await client.listNarratives({ includeResolved: false, limit: 0, subjectPrefix: '' });
  assert.equal(listed.narratives.map((n) => [n.id, n.rootSubject]), [[open[0]!.id, 'cluster/prod/broker/1']]);
  assert.is(listed.narratives[0]!.level, Situation_Level.CRITICAL);
  const byPrefix = await client.listNarratives({ includeResolved: false, limit: 0, subjectPrefix: 'service/billing-service' });
  assert.is(byPrefix.narratives.length, 1, 'found by a subject of its chain');
  assert.is((await client.listNarratives({ includeResolved: false, limit: 0, subjectPrefix: 'cluster/staging' })).narratives.length, 0);

  // tail prints it as text: what, why, in which order, what to do.
  await until(async () => tail!.stdout.some((l) => l.includes('recommendation')), 'tail to print the narrative');
  const text = tail.stdout.join('\n');
  assert.match(text, /narrative OPEN n-\S+ \(rev 1\)/);
  assert.match(text, /situation\s+(Cascading failure in cluster prod: broker 1 \(under-replicated\) degrades producers|Broker 1 of cluster prod: under-replicated partitions)/, text);
  assert.match(text, /root cause\s+broker 1:? \(?2 under-replicated partitions/);
  assert.match(text, /causal chain\s+1\. \d\d:\d\d:\d\d\.\d{3} cluster\/prod\/broker\/1#under-replicated status DEGRADED/);
  assert.match(text, /recommendation\s+Broker 1 \(cluster prod\): check its disk/);
  assert.ok(agg.lines.some((l) => l.msg.startsWith('narrative opened: Cascading failure') || l.msg.startsWith('narrative opened: Broker 1')), 'the aggregator logs it');

  // Recovery: every finding ends, the narrative resolves, the situations fall back.
  await streamSignals(client, batches(after));
  await sub.until((ev) => narratives({ events: ev } as Collector).some((n) => n.state === Narrative_State.RESOLVED), 'the narrative to resolve', 30_000);
  const all = narratives(sub);
  assert.is(new Set(all.map((n) => n.id)).size, 1, 'still one narrative');
  assert.is(all.at(-1)!.state, Narrative_State.RESOLVED);
  assert.ok(all.at(-1)!.resolvedAt > 0n);
  assert.equal((await client.listNarratives({ includeResolved: false, limit: 0, subjectPrefix: '' })).narratives, []);
  const kept = await client.listNarratives({ includeResolved: true, limit: 0, subjectPrefix: '' });
  assert.equal(kept.narratives.map((n) => [n.id, Narrative_State[n.state]]), [[all[0]!.id, 'RESOLVED']]);
  const http = await getJson<{ narratives: { narrative: { id: string; state: string; rootSubject: string } }[] }>(`http://127.0.0.1:${agg.httpPort}/api/narratives/latest?resolved=true`);
  assert.equal(http.narratives.map(({ narrative: n }) => [n.id, n.state, n.rootSubject]), [[all[0]!.id, 'RESOLVED', 'cluster/prod/broker/1']]);
  await sub.until((ev) => ev.some((e) => e.situation?.subject === 'cluster/prod/broker/1' && e.situation.current === Situation_Level.NORMAL), 'broker 1 back to NORMAL');
  await until(async () => tail!.stdout.some((l) => /narrative RESOLVED/.test(l)), 'tail to print the resolution');
  const m = await (await fetch(metrics)).text();
  assert.match(m, /kafkaobs_narratives_total\{state="opened"\} 1\b/);
  assert.match(m, /kafkaobs_narratives_open 0\b/);
  assert.match(m, /kafkaobs_findings_total\{observer="cascading-failure"\} \d+/);
  await sub.close();
  channel.close();
});

test.run();
