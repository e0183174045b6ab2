// Ready means ready: an agent's /readyz is 503 until it is connected to the aggregator and every
// source answers (with the reasons), 200 then, and 503 again when the aggregator goes; /healthz
// only says the process lives. `kafka-obs tail` follows an aggregator through a restart, says so,
// and prints what the new one hears.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { aggregator, agent, closedPort, postJson, run, until, type AgentProc, type AggregatorProc, type Proc } from './support/procs.js';

let agg: AggregatorProc | undefined;
let a: AgentProc | undefined;
let tail: Proc | undefined;

test.after(async () => {
  await tail?.kill();
  await a?.kill();
  await agg?.kill();
});

async function readyz(port: number): Promise<{ status: number; body: { ready: boolean; connected: boolean; reasons: string[] } }> {
  const r = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: r.status, body: (await r.json()) as { ready: boolean; connected: boolean; reasons: string[] } };
}

test('an agent never connected is alive but not ready, and says why; ready once connected', async () => {
  const grpcPort = await closedPort();
  const prom = await closedPort();
  a = await agent('ready-1', `grpc://127.0.0.1:${grpcPort}`, ['--health-port', '0', '--health-host', '127.0.0.1', '--poll-interval-ms', '200'], { PROMETHEUS_URL: `http://127.0.0.1:${prom}/metrics` });
  const health = Number(String(a.lines.find((l) => l.msg === 'agent started')!.health).split(':').pop());
  assert.is((await fetch(`http://127.0.0.1:${health}/healthz`)).status, 200);
  const first = await until(async () => {
    const r = await readyz(health);
    return r.body.reasons.some((x) => /does not answer: DOWN/.test(x)) ? r : undefined;
  }, 'the source to be DOWN');
  assert.is(first.status, 503);
  assert.is(first.body.ready, false);
  assert.match(first.body.reasons[0]!, new RegExp(`not connected to the aggregator at grpc://127\\.0\\.0\\.1:${grpcPort}`));
  assert.match(first.body.reasons[1]!, /source prometheus:127\.0\.0\.1:\d+ does not answer: DOWN \(unreachable\)/);
  // The same answer on the intake's HTTP port.
  assert.is((await fetch(`http://127.0.0.1:${a.httpPort}/readyz`)).status, 503);
  await a.kill();

  // No sources: connected is all it takes.
  agg = await aggregator();
  a = await agent('ready-2', agg.url, ['--health-port', '0', '--health-host', '127.0.0.1']);
  const port = Number(String(a.lines.find((l) => l.msg === 'agent started')!.health).split(':').pop());
  const ok = await until(async () => {
    const r = await readyz(port);
    return r.status === 200 ? r : undefined;
  }, 'the agent to be ready');
  assert.equal(ok.body, { ready: true, connected: true, reasons: [], sources: [] });
});

test('tail follows the aggregator through a restart, says so, and prints what the new one hears', async () => {
  const port = agg!.grpcPort;
  tail = run(['tail', '--aggregator-url', agg!.url, '--kinds', 'signal', '--json'], 'tail');
  await until(async () => /kafkaobs_subscribers_open 1\b/.test(await (await fetch(`http://127.0.0.1:${agg!.httpPort}/metrics`)).text()), 'tail to subscribe');
  const send = (unit: number) => postJson(`http://127.0.0.1:${a!.httpPort}/v1/signals`, { subject: 'service/orders/pod/ready-2/producer/p1#buffer', queue: { sign: 'PRESSURE', units: unit } });
  assert.is((await send(81)).json.accepted, 1);
  await until(async () => tail!.stdout.length >= 1, 'tail to print the first signal');

  await agg!.kill(); // SIGTERM: the aggregator drains and ends the stream
  await tail.waitForLog((l) => /ended the stream \(it is stopping or restarting\); reconnecting|lost the aggregator/.test(l.msg));
  assert.is(tail.child.exitCode, null, 'tail is still running');

  agg = await aggregator(['--grpc-port', String(port)]);
  await tail.waitForLog((l) => /reconnected to the aggregator at grpc:\/\/127\.0\.0\.1:\d+; resuming after event #\d+/.test(l.msg), 30_000);
  await until(async () => /kafkaobs_subscribers_open 1\b/.test(await (await fetch(`http://127.0.0.1:${agg!.httpPort}/metrics`)).text()), 'tail to subscribe again', 30_000);
  // The agent reconnects on its own; what it sends now reaches tail through the new aggregator.
  await until(async () => (await send(82)).json.accepted === 1 && tail!.stdout.some((l) => l.includes('"units":82')), 'tail to print a signal from the new aggregator', 30_000);
  assert.ok(tail.stdout.some((l) => l.includes('"units":81')));
});

test('tail that never reached an aggregator exits 1 with the reason', async () => {
  const t = run(['tail', '--aggregator-url', `grpc://127.0.0.1:${await closedPort()}`], 'tail-nowhere');
  assert.is(await t.exited, 1);
  assert.match(t.lines.map((l) => l.msg).join('\n'), /kafka-obs tail: UNAVAILABLE/);
});

test.run();
