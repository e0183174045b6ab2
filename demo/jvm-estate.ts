// The demo with real JVMs: four scripted Kafka JVMs (FakeKafkaJvm) — broker 1 of cluster prod,
// two producer services and a consumer service — each watched over JMX by its own `kafka-obs
// agent` (a sidecar, as in production), polling every 500 ms (250 ms with --fast). The script
// moves the values of their Kafka MBeans; everything the aggregator hears, it hears through JMX.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Status_Condition, type Signal } from '../proto/index.js';
import type { AgentHandle, Processes, ScriptedJvm } from './processes.js';
import { CLUSTER, brokerNarrative, type Phase, type PhaseContext } from './script.js';
import type { DemoView } from './view.js';

const PRODUCER = (id: string): string => `kafka.producer:type=producer-metrics,client-id=${id}`;
const FETCH = (id: string): string => `kafka.consumer:type=consumer-fetch-manager-metrics,client-id=${id}`;
const COORDINATOR = (id: string): string => `kafka.consumer:type=consumer-coordinator-metrics,client-id=${id}`;
const URP = 'kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions';
const PRODUCE_TIME = 'kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Produce';
const HANDLER_IDLE = 'kafka.server:type=KafkaRequestHandlerPool,name=RequestHandlerAvgIdlePercent';
const BUFFER_TOTAL = 33_554_432;

interface Member {
  /** Agent id = pod name. */
  id: string;
  service: string;
  role: 'broker' | 'producer' | 'consumer';
  clientId?: string;
}

const BROKER: Member = { id: 'kafka-1', service: 'kafka', role: 'broker' };
const ORDERS: Member = { id: 'order-1', service: 'order-service', role: 'producer', clientId: 'order-producer' };
const PAYMENTS: Member = { id: 'payment-1', service: 'payment-service', role: 'producer', clientId: 'payment-producer' };
const BILLING: Member = { id: 'billing-1', service: 'billing-service', role: 'consumer', clientId: 'billing-consumer' };
const MEMBERS = [BROKER, ORDERS, PAYMENTS, BILLING];

const podSubject = (m: Member): string => `service/${m.service}/pod/${m.id}`;
/** The JMX target is named "jmx" in each agent's config: its own status is .../agent/jmx. */
const sensorSubject = (m: Member): string => `${podSubject(m)}/agent/jmx`;
const clientSubject = (m: Member, metric: string): string => `${podSubject(m)}/${m.role}/${m.clientId}/${metric}`;

export interface JvmEstate {
  jvms: Map<string, ScriptedJvm>;
  agents: AgentHandle[];
  phases: Phase[];
  /** What the banner says about who is who. */
  description: string[];
}

export interface JvmTiming {
  pollIntervalMs: number;
  trendWindowMs: number;
}

export const JVM_TIMING = { normal: { pollIntervalMs: 500, trendWindowMs: 4000 }, fast: { pollIntervalMs: 250, trendWindowMs: 2000 } } as const;

/** Rule overrides for a demo's pace: trends over seconds instead of a minute (as a user would shorten them). */
function rulesYaml(t: JvmTiming): string {
  return [
    '# kafka-obs demo: the default rules with trends judged over seconds, not a minute.',
    'defaults:',
    '  heartbeatMs: 10000',
    '  confidence: { measuredAfter: 2, confirmedAfter: 4, confirmedAfterMs: 2000 }',
    'rules:',
    `  - { name: producer-request-latency, windowMs: ${t.trendWindowMs} }`,
    `  - { name: consumer-lag-trend, windowMs: ${t.trendWindowMs} }`,
    `  - { name: broker-request-latency, windowMs: ${t.trendWindowMs} }`,
    '',
  ].join('\n');
}

function agentConfig(m: Member, port: number, rulesFile: string, t: JvmTiming): string {
  const collect = m.role === 'broker' ? '[broker]' : m.role === 'producer' ? '[producer, jvm]' : '[consumer, jvm]';
  return [
    `serviceName: ${m.service}`,
    `cluster: ${CLUSTER}`,
    `pollIntervalMs: ${t.pollIntervalMs}`,
    `rules: ${JSON.stringify(rulesFile)}`,
    'jmx:',
    `  - { name: jmx, url: "127.0.0.1:${port}", collect: ${collect} }`,
    '',
  ].join('\n');
}

