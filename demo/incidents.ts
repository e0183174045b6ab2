// The incidents `kafka-obs demo` can play, and the scenario tests run: small estates of scripted
// Kafka JVMs (FakeKafkaJvm: Kafka's real MBean names behind the JDK's RMI connector), each read by
// its own `kafka-obs agent` over JMX, and a script that moves their values the way the incident
// moves real ones. What each should make the aggregator say is written beside it (`expect`), so
// the demo can tell whether the story completed and the tests can hold the product to it.
//
// Scripts are written in demo time (pace 1: the waits as written); the agents and the aggregator
// run with a time scale (every window of the rules and observers shortened alike), so an incident
// that takes minutes in life plays in under a minute.
import type { Narrative } from '../proto/index.js';
import type { ScriptedJvm } from './processes.js';
import type { Pace } from './script.js';
import type { DemoView } from './view.js';

export const CLUSTER = 'prod';

/** One pod: its JVM, and the agent beside it. */
export interface Member {
  /** The pod name, and its agent's id. */
  id: string;
  service: string;
  /** The JVM is broker <n>'s: its agent reads the broker's beans, and the JVM's as the broker's. */
  broker?: number;
  producers?: string[];
  consumers?: string[];
  /** Consumer metrics as Kafka 2.2 clients expose them: join-total and join-time-avg, no rebalance-*. */
  era22?: boolean;
  /** Brokers its clients talk to (per-broker request latency beans, producer-node-metrics). */
  nodes?: number[];
  /** The JVM has a scripted garbage collector (java.lang:type=GarbageCollector,name=Scripted). */
  scriptedGc?: boolean;
}

export interface PhaseContext {
  view: DemoView;
  pace: Pace;
  /** The JVM of a member, by pod name. */
  jvm(id: string): ScriptedJvm;
}

export interface Phase {
  title: string;
  detail: string;
  /** Marks the first phase in which something goes wrong: the incident's first causal change. */
  trouble?: boolean;
  play(ctx: PhaseContext): Promise<void>;
}

export interface Expectation {
  /** How many narratives the incident must produce (0: the estate must stay silent). */
  narratives: 0 | 1;
  /** The narrative's root: its subject (an entity) and the observer whose finding roots it. */
  rootSubject?: string;
  rootObserver?: string;
  /** What its root cause or situation must say (its numbers as people read them included). */
  says?: RegExp[];
  /** What it must never say. */
  never?: RegExp[];
}

export interface Incident {
  name: string;
  title: string;
  description: string;
  members: Member[];
  phases: Phase[];
  expect: Expectation;
}

// --- Kafka's MBeans ------------------------------------------------------------------------------
export const PRODUCER = (id: string): string => `kafka.producer:type=producer-metrics,client-id=${id}`;
export const PRODUCER_NODE = (id: string, node: number): string => `kafka.producer:type=producer-node-metrics,client-id=${id},node-id=node-${node}`;
export const FETCH = (id: string): string => `kafka.consumer:type=consumer-fetch-manager-metrics,client-id=${id}`;
export const COORDINATOR = (id: string): string => `kafka.consumer:type=consumer-coordinator-metrics,client-id=${id}`;
export const URP = 'kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions';
export const PRODUCE_TIME = 'kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Produce';
export const HANDLER_IDLE = 'kafka.server:type=KafkaRequestHandlerPool,name=RequestHandlerAvgIdlePercent';
export const SCRIPTED_GC = 'java.lang:type=GarbageCollector,name=Scripted';
export const BUFFER_TOTAL = 33_554_432;

/** buffer-available-bytes for a buffer `usedPercent` full. */
export const available = (usedPercent: number): number => Math.round(BUFFER_TOTAL * (1 - usedPercent / 100));
const buffer = (percents: number[]): number[] => percents.map(available);

