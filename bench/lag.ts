// Consumer-lag evaluator benchmark (phase `lag` of `npm run bench`, or `node dist/bench/lag.js`):
// 20 000 groups x 10 partitions (200 000 group-partitions) with synthetic offset histories, no
// broker. One round is what the Admin-API sensor does each poll: a committed-offset reading for
// every group-partition, then a log-end reading for every topic-partition, then evaluate() for
// every group. Reports the time per round (p50 / max) and memory (heap, RSS, peak RSS) of a child
// process that does nothing else.
//
// The estate: topics of 10 partitions, each read by BENCH_LAG_GROUPS_PER_TOPIC groups (2, so
// 100 000 topic-partitions; 1 gives 200 000). A tenth of the topics are idle. Of the groups on
// busy topics: 70 % keep up (commit at every poll), 10 % are slow (a quarter of the write rate,
// commit every third poll), 10 % die after the warm-up, 10 % commit every 6th poll; half of the
// groups have membership (DescribeGroups answered), the dead ones turning Empty.
//
// Tunables: BENCH_LAG_GROUPS (20000), BENCH_LAG_PARTITIONS (10), BENCH_LAG_GROUPS_PER_TOPIC (2),
// BENCH_LAG_WARMUP (12 rounds), BENCH_LAG_ROUNDS (8 rounds).
import { LagEvaluator, type GroupMembers } from '../agent/kafka/lag/index.js';
import { fmt, fmtInt, percentile, serveIpc, envNumber } from './common.js';
import { Worker } from './procs.js';

export const LAG_TARGET = { roundMs: 2000, memoryMb: 300 };

export interface LagBenchArgs {
  groups: number;
  partitions: number;
  groupsPerTopic: number;
  warmup: number;
  rounds: number;
}

export interface LagBenchResult {
  args: LagBenchArgs;
  groupPartitions: number;
  topicPartitions: number;
  roundMs: { p50: number; max: number; mean: number };
  /** Median time of each step of a round. */
  stepMs: { committed: number; logEnd: number; evaluate: number };
  heapUsedMb: number;
  rssMb: number;
  peakRssMb: number;
  typedArraysMb: number;
  /** Group statuses after the last round. */
  statuses: Record<string, number>;
}

const env = (key: string, dflt: number): number => envNumber(key, dflt, true);

export function lagBenchArgs(): LagBenchArgs {
  return {
    groups: env('BENCH_LAG_GROUPS', 20_000),
    partitions: env('BENCH_LAG_PARTITIONS', 10),
    groupsPerTopic: env('BENCH_LAG_GROUPS_PER_TOPIC', 2),
    warmup: env('BENCH_LAG_WARMUP', 12),
    rounds: env('BENCH_LAG_ROUNDS', 8),
  };
}

type Kind = 'healthy' | 'slow' | 'dead' | 'sparse' | 'idle';

/** Runs the rounds in this process and measures them. */
export async function runLagRounds(args: LagBenchArgs): Promise<LagBenchResult> {
  const { groups, partitions, groupsPerTopic } = args;
  const topics = Math.ceil(groups / groupsPerTopic);
  const ev = new LagEvaluator({ maxGroups: groups, maxPartitions: groups * partitions, maxTopicPartitions: topics * partitions });
  const groupNames = Array.from({ length: groups }, (_, g) => `consumer-group-${g}`);
  const topicNames = Array.from({ length: topics }, (_, t) => `topic-${t}`);
  const topicOf = (g: number): number => Math.floor(g / groupsPerTopic);
  const idleTopic = (t: number): boolean => t % 10 === 9;
  const kindOf = (g: number): Kind => {
    if (idleTopic(topicOf(g))) return 'idle';
    const k = (g * 7919) % 10;
    return k < 7 ? 'healthy' : k === 7 ? 'slow' : k === 8 ? 'dead' : 'sparse';
  };
  const kinds = groupNames.map((_, g) => kindOf(g));
  const rateOf = (tp: number): number => 50 + (tp % 7) * 25; // records/s per partition
  const intervalMs = 10_000;
  const start = 1_700_000_000_000;
  const deadAt = args.warmup; // dead groups stop committing once the windows are full
  const stable: GroupMembers = { state: 'Stable', members: 3 };
  const empty: GroupMembers = { state: 'Empty', members: 0 };
  const lastCommitted = new Float64Array(groups * partitions);

  const times: number[] = [];
  const steps = { committed: [] as number[], logEnd: [] as number[], evaluate: [] as number[] };
  const statuses: Record<string, number> = {};
  const total = args.warmup + args.rounds;
  for (let r = 0; r < total; r++) {
    const now = start + r * intervalMs;
    const sec = (r * intervalMs) / 1000;
    const logEndAt = (tp: number): number => (idleTopic(Math.floor(tp / partitions)) ? 1_000_000 : 1_000_000 + Math.floor(rateOf(tp) * sec));
    const t0 = performance.now();
    // 1. committed offsets, every group-partition
    for (let g = 0; g < groups; g++) {
      const kind = kinds[g]!;
      const name = groupNames[g]!;
      const topic = topicNames[topicOf(g)]!;
      const tpBase = topicOf(g) * partitions;
      for (let p = 0; p < partitions; p++) {
        const i = g * partitions + p;
        const end = logEndAt(tpBase + p);
        let c = lastCommitted[i]!;
        if (kind === 'idle') c = end;
        else if (kind === 'healthy') c = end - (((g * 31 + p * 17 + r) * 2654435761) % 13); // jitter, not a ramp
        else if (kind === 'slow') {
          if (r % 3 === 0) c = 1_000_000 + Math.floor(rateOf(tpBase + p) * sec * 0.25);
        } else if (kind === 'dead') {
          if (r < deadAt) c = end - ((g + p) % 5);
        } else if (r % 6 === 0) c = end - 20;
        lastCommitted[i] = c;
        ev.committed(name, topic, p, c === 0 ? undefined : c, now);
      }
      if (g % 2 === 0) ev.members(name, kind === 'dead' && r >= deadAt ? empty : stable);
    }
    const t1 = performance.now();
    // 2. log ends, every topic-partition
    for (let t = 0; t < topics; t++) {
      const topic = topicNames[t]!;
      for (let p = 0; p < partitions; p++) ev.logEnd(topic, p, logEndAt(t * partitions + p), now + 5);
    }
    const t2 = performance.now();
    // 3. evaluate every group
    const last = r === total - 1;
    for (let g = 0; g < groups; g++) {
      const v = ev.evaluate(groupNames[g]!, now + 10);
      if (last) statuses[`${kinds[g]} ${v.status}`] = (statuses[`${kinds[g]} ${v.status}`] ?? 0) + 1;
    }
    const t3 = performance.now();
    if (r >= args.warmup) {
      times.push(t3 - t0);
      steps.committed.push(t1 - t0);
      steps.logEnd.push(t2 - t1);
      steps.evaluate.push(t3 - t2);
    }
    await new Promise((res) => setImmediate(res));
  }
  const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
  const st = ev.stats();
  const mem = process.memoryUsage();
  return {
    args,
    groupPartitions: st.partitions,
    topicPartitions: st.topicPartitions,
    roundMs: { p50: percentile(sorted(times), 50), max: Math.max(...times), mean: times.reduce((a, b) => a + b, 0) / times.length },
    stepMs: { committed: percentile(sorted(steps.committed), 50), logEnd: percentile(sorted(steps.logEnd), 50), evaluate: percentile(sorted(steps.evaluate), 50) },
    heapUsedMb: mem.heapUsed / 2 ** 20,
    rssMb: mem.rss / 2 ** 20,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    typedArraysMb: st.bytes / 2 ** 20,
    statuses,
  };
}