async function baseline(m: Member, jvm: ScriptedJvm): Promise<void> {
  if (m.role === 'broker') {
    // --profile broker registered broker 1's beans with healthy values.
    return;
  }
  const id = m.clientId!;
  const sets: [string, string, number][] =
    m.role === 'producer'
      ? [
          [PRODUCER(id), 'buffer-total-bytes', BUFFER_TOTAL],
          [PRODUCER(id), 'buffer-available-bytes', available(m === ORDERS ? 40 : 30)],
          [PRODUCER(id), 'buffer-exhausted-total', 0],
          [PRODUCER(id), 'request-latency-avg', m === ORDERS ? 12 : 15],
          [PRODUCER(id), 'record-error-rate', 0],
          [PRODUCER(id), 'record-send-rate', m === ORDERS ? 850 : 320],
          [PRODUCER(id), 'batch-size-avg', 12_000],
        ]
      : [
          [FETCH(id), 'records-lag-max', 40],
          [FETCH(id), 'fetch-latency-avg', 110],
          [FETCH(id), 'records-consumed-rate', 850],
          [FETCH(id), 'bytes-consumed-rate', 850_000],
          [COORDINATOR(id), 'assigned-partitions', 6],
          [COORDINATOR(id), 'commit-latency-avg', 8],
          [COORDINATOR(id), 'rebalance-total', 1],
          [COORDINATOR(id), 'rebalance-latency-avg', 300],
        ];
  for (const [bean, attr, value] of sets) await jvm.set(bean, attr, value);
}

const available = (usedPercent: number): number => Math.round(BUFFER_TOTAL * (1 - usedPercent / 100));

/**
 * Topic orders as the cluster's metadata describes it (what an agent with the Kafka Admin API
 * reports): six partitions, three replicas each, led in turn by brokers 1, 2 and 3. No broker
 * runs here, so this part is scripted and handed to the broker sidecar's intake, as any program
 * beside an agent may do (POST /v1/signals).
 */
const PARTITIONS = [0, 1, 2, 3, 4, 5].map((n) => ({ n, replicas: [1, 2, 3].map((_, i) => ((n + i) % 3) + 1) }));
/** Where broker 1 is a follower that falls out of the ISR when it is in trouble. */
const LAGGING_ON = new Set([1, 2, 4]);

function metadata(brokerOneInSync: boolean): object[] {
  return PARTITIONS.map(({ n, replicas }) => {
    const out = !brokerOneInSync && LAGGING_ON.has(n);
    const isr = out ? replicas.filter((r) => r !== 1) : replicas;
    return {
      subject: `cluster/${CLUSTER}/topic/orders/partition/${n}`,
      status: { condition: out ? 'DEGRADED' : 'STABLE', confidence: 'MEASURED' },
      context: { topic: 'orders', partition: String(n), replicas: replicas.join(','), isr: isr.join(','), leader: String(replicas[0]) },
    };
  });
}

