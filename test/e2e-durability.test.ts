// Nothing acknowledged is ever lost. Ten agents stream as fast as they can into a real aggregator
// process with a journal on disk; it is killed (SIGKILL) three times and restarted on the same
// data directory. At the end every signal every agent had acknowledged is in the journal exactly
// once (the agents resent what was not acknowledged; dedupe state survived), a subscriber that
// resumed by offset after each crash saw each signal once, offsets never restarted, and the
// agents were back within seconds of each restart despite a 30 s backoff cap. Then SIGTERM under
// load: a subscriber connected throughout receives every signal the aggregator had acknowledged.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EventKind, type Event } from '../proto/index.js';
import { agent, aggregator, getJson, postJson, tempDir, until, type AgentProc, type AggregatorProc } from './support/procs.js';
import { aggregatorClient, type Client } from './support/client.js';
import { producerAspect } from './support/subjects.js';

const test = suite('durability: crashes and drains');
const AGENTS = 10;
const PER_AGENT = 6000;
const BATCH = 100;
let procs: (AgentProc | AggregatorProc)[] = [];

test.after.each(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  procs = [];
});

interface Status { connected: boolean; lastSeq: string; ackedSeq: string; sent: number; outbox: { signals: number; dropped: number } }
const status = (a: AgentProc) => getJson<Status>(`http://127.0.0.1:${a.httpPort}/v1/status`);

/** Signals the feeders have handed to the agents so far. */
let posted = 0;

/** Each agent posts its signals in batches as fast as its intake takes them. */
function feed(agents: AgentProc[], perAgent: number): Promise<void[]> {
  return Promise.all(agents.map(async (a) => {
    for (let i = 0; i < perAgent; i += BATCH) {
      const batch = Array.from({ length: BATCH }, (_, k) => ({ subject: producerAspect('orders', a.id, 'order-producer', 'buffer'), queue: { sign: 'ENQUEUE', units: 1 }, context: { id: `${a.id}-${i + k}` } }));
      for (;;) {
        const r = await postJson(`http://127.0.0.1:${a.httpPort}/v1/signals`, batch);
        if (r.status === 200) {
          assert.is(r.json.accepted, BATCH);
          assert.is(r.json.dropped, 0, 'the outbox never drops here');
          posted += BATCH;
          break;
        }
        await new Promise((res) => setTimeout(res, 50));
      }
    }
  }));
}

/** A subscriber that resumes from the offset after the last it saw whenever its stream breaks. */
class Resumer {
  readonly seen = new Map<string, number>();
  readonly offsets: bigint[] = [];
  gaps = 0;
  resumes = 0;
  private last = 0n;
  private stopped = false;
  readonly done: Promise<void>;
  private waiters: { test: () => boolean; resolve: () => void }[] = [];

  constructor(private readonly client: Client, from: bigint, private readonly prefix = '') {
    this.last = from - 1n;
    this.done = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        for await (const e of this.client.subscribe({ kinds: [EventKind.SIGNAL, EventKind.GAP], subjectPrefix: this.prefix, fromOffset: this.last + 1n })) {
          this.take(e);
          if (this.stopped) return;
        }
      } catch {
        // the aggregator went away: resume from the next offset once it is back
      }
      if (this.stopped) return;
      this.resumes++;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private take(e: Event): void {
    if (e.gap) this.gaps++;
    else {
      const id = e.signal!.context.id!;
      this.seen.set(id, (this.seen.get(id) ?? 0) + 1);
    }
    this.offsets.push(e.offset);
    this.last = e.offset;
    for (const w of [...this.waiters]) if (w.test()) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }

