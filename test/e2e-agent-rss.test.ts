// A sidecar runs in every pod, so its memory is multiplied by the estate (issue 15: an idle agent
// at most 52 MB; `npm run bench -- rss` measures it, beside a bare node's). This guards against
// regressing far past that: the real `kafka-obs agent`, as users start it, connected to a real
// aggregator, scraped once as Prometheus would, idle; its resident memory read from /proc. The
// bound is generous (a busy 2-core CI machine, another node build) but well below the 98 MB the
// agent took when it loaded the whole command line.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { aggregator, agent, type AgentProc, type AggregatorProc } from './support/procs.js';

const BOUND_MB = 70;

let agg: AggregatorProc | undefined;
let a: AgentProc | undefined;

test.after(async () => {
  await a?.kill();
  await agg?.kill();
});

function statusKb(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

test(`an idle, connected agent stays under ${BOUND_MB} MB resident`, async () => {
  agg = await aggregator();
  a = await agent('rss-guard', agg.url);
  await a.waitForLog((l) => l.msg === 'connected to aggregator');
  // What a scraped idle agent does: its metrics and readiness answered once.
  const metrics = await fetch(`http://127.0.0.1:${a.httpPort}/metrics`);
  assert.is(metrics.status, 200);
  assert.match(await metrics.text(), /kafkaobs_agent_connected 1/);
  const ready = await fetch(`http://127.0.0.1:${a.httpPort}/readyz`);
  assert.is(ready.status, 200);
  const rssMb = statusKb(a.child.pid!, 'VmRSS') / 1024;
  const peakMb = statusKb(a.child.pid!, 'VmHWM') / 1024;
  console.log(`  agent rss ${rssMb.toFixed(1)} MB idle (peak ${peakMb.toFixed(1)} MB while starting)`);
  assert.ok(rssMb > 20, `read ${rssMb.toFixed(1)} MB: not the agent's process?`);
  assert.ok(rssMb <= BOUND_MB, `idle agent at ${rssMb.toFixed(1)} MB resident, more than ${BOUND_MB} MB (target 52 MB, bench: npm run bench -- rss)`);
});

test.run();
