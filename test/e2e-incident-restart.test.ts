// An incident survives the aggregator: the cascade's timeline as real agents sent it (recorded,
// test/fixtures/scenarios; broker 1's agent 9 s late), with the Kafka source's judgement of group
// billing beside it (its real lag evaluator and planner), is streamed into a real aggregator with
// a journal, run at the recording's time scale; while its narrative is open the aggregator is killed (SIGKILL) and
// restarted on the same data directory. The restarted one knows the estate and the open
// narrative (same id) before any new signal, and resolves it when the recovery signals come.
// Then `kafka-obs replay` re-runs the stored stretch offline and reaches the same narrative, and
// the JSON API answers as its OpenAPI description says (validated with Ajv).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { EventKind, Narrative_State, entityOf, nowNs, type Narrative, type Signal } from '../proto/index.js';
import { aggregator, getJson, run, tempDir, until, type AggregatorProc } from './support/procs.js';
import { aggregatorClient, Collector, streamSignals } from './support/client.js';
import { arrivingLate, loadScenario, SECOND } from './support/scenarios.js';
import { kafkaSource } from './support/kafka-source.js';
import { OPENAPI } from '../aggregator/api.js';
import { Validator } from '@seriousme/openapi-schema-validator';

const test = suite('an open incident across a crash; replay; the HTTP API');
let agg: AggregatorProc | undefined;
const dataDir = tempDir('incident-');
const ARGS = ['--data-dir', dataDir, '--tick-ms', '100', '--resolve-after-ms', '1000', '--situation-hold-ms', '500', '--cause-wait-ms', '3000', '--time-scale', '0.2', '--default-cluster', 'prod'];
const BILLING = 'service/billing-service/pod/billing-1/consumer/billing-consumer';
let narrativeId = '';

test.after(async () => {
  await agg?.kill('SIGKILL');
});

const batches = (signals: Signal[], size = 200): Signal[][] => {
  const out: Signal[][] = [];
  for (let i = 0; i < signals.length; i += size) out.push(signals.slice(i, i + size));
  return out;
};
const narratives = (events: { narrative?: Narrative }[]): Narrative[] => events.filter((e) => e.narrative).map((e) => e.narrative!);

test('a narrative open at a SIGKILL is open after the restart, with its id, and resolves on recovery', async () => {
  agg = await aggregator(ARGS);
  let { client, channel } = aggregatorClient(agg.url);
  const sub = new Collector(client, { kinds: [EventKind.NARRATIVE] });
  await until(async () => /kafkaobs_subscribers_open 1\b/.test(await (await fetch(`http://127.0.0.1:${agg!.httpPort}/metrics`)).text()), 'subscribed');
  const sc = loadScenario('cascade', { rebaseEndTo: nowNs() - SECOND });
  const recovery = sc.startNs + BigInt(Math.round(sc.meta.recoveryAtSeconds! * 1000)) * 1_000_000n;
  // Group billing as the Kafka source judges it over the same stretch: caught up, then falling behind.
  const lag = kafkaSource(new Map([['billing', { members: () => ({ state: 'Stable', members: 1, assigned: [{ topic: 'orders', partitions: [0] }] }), partitions: [{ topic: 'orders', committed: (t: number) => (t < 15 ? 100 * t : 1500 + 30 * (t - 15)), logEnd: (t: number) => 100 * t }] }]]), Math.floor(Number(recovery - sc.startNs) / 1e9), 1, { startMs: Number(sc.startNs / 1_000_000n) });
  const all = [...arrivingLate(sc.signals, 'kafka-1', 9n * SECOND), ...lag].sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
  const incident = all.filter((s) => s.timestamp < recovery);
  const after = all.filter((s) => s.timestamp >= recovery);
  await streamSignals(client, batches(incident));
  await sub.until((ev) => narratives(ev).some((n) => n.causalChain.some((e) => entityOf(e.subject) === BILLING)), 'the narrative to reach the consumers');
  const before = narratives(sub.events);
  narrativeId = before[0]!.id;
  const lastRevision = before.at(-1)!.revision;
  await sub.close();
  channel.close();

  agg.child.kill('SIGKILL');
  await agg.exited;
  agg = await aggregator(ARGS);
  const recovered = agg.lines.find((l) => l.msg === 'journal opened and pipeline recovered')!;
  assert.ok((recovered.tailSignals as number) >= incident.length, 'the tail fed the incident back');
  assert.is(recovered.matchedNarratives, 1, 'the rebuilt narrative is the journal\'s');
  ({ client, channel } = aggregatorClient(agg.url));
  // Before any new signal: the estate and the open narrative, same id.
  const open = await client.listNarratives({ includeResolved: false, limit: 0, subjectPrefix: '' });
  assert.equal(open.narratives.map((n) => [n.id, n.rootSubject]), [[narrativeId, 'cluster/prod/broker/1']]);
  const broker = await client.getCell({ path: 'cluster/prod/broker/1', depth: 0, limit: 0, after: '' });
  assert.ok(broker.signals > 0n, 'the restarted aggregator knows broker 1');
  const latest = await getJson<{ open: number; narratives: { narrative: Narrative & { id: string }; resolvedAt: string }[] }>(`http://127.0.0.1:${agg.httpPort}/api/narratives/latest`);
  assert.is(latest.open, 1);
  assert.is(latest.narratives[0]!.narrative.id, narrativeId);
  assert.is(latest.narratives[0]!.resolvedAt, '', 'still open in the API');

  const sub2 = new Collector(client, { kinds: [EventKind.NARRATIVE] });
  await until(async () => /kafkaobs_subscribers_open 1\b/.test(await (await fetch(`http://127.0.0.1:${agg!.httpPort}/metrics`)).text()), 'subscribed again');
  await streamSignals(client, batches(after));
  await sub2.until((ev) => narratives(ev).some((n) => n.state === Narrative_State.RESOLVED), 'the narrative to resolve', 30_000);
  const resolved = narratives(sub2.events).filter((n) => n.state === Narrative_State.RESOLVED);
  assert.equal(resolved.map((n) => n.id), [narrativeId], 'the same narrative resolves, once');
  assert.ok(resolved[0]!.revision > lastRevision, 'its revisions continue');
  assert.equal(narratives(sub2.events).filter((n) => n.state === Narrative_State.OPEN), [], 'nothing reopened under another id');
  await sub2.close();
  channel.close();
});

