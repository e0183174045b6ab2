// kafkajs instrumentation for Node services: the seeds' ClientSensorAgent. It listens to the
// instrumentation events of the service's kafkajs producers, consumers and admin clients, wraps
// producer.send / sendBatch, and hands what it sees, aggregated, to the kafka-obs agent beside
// the service (its local HTTP intake) as service / queue / status / resource signals.
//
//   import { Kafka } from 'kafkajs';
//   import { instrument } from 'kafka-obs/instrument';
//   const kafka = new Kafka({ clientId: 'orders', brokers });
//   const obs = instrument(kafka, { service: 'orders' });   // before creating clients
//   const producer = kafka.producer();                       // instrumented
//   ...
//   await obs.close();                                       // flushes what is left
//
// On the service's hot path it only counts: an event handler or the send wrapper updates a few
// numbers and returns; nothing awaits the agent, nothing throws into the service. About once a
// second (an unref'd timer) the counts become signals — a few per client, never one per message —
// and go out in one POST. A bounded buffer keeps them while the agent is away.
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Signal } from '../../proto/gen/kafkaobs/v1/signal.js';
import { Translator } from '../translate/engine.js';
import type { RuleSet } from '../translate/rules.js';
import type { ClientRole } from '../../proto/subject.js';
import { ClientMeter, METER_DEFAULTS, type CollectEnv } from './meter.js';
import { KAFKAJS_RULES } from './rules.js';
import { Sender, type SenderStats } from './sender.js';
import type { AdminLike, BatchLike, ClientLike, ConsumerLike, KafkaLike, KafkajsEvent, ProducerLike, RecordLike } from './types.js';

export type { AdminLike, ClientLike, ConsumerLike, KafkaLike, KafkajsEvent, ProducerLike } from './types.js';
export { KAFKAJS_RULES, METRICS } from './rules.js';
export { LONG_POLL_APIS } from './meter.js';

export interface InstrumentOptions {
  /**
   * The agent's local HTTP intake. Default: KAFKA_OBS_AGENT_URL, else
   * http://127.0.0.1:<AGENT_HTTP_PORT or 8081>.
   */
  agent?: string;
  /** Subjects' service segment. Default: SERVICE_NAME, else "unknown-service". */
  service?: string;
  /** Subjects' pod segment (the agent's AGENT_ID). Default: POD_NAME, else HOSTNAME, else the host name. */
  pod?: string;
  /** Put in every signal's context as "cluster". Default: KAFKA_CLUSTER (none when unset). */
  cluster?: string;
  /** Every client's name in subjects. Default: the clientId kafkajs reports (the Kafka instance's). */
  clientId?: string;
  /** How often counts become signals and are sent. Default 1000 ms. */
  flushIntervalMs?: number;
  /** How often the translator takes a reading of latency, request queue, lag, rebalances. Default 5000 ms. */
  readingIntervalMs?: number;
  /** A healthy stream of sends or commits is summarised in one SUCCESS at most this often. Default 10 000 ms. */
  successEveryMs?: number;
  /** No HEARTBEAT for this long while in a group: resource TIMEOUT. Default 30 000 ms (kafkajs' session timeout). */
  heartbeatStallMs?: number;
  /** Signals kept while the agent is slow or away (the oldest dropped beyond it, counted). Default 10 000. */
  maxBuffered?: number;
  /** Signals per POST. Default 500. */
  maxBatch?: number;
  /** A POST unanswered this long is retried. Default 5000 ms. */
  requestTimeoutMs?: number;
  /** Retry backoff bounds when the agent is away. Defaults 500 ms and 30 000 ms. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /**
   * "host:port" -> broker id, for brokers the instrumentation cannot name from kafkajs' metadata
   * (it reads it from clients created through an instrumented Kafka instance).
   */
  nodeIds?: Readonly<Record<string, string | number>>;
  /** The translator's rules (latency trend, request queue, lag, rebalances). Default KAFKAJS_RULES. */
  rules?: RuleSet;
  /**
   * Told when the agent is unreachable (once per outage) or refuses signals (once per reason).
   * Default: a process warning (process.emitWarning, code KAFKA_OBS_INSTRUMENT); pass
   * `() => {}` for silence (stats() still counts everything).
   */
  onError?: (error: Error) => void;
}

/** Per client (second argument of producer(), consumer(), admin()). */
export interface ClientOptions {
  /** This client's name in subjects (default: the instrumentation's clientId option, else kafkajs' clientId). */
  clientId?: string;
  /** A consumer's group (default: the groupId it was created with, else the one its events report). */
  groupId?: string;
}

