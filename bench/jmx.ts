// JMX benchmark: one JVM exposing ~500 numeric attributes (72 Kafka producers x 7 catalogue
// attributes, values wandering every second, plus the JVM's memory and GC beans), read by the
// real agent through its JMX bridge every second. Prints poll duration p50/p99, the agent's CPU,
// and the resident memory of the agent and of the bridge. Run alone: `npm run bench -- jmx`.
//
// Tunables: BENCH_JMX_PRODUCERS (72), BENCH_JMX_WARMUP_MS (5000), BENCH_JMX_MS (30000),
// BENCH_JMX_INTERVAL_MS (1000).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fmt, httpGet, percentile, readCpuMs, readRss, REPO_ROOT, sleep, waitUntil, envNumber } from './common.js';
import { startAggregatorProc, startAgentProc, stopChild } from './procs.js';

const env = envNumber;

export const JMX_TARGET = { p99Ms: 50, rssMb: 90, bridgeRssMb: 48 };

export interface JmxBenchRow {
  what: string;
  value: string;
  target: string;
  verdict: string;
}

interface SensorStatus {
  polls: number;
  errors: number;
  lastValues: number;
  signals: number;
  bridgePid?: number;
  recentPollMs: number[];
  recentSourceMs?: number[];
  condition: string;
}

async function startFixture(producers: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn('java', ['-Xmx128m', '-XX:+UseSerialGC', '-cp', join(REPO_ROOT, 'dist', 'demo', 'java'), 'FakeKafkaJvm', '--profile', 'none', '--bench-producers', String(producers)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = /^READY (\d+) /.exec(l);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`fixture JVM exited (${code}): is the build done with a JDK (dist/demo/java)?`)));
  });
  return { child, port };
}

export async function jmxBench(out: (s?: string) => void): Promise<JmxBenchRow[]> {
  const producers = env('BENCH_JMX_PRODUCERS', 72);
  const warmupMs = env('BENCH_JMX_WARMUP_MS', 5000);
  const measureMs = env('BENCH_JMX_MS', 30_000);
  const intervalMs = env('BENCH_JMX_INTERVAL_MS', 1000);
  const fixture = await startFixture(producers);
  const agg = await startAggregatorProc();
  const sensor = `jmx:127.0.0.1:${fixture.port}`;
  const agent = await startAgentProc(agg.grpcPort, 'bench-jmx', false, { JMX_URL: `127.0.0.1:${fixture.port}`, POLL_INTERVAL_MS: String(intervalMs), SERVICE_NAME: 'bench', LOG_LEVEL: 'info' });
  const status = async (): Promise<SensorStatus> => {
    const r = await httpGet(`${agent.httpUrl}/v1/status`, 2000);
    return (JSON.parse(r.body) as { sensors: Record<string, SensorStatus> }).sensors[sensor]!;
  };
  try {
    const first = await waitUntil('first successful JMX poll', 30_000, async () => {
      const s = await status();
      return s.polls > 0 && s.condition === 'STABLE' ? s : undefined;
    });
    out(`    ${first.lastValues} attributes per poll (${producers} producers x 7 + JVM memory and GC), every ${intervalMs} ms; ${warmupMs / 1000} s warm-up, ${measureMs / 1000} s measured`);
    await sleep(warmupMs);
    const agentPid = agent.child.pid!;
    const before = await status();
    const bridgePid = before.bridgePid!;
    const cpu0 = readCpuMs(agentPid)!;
    const bridgeCpu0 = readCpuMs(bridgePid)!;
    const t0 = Date.now();
    let agentPeak = 0;
    let bridgePeak = 0;
    let sumPeak = 0;
    while (Date.now() - t0 < measureMs) {
      await sleep(250);
      const a = readRss(agentPid)?.rssMb ?? 0;
      const b = readRss(bridgePid)?.rssMb ?? 0;
      agentPeak = Math.max(agentPeak, a);
      bridgePeak = Math.max(bridgePeak, b);
      sumPeak = Math.max(sumPeak, a + b);
    }
    const wall = Date.now() - t0;
    const cpuPct = ((readCpuMs(agentPid)! - cpu0) / wall) * 100;
    const bridgeCpuPct = ((readCpuMs(bridgePid)! - bridgeCpu0) / wall) * 100;
    const after = await status();
    const polls = after.polls - before.polls;
    const durations = after.recentPollMs.slice(-polls).sort((x, y) => x - y);
    const inBridge = (after.recentSourceMs ?? []).slice(-polls).sort((x, y) => x - y);
    const agentRss = readRss(agentPid)!;
    const bridgeRss = readRss(bridgePid)!;
    const p50 = percentile(durations, 50);
    const p99 = percentile(durations, 99);
    out(`    polls                  ${polls} (${after.errors - before.errors} failed), ${fmt((after.signals - before.signals) / (wall / 1000), 1)} signals/s sent`);
    out(`    poll duration          p50 ${fmt(p50, 1)} ms, p99 ${fmt(p99, 1)} ms, max ${fmt(durations.at(-1) ?? NaN, 1)} ms (request to signals emitted)`);
    out(`      of which JMX calls   p50 ${fmt(percentile(inBridge, 50), 1)} ms, p99 ${fmt(percentile(inBridge, 99), 1)} ms (inside the bridge, 4 reader threads)`);
    out(`    cpu                    agent ${fmt(cpuPct, 1)} %, bridge ${fmt(bridgeCpuPct, 1)} % (of one core)`);
    out(`    rss agent              ${fmt(agentRss.rssMb, 1)} MB at end, ${fmt(agentPeak, 1)} MB peak`);
    out(`    rss bridge             ${fmt(bridgeRss.rssMb, 1)} MB at end, ${fmt(bridgePeak, 1)} MB peak (JVM: -Xmx16m, serial GC, C1 only)`);
    out(`    rss agent + bridge     ${fmt(agentRss.rssMb + bridgeRss.rssMb, 1)} MB at end, ${fmt(sumPeak, 1)} MB peak`);
    const v = (ok: boolean): string => (ok ? 'meets' : 'MISSES');
    return [
      { what: 'JMX poll p50 / p99 (~500 attributes)', value: `${fmt(p50, 1)} / ${fmt(p99, 1)} ms`, target: `p99 ≤ ${JMX_TARGET.p99Ms} ms`, verdict: v(p99 <= JMX_TARGET.p99Ms) },
      { what: 'JMX agent cpu / bridge cpu', value: `${fmt(cpuPct, 1)} % / ${fmt(bridgeCpuPct, 1)} %`, target: '', verdict: '' },
      { what: 'JMX bridge rss (peak)', value: `${fmt(bridgePeak, 1)} MB`, target: `≤ ${JMX_TARGET.bridgeRssMb} MB`, verdict: v(bridgePeak <= JMX_TARGET.bridgeRssMb) },
      { what: 'JMX agent + bridge rss (peak)', value: `${fmt(sumPeak, 1)} MB`, target: `≤ ${JMX_TARGET.rssMb} MB`, verdict: v(sumPeak <= JMX_TARGET.rssMb) },
    ];
  } finally {
    await stopChild(agent.child, 3000);
    await stopChild(agg.child, 3000);
    fixture.child.stdin!.end();
    await stopChild(fixture.child, 3000);
  }
}
