// The demo's processes: the kafka-obs CLI as users run it (aggregator, agents) and scripted Kafka
// JVMs (FakeKafkaJvm.java, compiled by the build into dist/demo/java). Ports are
// learned from the processes' own log lines. Each child gets its own process group, so a Ctrl-C
// at the terminal reaches only the demo, which then stops them in order (agents flush to the
// aggregator first); a second stop, or a child that does not end in time, is killed with its
// whole group (an agent's JMX bridge included).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The CLI this module belongs to (dist/bin/kafka-obs.js). */
export const CLI = fileURLToPath(new URL('../bin/kafka-obs.js', import.meta.url));
/** Where the build puts FakeKafkaJvm.class. */
export const JVM_CLASSPATH = fileURLToPath(new URL('./java/', import.meta.url));

export function scriptedJvmBuilt(): boolean {
  return existsSync(join(JVM_CLASSPATH, 'FakeKafkaJvm.class'));
}

export class DemoProcessError extends Error {}

interface LogLine {
  msg?: string;
  [k: string]: unknown;
}

/** One child: its name, its last output lines (for error messages) and its exit. */
export class Child {
  readonly tail: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly logWatchers: { test: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  private readonly lineWatchers: { test: (line: string) => boolean; resolve: (line: string) => void }[] = [];

  constructor(readonly name: string, readonly kind: 'aggregator' | 'agent' | 'jvm', readonly process: ChildProcess, onLine?: (name: string, line: string) => void) {
    this.exited = once(process, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
    const read = (line: string): void => {
      this.tail.push(line);
      if (this.tail.length > 20) this.tail.shift();
      onLine?.(name, line);
      for (const w of [...this.lineWatchers]) {
        if (w.test(line)) {
          this.lineWatchers.splice(this.lineWatchers.indexOf(w), 1);
          w.resolve(line);
        }
      }
      if (this.logWatchers.length === 0 || !line.startsWith('{')) return;
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        return;
      }
      for (const w of [...this.logWatchers]) {
        if (w.test(parsed)) {
          this.logWatchers.splice(this.logWatchers.indexOf(w), 1);
          w.resolve(parsed);
        }
      }
    };
    if (process.stderr) createInterface({ input: process.stderr }).on('line', read);
    if (process.stdout) createInterface({ input: process.stdout }).on('line', read);
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** The first log line (pino JSON) that passes `test`. */
  waitForLog(test: (l: LogLine) => boolean, what: string, timeoutMs: number): Promise<LogLine> {
    return this.waitFor(this.logWatchers, test, what, timeoutMs);
  }

  /** The first output line that passes `test`. */
  waitForLine(test: (line: string) => boolean, what: string, timeoutMs: number): Promise<string> {
    return this.waitFor(this.lineWatchers, test, what, timeoutMs);
  }

  private waitFor<T>(list: { test: (x: T) => boolean; resolve: (x: T) => void }[], test: (x: T) => boolean, what: string, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const fail = (why: string): void => {
        const i = list.indexOf(w);
        if (i < 0) return;
        list.splice(i, 1);
        clearTimeout(timer);
        reject(new DemoProcessError(`${this.name} ${why} before ${what}; its last lines:\n  ${this.tail.slice(-6).join('\n  ')}`));
      };
      const w = { test, resolve: (x: T) => { clearTimeout(timer); resolve(x); } };
      const timer = setTimeout(() => fail(`did not report within ${timeoutMs} ms`), timeoutMs);
      list.push(w);
      void this.exited.then((e) => fail(`exited (${e.signal ?? `code ${e.code}`})`));
    });
  }

  /**
   * Signals the child's whole process group (its own children too). `evenIfExited`: also when the
   * child itself is gone, for what it left behind in its group.
   */
  signal(sig: NodeJS.Signals, evenIfExited = false): void {
    if ((!this.running && !evenIfExited) || this.process.pid === undefined) return;
    try {
      process.kill(-this.process.pid, sig);
    } catch {
      // The group is empty (ESRCH): nothing left to signal.
    }
  }
}

/** A scripted Kafka JVM: values set over stdin, each command acknowledged ("ok <n>"). */
export class ScriptedJvm {
  private sent = 0;
  private readonly waiters = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  constructor(readonly child: Child, readonly port: number) {
    createInterface({ input: child.process.stdout! }).on('line', (line) => {
      const ack = /^(ok|error) (\d+)(.*)$/.exec(line);
      if (!ack) return;
      const w = this.waiters.get(Number(ack[2]));
      this.waiters.delete(Number(ack[2]));
      if (ack[1] === 'ok') w?.resolve();
      else w?.reject(new DemoProcessError(`${child.name}: ${line}`));
    });
    void child.exited.then(() => {
      for (const w of this.waiters.values()) w.reject(new DemoProcessError(`${child.name} exited`));
      this.waiters.clear();
    });
  }

  get name(): string {
    return this.child.name;
  }

  command(line: string): Promise<void> {
    if (!this.child.running) return Promise.reject(new DemoProcessError(`${this.name} is not running`));
    const n = ++this.sent;
    return new Promise((resolve, reject) => {
      this.waiters.set(n, { resolve, reject });
      this.child.process.stdin!.write(`${line}\n`);
    });
  }

  set(bean: string, attribute: string, value: number): Promise<void> {
    return this.command(`set ${bean} ${attribute} ${value}`);
  }

  /** Adds to a numeric attribute (a counter such as a collector's CollectionTime). */
  add(bean: string, attribute: string, delta: number): Promise<void> {
    return this.command(`add ${bean} ${attribute} ${delta}`);
  }