/** The healthy values of a member's beans, set before its agent starts. */
export async function baseline(m: Member, jvm: ScriptedJvm): Promise<void> {
  const sets: [string, string, number][] = [];
  for (const [i, id] of (m.producers ?? []).entries()) {
    sets.push(
      [PRODUCER(id), 'buffer-total-bytes', BUFFER_TOTAL],
      [PRODUCER(id), 'buffer-available-bytes', available(30 + 10 * (i % 2))],
      [PRODUCER(id), 'buffer-exhausted-total', 0],
      [PRODUCER(id), 'request-latency-avg', 12 + 3 * i],
      [PRODUCER(id), 'record-error-rate', 0],
      [PRODUCER(id), 'record-send-rate', 850 - 300 * (i % 2)],
      [PRODUCER(id), 'batch-size-avg', 12_000],
    );
    for (const n of m.nodes ?? []) sets.push([PRODUCER_NODE(id, n), 'request-latency-avg', 11 + n]);
  }
  for (const id of m.consumers ?? []) {
    sets.push(
      [FETCH(id), 'records-lag-max', 40],
      [FETCH(id), 'fetch-latency-avg', 110],
      [FETCH(id), 'records-consumed-rate', 850],
      [FETCH(id), 'bytes-consumed-rate', 850_000],
      [COORDINATOR(id), 'assigned-partitions', 6],
      [COORDINATOR(id), 'commit-latency-avg', 8],
    );
    if (m.era22) sets.push([COORDINATOR(id), 'join-total', 1], [COORDINATOR(id), 'join-time-avg', 300], [COORDINATOR(id), 'join-rate', 0]);
    else sets.push([COORDINATOR(id), 'rebalance-total', 1], [COORDINATOR(id), 'rebalance-latency-avg', 300]);
  }
  if (m.scriptedGc) sets.push([SCRIPTED_GC, 'CollectionTime', 0], [SCRIPTED_GC, 'CollectionCount', 0]);
  for (const [bean, attr, value] of sets) await jvm.set(bean, attr, value);
}

/** Sets one attribute through a list of values, one every `stepMs` (demo time). */
export async function ramp(ctx: PhaseContext, member: string, bean: string, attribute: string, values: number[], stepMs: number): Promise<void> {
  const jvm = ctx.jvm(member);
  for (let i = 0; i < values.length; i++) {
    ctx.pace.check();
    await jvm.set(bean, attribute, values[i]!);
    if (i < values.length - 1) await ctx.pace.wait(stepMs);
  }
}

/** Adds `delta` to a counter every `stepMs`, `times` times (exhaustions, GC time, rebalances). */
async function tick(ctx: PhaseContext, member: string, bean: string, attribute: string, delta: number, stepMs: number, times: number): Promise<void> {
  const jvm = ctx.jvm(member);
  for (let i = 0; i < times; i++) {
    ctx.pace.check();
    await jvm.add(bean, attribute, delta);
    await ctx.pace.wait(stepMs);
  }
}

/** A quiet start: every agent reads its JVM and reports it healthy. */
function baselinePhase(ms: number): Phase {
  return {
    title: 'Healthy baseline',
    detail: 'every agent reads its JVM over JMX and reports it; everything is STABLE',
    async play(ctx) {
      await ctx.pace.wait(ms);
      ctx.view.note(`${ctx.view.healthyStarts} subjects reported healthy so far (not listed one by one)`);
      await ctx.view.tree('The tree, healthy:');
    },
  };
}

/** Waits (up to `ms`) for a narrative naming `subject` to open, then lets it settle a little. */
function awaitStory(subject: string, ms: number, settleMs: number, title = 'waiting for the aggregator to tell the story...'): (ctx: PhaseContext) => Promise<void> {
  return async (ctx) => {
    ctx.view.note(title);
    const opened = await ctx.view.until(() => rootedAt(ctx.view, subject) !== undefined, ms, ctx.pace.abort);
    if (!opened) ctx.view.note(`no narrative rooted at ${subject} yet`);
    await ctx.pace.wait(settleMs);
    await ctx.view.tree('The tree, in the middle of the incident:');
  };
}

/** The first narrative rooted at (or under) `subject`. */
export function rootedAt(view: DemoView, subject: string): Narrative | undefined {
  for (const [id, first] of view.openings) {
    const n = view.narratives.get(id)!;
    if (n.rootSubject === subject || first.rootSubject === subject) return n;
  }
  return undefined;
}

