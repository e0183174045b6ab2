// End to end (issue 16 item 4): `kafka-obs tail` and the HTTP API work the same against a leaf or
// the upstream. Real processes: an upstream aggregator, one leaf (--upstream, --leaf-name east)
// with a real agent, and the real `kafka-obs tail` CLI (--json and text) subscribed to the
// upstream. The recorded cascade goes into the leaf; the upstream's tail prints the leaf's
// narrative tagged with its leaf, and the upstream's /api/narratives/latest, /api/cells and
// /api/clusters show the leaf's narrative and cells, each with `leaf`.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EventKind, Narrative_State, nowNs, type Signal } from '../proto/index.js';
import { agent, aggregator, getJson, postJson, run, until, type AgentProc, type AggregatorProc, type Proc } from './support/procs.js';
import { aggregatorClient, Collector, streamSignals } from './support/client.js';
import { arrivingLate, loadScenario, SECOND } from './support/scenarios.js';

const test = suite('end to end: tail and the HTTP API against an upstream');
const procs: Proc[] = [];

test.after(async () => {
  for (const p of procs.reverse()) await p.kill('SIGKILL');
});

const PIPE = ['--tick-ms', '100', '--resolve-after-ms', '1000', '--situation-hold-ms', '500', '--cause-wait-ms', '3000', '--time-scale', '0.2'];

const batches = (signals: Signal[], size = 200): Signal[][] => {
  const out: Signal[][] = [];
  for (let i = 0; i < signals.length; i += size) out.push(signals.slice(i, i + size));
  return out;
};

interface JsonEvent {
  offset?: string;
  leaf?: string;
  leafOffset?: string;
  narrative?: { id: string; leaf?: string; state?: string };
}

interface CellBody {
  // toJSON leaves out empty fields: the root has no path.
  cell: { path?: string; leaf?: string; children?: CellBody['cell'][] };
}

const flatten = (c: CellBody['cell'], out = new Map<string, CellBody['cell']>()): Map<string, CellBody['cell']> => {
  out.set(c.path ?? '', c);
  for (const ch of c.children ?? []) flatten(ch, out);
  return out;
};

