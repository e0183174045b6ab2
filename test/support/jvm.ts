// Real JVMs for tests: demo/FakeKafkaJvm.java (shared with `kafka-obs demo`, compiled
// by the build into dist/demo/java) registers MBeans under Kafka's real ObjectNames behind the JDK's own RMI
// connector server. Tests drive its values step by step over stdin and await each "ok".
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { getJson, until, type AgentProc } from './procs.js';

export const FIXTURES = fileURLToPath(new URL('../../demo/java/', import.meta.url));

export interface FakeJvmOptions {
  port?: number;
  passwordFile?: string;
  profile?: 'all' | 'client' | 'broker' | 'none';
  benchProducers?: number;
  /** Serve the connector over TLS with this PKCS12 keystore. */
  ssl?: { keystore: string; password: string };
}

export class FakeJvm {
  private readonly waiters = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private sent = 0;
  readonly exited: Promise<unknown>;
  port = 0;
  url = '';

  private constructor(readonly child: ChildProcess) {
    this.exited = once(child, 'exit');
  }

  static async start(o: FakeJvmOptions = {}): Promise<FakeJvm> {
    const args = ['-Xmx64m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-cp', FIXTURES, 'FakeKafkaJvm', '--port', String(o.port ?? 0), '--profile', o.profile ?? 'all'];
    if (o.passwordFile) args.push('--password-file', o.passwordFile);
    if (o.benchProducers) args.push('--bench-producers', String(o.benchProducers));
    if (o.ssl) args.push('--ssl-keystore', o.ssl.keystore, '--ssl-password', o.ssl.password);
    const child = spawn('java', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const jvm = new FakeJvm(child);
    const stderr: string[] = [];
    child.stderr!.on('data', (d: Buffer) => {
      stderr.push(d.toString());
      if (process.env.TEST_VERBOSE) process.stderr.write(`[fake-jvm] ${d}`);
    });
    const ready = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`fake JVM not ready in 30 s: ${stderr.join('')}`)), 30_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const m = /^READY (\d+) (\S+)$/.exec(line);
        if (m) {
          jvm.port = Number(m[1]);
          jvm.url = m[2]!;
          clearTimeout(t);
          resolve();
          return;
        }
        const ack = /^(ok|error) (\d+)(.*)$/.exec(line);
        if (ack) {
          const w = jvm.waiters.get(Number(ack[2]));
          jvm.waiters.delete(Number(ack[2]));
          if (ack[1] === 'ok') w?.resolve();
          else w?.reject(new Error(`fake JVM: ${line}`));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`fake JVM exited (${code}): ${stderr.join('')}`));
      });
    });
    await ready;
    return jvm;
  }

  /** Sends one command ("set <bean> <attr> <value>", ...) and resolves once applied. */
  command(line: string): Promise<void> {
    const n = ++this.sent;
    return new Promise((resolve, reject) => {
      this.waiters.set(n, { resolve, reject });
      this.child.stdin!.write(`${line}\n`);
    });
  }

  set(bean: string, attribute: string, value: number): Promise<void> {
    return this.command(`set ${bean} ${attribute} ${value}`);
  }

  add(bean: string, attribute: string, delta: number): Promise<void> {
    return this.command(`add ${bean} ${attribute} ${delta}`);
  }

  heap(usedPercent: number, maxBytes = 1_000_000_000): Promise<void> {
    const used = Math.round((maxBytes * usedPercent) / 100);
    return this.command(`setc java.lang:type=Memory HeapMemoryUsage init=0,used=${used},committed=${maxBytes},max=${maxBytes}`);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }
}

export const PRODUCER = (clientId: string): string => `kafka.producer:type=producer-metrics,client-id=${clientId}`;
export const FETCH = (clientId: string): string => `kafka.consumer:type=consumer-fetch-manager-metrics,client-id=${clientId}`;
export const COORDINATOR = (clientId: string): string => `kafka.consumer:type=consumer-coordinator-metrics,client-id=${clientId}`;
export const URP = 'kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions';
export const SCRIPTED_GC = 'java.lang:type=GarbageCollector,name=Scripted';
export const BUFFER_TOTAL = 33554432;

/** Sets the producer's buffer to `percent` used. */
export function bufferUsed(jvm: FakeJvm, clientId: string, percent: number): Promise<void> {
  return jvm.set(PRODUCER(clientId), 'buffer-available-bytes', Math.round(BUFFER_TOTAL * (1 - percent / 100)));
}

interface SensorStatus {
  polls: number;
  errors: number;
  bridgePid?: number;
  bridgeStarts?: number;
  condition: string;
}

export async function sensorStatus(agent: AgentProc, sensor: string): Promise<SensorStatus> {
  const s = await getJson<{ sensors: Record<string, SensorStatus> }>(`http://127.0.0.1:${agent.httpPort}/v1/status`);
  const st = s.sensors[sensor];
  if (!st) throw new Error(`no sensor ${sensor} in ${Object.keys(s.sensors).join(', ')}`);
  return st;
}

/** Resolves once the sensor has completed `n` more polls: what it reads from now on is what was set before. */
export async function polled(agent: AgentProc, sensor: string, n = 2): Promise<void> {
  const start = (await sensorStatus(agent, sensor)).polls;
  await until(async () => (await sensorStatus(agent, sensor)).polls >= start + n, `${n} polls of ${sensor}`, 30_000);
}

/** A throwaway PKCS12 keystore for 127.0.0.1 and a truststore holding its certificate (JDK keytool). */
export async function makeKeystores(dir: string, password: string): Promise<{ keystore: string; truststore: string }> {
  const keystore = `${dir}/jmx-server.p12`;
  const cert = `${dir}/jmx-server.crt`;
  const truststore = `${dir}/jmx-trust.p12`;
  const keytool = (args: string[]): Promise<void> =>
    new Promise((resolve, reject) => {
      const p = spawn('keytool', args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`keytool ${args[0]} failed: ${err}`))));
    });
  await keytool(['-genkeypair', '-alias', 'jmx', '-keyalg', 'EC', '-groupname', 'secp256r1', '-validity', '2', '-dname', 'CN=127.0.0.1', '-ext', 'san=ip:127.0.0.1', '-storetype', 'PKCS12', '-keystore', keystore, '-storepass', password]);
  await keytool(['-exportcert', '-alias', 'jmx', '-keystore', keystore, '-storepass', password, '-file', cert]);
  await keytool(['-importcert', '-noprompt', '-alias', 'jmx', '-file', cert, '-storetype', 'PKCS12', '-keystore', truststore, '-storepass', password]);
  return { keystore, truststore };
}
