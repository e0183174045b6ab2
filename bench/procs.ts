// Child processes of the benchmark: the aggregator and agent (the real CLI), and bench workers
// (forked with IPC). Every child is tracked and killed on the way out, whatever happens.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BENCH_DIR, CLI, HOST, freePort, httpGet, waitUntil, withTimeout, type IpcReply } from './common.js';

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();

function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

/** Kills every child still alive (synchronously usable from an 'exit' handler). */
export function killAllNow(): void {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const d of tempDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
}

export async function stopAll(): Promise<void> {
  await Promise.allSettled([...live].map((c) => stopChild(c, 3000)));
  killAllNow();
}

// ---------------------------------------------------------------------------------------------

/** A bench worker (dist/bench/<script>.js) answering calls over IPC. */
export class Worker {
  readonly child: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly ready: Promise<void>;
  private exitError: Error | undefined;

  /** `execArgv`: node flags for the worker (e.g. --expose-gc); none by default. */
  constructor(readonly name: string, script: string, args: string[] = [], execArgv: string[] = []) {
    this.child = track(
      fork(join(BENCH_DIR, script), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv, serialization: 'advanced' }),
    );
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    this.ready.catch(() => {});
    this.child.on('message', (raw) => {
      const m = raw as IpcReply;
      if (m.id === 0) return readyResolve();
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve(m.value);
      else w.reject(new Error(`${this.name}: ${m.error}`));
    });
    this.child.once('exit', (code, signal) => {
      this.exitError = new Error(`${this.name} exited (code ${code}, signal ${signal})`);
      readyReject(this.exitError);
      for (const w of this.waiting.values()) w.reject(this.exitError);
      this.waiting.clear();
    });
  }

  async call<T>(type: string, args?: unknown, timeoutMs = 10_000): Promise<T> {
    await withTimeout(this.ready, 10_000, `${this.name} to start`);
    if (this.exitError) throw this.exitError;
    const id = this.nextId++;
    const p = new Promise<unknown>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.send({ id, type, args });
    });
    return withTimeout(p, timeoutMs, `${this.name} ${type}`).finally(() => this.waiting.delete(id)) as Promise<T>;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  stop(): Promise<number | null> {
    if (this.child.connected) this.child.disconnect();
    return stopChild(this.child, 3000);
  }
}

// ---------------------------------------------------------------------------------------------

export interface ProbeSample {
  t: number;
  p50: number;
  p99: number;
  max: number;
  elu: number;
}

/** Node flags for a CLI child: the event-loop probe, plus any from the environment (e.g. --cpu-prof). */
function nodeArgs(envName: string): string[] {
  return ['--import', pathToFileURL(join(BENCH_DIR, 'loop-probe.js')).href, ...(process.env[envName] ?? '').split(' ').filter(Boolean)];
}

/** Stderr of a CLI child: the last lines, counts of warn/error log lines, and event-loop probe samples. */
export class LogTail {
  readonly lines: string[] = [];
  readonly probes: ProbeSample[] = [];
  warns = 0;
  errors = 0;
  private partial = '';
  private readonly listeners: ((line: string) => void)[] = [];

