// End to end: a federated mesh (issue 16), real processes. Two leaf aggregators ("east",
// "west"), each with a real agent, forward to one upstream aggregator (--upstream). The recorded
// cascade is streamed into east as its agents sent it. The upstream's tree holds both estates
// (each mirrored cell marked with its leaf), its narratives are east's (same ids, tagged east),
// and east's decision reaches a subscriber of the upstream within a second. Then the upstream is
// killed (SIGKILL) mid-incident: east keeps deciding (the narrative resolves there), west keeps
// hearing; the upstream restarted on the same data directory and port catches up, and holds each
// leaf narrative revision exactly once.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { EventKind, Narrative_State, nowNs, type Cell, type Event, type Signal } from '../proto/index.js';
import { agent, aggregator, getJson, postJson, tempDir, until, type AgentProc, type AggregatorProc } from './support/procs.js';
import { aggregatorClient, Collector, streamSignals, type Client } from './support/client.js';
import { arrivingLate, loadScenario, SECOND } from './support/scenarios.js';

const test = suite('end to end: federation (two leaves, one upstream)');
const procs: (AggregatorProc | AgentProc)[] = [];

test.after(async () => {
  for (const p of procs.reverse()) await p.kill('SIGKILL');
});

const batches = (signals: Signal[], size = 200): Signal[][] => {
  const out: Signal[][] = [];
  for (let i = 0; i < signals.length; i += size) out.push(signals.slice(i, i + size));
  return out;
};

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A subscriber that notes when (wall clock, ms) each event arrived. */
class Timed {
  readonly events: { e: Event; atMs: number }[] = [];
  private readonly abort = new AbortController();
  readonly done: Promise<void>;
  constructor(client: Client, kinds: EventKind[]) {
    this.done = (async () => {
      try {
        for await (const e of client.subscribe({ kinds, subjectPrefix: '' }, { signal: this.abort.signal })) this.events.push({ e, atMs: Date.now() });
      } catch {
        /* ended */
      }
    })();
  }
  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}

function walk(c: Cell, out: Map<string, Cell>): Map<string, Cell> {
  out.set(c.path, c);
  for (const ch of c.children) walk(ch, out);
  return out;
}

const PIPE = ['--tick-ms', '100', '--resolve-after-ms', '1000', '--situation-hold-ms', '500', '--cause-wait-ms', '3000', '--time-scale', '0.2'];
const revisions = (events: Event[]): string[] => events.filter((e) => e.narrative).map((e) => `${e.narrative!.id}#${e.narrative!.revision}`);

