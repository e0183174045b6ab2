// End to end: an HA pair (issue 16 item 2), real processes. Two aggregators ("a", "b") watch one
// estate: the recorded cascade's four agents (real `kafka-obs agent` processes, one per source)
// each send to both (--aggregator-url a,b). Both are leaves of one upstream with --ha-group pair;
// the upstream runs the actors (a webhook and PagerDuty, both a real HTTP server here). The member
// speaking for the incident upstream is SIGKILLed mid-cascade; the agents go on sending to the
// survivor. A subscriber of the upstream sees one narrative for the incident, opened and resolved
// once; the webhook receiver gets exactly one trigger and one resolve, PagerDuty one trigger and
// one resolve under one dedup key derived from the narrative id.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createChannel, createClientFactory } from 'nice-grpc';
import { EventKind, LocalAgentDefinition, Narrative_State, directDefinition, nowNs, type Event, type Signal } from '../proto/index.js';
import { agent, aggregator, getJson, run, tempDir, until, type AgentProc, type AggregatorProc } from './support/procs.js';
import { aggregatorClient, Collector } from './support/client.js';
import { Receiver } from './support/actors.js';
import { loadScenario, SECOND } from './support/scenarios.js';

const test = suite('end to end: an HA pair (agents send to two aggregators, leaves of one upstream)');
const procs: (AggregatorProc | AgentProc)[] = [];

test.after(async () => {
  for (const p of procs.reverse()) await p.kill('SIGKILL');
});

const said = (p: { lines: { msg: string }[] }): string => p.lines.map((l) => l.msg).join('\n');
const PIPE = ['--tick-ms', '100', '--resolve-after-ms', '1000', '--situation-hold-ms', '500', '--cause-wait-ms', '3000', '--time-scale', '0.2', '--default-cluster', 'prod'];

test('bad flags: a precise error', async () => {
  const noUpstream = run(['aggregator', '--ha-group', 'pair', '--grpc-port', '0', '--http-port', '0', '--data-dir', tempDir('ha-bad-')], 'bad ha');
  assert.is(await noUpstream.exited, 2);
  assert.match(said(noUpstream), /--ha-group needs --upstream: the members of an HA pair are leaves of one upstream/);
  const dir = tempDir('ha-bad-');
  const file = join(dir, 'actors.yaml');
  writeFileSync(file, 'actors:\n  - type: log\n    enabled: true\n');
  const actors = run(['aggregator', '--upstream', 'grpc://127.0.0.1:1', '--leaf-name', 'a', '--ha-group', 'pair', '--actors', file, '--grpc-port', '0', '--http-port', '0', '--data-dir', dir], 'bad ha actors');
  assert.is(await actors.exited, 2);
  assert.match(said(actors), /--ha-group "pair" with enabled actors \(log\): both members of the pair would announce every incident/);
  const twice = run(['agent', '--aggregator-url', 'grpc://127.0.0.1:7001,127.0.0.1:7001', '--grpc-port', '0', '--http-port', '0'], 'bad agent urls');
  assert.is(await twice.exited, 2);
  assert.match(said(twice), /--aggregator-url names 127\.0\.0\.1:7001 twice/);
});

