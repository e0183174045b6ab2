// What reading record timestamps costs the Kafka source (`node dist/bench/record-times.js`, or the
// record-times phase of `npm run bench`): the agent's real kafkajs adapter (KafkaJsAdminClient.
// recordTimes: one Fetch per leader broker, 16 KiB per partition, answered at once) against
// librdkafka's mock cluster (3 brokers, 600 partitions with 50 records each, written by kafkajs).
// Each round reads the records at N committed offsets on N distinct partitions — the per-round
// budget (200 by default) and more — as a round of the sensor does when N lagging partitions moved
// since the last round. Needs the mock launcher (`node scripts/ensure-test-deps.mjs`).
//
// Tunables: BENCH_RT_PARTITIONS (600), BENCH_RT_ROUNDS (15).
import { pino } from 'pino';
import kafkajs from 'kafkajs';
import { KafkaJsAdminClient } from '../agent/kafka/kafkajs-client.js';
import { kafkaSettings } from '../agent/kafka/settings.js';
import { startMockKafka } from '../test/support/kafka-mock.js';
import { fmt, percentile, envNumber } from './common.js';

const envInt = (key: string, dflt: number): number => envNumber(key, dflt, true);

export interface RecordTimesRow {
  reads: number;
  p50Ms: number;
  maxMs: number;
  cpuMsPerRound: number;
  exact: number;
}

export async function recordTimesBench(out: (line: string) => void): Promise<RecordTimesRow[]> {
  const partitions = envInt('BENCH_RT_PARTITIONS', 600);
  const rounds = envInt('BENCH_RT_ROUNDS', 15);
  const mock = await startMockKafka({ brokers: 3, topics: [{ name: 'bench', partitions }] });
  const kafka = new kafkajs.Kafka({ clientId: 'bench', brokers: mock.bootstrap.split(','), logLevel: kafkajs.logLevel.NOTHING });
  const producer = kafka.producer();
  const client = new KafkaJsAdminClient(kafkaSettings(undefined, { KAFKA_BOOTSTRAP_SERVERS: mock.bootstrap }, 1000)!, pino({ level: 'silent' }));
  const rows: RecordTimesRow[] = [];
  try {
    await producer.connect();
    const now = Date.now();
    for (let p = 0; p < partitions; p += 50) {
      await producer.send({ topic: 'bench', messages: Array.from({ length: 50 * Math.min(50, partitions - p) }, (_, i) => ({ partition: p + Math.floor(i / 50), value: `record-${i % 50}-${'x'.repeat(80)}`, timestamp: String(now - 60_000 + (i % 50) * 100) })) });
    }
    await client.recordTimes([{ topic: 'bench', partition: 0, offset: 0 }]); // connections, metadata
    for (const n of [1, 50, 200, Math.min(600, partitions)]) {
      const times: number[] = [];
      let cpu = 0;
      let exact = 0;
      for (let r = 0; r < rounds; r++) {
        const reads = Array.from({ length: n }, (_, i) => ({ topic: 'bench', partition: (i * 7 + r) % partitions, offset: (i + r) % 50 }));
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const got = await client.recordTimes(reads);
        times.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpu += (c.user + c.system) / 1000;
        exact += got.filter((g) => g.outcome.kind === 'ok' && g.outcome.exact).length;
      }
      const sorted = [...times].sort((a, b) => a - b);
      const row = { reads: n, p50Ms: percentile(sorted, 50), maxMs: Math.max(...times), cpuMsPerRound: cpu / rounds, exact: exact / (n * rounds) };
      rows.push(row);
      out(`    ${String(n).padStart(4)} reads a round: ${fmt(row.p50Ms, 1)} ms p50, ${fmt(row.maxMs, 1)} ms max, ${fmt(row.cpuMsPerRound, 1)} ms CPU in the agent; ${fmt(100 * row.exact, 0)} % exact`);
    }
  } finally {
    await client.disconnect();
    await producer.disconnect().catch(() => undefined);
    await mock.stop();
  }
  return rows;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  await recordTimesBench((l) => console.log(l));
}