  feed(chunk: Buffer): void {
    const text = this.partial + chunk.toString('utf8');
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      if (line.trim() === '') continue;
      if (line.startsWith('{"benchProbe":')) {
        try {
          this.probes.push((JSON.parse(line) as { benchProbe: ProbeSample }).benchProbe);
        } catch {
          // partial line
        }
        continue;
      }
      this.lines.push(line);
      if (this.lines.length > 200) this.lines.shift();
      const level = /"level":(\d+)/.exec(line)?.[1];
      if (level === '40') this.warns++;
      else if (level !== undefined && Number(level) >= 50) this.errors++;
      for (const l of this.listeners) l(line);
    }
  }

  onLine(f: (line: string) => void): void {
    this.listeners.push(f);
  }

  /** Event-loop figures over the probe samples taken between two wall-clock times (ms). */
  loop(fromMs: number, toMs: number): { p50: number; p99: number; max: number; elu: number; n: number } | undefined {
    const xs = this.probes.filter((p) => p.t > fromMs && p.t <= toMs + 500);
    if (xs.length === 0) return undefined;
    const avg = (f: (p: ProbeSample) => number): number => xs.reduce((s, p) => s + f(p), 0) / xs.length;
    return { p50: avg((p) => p.p50), p99: Math.max(...xs.map((p) => p.p99)), max: Math.max(...xs.map((p) => p.max)), elu: avg((p) => p.elu), n: xs.length };
  }

  /** Distinct messages of warn-or-worse lines, with counts. */
  summary(max = 5): string[] {
    const counts = new Map<string, number>();
    for (const line of this.lines) {
      try {
        const j = JSON.parse(line) as { level?: number; msg?: string; err?: string };
        if ((j.level ?? 0) < 40) continue;
        const key = `${j.msg ?? ''}${j.err ? ` (${j.err})` : ''}`.slice(0, 160);
        counts.set(key, (counts.get(key) ?? 0) + 1);
      } catch {
        const key = line.slice(0, 160);
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    return [...counts.entries()].slice(0, max).map(([k, n]) => `${n}× ${k}`);
  }
}

export interface AggregatorProc {
  child: ChildProcess;
  grpcPort: number;
  httpPort: number;
  address: string;
  metricsUrl: string;
  log: LogTail;
}

/** Runs `kafka-obs aggregator` on free loopback ports with a temporary data dir, and waits until ready. */
export async function startAggregatorProc(extraArgs: string[] = []): Promise<AggregatorProc> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kafka-obs-bench-'));
  tempDirs.add(dataDir);
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const grpcPort = await freePort();
    let httpPort = await freePort();
    while (httpPort === grpcPort) httpPort = await freePort();
    const log = new LogTail();
    const child = track(
      spawn(
        process.execPath,
        [...nodeArgs('BENCH_AGGREGATOR_NODE_ARGS'), CLI, 'aggregator', '--grpc-host', HOST, '--grpc-port', String(grpcPort), '--http-host', HOST, '--http-port', String(httpPort), '--data-dir', dataDir, '--drain-timeout-ms', '2000', ...extraArgs],
        { env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] },
      ),
    );
    child.stderr!.on('data', (c: Buffer) => log.feed(c));
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, sig) => reject(new Error(`aggregator exited during start (code ${code}, signal ${sig}): ${log.lines.slice(-3).join(' | ')}`))),
    );
    exited.catch(() => {});
    try {
      await Promise.race([
        exited,
        waitUntil('aggregator /readyz', 15_000, async () => ((await httpGet(`http://${HOST}:${httpPort}/readyz`, 1000)).status === 200 ? true : undefined)),
      ]);
      return { child, grpcPort, httpPort, address: `${HOST}:${grpcPort}`, metricsUrl: `http://${HOST}:${httpPort}/metrics`, log };
    } catch (e) {
      lastError = e as Error;
      await stopChild(child, 1000);
      if (!/EADDRINUSE|port is taken/.test(lastError.message)) break;
    }
  }
  throw lastError ?? new Error('aggregator did not start');
}

export interface AgentProc {
  child: ChildProcess;
  grpcAddress: string;
  httpUrl: string;
  log: LogTail;
}

/** Runs `kafka-obs agent` on ports it picks itself (0), learnt from its startup log line. */
export async function startAgentProc(aggregatorGrpcPort: number, agentId: string, probe = true, env: NodeJS.ProcessEnv = {}): Promise<AgentProc> {
  const log = new LogTail();
  const child = track(
    spawn(
      process.execPath,
      [...(probe ? nodeArgs('BENCH_AGENT_NODE_ARGS') : nodeArgs('BENCH_AGENT_NODE_ARGS').slice(2)), CLI, 'agent', '--aggregator-url', `grpc://${HOST}:${aggregatorGrpcPort}`, '--agent-id', agentId, '--grpc-host', HOST, '--grpc-port', '0', '--http-host', HOST, '--http-port', '0'],
      // info: the "agent started" line is how we learn the ports it bound.
      { env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'ignore', 'pipe'] },
    ),
  );
  child.stderr!.on('data', (c: Buffer) => log.feed(c));
  const started = new Promise<{ grpc: string; http: string }>((resolve, reject) => {
    log.onLine((line) => {
      try {
        const j = JSON.parse(line) as { msg?: string; grpc?: string; http?: string };
        if (j.msg === 'agent started' && j.grpc && j.http) resolve({ grpc: j.grpc, http: j.http });
      } catch {
        // not JSON
      }
    });
    child.once('exit', (code, sig) => reject(new Error(`agent exited during start (code ${code}, signal ${sig}): ${log.lines.slice(-3).join(' | ')}`)));
  });
  started.catch(() => {});
  const where = await withTimeout(started, 15_000, 'agent to log "agent started"');
  const httpUrl = `http://${where.http}`;
  await waitUntil('agent connected to the aggregator', 15_000, async () => {
    const r = await httpGet(`${httpUrl}/v1/status`, 1000);
    return r.status === 200 && (JSON.parse(r.body) as { connected?: boolean }).connected ? true : undefined;
  });
  return { child, grpcAddress: where.grpc, httpUrl, log };
}