async function postMetadata(agent: AgentHandle, brokerOneInSync: boolean): Promise<void> {
  const r = await fetch(`http://127.0.0.1:${agent.httpPort}/v1/signals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(metadata(brokerOneInSync)) });
  const reply = (await r.json()) as { accepted?: number; rejections?: { reason: string }[] };
  if (!r.ok || reply.rejections?.length) throw new Error(`agent ${agent.id} refused the metadata signals: HTTP ${r.status} ${JSON.stringify(reply.rejections ?? reply)}`);
}

/** Starts the JVMs and their agents, healthy; resolves once every agent reads its JVM. */
export async function startJvmEstate(processes: Processes, aggregatorUrl: string, dir: string, timing: JvmTiming, view: DemoView, note: (s: string) => void): Promise<JvmEstate> {
  const rulesFile = join(dir, 'demo-rules.yaml');
  writeFileSync(rulesFile, rulesYaml(timing));
  note(`starting ${MEMBERS.length} JVMs with Kafka MBeans (FakeKafkaJvm over the JDK's RMI connector)...`);
  const jvms = new Map<string, ScriptedJvm>();
  await Promise.all(
    MEMBERS.map(async (m) => {
      const jvm = await processes.jvm(`jvm ${m.id}`, m.role === 'broker' ? 'broker' : 'none');
      await baseline(m, jvm);
      jvms.set(m.id, jvm);
    }),
  );
  note(`starting ${MEMBERS.length} agents, each watching its JVM over JMX every ${timing.pollIntervalMs} ms...`);
  const agents = await Promise.all(
    MEMBERS.map((m) => {
      const config = join(dir, `agent-${m.id}.yaml`);
      writeFileSync(config, agentConfig(m, jvms.get(m.id)!.port, rulesFile, timing));
      return processes.agent(m.id, aggregatorUrl, ['--config', config]);
    }),
  );
  const reading = (): boolean => MEMBERS.every((m) => view.latest.get(sensorSubject(m))?.status?.condition === Status_Condition.STABLE);
  if (!(await view.until(reading, 60_000))) {
    const missing = MEMBERS.filter((m) => view.latest.get(sensorSubject(m))?.status?.condition !== Status_Condition.STABLE).map((m) => m.id);
    throw new Error(`the agents of ${missing.join(', ')} did not report reading their JVM within 60 s`);
  }
  const brokerAgent = agents[MEMBERS.indexOf(BROKER)]!;
  await postMetadata(brokerAgent, true);
  return {
    jvms,
    agents,
    phases: phases(jvms, brokerAgent),
    description: [
      `broker      kafka-1    agent kafka-1 reads broker 1's MBeans (kafka.server, kafka.network, kafka.controller)`,
      `producers   order-1    order-service, producer order-producer`,
      `            payment-1  payment-service, producer payment-producer`,
      `consumer    billing-1  billing-service, consumer billing-consumer (group billing)`,
      `metadata    topic orders: 6 partitions, their replicas and ISR, as the Kafka Admin API would report`,
      `                       them (scripted, posted to agent kafka-1's intake: no Kafka broker runs here)`,
    ],
  };
}

/** Sets one attribute through a list of values, one every `stepMs` (script time). */
async function ramp(ctx: PhaseContext, jvm: ScriptedJvm, bean: string, attribute: string, values: number[], stepMs: number): Promise<void> {
  for (let i = 0; i < values.length; i++) {
    ctx.pace.check();
    await jvm.set(bean, attribute, values[i]!);
    if (i < values.length - 1) await ctx.pace.wait(stepMs);
  }
}

const buffer = (percents: number[]): number[] => percents.map(available);

/** Whether the latest signal of `subject` is `sign` ("status DIVERGING", "queue OVERFLOW"). */
function says(view: DemoView, subject: string, test: (s: Signal) => boolean): boolean {
  const s = view.latest.get(subject);
  return s !== undefined && test(s);
}

function phases(jvms: Map<string, ScriptedJvm>, brokerAgent: AgentHandle): Phase[] {
  const broker = jvms.get(BROKER.id)!;
  const orders = jvms.get(ORDERS.id)!;
  const payments = jvms.get(PAYMENTS.id)!;
  const billing = jvms.get(BILLING.id)!;
  const o = ORDERS.clientId!;
  const p = PAYMENTS.clientId!;
  const b = BILLING.clientId!;
  return [
    {
      title: 'Healthy baseline',
      detail: 'broker 1, two producer services and a consumer service report through their agents; everything is STABLE',
      async play(ctx) {
        await ctx.pace.wait(10_000);
        ctx.view.note(`${ctx.view.healthyStarts} subjects reported healthy so far (not listed one by one)`);
        await ctx.view.tree('The tree, healthy:');
      },
    },
    {
      title: 'Broker 1 loses replicas',
      detail: 'UnderReplicatedPartitions 0 -> 3, produce requests slow down, broker 1 drops out of the ISR of 3 partitions of orders',
      async play(ctx) {
        await broker.set(URP, 'Value', 3);
        await postMetadata(brokerAgent, false);
        await Promise.all([
          ramp(ctx, broker, PRODUCE_TIME, '99thPercentile', [20, 90, 240, 380], 600),
          ramp(ctx, broker, HANDLER_IDLE, 'OneMinuteRate', [0.9, 0.6, 0.4], 800),
        ]);
        await ctx.view.until(() => says(ctx.view, `cluster/${CLUSTER}/broker/1/under-replicated`, (s) => s.status?.condition === Status_Condition.DEGRADED), 15_000, ctx.pace.abort);
        await ctx.pace.wait(5000);
      },
    },
    {
      title: 'Producers slow down, their buffers fill',
      detail: 'order-service and payment-service wait longer for acks from broker 1: request latency climbs, record accumulators fill up',
      async play(ctx) {
        const step = 700;
        await Promise.all([
          ramp(ctx, orders, PRODUCER(o), 'request-latency-avg', [12, 25, 60, 140, 260, 420, 430], step),
          ramp(ctx, payments, PRODUCER(p), 'request-latency-avg', [15, 28, 55, 120, 230, 380, 390], step),
          ramp(ctx, orders, PRODUCER(o), 'buffer-available-bytes', buffer([40, 52, 66, 83, 91, 97, 98]), step),
          ramp(ctx, payments, PRODUCER(p), 'buffer-available-bytes', buffer([30, 38, 52, 70, 82, 86, 86]), step),
          (async () => {
            await ctx.pace.wait(step * 5);
            await orders.set(PRODUCER(o), 'buffer-exhausted-total', 4);
            await orders.set(PRODUCER(o), 'record-send-rate', 610);
          })(),
        ]);
        await ctx.view.until(
          () => says(ctx.view, clientSubject(ORDERS, 'buffer'), (s) => s.queue !== undefined) && says(ctx.view, clientSubject(ORDERS, 'request-latency'), (s) => s.status?.condition === Status_Condition.DIVERGING),
          15_000,
          ctx.pace.abort,
        );
        await ctx.pace.wait(4000);
      },
    },
    {
      title: 'Consumers fall behind',
      detail: 'fewer records reach topic orders in time; billing-service consumes slower than ever and its lag grows',
      async play(ctx) {
        const step = 800;
        await Promise.all([
          ramp(ctx, billing, FETCH(b), 'records-lag-max', [40, 600, 2500, 7000, 14_000, 26_000, 41_000], step),
          ramp(ctx, billing, FETCH(b), 'fetch-latency-avg', [110, 350, 700, 1300], step * 2),
          ramp(ctx, billing, FETCH(b), 'records-consumed-rate', [850, 600, 420], step * 2),
        ]);
        ctx.view.note('waiting for the aggregator to tell the story...');
        const opened = await ctx.view.until(() => brokerNarrative(ctx.view) !== undefined, 45_000, ctx.pace.abort);
        if (!opened) ctx.view.note('no narrative naming broker 1 yet');
        await ctx.pace.wait(6000);
        await ctx.view.tree('The tree, in the middle of the incident:');
      },
    },
    {
      title: 'Broker 1 recovers',
      detail: 'replicas back in sync; latencies converge, buffers drain, billing catches up',
      async play(ctx) {
        await broker.set(URP, 'Value', 0);
        await postMetadata(brokerAgent, true);
        const step = 700;
        await Promise.all([
          ramp(ctx, broker, PRODUCE_TIME, '99thPercentile', [120, 40, 20], step),
          ramp(ctx, broker, HANDLER_IDLE, 'OneMinuteRate', [0.7, 0.9], step),
          ramp(ctx, orders, PRODUCER(o), 'request-latency-avg', [300, 160, 70, 30, 14, 12], step),
          ramp(ctx, payments, PRODUCER(p), 'request-latency-avg', [280, 150, 60, 25, 16, 15], step),
          ramp(ctx, orders, PRODUCER(o), 'buffer-available-bytes', buffer([92, 80, 64, 48, 40]), step),
          ramp(ctx, payments, PRODUCER(p), 'buffer-available-bytes', buffer([78, 60, 40, 30]), step),
          ramp(ctx, orders, PRODUCER(o), 'record-send-rate', [700, 850], step * 2),
          ramp(ctx, billing, FETCH(b), 'records-lag-max', [38_000, 30_000, 18_000, 9000, 3000, 600, 40], step),
          ramp(ctx, billing, FETCH(b), 'fetch-latency-avg', [600, 110], step * 2),
          ramp(ctx, billing, FETCH(b), 'records-consumed-rate', [1400, 1400, 850], step * 2),
        ]);
      },
    },
  ];
}
