// `kafka-obs demo` as a user runs it: a real process that starts its own aggregator, agents and
// (in JVM mode) JVMs. Its output must tell the story — the narrative opening rooted at broker 1
// with a recommendation, then resolving — it must exit 0, and nothing it started may outlive it
// (every descendant inherits a marker in its environment, looked for in /proc afterwards). Ctrl-C
// in the middle stops everything too.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { CLI } from './support/procs.js';
import { findJava } from '../agent/jmx/bridge.js';

const test = suite('kafka-obs demo');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  marker: string;
}

/** Pids of live processes whose environment carries `marker` (the demo's descendants). */
function carrying(marker: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/environ`, 'latin1').includes(marker)) out.push(Number(d));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

/** Runs the demo; `interruptWhen` sends SIGINT once a line of its output passes the test. */
async function demo(args: string[], interruptWhen?: (line: string) => boolean, timeoutMs = 150_000): Promise<Run> {
  const marker = `KAFKA_OBS_DEMO_TEST=${randomUUID()}`;
  const [k, v] = marker.split('=') as [string, string];
  const child = spawn(process.execPath, [CLI, 'demo', ...args], { env: { ...process.env, [k]: v, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    if (process.env.TEST_VERBOSE) process.stderr.write(`[demo] ${line}\n`);
    if (interruptWhen?.(line)) {
      interruptWhen = undefined;
      child.kill('SIGINT');
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout: lines.join('\n'), stderr, marker: v };
}

/** The block printed when the narrative opened. */
function opening(stdout: string): string {
  const start = stdout.indexOf('NARRATIVE OPENED');
  assert.ok(start >= 0, `no narrative opened; output:\n${stdout}`);
  const end = stdout.indexOf('='.repeat(78), start);
  return stdout.slice(start, end);
}

function assertStory(r: Run): void {
  assert.is(r.code, 0, `exit 0; stderr:\n${r.stderr}\nstdout:\n${r.stdout}`);
  for (let i = 1; i <= 5; i++) assert.match(r.stdout, new RegExp(`^\\[${i}/5\\] `, 'm'), `phase ${i} announced`);
  const open = opening(r.stdout);
  assert.match(open, /root subject:\s+cluster\/prod\/broker\/1$/m, 'the narrative is rooted at broker 1');
  assert.match(open, /root cause:\s+broker 1\b/m, 'its root cause names broker 1');
  assert.match(open, /recommendation:\s+Broker 1 \(cluster prod\): check its disk/m, 'with a concrete recommendation');
  assert.match(r.stdout, /causal chain:\s+\d+ link/);
  // The chain grows from the broker to the producers and the consumers, then the narrative resolves.
  assert.match(r.stdout, /^\s+\d+\. t\+[\d.]+s\s+\S+ \/ producer /m, 'producers join the chain');
  assert.match(r.stdout, /^\s+\d+\. t\+[\d.]+s\s+(billing-1 \/ consumer|group billing)/m, 'consumers join the chain');
  const resolved = r.stdout.indexOf('NARRATIVE RESOLVED');
  assert.ok(resolved > r.stdout.indexOf('[5/5]'), 'resolved after the recovery began');
  assert.match(r.stdout.slice(resolved), /root cause:\s+broker 1\b/m, 'the resolved narrative is the one about broker 1');
  assert.match(r.stdout, /^Result: the aggregator named cluster\/prod\/broker\/1 as the root/m);
  assert.match(r.stdout, /all stopped \(exit 0\)/, 'every child stopped gracefully');
  assert.equal(carrying(r.marker), [], 'no process the demo started is left');
}

test('--fast --no-jvm: the recorded cascade through real agents; narrative rooted at broker 1, then resolved', async () => {
  const r = await demo(['--fast', '--no-jvm']);
  assert.match(r.stdout, /mode: recorded timelines/);
  assertStory(r);
  assert.match(r.stdout, /signal\s+broker 1 \/ under-replicated\s+status DEGRADED/, 'the broker signal, as its agent recorded it, is shown');
  assert.match(r.stdout, /tree\s+cluster\/prod\/broker\/1\s+STABLE -> DEGRADED/, 'the tree turns');
});

test('--fast with real JVMs: the cascade read over JMX; narrative rooted at broker 1, then resolved', async () => {
  if (!findJava(process.env)) {
    console.log('  (no java on this machine: JVM mode not run)');
    return;
  }
  const r = await demo(['--fast', '--jvm']);
  assert.match(r.stdout, /mode: real JVMs over JMX/);
  assertStory(r);
  assert.match(r.stdout, /signal\s+broker 1 \/ under-replicated\s+status DEGRADED\s+\(under-replicated-partitions=2/, 'read from broker 1\'s MBean');
  assert.match(r.stdout, /signal\s+order-1 \/ producer order-producer \/ buffer\s+queue (PRESSURE|OVERFLOW)/, 'the producer\'s buffer, from its MBean');
  assert.match(r.stdout, /signal\s+billing-1 \/ consumer billing-consumer \/ lag\s+queue OVERFLOW/, 'the consumer\'s lag, from its MBean');
});

test('Ctrl-C in the middle stops every process and says so', async () => {
  const r = await demo(['--fast', '--no-jvm'], (line) => line.startsWith('[2/5]'));
  assert.is(r.code, 130, `exit 130; stderr:\n${r.stderr}`);
  assert.match(r.stdout, /stopping the demo \(Ctrl-C\)/);
  assert.match(r.stdout, /^Result: stopped before the end\./m);
  assert.not.match(r.stdout, /\[3\/5\]/, 'the script went no further');
  assert.equal(carrying(r.marker), [], 'no process the demo started is left');
});

test('--help explains what it does', async () => {
  const r = await demo(['--help']);
  assert.is(r.code, 0);
  assert.match(r.stdout, /--fast/);
  assert.match(r.stdout, /--no-jvm/);
  assert.match(r.stdout, /broker 1/);
  assert.match(r.stdout, /--incident/);
  for (const name of ['cascade', 'producer-exhaustion', 'rebalance-storm', 'idle', 'slow-consumer', 'broker-gc', 'managed-kafka', 'frozen-broker']) assert.match(r.stdout, new RegExp(`^  ${name} `, 'm'), `incident ${name} listed`);
});

test('an unknown incident is refused with the ones there are', async () => {
  const r = await demo(['--incident', 'meteor']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /argument 'meteor' is invalid\. Allowed choices are cascade, producer-exhaustion/);
});

test.run();