export interface LagBenchRow {
  what: string;
  value: string;
  target: string;
  verdict: string;
}

function print(out: (s?: string) => void, x: LagBenchResult): LagBenchRow[] {
  const a = x.args;
  out(`    estate                 ${fmtInt(a.groups)} groups x ${a.partitions} partitions = ${fmtInt(x.groupPartitions)} group-partitions; ${fmtInt(x.topicPartitions)} topic-partitions (${a.groupsPerTopic} groups per topic)`);
  out(`    round                  p50 ${fmt(x.roundMs.p50, 0)} ms, mean ${fmt(x.roundMs.mean, 0)} ms, max ${fmt(x.roundMs.max, 0)} ms over ${a.rounds} rounds after ${a.warmup} warm-up rounds`);
  out(`      of which (p50)       committed() ${fmt(x.stepMs.committed, 0)} ms, logEnd() ${fmt(x.stepMs.logEnd, 0)} ms, evaluate() ${fmt(x.stepMs.evaluate, 0)} ms`);
  out(`    memory (child)         rss ${fmt(x.rssMb, 0)} MB (peak ${fmt(x.peakRssMb, 0)} MB), heap used ${fmt(x.heapUsedMb, 0)} MB, windows and histories ${fmt(x.typedArraysMb, 0)} MB`);
  out(`    group statuses (last)  ${Object.entries(x.statuses).sort().map(([k, n]) => `${k}: ${fmtInt(n)}`).join(', ')}`);
  const v = (ok: boolean): string => (ok ? 'meets' : 'MISSES');
  const label = `${fmtInt(a.groups)} x ${a.partitions}`;
  return [
    { what: `lag: round p50 / max (${label})`, value: `${fmt(x.roundMs.p50, 0)} / ${fmt(x.roundMs.max, 0)} ms`, target: `≤ ${fmtInt(LAG_TARGET.roundMs)} ms`, verdict: v(x.roundMs.max <= LAG_TARGET.roundMs) },
    { what: 'lag: peak rss / heap used', value: `${fmt(x.peakRssMb, 0)} / ${fmt(x.heapUsedMb, 0)} MB`, target: `≤ ${LAG_TARGET.memoryMb} MB`, verdict: v(x.peakRssMb <= LAG_TARGET.memoryMb) },
  ];
}

/** Runs the rounds in a child process (memory figures of its own), prints, returns summary rows. */
export async function lagBench(out: (s?: string) => void): Promise<LagBenchRow[]> {
  const w = new Worker('lag', 'lag.js', ['worker']);
  try {
    await w.ready;
    const x = await w.call<LagBenchResult>('run', lagBenchArgs(), 170_000);
    return print(out, x);
  } finally {
    await w.stop();
  }
}

if (process.argv[2] === 'worker') serveIpc({ run: (args: LagBenchArgs) => runLagRounds(args) });
else if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const out = (s = ''): void => void process.stdout.write(`${s}\n`);
  out('[7] lag: consumer-lag evaluation of 20 000 groups x 10 partitions (in this process)');
  runLagRounds(lagBenchArgs()).then(
    (x) => {
      for (const r of print(out, x)) out(`    ${r.what.padEnd(38)}${r.value.padEnd(20)}${r.target.padEnd(14)}${r.verdict}`);
      process.exit(0);
    },
    (e: Error) => {
      out(`lag bench failed: ${e.stack ?? e.message}`);
      process.exit(1);
    },
  );
}