export interface InstrumentationStats extends SenderStats {
  /** Clients being watched. */
  clients: number;
  /** Signals made so far. */
  signals: number;
  /** Events of an unexpected shape that a handler skipped. */
  handlerErrors: number;
}

const PRIVATE_CREATE_CLUSTER = 'private:Kafka:createCluster';

interface Attached {
  meter: ClientMeter;
  /** kafkajs' Cluster of the client, when created through an instrumented Kafka instance. */
  cluster: unknown;
  off: (() => void)[];
  restore: (() => void)[];
}

function envNumber(name: string): number | undefined {
  const v = process.env[name];
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

function isThenable(v: unknown): v is Promise<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** cluster.brokerPool.metadata.brokers of a kafkajs Cluster, read defensively. */
function brokersOf(cluster: unknown): { nodeId: unknown; host: unknown; port: unknown }[] {
  try {
    const pool = (cluster as { brokerPool?: { metadata?: { brokers?: unknown } } } | undefined)?.brokerPool;
    const list = pool?.metadata?.brokers;
    return Array.isArray(list) ? (list as { nodeId: unknown; host: unknown; port: unknown }[]) : [];
  } catch {
    return [];
  }
}

export class Instrumentation {
  private readonly attached = new Map<ClientMeter, Attached>();
  private readonly detached = new Set<Attached>();
  private readonly names = new Map<string, ClientMeter>();
  private readonly nodes = new Map<string, string>();
  private readonly translator: Translator;
  private readonly sender: Sender;
  private readonly timer: NodeJS.Timeout;
  private readonly env: CollectEnv;
  private readonly flushMs: number;
  private readonly readingMs: number;
  private readonly unwrap: (() => void)[] = [];
  private lastReadingAt = -Infinity;
  private lastSweepAt = 0;
  private nodesRefreshedAt = -Infinity;
  private soon: NodeJS.Timeout | undefined;
  private signals = 0;
  private closing: Promise<InstrumentationStats> | undefined;
  /** The Cluster kafkajs created during the factory call being wrapped. */
  private capturedCluster: unknown;
  private readonly settings: { successEveryMs: number; heartbeatStallMs: number };
  private readonly defaultClientId: string | undefined;

  constructor(options: InstrumentOptions = {}) {
    const o = options;
    const url = o.agent ?? process.env.KAFKA_OBS_AGENT_URL ?? `http://127.0.0.1:${envNumber('AGENT_HTTP_PORT') ?? 8081}`;
    this.flushMs = Math.max(10, o.flushIntervalMs ?? 1000);
    this.readingMs = Math.max(this.flushMs, o.readingIntervalMs ?? 5000);
    this.settings = { successEveryMs: o.successEveryMs ?? METER_DEFAULTS.successEveryMs, heartbeatStallMs: o.heartbeatStallMs ?? METER_DEFAULTS.heartbeatStallMs };
    this.defaultClientId = o.clientId;
    for (const [address, id] of Object.entries(o.nodeIds ?? {})) this.nodes.set(address, String(id));
    const staticNodes = new Set(this.nodes.keys());
    this.translator = new Translator(o.rules ?? KAFKAJS_RULES);
    this.sender = new Sender({
      url,
      maxBuffered: o.maxBuffered ?? 10_000,
      maxBatch: o.maxBatch ?? 500,
      timeoutMs: o.requestTimeoutMs ?? 5000,
      backoffMinMs: o.backoffMinMs ?? 500,
      backoffMaxMs: o.backoffMaxMs ?? 30_000,
      onError: o.onError ?? ((e) => process.emitWarning(e.message, { code: 'KAFKA_OBS_INSTRUMENT' })),
    });
    const cluster = o.cluster ?? process.env.KAFKA_CLUSTER;
    this.env = {
      translator: this.translator,
      service: o.service ?? process.env.SERVICE_NAME ?? 'unknown-service',
      pod: o.pod ?? process.env.POD_NAME ?? process.env.HOSTNAME ?? hostname(),
      context: cluster ? { cluster } : {},
      nodeOf: (address) => {
        const id = this.nodes.get(address);
        if (id !== undefined) return id;
        this.refreshNodes(staticNodes);
        return this.nodes.get(address);
      },
      claim: (role, wanted, meter) => this.claim(role, wanted, meter),
    };
    this.timer = setInterval(() => this.tick(false), this.flushMs);
    this.timer.unref();
  }

  // --- attaching clients ---------------------------------------------------------------------

  /**
   * Wraps the Kafka instance's producer(), consumer() and admin() so every client created from
   * now on is instrumented (and its brokers' ids are read from kafkajs' metadata). Returns it.
   */
  kafka<K extends KafkaLike>(kafka: K): K {
    const target = kafka as unknown as Record<string | symbol, unknown>;
    try {
      const sym = Object.getOwnPropertySymbols(kafka).find((s) => s.description === PRIVATE_CREATE_CLUSTER);
      const create = sym === undefined ? undefined : target[sym];
      if (sym !== undefined && typeof create === 'function') {
        target[sym] = (...args: unknown[]): unknown => {
          const c: unknown = Reflect.apply(create, kafka, args);
          this.capturedCluster = c;
          return c;
        };
        this.unwrap.push(() => {
          target[sym] = create;
        });
      }
    } catch {
      // Another kafkajs: brokers are named by address (or the nodeIds option).
    }
    const wrap = (method: 'producer' | 'consumer' | 'admin'): void => {
      const original = target[method];
      if (typeof original !== 'function') return;
      const own = Object.prototype.hasOwnProperty.call(kafka, method);
      target[method] = (...args: unknown[]): unknown => {
        this.capturedCluster = undefined;
        const client: unknown = Reflect.apply(original, kafka, args);
        const cluster = this.capturedCluster;
        this.capturedCluster = undefined;
        if (this.closing) return client;
        try {
          const config = args[0] as { groupId?: unknown } | undefined;
          const groupId = typeof config?.groupId === 'string' ? config.groupId : undefined;
          if (method === 'producer') this.attachProducer(client as ProducerLike, {}, cluster);
          else if (method === 'consumer') this.attachConsumer(client as ConsumerLike, { groupId }, cluster);
          else this.attachClient('admin', client as AdminLike, {}, cluster);
        } catch {
          // Not a kafkajs client as known: left alone.
        }
        return client;
      };
      this.unwrap.push(() => {
        if (own) target[method] = original;
        else delete target[method];
      });
    };
    wrap('producer');
    wrap('consumer');
    wrap('admin');
    return kafka;
  }

  /** Instruments a producer (its events, send and sendBatch). Returns it. */
  producer<P extends ProducerLike>(producer: P, options: ClientOptions = {}): P {
    try {
      this.attachProducer(producer, options, undefined);
    } catch {
      // Not a kafkajs producer as known: left alone.
    }
    return producer;
  }

  /** Instruments a consumer (group, batch, commit, crash and network events). Returns it. */
  consumer<C extends ConsumerLike>(consumer: C, options: ClientOptions = {}): C {
    try {
      this.attachConsumer(consumer, options, undefined);
    } catch {
      // Not a kafkajs consumer as known: left alone.
    }
    return consumer;
  }

  /** Instruments an admin client (network events). Returns it. */
  admin<A extends AdminLike>(admin: A, options: ClientOptions = {}): A {
    try {
      this.attachClient('admin', admin, options, undefined);
    } catch {
      // Not a kafkajs admin client as known: left alone.
    }
    return admin;
  }

  private attachClient(role: ClientRole, client: ClientLike, options: ClientOptions, cluster: unknown): Attached {
    const meter = new ClientMeter(role, options.clientId ?? this.defaultClientId, this.settings, options.groupId);
    const a: Attached = { meter, cluster, off: [], restore: [] };
    this.attached.set(meter, a);
    const ev = client.events;
    const listen = (name: string | undefined, handle: (e: KafkajsEvent) => void): void => {
      if (typeof name !== 'string') return;
      try {
        a.off.push(client.on(name, (e: KafkajsEvent) => {
          try {
            handle(e);
          } catch {
            meter.handlerErrors++;
          }
        }));
      } catch {
        // This kafkajs does not know the event: one signal fewer.
      }
    };
    listen(ev.REQUEST, (e) => meter.request(e.payload));
    listen(ev.REQUEST_TIMEOUT, (e) => meter.requestTimeout(e.payload));
    listen(ev.REQUEST_QUEUE_SIZE, (e) => meter.requestQueueSize(e.payload));
    listen(ev.CONNECT, () => {
      meter.connect();
      // A client that reconnects after it was let go is watched again.
      const back = [...this.detached].find((x) => x.meter === meter);
      if (back) {
        this.detached.delete(back);
        this.attached.set(meter, back);
      }
    });
    listen(ev.DISCONNECT, () => meter.disconnect());
    if (role === 'consumer') {
      const c = (client as ConsumerLike).events;
      listen(c.HEARTBEAT, (e) => meter.heartbeat(e.timestamp));
      listen(c.COMMIT_OFFSETS, (e) => meter.commitOffsets(e.payload));
      listen(c.GROUP_JOIN, (e) => meter.groupJoin(e.payload, e.timestamp));
      listen(c.REBALANCING, (e) => meter.rebalancing(e.payload));
      listen(c.START_BATCH_PROCESS, (e) => meter.batch(e.payload, false));
      listen(c.END_BATCH_PROCESS, (e) => meter.batch(e.payload, true));
      listen(c.STOP, () => meter.stop());
      listen(c.CRASH, (e) => {
        meter.crash(e.payload, typeof e.timestamp === 'number' ? e.timestamp : Date.now());
        this.flushSoon();
      });
    }
    return a;
  }

  private attachConsumer(consumer: ConsumerLike, options: ClientOptions, cluster: unknown): void {
    this.attachClient('consumer', consumer, options, cluster);
  }

  private attachProducer(producer: ProducerLike, options: ClientOptions, cluster: unknown): void {
    const a = this.attachClient('producer', producer, options, cluster);
    const meter = a.meter;
    const target = producer as unknown as Record<string, unknown>;
    const wrapSend = (method: 'send' | 'sendBatch', describe: (arg: unknown) => { records: number; topic: string }): void => {
      const original = target[method];
      if (typeof original !== 'function') return;
      const own = Object.prototype.hasOwnProperty.call(producer, method);
      const self = this;
      // The wrapper: the call itself, two clock reads and a then() — the caller gets a promise
      // that settles as kafkajs' does (same value, same error), one microtask later.
      const wrapped = function (this: unknown, arg: unknown): unknown {
        const t0 = performance.now();
        const result: unknown = Reflect.apply(original, this, [arg]);
        if (self.closing !== undefined || !isThenable(result)) return result;
        return result.then(
          (value: unknown) => {
            try {
              meter.sendOk(describe(arg).records, performance.now() - t0);
            } catch {
              meter.handlerErrors++;
            }
            return value;
          },
          (error: unknown) => {
            try {
              meter.sendFailed(error, describe(arg).topic);
            } catch {
              meter.handlerErrors++;
            }
            throw error;
          },
        );
      };
      target[method] = wrapped;
      a.restore.push(() => {
        if (target[method] !== wrapped) return;
        if (own) target[method] = original;
        else delete target[method];
      });
    };
    wrapSend('send', (arg) => {
      const r = arg as Partial<RecordLike> | undefined;
      return { records: Array.isArray(r?.messages) ? r.messages.length : 0, topic: typeof r?.topic === 'string' ? r.topic : '' };
    });
    wrapSend('sendBatch', (arg) => {
      const tm = (arg as BatchLike | undefined)?.topicMessages;
      let records = 0;
      if (Array.isArray(tm)) for (const t of tm) records += Array.isArray(t?.messages) ? t.messages.length : 0;
      const first = Array.isArray(tm) ? tm[0]?.topic : undefined;
      return { records, topic: typeof first === 'string' ? first : '' };
    });
  }

  // --- collecting and sending ----------------------------------------------------------------

  private claim(role: ClientRole, wanted: string, meter: ClientMeter): string {
    for (let i = 1; ; i++) {
      const name = i === 1 ? wanted : `${wanted}-${i}`;
      const key = `${role}\u0000${name}`;
      const holder = this.names.get(key);
      if (holder === undefined || holder === meter) {
        this.names.set(key, meter);
        return name;
      }
    }
  }

  /** Reads broker ids from the metadata of the clients' kafkajs clusters (at most once a second). */
  private refreshNodes(keep: ReadonlySet<string>): void {
    const now = Date.now();
    if (now - this.nodesRefreshedAt < 1000) return;
    this.nodesRefreshedAt = now;
    for (const a of this.attached.values()) {
      for (const b of brokersOf(a.cluster)) {
        if ((typeof b.nodeId === 'number' || typeof b.nodeId === 'string') && typeof b.host === 'string' && (typeof b.port === 'number' || typeof b.port === 'string')) {
          const address = `${b.host}:${b.port}`;
          if (!keep.has(address)) this.nodes.set(address, String(b.nodeId));
        }
      }
    }
  }

  private flushSoon(): void {
    if (this.soon !== undefined || this.closing !== undefined) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.tick(false);
    }, 0);
    this.soon.unref();
  }

  /** Collects every client's signals and starts a POST. Never throws. */
  private tick(forceReading: boolean): void {
    try {
      const now = Date.now();
      // A reading is due once the interval has (nearly) passed: timer jitter must not skip one.
      const reading = forceReading || now - this.lastReadingAt >= this.readingMs - this.flushMs / 2;
      if (reading) this.lastReadingAt = now;
      const batch: Signal[] = [];
      for (const [meter, a] of this.attached) {
        try {
          for (const s of meter.collect(now, reading, this.env)) batch.push(s);
        } catch {
          meter.handlerErrors++;
        }
        if (meter.finished) {
          // Disconnected and quiet: let it go (it comes back if it connects again).
          this.attached.delete(meter);
          this.detached.add(a);
          if (meter.clientId !== undefined) this.names.delete(`${meter.role}\u0000${meter.clientId}`);
        }
      }
      if (reading && now - this.lastSweepAt > 60_000) {
        this.lastSweepAt = now;
        this.translator.sweep(now - 10 * this.translator.ruleSet.defaults.heartbeatMs);
        // Detached clients that never came back: forget them after the same while.
        if (this.detached.size > 1000) this.detached.clear();
      }
      this.signals += batch.length;
      if (batch.length > 0) this.sender.push(batch);
      this.sender.pump();
    } catch {
      // Never into the service.
    }
  }

  /** Counts so far: clients watched, signals made, sent, dropped, failed posts... */
  stats(): InstrumentationStats {
    let handlerErrors = 0;
    for (const m of this.attached.keys()) handlerErrors += m.handlerErrors;
    for (const a of this.detached) handlerErrors += a.meter.handlerErrors;
    return { ...this.sender.stats, buffered: this.sender.size, clients: this.attached.size, signals: this.signals, handlerErrors };
  }

  /** Collects now and sends what is buffered (waits up to `timeoutMs`). Never rejects. */
  async flush(timeoutMs = 5000): Promise<InstrumentationStats> {
    try {
      this.tick(false);
      await this.sender.drain(timeoutMs);
    } catch {
      // Never into the service.
    }
    return this.stats();
  }

  /**
   * Stops: takes a last reading, sends what is left (waits up to `timeoutMs`), removes the
   * listeners and the wrappers. The clients keep working, uninstrumented. Never rejects.
   */
  close(timeoutMs = 2000): Promise<InstrumentationStats> {
    this.closing ??= (async () => {
      clearInterval(this.timer);
      if (this.soon !== undefined) clearTimeout(this.soon);
      try {
        this.tick(true);
        await this.sender.drain(timeoutMs);
      } catch {
        // Never into the service.
      }
      for (const a of [...this.attached.values(), ...this.detached]) {
        for (const f of [...a.off, ...a.restore]) {
          try {
            f();
          } catch {
            // Already gone.
          }
        }
      }
      for (const f of this.unwrap) {
        try {
          f();
        } catch {
          // Already gone.
        }
      }
      this.sender.close();
      return this.stats();
    })();
    return this.closing;
  }
}