  until(test: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what} (seen ${this.seen.size})`)), timeoutMs);
      this.waiters.push({ test, resolve: () => { clearTimeout(t); resolve(); } });
    });
  }

  stop(): void {
    this.stopped = true;
  }
}

/** Every signal event in the journal, read back with Replay. */
async function journalled(client: Client, toOffset = 0n): Promise<{ offsets: bigint[]; signals: { id: string; source: string; seq: bigint }[] }> {
  const offsets: bigint[] = [];
  const signals: { id: string; source: string; seq: bigint }[] = [];
  for await (const e of client.replay({ fromTime: 0n, toTime: 0n, subjectPrefix: '', kinds: [], fromOffset: 0n, toOffset, limit: 0 })) {
    offsets.push(e.offset);
    if (e.signal) signals.push({ id: e.signal.context.id!, source: e.signal.sourceId, seq: e.signal.seq });
  }
  return { offsets, signals };
}

test('three SIGKILLs under load: every acknowledged signal journalled exactly once; a resuming subscriber sees each once; offsets continue', async () => {
  const dataDir = tempDir('durable-');
  let agg = await aggregator(['--data-dir', dataDir]);
  procs.push(agg);
  const port = agg.grpcPort;
  // The default 30 s backoff cap: the agents' probe, not a short cap, brings them back quickly.
  const agents = await Promise.all(Array.from({ length: AGENTS }, (_, i) => agent(`d${i}`, agg.url, ['--backoff-max-ms', '30000'])));
  procs.push(...agents);
  for (const a of agents) await until(async () => (await status(a)).connected, `agent ${a.id} connected`);
  const firstSeq = new Map<string, bigint>();
  for (const a of agents) firstSeq.set(a.id, BigInt((await status(a)).lastSeq) + 1n);

  let { client, channel } = aggregatorClient(agg.url);
  const resumer = new Resumer(client, 1n);
  // A second one follows one agent's pod only (its catch-ups read the journal through the subject index).
  const one = new Resumer(client, 1n, 'service/orders/pod/d3');
  const total = AGENTS * PER_AGENT;
  const feeding = feed(agents, PER_AGENT);
  const ackedAtKills: Map<string, bigint>[] = [];
  const reconnectMs: number[] = [];
  let unackedAtKills = 0;
  const unackedByAgent = new Map<string, number>();
  for (let k = 1; k <= 3; k++) {
    await until(async () => posted >= (k * total) / 5 || undefined, `${(k * total) / 5} signals posted before kill ${k}`, 60_000);
    agg.child.kill('SIGKILL');
    await agg.exited;
    // With the aggregator gone no ack can arrive: what each agent holds as acknowledged now is final.
    const acked = new Map<string, bigint>();
    for (const a of agents) {
      const s = await until(async () => { const x = await status(a); return !x.connected && x; }, `agent ${a.id} notices kill ${k}`);
      acked.set(a.id, BigInt(s.ackedSeq));
      const unacked = Number(BigInt(s.lastSeq) - BigInt(s.ackedSeq));
      unackedAtKills += unacked;
      unackedByAgent.set(a.id, (unackedByAgent.get(a.id) ?? 0) + unacked);
    }
    ackedAtKills.push(acked);
    agg = await aggregator(['--data-dir', dataDir, '--grpc-port', String(port)]);
    procs.push(agg);
    const t0 = Date.now();
    await until(async () => (await Promise.all(agents.map(status))).every((s) => s.connected), `every agent back after restart ${k}`, 30_000);
    reconnectMs.push(Date.now() - t0);
    const recovered = agg.lines.find((l) => l.msg === 'journal opened and pipeline recovered')!;
    assert.ok(BigInt(recovered.nextOffset as string) > 1n, `restart ${k}: offsets continue from the journal (${recovered.nextOffset})`);
  }
  await feeding;
  for (const a of agents) await until(async () => (await status(a)).outbox.signals === 0, `agent ${a.id} has everything acknowledged`, 60_000);
  await resumer.until(() => resumer.seen.size >= total, `all ${total} signals at the resuming subscriber`);
  await one.until(() => one.seen.size >= PER_AGENT, `all of d3's signals at the filtered subscriber`);
  resumer.stop();
  one.stop();
  assert.is(one.gaps, 0);
  assert.equal([...one.seen.values()].filter((n) => n > 1), [], 'the filtered subscriber saw each of d3\'s signals once');
  assert.ok([...one.seen.keys()].every((id) => id.startsWith('d3-')) && one.seen.size === PER_AGENT, 'and only d3\'s');

  // The resuming subscriber: each signal once, offsets strictly increasing across the restarts, no gaps.
  assert.is(resumer.gaps, 0, 'no gap: every offset it asked for was journalled');
  assert.ok(resumer.resumes >= 3, 'it resumed after each crash');
  const twice = [...resumer.seen].filter(([, n]) => n > 1);
  assert.equal(twice, [], 'no signal twice at the subscriber');
  assert.is(resumer.seen.size, total);
  for (let i = 1; i < resumer.offsets.length; i++) assert.ok(resumer.offsets[i]! > resumer.offsets[i - 1]!, 'offsets only increase');

