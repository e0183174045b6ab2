// Real processes for end-to-end tests: the kafka-obs CLI as users run it, with ports learned
// from the processes' own "listening" log lines (no sleeps, no fixed ports).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { mkdtempSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CLI = fileURLToPath(new URL('../../bin/kafka-obs.js', import.meta.url));
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export class Proc {
  readonly lines: LogLine[] = [];
  readonly stdout: string[] = [];
  private readonly watchers: { test: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess, readonly name: string) {
    createInterface({ input: child.stderr! }).on('line', (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { level: 50, msg: text };
      }
      this.lines.push(line);
      if (process.env.TEST_VERBOSE) process.stderr.write(`[${name}] ${text}\n`);
      for (const w of [...this.watchers]) {
        if (w.test(line)) {
          this.watchers.splice(this.watchers.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
    createInterface({ input: child.stdout! }).on('line', (t) => this.stdout.push(t));
    this.exited = once(child, 'exit').then(([code]) => code as number | null);
  }

  /** Resolves with the first log line (past or future) that passes `test`. */
  waitForLog(test: (l: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    const seen = this.lines.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.name}: no matching log line within ${timeoutMs} ms; last lines:\n${this.lines.slice(-5).map((l) => JSON.stringify(l)).join('\n')}`)), timeoutMs);
      const w = { test, resolve: (l: LogLine) => { clearTimeout(t); resolve(l); } };
      this.watchers.push(w);
      this.exited.then(() => {
        if (this.watchers.includes(w)) {
          clearTimeout(t);
          reject(new Error(`${this.name} exited before the expected log line; last lines:\n${this.lines.slice(-5).map((l) => JSON.stringify(l)).join('\n')}`));
        }
      });
    });
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

export function run(args: string[], name: string, env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  return new Proc(child, name);
}

const portOf = (hostPort: unknown): number => Number(String(hostPort).split(':').pop());

export interface AggregatorProc extends Proc {
  grpcPort: number;
  httpPort: number;
  url: string;
}

export async function aggregator(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<AggregatorProc> {
  const hasPort = args.includes('--grpc-port');
  const p = run(['aggregator', '--grpc-host', '127.0.0.1', '--http-host', '127.0.0.1', '--http-port', '0', ...(hasPort ? [] : ['--grpc-port', '0']), '--data-dir', tempDir('agg-'), ...args], 'aggregator', env) as AggregatorProc;
  const l = await p.waitForLog((x) => x.msg === 'aggregator listening');
  p.grpcPort = portOf(l.grpc);
  p.httpPort = portOf(l.http);
  p.url = `grpc://127.0.0.1:${p.grpcPort}`;
  return p;
}

export interface AgentProc extends Proc {
  grpcPort: number;
  httpPort: number;
  id: string;
}

export async function agent(id: string, aggregatorUrl: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<AgentProc> {
  const p = run(['agent', '--agent-id', id, '--aggregator-url', aggregatorUrl, '--grpc-port', '0', '--http-port', '0', '--backoff-max-ms', '1000', ...args], `agent ${id}`, env) as AgentProc;
  const l = await p.waitForLog((x) => x.msg === 'agent started');
  p.grpcPort = portOf(l.grpc);
  p.httpPort = portOf(l.http);
  p.id = id;
  return p;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `kafka-obs-${prefix}`));
}

/** Polls `probe` until it returns a truthy value: for state only visible by asking (HTTP status). */
export async function until<T>(probe: () => Promise<T | undefined | false>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 10;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 200);
  }
}

export async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url);
  return (await r.json()) as T;
}

export async function postJson(url: string, body: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
}

/** Runs `kafka-obs agent --check` and returns its exit code and output. */
export async function agentCheck(env: NodeJS.ProcessEnv, args: string[] = []): Promise<{ code: number | null; out: string; proc: Proc }> {
  const p = run(['agent', '--check', ...args], 'check', env);
  const code = await p.exited;
  return { code, out: p.stdout.join('\n'), proc: p };
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
