// Shared helpers for the benchmark: ports, /proc readings, HTTP probes, metrics text, IPC between
// the orchestrator (bench/run.ts) and its worker processes, and the wire-level helpers the load
// generators use so they stay cheap.
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/bench/ when compiled; the repository root is two levels up. */
export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = join(BENCH_DIR, '..', '..');
/** The CLI under test; BENCH_CLI points the bench at another build (e.g. to compare two branches). */
export const CLI = process.env.BENCH_CLI ?? join(REPO_ROOT, 'dist', 'bin', 'kafka-obs.js');
export const HOST = '127.0.0.1';

/** A line of the summary: a figure, its target, and whether it meets it. */
export interface Row {
  what: string;
  value: string;
  target: string;
  verdict: string;
}

/** A tunable from the environment: a number above 0 (a whole one when `whole`), else the default. */
export function envNumber(name: string, dflt: number, whole = false): number {
  const v = process.env[name];
  const n = v === undefined ? dflt : Number(v);
  return (whole ? Number.isInteger(n) : Number.isFinite(n)) && n > 0 ? n : dflt;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** A port that was free a moment ago (for programs that cannot report the port they bound). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, HOST, () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface Rss {
  /** Resident set size now, MB. */
  rssMb: number;
  /** Peak resident set size, MB. */
  hwmMb: number;
}

/** VmRSS / VmHWM of a process from /proc (Linux); undefined if it is gone. */
export function readRss(pid: number): Rss | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** CPU time (user+system) of a process in ms, from /proc/<pid>/stat. */
export function readCpuMs(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/** Established TCP connections whose local port is `port` (server side), from /proc/net/tcp{,6}. */
export function establishedTo(port: number): number {
  let n = 0;
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4) continue;
      if (cols[1]!.endsWith(`:${hex}`) && cols[3] === '01') n++;
    }
  }
  return n;
}

export interface HttpReply {
  status: number;
  body: string;
}

export function httpGet(url: string, timeoutMs = 3000): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Sum of the samples of a Prometheus metric (all label sets). */
export function metric(text: string, name: string): number | undefined {
  let found = false;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const value = Number(rest.slice(rest.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) {
      found = true;
      sum += value;
    }
  }
  return found ? sum : undefined;
}

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitUntil<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      lastError = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}`);
    await sleep(everyMs);
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

/** Percentile (0..100) of an ascending-sorted array, nearest rank. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

// ---------------------------------------------------------------------------------------------
// IPC: the orchestrator calls workers by message; each call gets one reply.

export interface IpcRequest {
  id: number;
  type: string;
  args?: unknown;
}

export interface IpcReply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

/** In a worker: answer requests from the parent with the given handlers; exit when the parent goes. */
export function serveIpc(handlers: Record<string, (args: any) => unknown>): void {
  if (!process.send) throw new Error('this script is a bench worker: run it through bench/run.js');
  process.on('disconnect', () => process.exit(0));
  process.on('message', (raw) => {
    const msg = raw as IpcRequest;
    const handler = handlers[msg.type];
    const reply = (r: Omit<IpcReply, 'id'>): void => {
      if (process.connected) process.send!({ id: msg.id, ...r });
    };
    if (!handler) return reply({ ok: false, error: `unknown request ${msg.type}` });
    Promise.resolve()
      .then(() => handler(msg.args))
      .then((value) => reply({ ok: true, value }), (e: Error) => reply({ ok: false, error: e?.stack ?? String(e) }));
  });
  process.send({ id: 0, ok: true, value: 'ready' });
}

// ---------------------------------------------------------------------------------------------
// Wire helpers.

/** Writes `v` (2^49 <= v < 2^56) as exactly 8 varint bytes at `pos`. */
export function writeVarint8(buf: Uint8Array, pos: number, v: number): void {
  let x = v;
  for (let i = 0; i < 7; i++) {
    buf[pos + i] = (x % 128) | 0x80;
    x = Math.floor(x / 128);
  }
  buf[pos + 7] = x;
}

/** Varint bytes of a non-negative bigint. */
export function varintBytes(v: bigint): Uint8Array {
  const out: number[] = [];
  let x = v;
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return Uint8Array.from(out);
}

/** Every position of `needle` in `hay`, ascending. */
export function positionsOf(hay: Buffer, needle: Uint8Array): number[] {
  const out: number[] = [];
  let from = 0;
  for (;;) {
    const i = hay.indexOf(needle, from);
    if (i < 0) return out;
    out.push(i);
    from = i + needle.length;
  }
}

export function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a';
}

export function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}