// --- the pods -----------------------------------------------------------------------------------
const BROKER_1: Member = { id: 'kafka-1', service: 'kafka', broker: 1 };
const ORDERS: Member = { id: 'order-1', service: 'order-service', producers: ['order-producer'], nodes: [1, 2, 3] };
const PAYMENTS: Member = { id: 'payment-1', service: 'payment-service', producers: ['payment-producer'], nodes: [1, 2, 3] };
const SHIPPING: Member = { id: 'shipping-1', service: 'shipping-service', producers: ['shipping-producer'], nodes: [1, 2, 3] };
const BILLING: Member = { id: 'billing-1', service: 'billing-service', consumers: ['billing-consumer'] };

const broker1 = `cluster/${CLUSTER}/broker/1`;
const orderProducer = 'service/order-service/pod/order-1/producer/order-producer';
const billingConsumer = 'service/billing-service/pod/billing-1/consumer/billing-consumer';

// --- the incidents ------------------------------------------------------------------------------
const cascade: Incident = {
  name: 'cascade',
  title: 'A cascading failure that starts at broker 1',
  description: 'broker 1 loses replicas and its request handlers saturate; producers in order-service and payment-service slow down and their buffers fill; billing-service falls behind; then broker 1 recovers',
  members: [BROKER_1, ORDERS, PAYMENTS, BILLING],
  phases: [
    baselinePhase(8000),
    {
      title: 'Broker 1 loses replicas',
      detail: 'UnderReplicatedPartitions 0 -> 2, produce requests slow down, request handlers 90 % -> 7 % idle',
      trouble: true,
      async play(ctx) {
        await ctx.jvm('kafka-1').set(URP, 'Value', 2);
        await Promise.all([
          ramp(ctx, 'kafka-1', PRODUCE_TIME, '99thPercentile', [20, 90, 240, 380], 600),
          ramp(ctx, 'kafka-1', HANDLER_IDLE, 'OneMinuteRate', [0.9, 0.5, 0.25, 0.07], 800),
        ]);
        await ctx.pace.wait(4000);
      },
    },
    {
      title: 'Producers slow down, their buffers fill',
      detail: 'order-service and payment-service wait longer for acks from broker 1: request latency climbs, record accumulators fill up',
      async play(ctx) {
        const step = 700;
        await Promise.all([
          ramp(ctx, 'order-1', PRODUCER('order-producer'), 'request-latency-avg', [12, 25, 60, 140, 260, 420, 430], step),
          ramp(ctx, 'payment-1', PRODUCER('payment-producer'), 'request-latency-avg', [15, 28, 55, 120, 230, 380, 390], step),
          ramp(ctx, 'order-1', PRODUCER('order-producer'), 'buffer-available-bytes', buffer([40, 52, 66, 83, 91, 97, 98]), step),
          ramp(ctx, 'payment-1', PRODUCER('payment-producer'), 'buffer-available-bytes', buffer([30, 38, 52, 70, 82, 86, 86]), step),
          (async () => {
            await ctx.pace.wait(step * 5);
            await tick(ctx, 'order-1', PRODUCER('order-producer'), 'buffer-exhausted-total', 2, 500, 3);
          })(),
        ]);
        await ctx.pace.wait(3000);
      },
    },
    {
      title: 'Consumers fall behind',
      detail: 'fewer records reach topic orders in time; billing-service consumes slower and its lag grows',
      async play(ctx) {
        const step = 800;
        await Promise.all([
          ramp(ctx, 'billing-1', FETCH('billing-consumer'), 'records-lag-max', [40, 600, 2500, 7000, 14_000, 26_000, 41_000], step),
          ramp(ctx, 'billing-1', FETCH('billing-consumer'), 'fetch-latency-avg', [110, 350, 700, 1300], step * 2),
          ramp(ctx, 'billing-1', FETCH('billing-consumer'), 'records-consumed-rate', [850, 600, 420], step * 2),
        ]);
        await awaitStory(broker1, 45_000, 4000)(ctx);
      },
    },
    {
      title: 'Broker 1 recovers',
      detail: 'replicas back in sync; latencies converge, buffers drain, billing catches up',
      async play(ctx) {
        await ctx.jvm('kafka-1').set(URP, 'Value', 0);
        const step = 700;
        await Promise.all([
          ramp(ctx, 'kafka-1', PRODUCE_TIME, '99thPercentile', [120, 40, 20], step),
          ramp(ctx, 'kafka-1', HANDLER_IDLE, 'OneMinuteRate', [0.6, 0.9], step),
          ramp(ctx, 'order-1', PRODUCER('order-producer'), 'request-latency-avg', [300, 160, 70, 30, 14, 12], step),
          ramp(ctx, 'payment-1', PRODUCER('payment-producer'), 'request-latency-avg', [280, 150, 60, 25, 16, 15], step),
          ramp(ctx, 'order-1', PRODUCER('order-producer'), 'buffer-available-bytes', buffer([92, 80, 64, 48, 40]), step),
          ramp(ctx, 'payment-1', PRODUCER('payment-producer'), 'buffer-available-bytes', buffer([78, 60, 40, 30]), step),
          ramp(ctx, 'billing-1', FETCH('billing-consumer'), 'records-lag-max', [38_000, 30_000, 18_000, 9000, 3000, 600, 40], step),
          ramp(ctx, 'billing-1', FETCH('billing-consumer'), 'fetch-latency-avg', [600, 110], step * 2),
          ramp(ctx, 'billing-1', FETCH('billing-consumer'), 'records-consumed-rate', [1400, 1400, 850], step * 2),
        ]);
      },
    },
  ],
  expect: {
    narratives: 1,
    rootSubject: broker1,
    rootObserver: 'cascading-failure',
    says: [/broker 1 \(2 under-replicated partitions/, /produce latency in (order-service|payment-service)/, /consumer lag in billing-service/],
    never: [/Brokers look fine|no broker trouble/i],
  },
};

const producerExhaustion: Incident = {
  name: 'producer-exhaustion',
  title: 'A producer outpaces its own buffer while the brokers are healthy',
  description: "order-service's producer fills buffer.memory and sends start to find it full, with request latency flat and broker 1 healthy",
  members: [BROKER_1, ORDERS],
  phases: [
    baselinePhase(6000),
    {
      title: 'The producer fills its buffer',
      detail: 'buffer 40 % -> 98 % used, sends find it full (buffer-exhausted-total climbs); request latency and broker 1 unchanged',
      trouble: true,
      async play(ctx) {
        await Promise.all([
          ramp(ctx, 'order-1', PRODUCER('order-producer'), 'buffer-available-bytes', buffer([40, 70, 85, 93, 97, 98]), 700),
          (async () => {
            await ctx.pace.wait(2800);
            await tick(ctx, 'order-1', PRODUCER('order-producer'), 'buffer-exhausted-total', 2, 600, 5);
          })(),
        ]);
        await awaitStory(orderProducer, 30_000, 3000)(ctx);
      },
    },
    {
      title: 'The producer catches up',
      detail: 'the buffer drains, no send finds it full any more',
      async play(ctx) {
        await ramp(ctx, 'order-1', PRODUCER('order-producer'), 'buffer-available-bytes', buffer([90, 70, 50, 40]), 700);
      },
    },
  ],
  expect: {
    narratives: 1,
    rootSubject: orderProducer,
    rootObserver: 'producer-backpressure',
    says: [/Producer buffer exhaustion in order-service/, /buffer\.memory exhausted \(up to 9\d % used, \d+ sends? found it full\)/, /the brokers of cluster prod are healthy \(1 observed STABLE\)/],
    never: [/\d+\.\d{3,}/, /exhausted \(\d %/, /Brokers look fine/],
  },
};

const rebalanceStorm: Incident = {
  name: 'rebalance-storm',
  title: 'A rebalance storm in a group of Kafka 2.2 consumers',
  description: 'the two billing-service consumers rejoin their group every few seconds; their Kafka 2.2 clients expose join-total and join-time-avg only',
  members: [
    { id: 'billing-1', service: 'billing-service', consumers: ['billing-consumer'], era22: true },
    { id: 'billing-2', service: 'billing-service', consumers: ['billing-consumer'], era22: true },
  ],
  phases: [
    baselinePhase(6000),
    {
      title: 'The group rebalances again and again',
      detail: 'both members rejoin every 2.5 s (join-total climbs), their partitions revoked and reassigned, the rebalances taking longer each time',
      trouble: true,
      async play(ctx) {
        for (let i = 0; i < 6; i++) {
          for (const pod of ['billing-1', 'billing-2']) {
            const jvm = ctx.jvm(pod);
            await jvm.add(COORDINATOR('billing-consumer'), 'join-total', 1);
            await jvm.set(COORDINATOR('billing-consumer'), 'join-time-avg', [300, 900, 2000, 3500, 5200, 6800][i]!);
            await jvm.set(COORDINATOR('billing-consumer'), 'assigned-partitions', 3);
          }
          await ctx.pace.wait(2500);
        }
        await awaitStory('service/billing-service', 20_000, 2000)(ctx);
      },
    },
    {
      title: 'The group settles',
      detail: 'no more rejoins; the agents call the members calm once they have been quiet for a while',
      async play(ctx) {
        for (const pod of ['billing-1', 'billing-2']) await ctx.jvm(pod).set(COORDINATOR('billing-consumer'), 'join-time-avg', 6800);
      },
    },
  ],
  expect: {
    narratives: 1,
    rootSubject: 'service/billing-service',
    rootObserver: 'rebalance-storm',
    says: [/Rebalance storm in the consumers of billing-service/, /2 of 2 members rebalancing less than a minute apart/],
  },
};

const idle: Incident = {
  name: 'idle',
  title: 'An idle, healthy estate',
  description: 'a broker, a producer and a consumer, their metrics wandering a little: nothing to report',
  members: [BROKER_1, ORDERS, BILLING],
  phases: [
    baselinePhase(4000),
    {
      title: 'Ordinary noise',
      detail: 'send rates, latencies, lag and buffers move by a few percent, as they do',
      async play(ctx) {
        for (let i = 0; i < 12; i++) {
          const wobble = 1 + 0.05 * Math.sin(i);
          await ctx.jvm('order-1').set(PRODUCER('order-producer'), 'request-latency-avg', 12 * wobble);
          await ctx.jvm('order-1').set(PRODUCER('order-producer'), 'buffer-available-bytes', available(30 * wobble));
          await ctx.jvm('order-1').set(PRODUCER('order-producer'), 'record-send-rate', 850 * wobble);
          await ctx.jvm('billing-1').set(FETCH('billing-consumer'), 'records-lag-max', Math.round(40 * wobble));
          await ctx.jvm('kafka-1').set(PRODUCE_TIME, '99thPercentile', 20 * wobble);
          await ctx.pace.wait(1000);
        }
        await ctx.pace.wait(4000);
      },
    },
  ],
  expect: { narratives: 0 },
};

const slowConsumer: Incident = {
  name: 'slow-consumer',
  title: 'A consumer falls behind while the brokers are healthy',
  description: "billing-service consumes at its usual rate while more records arrive: its records-lag-max grows from 160 to 20,160; broker 1 and the producer stay healthy",
  members: [BROKER_1, ORDERS, BILLING],
  phases: [
    baselinePhase(6000),
    {
      title: 'The consumer falls behind',
      detail: 'records-lag-max 160 -> 20,160 over 16 s, consumption steady at 850 records/s',
      trouble: true,
      async play(ctx) {
        await ramp(ctx, 'billing-1', FETCH('billing-consumer'), 'records-lag-max', Array.from({ length: 17 }, (_, i) => 160 + 1250 * i), 1000);
        await awaitStory(billingConsumer, 30_000, 2000)(ctx);
      },
    },
    {
      title: 'Scaled out, it catches up',
      detail: 'the lag falls back',
      async play(ctx) {
        await ramp(ctx, 'billing-1', FETCH('billing-consumer'), 'records-consumed-rate', [1700], 0);
        await ramp(ctx, 'billing-1', FETCH('billing-consumer'), 'records-lag-max', [18_000, 14_000, 9000, 4000, 900, 100, 40], 800);
      },
    },
  ],
  expect: {
    narratives: 1,
    rootSubject: billingConsumer,
    rootObserver: 'slow-consumer',
    says: [/Consumer billing-consumer of billing-service is falling behind/, /consumes 850 records\/s/, /The brokers are observed healthy/],
    never: [/stopped consuming|not committing/],
  },
};

const brokerGc: Incident = {
  name: 'broker-gc',
  title: "Broker 1's JVM pauses in garbage collection",
  description: "broker 1 spends 3 s in GC between two readings, its request handlers saturate, and its producers' latency climbs",
  members: [{ ...BROKER_1, scriptedGc: true }, ORDERS, PAYMENTS],
  phases: [
    baselinePhase(6000),
    {
      title: 'Broker 1 pauses in GC',
      detail: "CollectionTime +3 s every half second; request handlers 90 % -> 7 % idle; producers wait longer",
      trouble: true,
      async play(ctx) {
        await Promise.all([
          tick(ctx, 'kafka-1', SCRIPTED_GC, 'CollectionTime', 3000, 500, 24),
          ramp(ctx, 'kafka-1', HANDLER_IDLE, 'OneMinuteRate', [0.6, 0.3, 0.12, 0.07], 700),
          (async () => {
            await ctx.pace.wait(1500);
            await Promise.all([
              ramp(ctx, 'order-1', PRODUCER('order-producer'), 'request-latency-avg', [12, 40, 110, 240, 380, 400], 700),
              ramp(ctx, 'payment-1', PRODUCER('payment-producer'), 'request-latency-avg', [15, 45, 100, 220, 350, 360], 700),
            ]);
          })(),
        ]);
        await awaitStory(broker1, 30_000, 2000)(ctx);
      },
    },
    {
      title: 'The pauses stop',
      detail: 'GC time back to nothing; handlers idle again; latencies converge',
      async play(ctx) {
        await Promise.all([
          ramp(ctx, 'kafka-1', HANDLER_IDLE, 'OneMinuteRate', [0.5, 0.9], 700),
          ramp(ctx, 'order-1', PRODUCER('order-producer'), 'request-latency-avg', [200, 60, 14, 12], 700),
          ramp(ctx, 'payment-1', PRODUCER('payment-producer'), 'request-latency-avg', [180, 50, 16, 15], 700),
        ]);
      },
    },
  ],
  expect: {
    narratives: 1,
    rootSubject: broker1,
    rootObserver: 'cascading-failure',
    says: [/broker 1 \((?=[^)]*paused [\d.]+ s in GC)/, /GC pauses/],
    never: [/unknown-service/, /flapping/, /Brokers look fine/],
  },
};

const managedKafka: Incident = {
  name: 'managed-kafka',
  title: 'Managed Kafka: broker 2 judged from its clients alone',
  description: 'no broker metrics can be read (as on MSK); three producers see their requests to broker 2, and only broker 2, slow down',
  members: [ORDERS, PAYMENTS, SHIPPING],
  phases: [
    baselinePhase(6000),
    {
      title: 'Requests to broker 2 slow down',
      detail: 'per-broker request latency (producer-node-metrics, node-2) 12 ms -> 400 ms in all three producers; brokers 1 and 3 unchanged',
      trouble: true,
      async play(ctx) {
        const step = 600;
        await Promise.all(
          [ORDERS, PAYMENTS, SHIPPING].flatMap((m) => [
            ramp(ctx, m.id, PRODUCER_NODE(m.producers![0]!, 2), 'request-latency-avg', [13, 30, 80, 200, 330, 400, 410], step),
            ramp(ctx, m.id, PRODUCER(m.producers![0]!), 'request-latency-avg', [12, 20, 40, 80, 130, 150, 150], step),
          ]),
        );
        await awaitStory(`cluster/${CLUSTER}/broker/2`, 30_000, 2000)(ctx);
      },
    },
    {
      title: 'Broker 2 recovers',
      detail: 'its latency comes back down',
      async play(ctx) {
        await Promise.all(
          [ORDERS, PAYMENTS, SHIPPING].flatMap((m) => [
            ramp(ctx, m.id, PRODUCER_NODE(m.producers![0]!, 2), 'request-latency-avg', [200, 60, 15, 13], 600),
            ramp(ctx, m.id, PRODUCER(m.producers![0]!), 'request-latency-avg', [80, 30, 13, 12], 600),
          ]),
        );
      },
    },
  ],
  expect: {
    narratives: 1,
    rootSubject: `cluster/${CLUSTER}/broker/2`,
    rootObserver: 'cascading-failure',
    says: [/broker 2 \(inferred/, /judged from its clients/],
  },
};

const frozenBroker: Incident = {
  name: 'frozen-broker',
  title: 'Broker 1 freezes',
  description: 'broker 1 stops (SIGSTOP): its JMX stops answering at once, its producers overflow within seconds and their sends fail; then it resumes',
  members: [BROKER_1, ORDERS, PAYMENTS],
  phases: [
    baselinePhase(6000),
    {
      title: 'Broker 1 freezes',
      detail: "the broker's process stops: its sensor gets no answer; producers' buffers overflow, then sends fail",
      trouble: true,
      async play(ctx) {
        ctx.jvm('kafka-1').freeze();
        await ctx.pace.wait(500);
        await Promise.all([
          ramp(ctx, 'order-1', PRODUCER('order-producer'), 'buffer-available-bytes', buffer([70, 90, 97, 99]), 300),
          ramp(ctx, 'payment-1', PRODUCER('payment-producer'), 'buffer-available-bytes', buffer([65, 88, 96, 98]), 300),
          ramp(ctx, 'order-1', PRODUCER('order-producer'), 'request-latency-avg', [12, 200, 900, 1500], 400),
          ramp(ctx, 'payment-1', PRODUCER('payment-producer'), 'request-latency-avg', [15, 220, 950, 1500], 400),
        ]);
        await ctx.pace.wait(1000);
        await ctx.jvm('order-1').set(PRODUCER('order-producer'), 'record-error-rate', 4);
        await ctx.jvm('payment-1').set(PRODUCER('payment-producer'), 'record-error-rate', 3);
        await awaitStory(broker1, 30_000, 2000)(ctx);
      },
    },
    {
      title: 'Broker 1 resumes',
      detail: 'the process continues; sends succeed again, buffers drain',
      async play(ctx) {
        ctx.jvm('kafka-1').thaw();
        await Promise.all([
          ramp(ctx, 'order-1', PRODUCER('order-producer'), 'record-error-rate', [0], 0),
          ramp(ctx, 'payment-1', PRODUCER('payment-producer'), 'record-error-rate', [0], 0),
          ramp(ctx, 'order-1', PRODUCER('order-producer'), 'buffer-available-bytes', buffer([80, 50, 40]), 600),
          ramp(ctx, 'payment-1', PRODUCER('payment-producer'), 'buffer-available-bytes', buffer([75, 45, 30]), 600),
          ramp(ctx, 'order-1', PRODUCER('order-producer'), 'request-latency-avg', [300, 40, 12], 600),
          ramp(ctx, 'payment-1', PRODUCER('payment-producer'), 'request-latency-avg', [300, 40, 15], 600),
        ]);
      },
    },
  ],
  expect: {
    narratives: 1,
    rootSubject: broker1,
    rootObserver: 'cascading-failure',
    says: [/broker 1 \((?=[^)]*stopped answering its JMX sensor)/, /not answering/],
    never: [/no broker trouble|Brokers look fine|raise buffer\.memory \(the default/],
  },
};

export const INCIDENTS: readonly Incident[] = [cascade, producerExhaustion, rebalanceStorm, idle, slowConsumer, brokerGc, managedKafka, frozenBroker];

export function incident(name: string): Incident | undefined {
  return INCIDENTS.find((i) => i.name === name);
}
