// The Node side of the JMX bridge (JmxBridge.java): finds a JVM, starts the helper with a small
// heap, hands it the target and credentials over stdin (never argv), and matches JSON-line
// replies to requests. A request that gets no answer in time kills the helper: a hung helper is
// worse than a restarted one.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

/** Where the build puts the compiled bridge (dist/jmx). */
export const BRIDGE_CLASSPATH = fileURLToPath(new URL('../../jmx/', import.meta.url));

/**
 * JVM options: a 16 MB heap, the serial collector, the client compiler only and small code and
 * metaspace caches keep the helper near 40 MB resident. KAFKA_OBS_JMX_JAVA_OPTS replaces them.
 */
export const BRIDGE_JVM_OPTIONS = [
  '-Xmx16m', '-Xms4m', '-Xss256k', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-XX:CICompilerCount=1',
  '-XX:ReservedCodeCacheSize=8m', '-XX:MaxMetaspaceSize=32m', '-XX:-UsePerfData', '-Xshare:off',
  '-Djava.awt.headless=true',
];

/** The java executable: JAVA_HOME's, else the first on PATH; undefined when there is none. */
export function findJava(env: Record<string, string | undefined>): string | undefined {
  const candidates: string[] = [];
  if (env.KAFKA_OBS_JAVA) candidates.push(env.KAFKA_OBS_JAVA);
  if (env.JAVA_HOME) candidates.push(join(env.JAVA_HOME, 'bin', 'java'));
  for (const dir of (env.PATH ?? '').split(delimiter)) if (dir) candidates.push(join(dir, 'java'));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not this one
    }
  }
  return undefined;
}

export function bridgeBuilt(): boolean {
  return existsSync(join(BRIDGE_CLASSPATH, 'JmxBridge.class'));
}

export interface BridgeTarget {
  url: string;
  username?: string;
  password?: string;
  /** The RMI registry over TLS too (the connector's own TLS needs only the truststore). */
  registrySsl?: boolean;
  truststore?: string;
  truststorePassword?: string;
  timeoutMs: number;
  /** How often it is polled: idle connections are kept that long at least (reused, not reopened). */
  intervalMs?: number;
}

export interface BeanQuery {
  pattern: string;
  /** Attribute names ("HeapMemoryUsage.used" for an item of a composite); empty: all of them. */
  attributes: string[];
  /** Only the matching names and their key properties, no values. */
  namesOnly?: boolean;
}

export interface BeanValues {
  name: string;
  props: Record<string, string>;
  /** Absent with namesOnly. */
  values?: Record<string, number | string | boolean | null>;
  errors?: Record<string, string>;
}

export interface QueryResult {
  beans?: BeanValues[];
  error?: string;
}

export type PollReply =
  | { ok: true; tookMs: number; connected: boolean; results: QueryResult[] }
  | { ok: false; tookMs?: number; error: { kind: string; message: string } };

export class BridgeError extends Error {
  constructor(readonly kind: string, message: string) {
    super(message);
  }
}

export class JmxBridgeProcess {
  private child?: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: PollReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readyWaiter?: { resolve: () => void; reject: (e: Error) => void };
  private exitedWith?: string;
  readonly stderr: string[] = [];
  pid?: number;

  constructor(private readonly java: string, private readonly target: BridgeTarget, private readonly jvmOptions: string[], private readonly onExit: (why: string) => void = () => {}) {}

  get alive(): boolean {
    return this.child !== undefined && this.exitedWith === undefined;
  }

  /** Starts the helper and resolves once it says it is ready. */
  start(timeoutMs = 20_000): Promise<void> {
    // Not the service's JAVA_TOOL_OPTIONS: they may open a JMX port of their own.
    const env: NodeJS.ProcessEnv = { ...process.env, MALLOC_ARENA_MAX: '2' };
    delete env.JAVA_TOOL_OPTIONS;
    delete env.JDK_JAVA_OPTIONS;
    const child = spawn(this.java, [...this.jvmOptions, '-cp', BRIDGE_CLASSPATH, 'JmxBridge'], { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.child = child;
    this.pid = child.pid;
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new BridgeError('bridge', `the JMX bridge did not start within ${timeoutMs} ms`)), timeoutMs);
      this.readyWaiter = {
        resolve: () => { clearTimeout(timer); resolve(); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
    });
    createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
    createInterface({ input: child.stderr! }).on('line', (line) => {
      // JVM warnings; kept (bounded) for the error message if it dies.
      this.stderr.push(line);
      if (this.stderr.length > 20) this.stderr.shift();
    });
    child.stdin!.on('error', () => {}); // EPIPE when it died; 'exit' reports that
    child.on('error', (e) => this.died(`cannot run ${this.java}: ${e.message}`));
    child.on('exit', (code, signal) => this.died(`the JMX bridge exited (${signal ?? `code ${code}`})${this.stderr.length ? `: ${this.stderr.slice(-3).join(' | ')}` : ''}`));
    const t = this.target;
    const config = { url: t.url, username: t.username, password: t.password, registrySsl: t.registrySsl, truststore: t.truststore, truststorePassword: t.truststorePassword, timeoutMs: t.timeoutMs, intervalMs: t.intervalMs };
    child.stdin!.write(`${JSON.stringify(config)}\n`);
    return ready;
  }

  poll(queries: BeanQuery[], timeoutMs: number): Promise<PollReply> {
    if (!this.alive) return Promise.reject(new BridgeError('bridge', this.exitedWith ?? 'the JMX bridge is not running'));
    const id = this.nextId++;
    return new Promise<PollReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new BridgeError('timeout', `no answer from the JMX bridge within ${timeoutMs} ms (restarting it)`));
        this.kill();
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.child!.stdin!.write(`${JSON.stringify({ id, op: 'poll', queries })}\n`);
    });
  }

  kill(): void {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  /** Closes stdin (the helper exits by itself) and waits a little, then kills. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin!.end();
    const timer = setTimeout(() => this.kill(), 2000);
    await exited;
    clearTimeout(timer);
  }

  private onLine(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.stderr.push(`unparsable output: ${line.slice(0, 200)}`);
      return;
    }
    if ('ready' in msg) {
      if (msg.ready === true) this.readyWaiter?.resolve();
      else {
        const err = msg.error as { kind: string; message: string } | undefined;
        this.readyWaiter?.reject(new BridgeError(err?.kind ?? 'bridge', err?.message ?? 'the JMX bridge refused its configuration'));
      }
      return;
    }
    const id = Number(msg.id);
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(msg as unknown as PollReply);
  }

  private died(why: string): void {
    if (this.exitedWith !== undefined) return;
    this.exitedWith = why;
    this.readyWaiter?.reject(new BridgeError('bridge', why));
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new BridgeError('bridge', why));
    }
    this.pending.clear();
    this.onExit(why);
  }
}