test('tail --json, tail and /api on the upstream show the leaf\'s narrative and cells, tagged with the leaf', async () => {
  const up: AggregatorProc = await aggregator(PIPE);
  procs.push(up);
  const leaf = await aggregator(['--upstream', up.url, '--leaf-name', 'east', '--default-cluster', 'prod', ...PIPE]);
  procs.push(leaf);
  await leaf.waitForLog((x) => x.msg.startsWith('federation: connected'));
  const leafAgent: AgentProc = await agent('east-agent', leaf.url);
  procs.push(leafAgent);

  // The real CLI, both ways, against the upstream.
  const tailJson = run(['tail', '--aggregator-url', up.url, '--kinds', 'narrative', '--json'], 'tail-json');
  const tailText = run(['tail', '--aggregator-url', up.url, '--kinds', 'narrative', '--no-color'], 'tail-text');
  procs.push(tailJson, tailText);
  await until(async () => /kafkaobs_subscribers_open 2\b/.test(await (await fetch(`http://127.0.0.1:${up.httpPort}/metrics`)).text()), 'both tails to subscribe upstream');

  // The leaf's agent reports a broker; the cascade goes into the leaf as its agents sent it.
  const stable = { subject: 'cluster/prod/broker/3#request-handler-idle', status: { condition: 'STABLE', confidence: 'MEASURED' } };
  assert.is((await postJson(`http://127.0.0.1:${leafAgent.httpPort}/v1/signals`, [stable])).status, 200);
  const { client: leafClient, channel: leafChannel } = aggregatorClient(leaf.url);
  const leafSub = new Collector(leafClient, { kinds: [EventKind.NARRATIVE] });
  await until(async () => /kafkaobs_subscribers_open 1\b/.test(await (await fetch(`http://127.0.0.1:${leaf.httpPort}/metrics`)).text()), 'the leaf subscriber');
  const sc = loadScenario('cascade', { rebaseEndTo: nowNs() - SECOND });
  const recovery = sc.startNs + BigInt(Math.round(sc.meta.recoveryAtSeconds! * 1000)) * 1_000_000n;
  await streamSignals(leafClient, batches(arrivingLate(sc.signals, 'kafka-1', 9n * SECOND).filter((s) => s.timestamp < recovery)));
  await leafSub.until((ev) => ev.some((e) => e.narrative?.state === Narrative_State.OPEN), 'the leaf to open a narrative');
  const opened = leafSub.events.find((e) => e.narrative?.state === Narrative_State.OPEN)!;
  const id = opened.narrative!.id;

  // tail --json on the upstream: the leaf's narrative, same id, tagged with the leaf and its offset there.
  const line = await until(async () => tailJson.stdout.find((l) => l.includes(`"id":"${id}"`)), 'tail --json on the upstream to print the leaf\'s narrative');
  const printed = JSON.parse(line) as JsonEvent;
  assert.is(printed.leaf, 'east', 'the event says which leaf');
  assert.is(printed.narrative?.leaf, 'east', 'the narrative says which leaf');
  assert.is(printed.leafOffset, opened.offset.toString(), 'with its offset in the leaf\'s journal');
  assert.is(printed.narrative?.state, 'OPEN');
  // And for people: the narrative's block names the leaf.
  const head = await until(async () => tailText.stdout.find((l) => l.includes(id) && / narrative /.test(l)), 'tail on the upstream to print the leaf\'s narrative');
  assert.match(head, /\bleaf east\b/, `the text line names the leaf: ${head}`);

  // The same through the upstream's HTTP API.
  const latest = await getJson<{ open: number; narratives: { narrative: { id: string; leaf?: string } }[] }>(`http://127.0.0.1:${up.httpPort}/api/narratives/latest`);
  assert.equal(latest.narratives.filter(({ narrative: n }) => n.id === id).map(({ narrative: n }) => n.leaf), ['east'], '/api/narratives/latest lists it once, with its leaf');
  assert.ok(latest.open >= 1, `it counts as open upstream (open: ${latest.open})`);
  const history = await getJson<{ narrative: { narrative: { leaf?: string } } }>(`http://127.0.0.1:${up.httpPort}/api/narratives/${encodeURIComponent(id)}`);
  assert.is(history.narrative.narrative.leaf, 'east', '/api/narratives/<id> has it too');
  const tree = await until(async () => {
    const t = flatten((await getJson<CellBody>(`http://127.0.0.1:${up.httpPort}/api/cells?depth=0`)).cell);
    return t.get('cluster/prod/broker/3')?.leaf === 'east' && t.get('cluster/prod/broker/1')?.leaf === 'east' ? t : undefined;
  }, 'the leaf\'s cells in the upstream\'s /api/cells');
  assert.ok(![...tree.keys()].some((p) => p.includes('#')), 'entity cells only');
  const one = await getJson<CellBody>(`http://127.0.0.1:${up.httpPort}/api/cells/cluster/prod/broker/3`);
  assert.is(one.cell.leaf, 'east', '/api/cells/<path> names the leaf');
  const clusters = await getJson<{ clusters: { name: string; leaf?: string; brokers: number }[] }>(`http://127.0.0.1:${up.httpPort}/api/clusters`);
  const prod = clusters.clusters.find((c) => c.name === 'prod');
  assert.ok(prod && prod.brokers >= 1, `/api/clusters upstream lists the leaf's cluster: ${JSON.stringify(clusters)}`);
  assert.is(prod!.leaf, 'east', '/api/clusters names the leaf');

  // The leaf answers the same API for itself, untagged (its cells are its own).
  const own = await getJson<CellBody>(`http://127.0.0.1:${leaf.httpPort}/api/cells/cluster/prod/broker/3`);
  assert.is(own.cell.leaf, undefined);
  const leafLatest = await getJson<{ narratives: { narrative: { id: string; leaf?: string } }[] }>(`http://127.0.0.1:${leaf.httpPort}/api/narratives/latest`);
  assert.equal(leafLatest.narratives.filter(({ narrative: n }) => n.id === id).map(({ narrative: n }) => n.leaf), [undefined]);

  await leafSub.close();
  leafChannel.close();
});

test.run();