test('the JSON API answers as its OpenAPI description says', async () => {
  const base = `http://127.0.0.1:${agg!.httpPort}`;
  const served = await getJson<typeof OPENAPI>(`${base}/api/openapi.json`);
  assert.equal(served, OPENAPI, 'the served description is the checked-in one');
  const spec = await new Validator().validate(structuredClone(OPENAPI) as Parameters<Validator["validate"]>[0]);
  assert.ok(spec.valid, `the description is valid OpenAPI ${OPENAPI.openapi}: ${JSON.stringify(spec.errors)}`);
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema({ $id: 'openapi', components: OPENAPI.components } as object);
  const check = async (path: string, status: number, ref: string): Promise<unknown> => {
    const r = await fetch(`${base}${path}`);
    assert.is(r.status, status, `${path}: HTTP ${status}`);
    const body = await r.json();
    const validate = ajv.getSchema(`openapi#/components/schemas/${ref}`)!;
    assert.ok(validate(body), `${path} matches ${ref}: ${ajv.errorsText(validate.errors)}`);
    return body;
  };
  const recent = (await check('/api/signals/recent?limit=5', 200, 'RecentSignals')) as { signals: { signal: { subject: string }; time: string; timeNs: string }[] };
  assert.is(recent.signals.length, 5);
  assert.match(recent.signals[0]!.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  const brokers = (await check('/api/signals/recent?prefix=cluster/prod/broker/1&kind=status&limit=3', 200, 'RecentSignals')) as typeof recent;
  assert.ok(brokers.signals.length > 0 && brokers.signals.every((s) => s.signal.subject.startsWith('cluster/prod/broker/1')));
  await check('/api/signals/recent?kind=nope', 400, 'Error');
  await check('/api/signals/recent?limit=0', 400, 'Error');
  const latest = (await check('/api/narratives/latest', 200, 'LatestNarratives')) as { narratives: { narrative: { id: string } }[] };
  assert.is(latest.narratives[0]!.narrative.id, narrativeId);
  const history = (await check(`/api/narratives/${encodeURIComponent(narrativeId)}`, 200, 'NarrativeHistory')) as { revisions: { narrative: { revision: number; state: string } }[] };
  assert.is(history.revisions[0]!.narrative.state, 'OPEN', 'the full history, from its opening');
  assert.is(history.revisions.at(-1)!.narrative.state, 'RESOLVED');
  for (let i = 1; i < history.revisions.length; i++) assert.ok(history.revisions[i]!.narrative.revision > history.revisions[i - 1]!.narrative.revision, 'revisions in order, across the restart');
  await check('/api/narratives/no-such-id', 404, 'Error');
  await check('/api/cells/cluster/prod/broker/1?depth=0', 200, 'CellReply');
  await check('/api/cells?depth=2', 200, 'CellReply');
  await check('/api/cells/nowhere/at/all', 404, 'Error');
  const clusters = (await check('/api/clusters', 200, 'Clusters')) as { clusters: { name: string; brokers: number }[] };
  assert.ok(clusters.clusters.some((c) => c.name === 'prod' && c.brokers > 0));
  const groups = (await check('/api/clusters/prod/groups', 200, 'Groups')) as { groups: { name: string }[] };
  assert.ok(groups.groups.some((g) => g.name === 'billing'));
  await check('/api/clusters/prod/topics', 200, 'Topics');
  await check('/api/clusters/nope/groups', 404, 'Error');
});

test('Replay streams journalled events by subject prefix (a chain subject too), kinds, time range and limit', async () => {
  const { client, channel } = aggregatorClient(agg!.url);
  const all = async (req: Partial<Parameters<typeof client.replay>[0]>) => {
    const out = [];
    for await (const e of client.replay({ fromTime: 0n, toTime: 0n, subjectPrefix: '', kinds: [], fromOffset: 0n, toOffset: 0n, limit: 0, ...req })) out.push(e);
    return out;
  };
  const narr = await all({ subjectPrefix: BILLING, kinds: [EventKind.NARRATIVE] });
  assert.ok(narr.length >= 2);
  assert.ok(narr.every((e) => e.narrative?.id === narrativeId), 'the narrative, found through a subject of its chain');
  for (let i = 1; i < narr.length; i++) assert.ok(narr[i]!.offset > narr[i - 1]!.offset, 'oldest first');
  assert.is(narr.at(-1)!.narrative!.state, Narrative_State.RESOLVED);
  const three = await all({ subjectPrefix: 'cluster/prod/broker/1', kinds: [EventKind.SIGNAL], limit: 3 });
  assert.is(three.length, 3);
  assert.ok(three.every((e) => e.signal!.subject.startsWith('cluster/prod/broker/1')));
  const later = await all({ fromTime: nowNs() + 3600n * SECOND });
  assert.is(later.length, 0, 'nothing after an hour from now');
  const window = await all({ fromTime: narr[0]!.time, toTime: narr[0]!.time + 1n, kinds: [EventKind.NARRATIVE] });
  assert.ok(window.length >= 1 && window.every((e) => e.time === narr[0]!.time), 'a time range holds what was produced in it');
  channel.close();
});

test('kafka-obs replay re-runs the stored incident and reaches the same narrative: from a running aggregator, then offline', async () => {
  const online = run(['replay', '--aggregator-url', agg!.url, '--compare', '--tick-ms', '100', '--resolve-after-ms', '1000', '--situation-hold-ms', '500', '--cause-wait-ms', '3000', '--time-scale', '0.2', '--default-cluster', 'prod', '--settle', '60s'], 'replay-online');
  assert.is(await online.exited, 0, `online replay agrees:\n${online.stdout.join('\n')}\n${online.lines.map((l) => l.msg).join('\n')}`);
  assert.match(online.stdout.join('\n'), /SAME: the replay reaches the narratives the journal recorded/);
  assert.is(await agg!.kill('SIGTERM'), 0);
  const p = run(['replay', '--data-dir', dataDir, '--compare', '--tick-ms', '100', '--resolve-after-ms', '1000', '--situation-hold-ms', '500', '--cause-wait-ms', '3000', '--time-scale', '0.2', '--default-cluster', 'prod', '--settle', '60s'], 'replay');
  const code = await p.exited;
  const out = p.stdout.join('\n');
  assert.is(code, 0, `replay agrees with the journal:\n${out}\n${p.lines.map((l) => l.msg).join('\n')}`);
  assert.match(out, /SAME: the replay reaches the narratives the journal recorded/);
  assert.match(out, /root subject:\s+cluster\/prod\/broker\/1/);
  assert.match(out, /situation:\s+Cascading failure in cluster prod/);
  // A stretch with nothing in it is said so.
  const empty = run(['replay', '--data-dir', dataDir, '--from', '2001-01-01T00:00:00Z', '--to', '2001-01-02T00:00:00Z'], 'replay-empty');
  assert.is(await empty.exited, 2);
  assert.match(empty.lines.map((l) => l.msg).join('\n'), /no signals in the journal/);
});

test.run();