  // The journal: every event offset once, contiguous from 1 (offsets never restarted), every signal once.
  channel.close();
  ({ client, channel } = aggregatorClient(agg.url));
  const j = await journalled(client);
  assert.is(j.offsets[0], 1n);
  for (let i = 1; i < j.offsets.length; i++) if (j.offsets[i] !== j.offsets[i - 1]! + 1n) assert.unreachable(`offset ${j.offsets[i]} follows ${j.offsets[i - 1]}`);
  const ids = j.signals.map((s) => s.id);
  assert.is(new Set(ids).size, ids.length, 'no signal journalled twice');
  assert.is(ids.length, total, 'every signal journalled');
  // Explicitly: what each agent held as acknowledged at each kill is there.
  const bySource = new Map<string, Set<bigint>>();
  for (const s of j.signals) (bySource.get(s.source) ?? bySource.set(s.source, new Set()).get(s.source)!).add(s.seq);
  for (const acked of ackedAtKills) {
    for (const [id, seq] of acked) {
      const have = bySource.get(id)!;
      for (let q = firstSeq.get(id)!; q <= seq; q++) if (!have.has(q)) assert.unreachable(`agent ${id}: seq ${q} was acknowledged before a kill and is not in the journal`);
    }
  }
  assert.ok(unackedAtKills > 0, 'the kills caught signals in flight (taken by agents, not yet acknowledged)');
  console.log(`  kills caught ${unackedAtKills} unacknowledged signals; agents back ${reconnectMs.join(', ')} ms after each restart; subscriber resumed ${resumer.resumes} times`);
  // Agents reconnected within seconds, not at the end of a 30 s backoff; they wrote into no dead stream.
  assert.ok(Math.max(...reconnectMs) < 8000, `agents back within seconds of each restart (${reconnectMs.join(', ')} ms)`);
  // An offset from another journal (past this one's end) is refused, not silently read from the start.
  const far = j.offsets.at(-1)! + 1000n;
  const refused = await (async () => {
    try {
      for await (const _ of client.subscribe({ kinds: [], subjectPrefix: '', fromOffset: far })) return 'delivered';
    } catch (e) {
      return String((e as Error).message);
    }
    return 'ended';
  })();
  assert.match(refused, /OUT_OF_RANGE.*past the end of this aggregator's journal/);
  for (const a of agents) {
    const s = await status(a);
    // Sent once, plus resends of what each kill caught unacknowledged (a stream that fails while
    // the restarted aggregator recovers may resend it once more); nothing written into a dead stream.
    const caught = unackedByAgent.get(a.id) ?? 0;
    assert.ok(s.sent <= PER_AGENT + 2 * caught, `agent ${a.id} counted ${s.sent} signals sent for ${PER_AGENT}, with ${caught} caught unacknowledged by the kills`);
    assert.is(s.outbox.dropped, 0);
  }
  channel.close();
});

test('SIGTERM under load: a subscriber connected throughout receives every signal the aggregator acknowledged', async () => {
  const dataDir = tempDir('drain-');
  const agg = await aggregator(['--data-dir', dataDir]);
  procs.push(agg);
  const agents = await Promise.all(Array.from({ length: 5 }, (_, i) => agent(`t${i}`, agg.url, ['--backoff-max-ms', '30000'])));
  procs.push(...agents);
  const { client, channel } = aggregatorClient(agg.url);
  const got = new Map<string, number>();
  let ended = false;
  const subscribed = (async () => {
    try {
      for await (const e of client.subscribeBatches({ kinds: [EventKind.SIGNAL], subjectPrefix: '', fromOffset: 1n })) {
        for (const x of e.events) got.set(x.signal!.context.id!, (got.get(x.signal!.context.id!) ?? 0) + 1);
      }
      ended = true;
    } catch (e) {
      ended = true;
      throw e;
    }
  })();
  const feeding = feed(agents, 4000);
  await until(async () => got.size >= 6000 || undefined, '6000 signals at the subscriber', 60_000);
  assert.is(await agg.kill('SIGTERM'), 0, 'the aggregator exits 0');
  await subscribed;
  assert.ok(ended, 'the subscription ended cleanly (no error)');
  const stopped = agg.lines.find((l) => l.msg === 'aggregator stopped')!;
  const end = BigInt(stopped.nextOffset as string);
  channel.close();
  // What the first aggregator journalled (and so all it acknowledged) is read back from a second one.
  const second = await aggregator(['--data-dir', dataDir, '--grpc-port', String(agg.grpcPort)]);
  procs.push(second);
  await feeding;
  const c2 = aggregatorClient(second.url);
  const j = await journalled(c2.client, end);
  c2.channel.close();
  const missing = j.signals.filter((s) => !got.has(s.id));
  assert.is(missing.length, 0, `every signal the first aggregator journalled reached the subscriber (${missing.length} of ${j.signals.length} missing)`);
  assert.is([...got.values()].filter((n) => n > 1).length, 0, 'none twice');
  assert.is(got.size, j.signals.length, 'and nothing it did not journal');
});

test.run();
