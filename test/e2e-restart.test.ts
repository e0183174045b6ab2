// The aggregator is killed (SIGKILL) and restarted on its data directory while agents stream.
// Agents reconnect by themselves and resend everything not acknowledged; a subscriber connected
// after the restart, reading from the start of the journal, receives every signal exactly once:
// what the first aggregator acknowledged from its journal, the rest as the agents resent it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EventKind } from '../proto/index.js';
import { agent, aggregator, getJson, postJson, tempDir, until, type AgentProc, type AggregatorProc } from './support/procs.js';
import { aggregatorClient, Collector } from './support/client.js';

const test = suite('aggregator crash and restart');
const PER_AGENT = 3000;
const BATCH = 20;
let procs: (AgentProc | AggregatorProc)[] = [];

test.after(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
});

interface Status { connected: boolean; lastSeq: string; ackedSeq: string; outbox: { signals: number } }
const status = (a: AgentProc) => getJson<Status>(`http://127.0.0.1:${a.httpPort}/v1/status`);

test('agents reconnect and resend exactly what was not acknowledged; the journal has the rest', async () => {
  const dataDir = tempDir('restart-');
  const first = await aggregator(['--data-dir', dataDir]);
  procs.push(first);
  const agents = await Promise.all(['a', 'b', 'c'].map((id) => agent(id, first.url, ['--backoff-max-ms', '400'])));
  procs.push(...agents);
  for (const a of agents) await until(async () => (await status(a)).connected, `agent ${a.id} connected`);
  const firstSeq = new Map<string, bigint>();
  for (const a of agents) firstSeq.set(a.id, BigInt((await status(a)).lastSeq) + 1n);

  let sentByA = 0;
  let reached: () => void;
  const thirdSent = new Promise<void>((r) => (reached = r));
  const emit = Promise.all(agents.map(async (a) => {
    for (let i = 0; i < PER_AGENT; i += BATCH) {
      const batch = Array.from({ length: BATCH }, (_, k) => ({ subject: `service/${a.id}/pod/${a.id}-0/producer/p`, queue: { sign: 'ENQUEUE', units: 1 }, context: { id: `${a.id}-${i + k}` } }));
      const r = await postJson(`http://127.0.0.1:${a.httpPort}/v1/signals`, batch);
      assert.is(r.json.accepted, BATCH);
      if (a.id === 'a' && (sentByA += BATCH) >= PER_AGENT / 3) reached();
    }
  }));

  await thirdSent!;
  first.child.kill('SIGKILL');
  await first.exited;
  // With the aggregator gone no ack can arrive: what each agent holds as acknowledged is final.
  const ackedAtKill = new Map<string, bigint>();
  for (const a of agents) {
    const s = await until(async () => { const x = await status(a); return !x.connected && x; }, `agent ${a.id} notices the crash`);
    ackedAtKill.set(a.id, BigInt(s.ackedSeq));
  }

  const second = await aggregator(['--data-dir', dataDir, '--grpc-port', String(first.grpcPort)]);
  procs.push(second);
  const { client, channel } = aggregatorClient(second.url);
  const sub = new Collector(client, { kinds: [EventKind.SIGNAL], fromOffset: 0n });
  await emit;
  for (const a of agents) await until(async () => (await status(a)).outbox.signals === 0, `agent ${a.id} has everything acknowledged`, 30_000);

  const expected = new Set<string>();
  for (const a of agents) {
    const unackedFrom = Number(ackedAtKill.get(a.id)! - firstSeq.get(a.id)! + 1n);
    assert.ok(unackedFrom > 0 && unackedFrom < PER_AGENT, `agent ${a.id} had both acknowledged and unacknowledged signals at the crash (${unackedFrom})`);
    for (let i = 0; i < PER_AGENT; i++) expected.add(`${a.id}-${i}`);
  }
  await sub.until((ev) => ev.length >= expected.size, `${expected.size} signals at the new subscriber`);
  const got = sub.events.map((e) => e.signal!.context.id!);
  assert.is(new Set(got).size, got.length, 'no signal twice');
  assert.equal([...got].sort(), [...expected].sort(), 'every signal: the acknowledged ones from the journal, the others resent');
  // The agents did it by themselves: same processes, a logged failure, then a new connection.
  for (const a of agents) {
    assert.is(a.child.exitCode, null);
    assert.ok(a.lines.some((l) => l.msg === 'aggregator stream failed'));
    assert.ok(a.lines.filter((l) => l.msg === 'connected to aggregator').length >= 2);
  }
  await sub.close();
  channel.close();
});

test.run();