/** Instruments every client later created from `kafka` (producer(), consumer(), admin()). */
export function instrument<K extends KafkaLike>(kafka: K, options: InstrumentOptions = {}): Instrumentation {
  const i = new Instrumentation(options);
  i.kafka(kafka);
  return i;
}

/** An instrumentation with no client yet: add them with .producer(p), .consumer(c), .admin(a), .kafka(k). */
export function createInstrumentation(options: InstrumentOptions = {}): Instrumentation {
  return new Instrumentation(options);
}

/** One producer created elsewhere (brokers are named by address unless `nodeIds` names them). */
export function instrumentProducer(producer: ProducerLike, options: InstrumentOptions & ClientOptions = {}): Instrumentation {
  const i = new Instrumentation(options);
  i.producer(producer, options);
  return i;
}

/** One consumer created elsewhere. */
export function instrumentConsumer(consumer: ConsumerLike, options: InstrumentOptions & ClientOptions = {}): Instrumentation {
  const i = new Instrumentation(options);
  i.consumer(consumer, options);
  return i;
}

/** One admin client created elsewhere. */
export function instrumentAdmin(admin: AdminLike, options: InstrumentOptions & ClientOptions = {}): Instrumentation {
  const i = new Instrumentation(options);
  i.admin(admin, options);
  return i;
}