test('one narrative, one trigger and one resolve, when a member of the pair is killed mid-cascade', async () => {
  const rx = await Receiver.start();
  rx.answer = (r) => (r.path === '/pd' ? { status: 202, body: '{"status":"success"}' } : { status: 200, body: 'ok' });
  const dir = tempDir('ha-up-');
  const actorsFile = join(dir, 'actors.yaml');
  writeFileSync(actorsFile, `dryRun: false\nactors:\n  - type: webhook\n    name: ops-hook\n    enabled: true\n    url: ${rx.url('/hook')}\n  - type: pagerduty\n    enabled: true\n    url: ${rx.url('/pd')}\n    routingKeyEnv: PD_KEY\n`);
  const up = await aggregator(['--data-dir', dir, '--actors', actorsFile, ...PIPE], { PD_KEY: 'r0utingkey' });
  procs.push(up);
  const members = new Map<string, AggregatorProc>();
  for (const name of ['a', 'b']) {
    const m = await aggregator(['--upstream', up.url, '--leaf-name', name, '--ha-group', 'pair', '--upstream-signals', ...PIPE]);
    procs.push(m);
    members.set(name, m);
  }
  await Promise.all([...members.values()].map((m) => m.waitForLog((x) => x.msg.startsWith('federation: connected'))));

  const sc = loadScenario('cascade', { rebaseEndTo: nowNs() - SECOND });
  const recovery = sc.startNs + BigInt(Math.round(sc.meta.recoveryAtSeconds! * 1000)) * 1_000_000n;
  const sources = [...new Set(sc.signals.map((s) => s.sourceId))];
  const urls = [...members.values()].map((m) => m.url).join(',');
  const agents = new Map<string, AgentProc>();
  for (const id of sources) {
    const a = await agent(id, urls);
    procs.push(a);
    agents.set(id, a);
  }
  type Status = { connected: boolean; outbox: { signals: number }; aggregators?: { url: string; connected: boolean; signals: number }[] };
  const status = (a: AgentProc) => getJson<Status>(`http://127.0.0.1:${a.httpPort}/v1/status`);
  for (const a of agents.values()) await until(async () => (await status(a)).aggregators?.every((x) => x.connected), `agent ${a.id} connected to both`);
  const local = new Map([...agents].map(([id, a]) => [id, createClientFactory().create(directDefinition(LocalAgentDefinition), createChannel(`127.0.0.1:${a.grpcPort}`))]));
  /** Feeds signals through their agents, in order (runs of one source in one call); the agents number them. */
  const feed = async (signals: Signal[]): Promise<void> => {
    for (let i = 0; i < signals.length; ) {
      const src = signals[i]!.sourceId;
      const run: Signal[] = [];
      for (; i < signals.length && signals[i]!.sourceId === src; i++) run.push({ ...signals[i]!, sourceId: '', seq: 0n, clock: {} });
      const reply = await local.get(src)!.emit({ signals: run });
      assert.is(reply.accepted, run.length);
    }
  };

  const { client: upClient, channel: upChannel } = aggregatorClient(up.url);
  const sub = new Collector(upClient, { kinds: [EventKind.NARRATIVE, EventKind.ACTION], fromOffset: 0n });
  const narratives = (): Event[] => sub.events.filter((e) => e.narrative);
  const signals = new Collector(upClient, { kinds: [EventKind.SIGNAL], fromOffset: 0n });

  // The incident, through the agents to both members.
  await feed(sc.signals.filter((s) => s.timestamp < recovery));
  await sub.until(() => narratives().some((e) => e.narrative!.state === Narrative_State.OPEN), 'the upstream to open the incident\'s narrative', 30_000);
  const opened = narratives().find((e) => e.narrative!.state === Narrative_State.OPEN)!.narrative!;
  assert.is(opened.group, 'pair');
  assert.match(opened.id, /^h-[0-9a-f]{16}/);
  // The other member's copy reached the upstream too (and was merged, not shown).
  const haCount = async (outcome: string): Promise<number> => Number(new RegExp(`^kafkaobs_federation_ha_narratives_total\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(await (await fetch(`http://127.0.0.1:${up.httpPort}/metrics`)).text())?.[1] ?? 0);
  await until(async () => (await haCount('copy')) + (await haCount('aliased')) > 0, 'the other member\'s copy upstream');

  // The member speaking for the narrative dies mid-cascade.
  const speaker = members.get(opened.leaf!)!;
  const survivor = [...members.entries()].find(([n]) => n !== opened.leaf)!;
  speaker.child.kill('SIGKILL');
  await speaker.exited;
  await feed(sc.signals.filter((s) => s.timestamp >= recovery));

  await sub.until(() => narratives().some((e) => e.narrative!.id === opened.id && e.narrative!.state === Narrative_State.RESOLVED), 'the narrative resolved upstream', 60_000);
  await rx.until((r) => r.filter((x) => x.path === '/hook').length >= 2 && r.filter((x) => x.path === '/pd').length >= 2, 'a trigger and a resolve at each receiver');
  // Everything the survivor decided is upstream: it has acknowledged its whole journal.
  await until(async () => /^kafkaobs_federation_upstream_behind_events 0$/m.test(await (await fetch(`http://127.0.0.1:${survivor[1].httpPort}/metrics`)).text()), 'the survivor caught up upstream');
  // Nothing missed, nothing doubled: every signal the agents took reached the upstream once (both
  // members forwarded them raw; the upstream took each (source, seq) once).
  await signals.until((ev) => ev.length >= sc.signals.length, `all ${sc.signals.length} signals upstream`, 30_000);
  for (const a of agents.values()) await until(async () => (await status(a)).aggregators!.find((x) => x.url === survivor[1].url)!.signals === 0, `agent ${a.id}: everything acknowledged by the survivor`);
  const unique = new Set(signals.events.map((e) => `${e.signal!.sourceId}/${e.signal!.seq}`));
  assert.is(unique.size, sc.signals.length, 'each signal once upstream');
  assert.is(signals.events.length, sc.signals.length);
  assert.equal([...new Set(signals.events.map((e) => e.signal!.sourceId))].sort(), [...sources].sort());
  for (const a of agents.values()) {
    const s = await status(a);
    assert.ok(s.connected, `agent ${a.id} still connected (to the survivor)`);
    // Ready while one aggregator is connected; each aggregator's link in the metrics.
    assert.is((await fetch(`http://127.0.0.1:${a.httpPort}/readyz`)).status, 200, `agent ${a.id} ready with one aggregator`);
    const m = await (await fetch(`http://127.0.0.1:${a.httpPort}/metrics`)).text();
    assert.match(m, /^kafkaobs_agent_aggregators_connected 1$/m);
    assert.match(m, new RegExp(`^kafkaobs_agent_aggregator_connected\\{aggregator="${speaker.url}"\\} 0$`, 'm'));
    assert.match(m, new RegExp(`^kafkaobs_agent_aggregator_outbox_signals\\{aggregator="${survivor[1].url}"\\} 0$`, 'm'));
    assert.equal(s.aggregators!.map((x) => x.connected), [...members.keys()].map((n) => n !== opened.leaf), 'connected to the survivor only');
  }

  const ids = [...new Set(narratives().map((e) => e.narrative!.id))];
  assert.equal(ids, [opened.id], 'one narrative for the incident upstream');
  const states = narratives().map((e) => Narrative_State[e.narrative!.state]);
  assert.is(states.filter((s) => s === 'OPEN').length, 1);
  assert.is(states.filter((s) => s === 'RESOLVED').length, 1);
  const revs = narratives().map((e) => e.narrative!.revision);
  assert.equal(revs, revs.map((_, i) => i + 1), 'revisions renumbered upstream, one sequence');
  assert.equal(narratives().at(-1)!.narrative!.leaf, survivor[0], 'resolved by the survivor');

  const hook = rx.requests.filter((r) => r.path === '/hook').map((r) => `${r.body.event} ${r.body.narrative.id}`);
  assert.equal(hook, [`narrative.opened ${opened.id}`, `narrative.resolved ${opened.id}`], 'the webhook: exactly one trigger and one resolve');
  const pd = rx.requests.filter((r) => r.path === '/pd').map((r) => `${r.body.event_action} ${r.body.dedup_key}`);
  assert.equal(pd, [`trigger kafka-obs/${opened.id}`, `resolve kafka-obs/${opened.id}`], 'PagerDuty: one trigger, one resolve, one dedup key');
  const metrics = await (await fetch(`http://127.0.0.1:${up.httpPort}/metrics`)).text();
  assert.match(metrics, /^kafkaobs_federation_ha_narratives_total\{outcome="opened"\} 1$/m);
  if (process.env.HA_FIGURES) console.log(metrics.split('\n').filter((l) => l.startsWith('kafkaobs_federation_ha')).join('\n'));

  const listed = await upClient.listNarratives({ includeResolved: true, limit: 0, subjectPrefix: '' });
  assert.equal(listed.narratives.map((n) => [n.id, Narrative_State[n.state]]), [[opened.id, 'RESOLVED']], 'ListNarratives upstream: the one narrative');
  await sub.close();
  await signals.close();
  upChannel.close();
  await rx.close();
});

test.run();