  /** Freezes the whole JVM (SIGSTOP), as a broker stuck in a long pause or a hung host: its JMX stops answering. */
  freeze(): void {
    this.child.signal('SIGSTOP');
  }

  thaw(): void {
    this.child.signal('SIGCONT');
  }
}

export interface ProcessOptions {
  /** Environment for every child (the demo's own, plus what it adds). */
  env: NodeJS.ProcessEnv;
  /** Hears every output line of every child (the demo shows them with --verbose). */
  onLine?: (name: string, line: string) => void;
  /** The java executable, for the scripted JVMs. */
  java?: string;
}

const portOf = (hostPort: unknown): number => Number(String(hostPort).split(':').pop());

export interface AggregatorHandle {
  child: Child;
  url: string;
  grpcPort: number;
  httpPort: number;
}

export interface AgentHandle {
  child: Child;
  id: string;
  httpPort: number;
  grpcPort: number;
}

export class Processes {
  private readonly children: Child[] = [];
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: ProcessOptions) {}

  get all(): readonly Child[] {
    return this.children;
  }

  private spawn(name: string, kind: Child['kind'], command: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
    if (this.stopping) throw new DemoProcessError(`not starting ${name}: the demo is stopping`);
    const proc = spawn(command, args, { env: { ...this.options.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const child = new Child(name, kind, proc, this.options.onLine);
    // A child that cannot be started (no such executable) says so here; waiters see the exit.
    proc.on('error', (e) => child.tail.push(`cannot start: ${e.message}`));
    this.children.push(child);
    return child;
  }

  async aggregator(dataDir: string, args: string[] = [], timeoutMs = 30_000): Promise<AggregatorHandle> {
    const child = this.spawn('aggregator', 'aggregator', process.execPath, [
      CLI, 'aggregator', '--grpc-host', '127.0.0.1', '--grpc-port', '0', '--http-host', '127.0.0.1', '--http-port', '0', '--data-dir', dataDir, ...args,
    ]);
    const l = await child.waitForLog((x) => x.msg === 'aggregator listening', 'it was listening', timeoutMs);
    const grpcPort = portOf(l.grpc);
    return { child, grpcPort, httpPort: portOf(l.http), url: `grpc://127.0.0.1:${grpcPort}` };
  }

  async agent(id: string, aggregatorUrl: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<AgentHandle> {
    const child = this.spawn(`agent ${id}`, 'agent', process.execPath, [
      CLI, 'agent', '--agent-id', id, '--aggregator-url', aggregatorUrl, '--grpc-port', '0', '--http-port', '0', '--backoff-max-ms', '1000', ...args,
    ], env);
    const l = await child.waitForLog((x) => x.msg === 'agent started', 'it started', timeoutMs);
    return { child, id, httpPort: portOf(l.http), grpcPort: portOf(l.grpc) };
  }

  /** A FakeKafkaJvm with no beans but the JVM's own, or a broker's (kafka.server app-info id=<brokerId> and its beans, healthy). */
  async jvm(name: string, o: { brokerId?: number } = {}, timeoutMs = 30_000): Promise<ScriptedJvm> {
    const java = this.options.java;
    if (!java) throw new DemoProcessError('no java executable');
    const profile = o.brokerId !== undefined ? ['--profile', 'broker', '--broker-id', String(o.brokerId)] : ['--profile', 'none'];
    const child = this.spawn(name, 'jvm', java, ['-Xmx64m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xshare:auto', '-cp', JVM_CLASSPATH, 'FakeKafkaJvm', '--port', '0', ...profile]);
    const ready = await child.waitForLine((line) => /^READY \d+ /.test(line), 'it was ready', timeoutMs);
    return new ScriptedJvm(child, Number(/^READY (\d+)/.exec(ready)![1]));
  }

  /**
   * Stops everything, agents first (they hand their outbox to the aggregator), then the JVMs (their
   * stdin closes), the aggregator last. Whatever has not exited after `graceMs` is killed.
   */
  stopAll(graceMs = 5000): Promise<void> {
    return (this.stopping ??= (async () => {
      const of = (kind: Child['kind']): Child[] => this.children.filter((c) => c.kind === kind);
      await this.stopGroup(of('agent'), 'SIGTERM', graceMs);
      for (const j of of('jvm')) {
        j.signal('SIGCONT'); // a JVM an incident froze cannot act on its stdin closing
        j.process.stdin?.end();
      }
      await this.stopGroup(of('jvm'), 'SIGTERM', graceMs, 1000);
      await this.stopGroup(of('aggregator'), 'SIGTERM', graceMs);
    })());
  }

  /** Kills every running child with its group at once: for a second Ctrl-C, or when the demo itself is exiting. */
  killAll(): void {
    for (const c of this.children) c.signal('SIGKILL');
  }

  private async stopGroup(children: Child[], sig: NodeJS.Signals, graceMs: number, politeMs = 0): Promise<void> {
    await Promise.all(
      children.map(async (c) => {
        if (!c.running) {
          c.signal('SIGKILL', true);
          return;
        }
        // JVMs first get the chance to leave on their own when their stdin closes.
        if (politeMs > 0 && (await settlesWithin(c.exited, politeMs))) return;
        c.signal(sig);
        if (!(await settlesWithin(c.exited, graceMs))) {
          c.signal('SIGKILL');
          await c.exited;
        }
        // The group may hold a grandchild (an agent's JMX bridge) that outlived its parent.
        c.signal('SIGKILL', true);
      }),
    );
  }
}

async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