test('both estates in one tree, the leaves\' narratives upstream within a second, nothing lost or doubled across an upstream crash', async () => {
  const upPort = await freePort();
  const upDir = tempDir('upstream-');
  const UP = ['--grpc-port', String(upPort), '--data-dir', upDir, ...PIPE];
  let up = await aggregator(UP);
  procs.push(up);
  const east = await aggregator(['--upstream', up.url, '--leaf-name', 'east', '--default-cluster', 'prod', ...PIPE]);
  const west = await aggregator(['--upstream', up.url, '--leaf-name', 'west', '--default-cluster', 'west', ...PIPE]);
  procs.push(east, west);
  await Promise.all([east, west].map((l) => l.waitForLog((x) => x.msg.startsWith('federation: connected'))));
  const eastAgent = await agent('east-agent', east.url);
  const westAgent = await agent('west-agent', west.url);
  procs.push(eastAgent, westAgent);

  // Each estate through its own agent.
  const stable = (subject: string) => ({ subject, status: { condition: 'STABLE', confidence: 'MEASURED' } });
  assert.is((await postJson(`http://127.0.0.1:${eastAgent.httpPort}/v1/signals`, [stable('cluster/prod/broker/3#request-handler-idle')])).status, 200);
  assert.is((await postJson(`http://127.0.0.1:${westAgent.httpPort}/v1/signals`, [stable('cluster/west/broker/1#request-handler-idle'), stable('service/payments/pod/payments-0/consumer/pay#records-lag')])).status, 200);

  let { client: upClient, channel: upChannel } = aggregatorClient(up.url);
  const { client: eastClient, channel: eastChannel } = aggregatorClient(east.url);
  const upSub = new Timed(upClient, [EventKind.NARRATIVE]);
  const eastSub = new Collector(eastClient, { kinds: [EventKind.NARRATIVE] });
  await until(async () => /kafkaobs_subscribers_open 1\b/.test(await (await fetch(`http://127.0.0.1:${up.httpPort}/metrics`)).text()), 'the upstream subscriber');
  await until(async () => /kafkaobs_subscribers_open 1\b/.test(await (await fetch(`http://127.0.0.1:${east.httpPort}/metrics`)).text()), 'the east subscriber');

  // The cascade, into east, as its agents sent it (broker 1's agent 9 s late).
  const sc = loadScenario('cascade', { rebaseEndTo: nowNs() - SECOND });
  const recovery = sc.startNs + BigInt(Math.round(sc.meta.recoveryAtSeconds! * 1000)) * 1_000_000n;
  const late = arrivingLate(sc.signals, 'kafka-1', 9n * SECOND);
  const incident = late.filter((s) => s.timestamp < recovery);
  const after = late.filter((s) => s.timestamp >= recovery);
  await streamSignals(eastClient, batches(incident));
  await eastSub.until((ev) => ev.some((e) => e.narrative?.state === Narrative_State.OPEN), 'east to open a narrative');
  const opened = eastSub.events.find((e) => e.narrative?.state === Narrative_State.OPEN)!;
  const id = opened.narrative!.id;

  // Upstream: the same narrative, tagged east, within a second of east deciding it.
  await until(async () => upSub.events.some(({ e }) => e.narrative?.id === id), 'the narrative upstream', 10_000);
  const arrived = upSub.events.find(({ e }) => e.narrative?.id === id)!;
  const lagMs = arrived.atMs - Number(opened.time / 1_000_000n);
  assert.ok(lagMs < 1000, `east's decision reached the upstream subscriber in ${lagMs} ms`);
  assert.is(arrived.e.narrative!.leaf, 'east');
  assert.is(arrived.e.leaf, 'east');
  assert.is(arrived.e.leafOffset, opened.offset, 'the leaf offset travels with the event');
  const listed = await upClient.listNarratives({ includeResolved: true, limit: 0, subjectPrefix: '' });
  assert.ok(listed.narratives.some((n) => n.id === id && n.leaf === 'east'), 'ListNarratives upstream lists east\'s narrative');

  // One tree: both estates, each mirrored cell with the leaf that reported it.
  await until(async () => {
    const tree = walk(await upClient.getCell({ path: '', depth: 0, limit: 0, after: '' }), new Map());
    return tree.get('cluster/prod/broker/1')?.leaf === 'east' && tree.get('cluster/west/broker/1')?.leaf === 'west' && tree.get('service/payments/pod/payments-0/consumer/pay')?.leaf === 'west';
  }, 'both estates in the upstream tree');
  const tree = walk(await upClient.getCell({ path: '', depth: 0, limit: 0, after: '' }), new Map());
  assert.is(tree.get('cluster/prod/broker/3')?.leaf, 'east');
  assert.ok(![...tree.keys()].some((p) => p.includes('#')), 'entity cells only, no aspects');
  const httpCell = await getJson<{ cell: { leaf?: string } } & { leaf?: string }>(`http://127.0.0.1:${up.httpPort}/api/cells/cluster/west/broker/1`);
  assert.is((httpCell as { leaf?: string }).leaf ?? httpCell.cell?.leaf, 'west', 'the HTTP API says which leaf too');

  // The upstream dies mid-incident; the leaves keep deciding.
  await upSub.close();
  upChannel.close();
  up.child.kill('SIGKILL');
  await up.exited;
  await streamSignals(eastClient, batches(after));
  assert.is((await postJson(`http://127.0.0.1:${westAgent.httpPort}/v1/signals`, [stable('cluster/west/broker/2#request-handler-idle')])).status, 200);
  await eastSub.until((ev) => ev.some((e) => e.narrative?.id === id && e.narrative.state === Narrative_State.RESOLVED), 'east to resolve the narrative while the upstream is away', 30_000);

  // Restarted on the same data directory: it catches up, each revision once.
  up = await aggregator(UP);
  procs.push(up);
  ({ client: upClient, channel: upChannel } = aggregatorClient(up.url));
  await until(async () => (await upClient.listNarratives({ includeResolved: true, limit: 0, subjectPrefix: '' })).narratives.some((n) => n.id === id && n.state === Narrative_State.RESOLVED), 'the resolution upstream', 20_000);
  await until(async () => walk(await upClient.getCell({ path: '', depth: 0, limit: 0, after: '' }), new Map()).get('cluster/west/broker/2')?.leaf === 'west', 'west\'s new broker upstream');
  const leafEvents: Event[] = [];
  for await (const e of eastClient.replay({ fromTime: 0n, toTime: 0n, subjectPrefix: '', kinds: [EventKind.NARRATIVE], fromOffset: 0n, toOffset: 0n, limit: 0 })) leafEvents.push(e);
  const upEvents: Event[] = [];
  for await (const e of upClient.replay({ fromTime: 0n, toTime: 0n, subjectPrefix: '', kinds: [EventKind.NARRATIVE], fromOffset: 0n, toOffset: 0n, limit: 0 })) upEvents.push(e);
  const fromLeaf = revisions(leafEvents);
  const upstreamHas = revisions(upEvents);
  assert.ok(fromLeaf.length >= 2, `east wrote revisions (${fromLeaf.length})`);
  assert.equal([...upstreamHas].sort(), [...fromLeaf].sort(), 'every revision of east\'s narratives upstream, each once');
  assert.ok(upEvents.every((e) => e.leaf === 'east' && e.narrative!.leaf === 'east'));
  const m = await (await fetch(`http://127.0.0.1:${up.httpPort}/metrics`)).text();
  assert.match(m, /kafkaobs_federation_received_total\{leaf="east",outcome="accepted"\} \d+/);
  const http = await getJson<{ narratives: { narrative: { id: string; leaf?: string } }[] }>(`http://127.0.0.1:${up.httpPort}/api/narratives/latest?resolved=true`);
  assert.equal(http.narratives.filter(({ narrative: n }) => n.id === id).map(({ narrative: n }) => n.leaf), ['east'], 'the HTTP API lists it once, with its leaf');
  await eastSub.close();
  eastChannel.close();
  upChannel.close();
});

test.run();
