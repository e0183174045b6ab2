#!/usr/bin/env node
// Sizing for the chart's resource requests (docs/deployment.md "Sizing"): resident memory of
// an idle agent (no sources), of an agent reading a JVM over JMX (with its helper), and of the
// aggregator idle and under a modest load (AGENTS connections streaming RATE signals/s in all,
// each its own source and 50 subjects, with 2 subscribers), read from /proc/<pid>/status.
//   node scripts/measure-sizing.mjs [seconds of load, default 60]
import { readFileSync } from 'node:fs';
import { createChannel, createClientFactory } from 'nice-grpc';
import { aggregator, agent } from '../dist/test/support/procs.js';
import { FakeJvm } from '../dist/test/support/jvm.js';
import { SignalAggregatorDefinition, directDefinition, Status_Condition, Status_Confidence } from '../dist/proto/index.js';

const LOAD_S = Number(process.argv[2] ?? 60);
const AGENTS = 20;
const RATE = 2000;
const mb = (pid, key) => Number(/(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(key)))[1]) / 1024;
const rss = (pid) => `${mb(pid, 'VmRSS').toFixed(1)} MB (peak ${mb(pid, 'VmHWM').toFixed(1)} MB)`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = (pid) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);

const agg = await aggregator();
await sleep(5000);
console.log(`aggregator idle: ${rss(agg.child.pid)}`);

const idle = await agent('sizing-idle', agg.url);
await sleep(10_000);
console.log(`agent idle (connected, no sources): ${rss(idle.child.pid)}`);
await idle.kill();

const jvm = await FakeJvm.start({ profile: 'client' });
const jmx = await agent('sizing-jmx', agg.url, ['--poll-interval-ms', '1000'], { JMX_URL: `127.0.0.1:${jvm.port}` });
await sleep(15_000);
const helper = children(jmx.child.pid)[0];
console.log(`agent reading a JVM over JMX every second: agent ${rss(jmx.child.pid)}, JMX helper ${helper ? rss(helper) : 'none'}`);
await jmx.kill();
await jvm.kill();

// Load: AGENTS streams, each its own source and connection, batches every 100 ms.
const stop = new AbortController();
const subs = [0, 1].map(() => {
  const ch = createChannel(`127.0.0.1:${agg.grpcPort}`);
  const c = createClientFactory().create(directDefinition(SignalAggregatorDefinition), ch);
  let n = 0;
  (async () => { try { for await (const _ of c.subscribe({ kinds: [], subjectPrefix: '' }, { signal: stop.signal })) n++; } catch {} })();
  return { ch, count: () => n };
});
let sent = 0;
const perBatch = Math.round(RATE / AGENTS / 10);
const streams = Array.from({ length: AGENTS }, (_, a) => {
  const ch = createChannel(`127.0.0.1:${agg.grpcPort}`, undefined, { 'grpc.use_local_subchannel_pool': 1 });
  const c = createClientFactory().create(directDefinition(SignalAggregatorDefinition), ch);
  let seq = BigInt(Date.now()) * 1000n;
  async function* batches() {
    while (!stop.signal.aborted) {
      const signals = [];
      for (let i = 0; i < perBatch; i++) {
        const ts = BigInt(Date.now()) * 1_000_000n;
        signals.push({ sourceId: `load-${a}`, seq: ++seq, subject: `service/load-${a % 5}/pod/load-${a}/producer/p${i % 50}#buffer`, timestamp: ts, context: { cluster: 'default' }, clock: { [`load-${a}`]: seq },
          status: { condition: i % 7 === 0 ? Status_Condition.DIVERGING : Status_Condition.STABLE, confidence: Status_Confidence.MEASURED } });
      }
      sent += signals.length;
      yield { signals };
      await sleep(100);
    }
  }
  const done = (async () => { try { for await (const _ of c.streamSignals(batches(), { signal: stop.signal })) {} } catch {} })();
  return { ch, done };
});
const t0 = Date.now();
let peak = 0;
while (Date.now() - t0 < LOAD_S * 1000) {
  await sleep(1000);
  peak = Math.max(peak, mb(agg.child.pid, 'VmRSS'));
}
console.log(`aggregator under load: ${AGENTS} streams, ${Math.round(sent / LOAD_S)} signals/s for ${LOAD_S} s, 2 subscribers (${subs.map((s) => s.count()).join(', ')} events): ${rss(agg.child.pid)}, sampled peak ${peak.toFixed(1)} MB`);
stop.abort();
await Promise.all(streams.map((s) => s.done));
for (const s of [...streams, ...subs]) s.ch.close();
await agg.kill();
