// What kafka-obs knows about Kafka, as Prometheus series: consumer lag (messages, seconds, the
// Burrow-style status) per group, group-topic and (opt-in) group-partition; partition health per
// topic and (opt-in) per partition; brokers; and the condition and confidence of the estate's
// entity cells. kafka_exporter's names and labels where a series means what its does (Strimzi's
// alert rules and the common dashboards work unchanged), Kafka Lag Exporter's for its lag-in-
// seconds family, kafkaobs_* for the rest. aggregator/README.md lists every series.
//
// Fed at the pipeline's edge: the aggregator hands each accepted signal (live, and those recovery
// feeds back from the journal) to accept() and the hierarchy's cell changes to acceptCells(),
// which keep the latest state per entity already written as exposition lines, each family's lines
// of a level in one buffer (a Column). A scrape copies those buffers whole into one output buffer
// reused from scrape to scrape (render()): no Kafka call, no prom-client object per series, no
// formatting at scrape time, a few copies per family however many entities.
//
// Cardinality: include/exclude regular expressions for groups and topics, per-partition series
// off unless asked for, entity-cell kinds chosen, and one cap on the series rendered. The cap
// leaves out whole entities, the least important level first (group-partitions, then cells,
// partitions...), and says how many series it left out (kafkaobs_exporter_series_left_out{,_total}).
import { SEVERITY, Status_Condition, type CellChange, type EntityKind, type Signal, type SubjectInfo } from '../proto/index.js';

/** The levels the series budget is spent on, in this order: what comes later is left out first. */
export const EXPOSITION_LEVELS = ['broker', 'group', 'group-topic', 'topic', 'partition', 'cell', 'group-partition'] as const;
export type ExpositionLevel = (typeof EXPOSITION_LEVELS)[number];

export interface ExpositionSettings {
  /** Per-partition series: group-partition lag (kafka_consumergroup_lag{partition}...) and topic-partition health (kafka_topic_partition_*). */
  partitions: boolean;
  /** Most Kafka and cell series rendered per scrape (whole entities beyond it are left out, counted). */
  maxSeries: number;
  /** Only groups / topics whose name matches (unanchored, JavaScript syntax); undefined = all. */
  includeGroups?: RegExp;
  excludeGroups?: RegExp;
  includeTopics?: RegExp;
  excludeTopics?: RegExp;
  /** Entity kinds whose cells get kafkaobs_cell_condition / _confidence series. */
  cellKinds: readonly EntityKind[];
  /** An entity not heard from for this long is dropped (pipeline time; 0 = never). */
  expireAfterNs: bigint;
}

export const EXPOSITION_DEFAULTS: ExpositionSettings = {
  partitions: false,
  maxSeries: 500_000,
  cellKinds: ['cluster', 'broker', 'topic', 'group', 'service', 'pod'],
  expireAfterNs: 300_000_000_000n,
};

/** Entity kinds a user may ask cell series for. */
export const CELL_KINDS: readonly EntityKind[] = ['cluster', 'broker', 'topic', 'partition', 'group', 'group-topic', 'group-partition', 'service', 'pod', 'client', 'jvm', 'agent'];

export interface Family {
  readonly name: string;
  readonly help: string;
  readonly type?: 'gauge' | 'counter';
}

/** A number family read from one context key. `kle`: Kafka Lag Exporter's labels (cluster_name, group). */
interface FromContext extends Family {
  readonly key: string;
  readonly kle?: boolean;
}

// Group level: cluster/<c>/group/<g>#lag. The first three are labelled specially.
const GROUP_STATUS: Family = { name: 'kafkaobs_consumergroup_status', help: 'Always 1, labelled with the group\'s lag status as the Kafka source judged it (Burrow\'s rules: OK, WARN, ERR; ABANDONED: no consumer and nothing new). Its partitions\' statuses (STOP, STALL, REWIND...) are in kafkaobs_consumergroup_partitions.' };
const GROUP_PARTITIONS: Family = { name: 'kafkaobs_consumergroup_partitions', help: 'Partitions of the group by their lag status (OK, WARN, STOP, STALL, REWIND, ABANDONED).' };
const GROUP_LAG_FROM: Family = { name: 'kafkaobs_consumergroup_lag_seconds_from', help: 'Always 1, labelled with how the lag in seconds was found: record-timestamp (the timestamp of the next record to consume) or interpolated (the log-end offset history).' };
const GROUP_NUMBERS: readonly FromContext[] = [
  { key: 'members', name: 'kafka_consumergroup_members', help: 'Members of the consumer group (where the cluster answers DescribeGroups; kafka_exporter\'s name).' },
  { key: 'total-lag', name: 'kafka_consumergroup_group_sum_lag', help: 'Sum of the group\'s lag over its partitions, in messages (Kafka Lag Exporter\'s name and labels).', kle: true },
  { key: 'max-lag', name: 'kafka_consumergroup_group_max_lag', help: 'Largest lag of one of the group\'s partitions, in messages (Kafka Lag Exporter\'s name and labels).', kle: true },
  { key: 'lag-seconds', name: 'kafka_consumergroup_group_max_lag_seconds', help: 'Largest lag of one of the group\'s partitions in seconds: how old the next record to consume is (Kafka Lag Exporter\'s name and labels).', kle: true },
  { key: 'consume-rate', name: 'kafkaobs_consumergroup_consume_rate', help: 'Records the group consumes per second, over its partitions (from its committed offsets).' },
  { key: 'produce-rate', name: 'kafkaobs_consumergroup_produce_rate', help: 'Records written per second to the group\'s partitions (from their log-end offsets).' },
  { key: 'catch-up-seconds', name: 'kafkaobs_consumergroup_catch_up_seconds', help: 'At the current rates, seconds until the group\'s lag is consumed (absent when it is not shrinking).' },
  { key: 'retention-headroom', name: 'kafkaobs_consumergroup_retention_headroom', help: 'Records between the committed offsets and the log start: how far unconsumed data is from deletion (the smallest over the partitions).' },
  { key: 'retention-seconds-left', name: 'kafkaobs_consumergroup_retention_seconds_left', help: 'At the rate the log start advances, seconds until unconsumed records are deleted (absent when not at risk).' },
];
const GROUP_FAMILIES: readonly Family[] = [GROUP_STATUS, GROUP_PARTITIONS, GROUP_LAG_FROM, ...GROUP_NUMBERS];
// Group-topic level: cluster/<c>/group/<g>/topic/<t>#lag.
const GT_FAMILIES: readonly FromContext[] = [
  { key: 'total-lag', name: 'kafka_consumergroup_lag_sum', help: 'Current approximate lag of a consumer group at a topic, summed over its partitions, in messages (kafka_exporter\'s name and labels).' },
  { key: 'lag-seconds', name: 'kafkaobs_consumergroup_topic_lag_seconds', help: 'Largest lag in seconds of the group\'s partitions of the topic.' },
  { key: 'catch-up-seconds', name: 'kafkaobs_consumergroup_topic_catch_up_seconds', help: 'At the current rates, seconds until the group\'s lag on the topic is consumed.' },
  { key: 'retention-seconds-left', name: 'kafkaobs_consumergroup_topic_retention_seconds_left', help: 'Seconds until unconsumed records of the topic are deleted by retention (absent when not at risk).' },
];
// Group-partition level (opt-in): cluster/<c>/group/<g>/topic/<t>/partition/<n>#lag.
const PARTITION_STATUS: Family = { name: 'kafkaobs_consumergroup_partition_status', help: 'Always 1, labelled with the partition\'s lag status (OK, WARN, STOP, STALL, REWIND, ABANDONED).' };
const GP_NUMBERS: readonly FromContext[] = [
  { key: 'lag', name: 'kafka_consumergroup_lag', help: 'Current approximate lag of a consumer group at a topic/partition, in messages (kafka_exporter\'s name and labels).' },
  { key: 'committed-offset', name: 'kafka_consumergroup_current_offset', help: 'Committed offset of a consumer group at a topic/partition (kafka_exporter\'s name and labels).' },
  { key: 'lag-seconds', name: 'kafka_consumergroup_group_lag_seconds', help: 'Lag of a consumer group at a topic/partition in seconds: how old the next record to consume is (Kafka Lag Exporter\'s name and labels).', kle: true },
  { key: 'catch-up-seconds', name: 'kafkaobs_consumergroup_partition_catch_up_seconds', help: 'At the current rates, seconds until the partition\'s lag is consumed.' },
  { key: 'retention-headroom', name: 'kafkaobs_consumergroup_partition_retention_headroom', help: 'Records between the committed offset and the log start.' },
  { key: 'retention-seconds-left', name: 'kafkaobs_consumergroup_partition_retention_seconds_left', help: 'Seconds until unconsumed records of the partition are deleted by retention (absent when not at risk).' },
];
const GP_FAMILIES: readonly Family[] = [PARTITION_STATUS, ...GP_NUMBERS];
// Topic level, from cluster/<c>/topic/<t>/partition/<n>#replicas.
const TOPIC = {
  partitions: { name: 'kafka_topic_partitions', help: 'Number of partitions of the topic the Kafka source reported (kafka_exporter\'s name and labels).' },
  urp: { name: 'kafkaobs_topic_under_replicated_partitions', help: 'Partitions of the topic with fewer live in-sync replicas than replicas.' },
  offline: { name: 'kafkaobs_topic_offline_partitions', help: 'Partitions of the topic without a live leader.' },
} as const satisfies Record<string, Family>;
const TOPIC_FAMILIES: readonly Family[] = [TOPIC.partitions, TOPIC.urp, TOPIC.offline];
// Topic-partition level (opt-in), and the offsets group evaluations read.
const TP = {
  leader: { name: 'kafka_topic_partition_leader', help: 'Leader broker id of the topic/partition, -1 when it has none (kafka_exporter\'s name and labels).' },
  replicas: { name: 'kafka_topic_partition_replicas', help: 'Number of replicas of the topic/partition (kafka_exporter\'s name and labels).' },
  isr: { name: 'kafka_topic_partition_in_sync_replica', help: 'Number of in-sync replicas of the topic/partition on live brokers (kafka_exporter\'s name and labels).' },
  preferred: { name: 'kafka_topic_partition_leader_is_preferred', help: '1 if the topic/partition is led by its preferred (first) replica (kafka_exporter\'s name and labels).' },
  urp: { name: 'kafka_topic_partition_under_replicated_partition', help: '1 if the topic/partition is under-replicated: fewer live in-sync replicas than replicas (kafka_exporter\'s name and labels).' },
  offline: { name: 'kafkaobs_topic_partition_offline', help: '1 if the topic/partition has no live leader.' },
  current: { name: 'kafka_topic_partition_current_offset', help: 'Log-end offset of the topic/partition as the latest consumer group evaluation read it (kafka_exporter\'s name and labels).' },
  oldest: { name: 'kafka_topic_partition_oldest_offset', help: 'Log-start offset of the topic/partition as the latest consumer group evaluation read it (kafka_exporter\'s name and labels).' },
} as const satisfies Record<string, Family>;
const TP_FAMILIES: readonly Family[] = [TP.leader, TP.replicas, TP.isr, TP.preferred, TP.urp, TP.offline, TP.current, TP.oldest];
// Brokers: known from partitions' replica lists and cluster/<c>/broker/<id>#metadata.
const BROKERS: Family = { name: 'kafka_brokers', help: 'Number of brokers of the cluster known to kafka-obs, from partition replicas and broker signals (kafka_exporter\'s name).' };
const BROKER_UP: Family = { name: 'kafkaobs_broker_up', help: '0 while the cluster metadata no longer lists the broker or it does not answer (the Kafka source\'s #metadata signal DOWN), else 1.' };
const BROKER_LEADS: Family = { name: 'kafkaobs_broker_leader_partitions', help: 'Partitions the broker leads, of those the Kafka source reported.' };
// Cells of the estate, read from the hierarchy.
const CELL_CONDITION: Family = { name: 'kafkaobs_cell_condition', help: 'Rolled-up condition of an entity cell by severity: 0 unknown, 1 STABLE, 2 CONVERGING, 3 DIVERGING, 4 ERRATIC, 5 DEGRADED, 6 DEFECTIVE, 7 DOWN (a silent cell keeps its last, at confidence TENTATIVE).' };
const CELL_CONFIDENCE: Family = { name: 'kafkaobs_cell_confidence', help: 'Confidence of the entity cell\'s condition: 0 unspecified, 1 TENTATIVE (observe only), 2 MEASURED (may alert), 3 CONFIRMED (may remediate).' };
// The exporter about itself.
const SELF = {
  series: { name: 'kafkaobs_exporter_series', help: 'Series of Kafka state and cells in this scrape, by level.' },
  leftOut: { name: 'kafkaobs_exporter_series_left_out', help: 'Series left out of this scrape by the cap (--metrics-max-series), by level.' },
  leftOutTotal: { name: 'kafkaobs_exporter_series_left_out_total', help: 'Series left out by the cap, summed over scrapes, by level: rising means the cap is cutting.', type: 'counter' },
  filtered: { name: 'kafkaobs_exporter_signals_filtered_total', help: 'Signals not exposed because their group or topic did not pass the include/exclude expressions, by level.', type: 'counter' },
  maxSeries: { name: 'kafkaobs_exporter_max_series', help: 'The cap on Kafka and cell series per scrape (--metrics-max-series).' },
  render: { name: 'kafkaobs_exporter_render_seconds', help: 'Time the previous scrape took to render the Kafka and cell series.' },
} as const satisfies Record<string, Family>;

/** Every family this module can render, in the order it renders them (documentation and tests). */
export const EXPOSITION_FAMILIES: readonly Family[] = [
  BROKERS, BROKER_UP, BROKER_LEADS, ...GROUP_FAMILIES, ...GT_FAMILIES, ...TOPIC_FAMILIES, ...TP_FAMILIES, CELL_CONDITION, CELL_CONFIDENCE, ...GP_FAMILIES, ...Object.values(SELF),
];

/** A label value as the text format wants it: backslash, double quote and newline escaped. */
export function labelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

/** A context value as a sample value; undefined when absent or not a number ("unknown"). */
function numberOf(v: string | undefined): string | undefined {
  if (v === undefined || v === '' || v === 'unknown') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? String(n) : undefined;
}

const header = (f: Family): string => `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type ?? 'gauge'}\n`;
const NEWLINE = 0x0a;

/**
 * One family's lines for every entity of a level, in one buffer that a scrape copies whole. A line
 * that keeps its length is rewritten in place (the usual case: a lag with as many digits as before,
 * a condition); one that changes length moves to the end, and the bytes it leaves become blank
 * lines, which the text format ignores, until the column is compacted (an eighth of it blank).
 */
class Column {
  buf = Buffer.allocUnsafe(1024);
  used = 0;
  dead = 0;
}

/** An entity's place in its level and what it adds to the series count. */
interface Entry {
  /** Where it is in its level's list (its lines: pos/len[slot * families + f]). */
  slot: number;
  heardAt: bigint;
  series: number;
}

/**
 * The entities of one level (groups, group-topics...) and their lines, a Column per family. The
 * list gives the order a capped scrape takes them in; deleting moves the last into the hole.
 */
class Level<E extends Entry> {
  readonly entries = new Map<string, E>();
  readonly list: E[] = [];
  readonly columns: Column[];
  private pos = new Int32Array(0);
  private len = new Int32Array(0);
  /** Series of all entries (each entry's `series` summed). */
  series = 0;

  constructor(readonly name: ExpositionLevel, readonly families: readonly Family[]) {
    this.columns = families.map(() => new Column());
  }

  get(key: string): E | undefined {
    return this.entries.get(key);
  }

  /** Bytes of all its columns (blank ones included): what a scrape of it writes, headers aside. */
  bytes(): number {
    let n = 0;
    for (const c of this.columns) n += c.used;
    return n;
  }

  add(key: string, e: E): E {
    e.slot = this.list.length;
    this.list.push(e);
    this.entries.set(key, e);
    return e;
  }

  /**
   * Makes room in pos/len for an entry's lines, when it is first given some: a level whose entries
   * never get lines (the partitions while per-partition series are off) keeps none. Slots past
   * the arrays read as blank.
   */
  private room(slot: number): void {
    const need = (slot + 1) * this.families.length;
    if (need > this.pos.length) {
      const pos = new Int32Array(Math.max(need, this.list.length * this.families.length, this.pos.length * 2, 64));
      const len = new Int32Array(pos.length);
      pos.set(this.pos);
      len.set(this.len);
      this.pos = pos;
      this.len = len;
    }
  }

  /** Sets an entity's lines: one string per family ('' for none), each ending in a newline. */
  set(e: E, lines: readonly string[], now: bigint): void {
    this.room(e.slot);
    let series = 0;
    for (let f = 0; f < this.families.length; f++) {
      const text = lines[f] ?? '';
      for (let j = text.indexOf('\n'); j >= 0; j = text.indexOf('\n', j + 1)) series++;
      this.write(e.slot, f, text);
    }
    this.series += series - e.series;
    e.series = series;
    if (now > e.heardAt) e.heardAt = now;
  }

  private write(slot: number, f: number, text: string): void {
    const col = this.columns[f]!;
    const i = slot * this.families.length + f;
    const old = this.len[i]!;
    const n = text === '' ? 0 : Buffer.byteLength(text);
    if (n === old) {
      if (n > 0) col.buf.write(text, this.pos[i]!);
      return;
    }
    if (old > 0) {
      this.kill(col, i);
      if (col.dead * 8 >= col.used) this.compact(f);
    }
    if (n === 0) return;
    if (col.used + n > col.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(col.buf.length * 2, col.used + n));
      col.buf.copy(grown, 0, 0, col.used);
      col.buf = grown;
    }
    this.pos[i] = col.used;
    this.len[i] = n;
    col.buf.write(text, col.used);
    col.used += n;
  }

  /** Blanks a record (its bytes become empty lines). */
  private kill(col: Column, i: number): void {
    col.buf.fill(NEWLINE, this.pos[i]!, this.pos[i]! + this.len[i]!);
    col.dead += this.len[i]!;
    this.len[i] = 0;
  }

  /** Rewrites a column without its blank bytes, in list order. */
  private compact(f: number): void {
    const col = this.columns[f]!;
    const F = this.families.length;
    const buf = Buffer.allocUnsafe(Math.max(1024, (col.used - col.dead) * 2));
    let used = 0;
    for (let s = 0; s < this.list.length; s++) {
      const i = s * F + f;
      const n = this.len[i] ?? 0;
      if (n === 0) continue;
      col.buf.copy(buf, used, this.pos[i]!, this.pos[i]! + n);
      this.pos[i] = used;
      used += n;
    }
    col.buf = buf;
    col.used = used;
    col.dead = 0;
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    const F = this.families.length;
    for (let f = 0; f < F; f++) {
      const i = e.slot * F + f;
      if (this.len[i]! > 0) this.kill(this.columns[f]!, i);
    }
    this.series -= e.series;
    this.entries.delete(key);
    const last = this.list.pop()!;
    if (last !== e) {
      this.list[e.slot] = last;
      for (let f = 0; f < F; f++) {
        this.pos[e.slot * F + f] = this.pos[last.slot * F + f] ?? 0;
        this.len[e.slot * F + f] = this.len[last.slot * F + f] ?? 0;
        this.len[last.slot * F + f] = 0;
      }
      last.slot = e.slot;
    }
    for (let f = 0; f < F; f++) {
      const col = this.columns[f]!;
      if (col.dead > 0 && col.dead * 8 >= col.used) this.compact(f);
    }
  }

  /**
   * Writes the level into `a`, family by family, within `budget` series: all of it as whole
   * columns when it fits, else the entities of the list that fit, in order. Returns the series
   * written and left out.
   */
  render(a: Arena, budget: number): { shown: number; leftOut: number } {
    const F = this.families.length;
    if (this.series <= budget) {
      for (let f = 0; f < F; f++) {
        const col = this.columns[f]!;
        if (col.used === col.dead) continue;
        a.string(header(this.families[f]!));
        a.reserve(col.used);
        a.used += col.buf.copy(a.buf, a.used, 0, col.used);
      }
      return { shown: this.series, leftOut: 0 };
    }
    let n = 0;
    let shown = 0;
    for (const e of this.list) {
      if (shown + e.series > budget) break;
      n++;
      shown += e.series;
    }
    for (let f = 0; f < F; f++) {
      const col = this.columns[f]!;
      let bytes = 0;
      for (let s = 0; s < n; s++) bytes += this.len[s * F + f] ?? 0;
      if (bytes === 0) continue;
      a.string(header(this.families[f]!));
      a.reserve(bytes);
      for (let s = 0; s < n; s++) {
        const i = s * F + f;
        if (this.len[i]! > 0) a.used += col.buf.copy(a.buf, a.used, this.pos[i]!, this.pos[i]! + this.len[i]!);
      }
    }
    return { shown, leftOut: this.series - shown };
  }
}

/** A consumer group, group-topic or group-partition: its label text. */
interface Labelled extends Entry {
  readonly labels: string;
  /** Kafka Lag Exporter's labels for its families (cluster_name, group...). */
  readonly kle: string;
}

interface Topic extends Entry {
  readonly labels: string;
  partitions: number;
  urp: number;
  offline: number;
}

interface TopicPartition extends Entry {
  readonly topic: Topic;
  readonly partition: string;
  /** What this partition adds to its topic's and leader's counts (taken back on change or expiry). */
  counted: boolean;
  countedUrp: boolean;
  countedOffline: boolean;
  countedLeader: Broker | undefined;
  /** What its own series show: only kept with per-partition series on (most partitions have none). */
  shown: PartitionShown | undefined;
}

interface PartitionShown {
  readonly labels: string;
  leader: number;
  replicas: number;
  isr: number;
  preferred: boolean;
  current: string | undefined;
  oldest: string | undefined;
  offsetsAt: bigint;
}

function shownOf(tp: TopicPartition): PartitionShown {
  return (tp.shown ??= { labels: `${tp.topic.labels},partition="${tp.partition}"`, leader: -1, replicas: 0, isr: 0, preferred: false, current: undefined, oldest: undefined, offsetsAt: 0n });
}

interface Broker {
  readonly cluster: string;
  readonly labels: string;
  heardAt: bigint;
  down: boolean;
  leads: number;
}

/** An entity cell: its two line prefixes; the condition and confidence last written. */
interface CellEntry extends Entry {
  readonly condition: string;
  readonly confidence: string;
}

const countOf = (list: string | undefined): number => (list === undefined || list === '' ? 0 : list.split(',').length);

/**
 * The scrape's output buffer, kept from one scrape to the next: a fresh tens-of-megabytes Buffer
 * per scrape is external memory that drives V8 into full collections of a large heap.
 */
class Arena {
  buf: Buffer;
  used = 0;
  /** While a scrape's body is being sent. */
  lent = false;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  reserve(n: number): void {
    if (this.used + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + n));
    this.buf.copy(grown, 0, 0, this.used);
    this.buf = grown;
  }

  string(s: string): void {
    if (s === '') return;
    this.reserve(Buffer.byteLength(s));
    this.used += this.buf.write(s, this.used);
  }
}

/** What a cell path is about (the hierarchy has read it): its kind, cluster, group, topic. */
type CellKindOf = (path: string) => SubjectInfo | undefined;

export class KafkaExposition {
  private readonly groups = new Level<Labelled>('group', GROUP_FAMILIES);
  private readonly groupTopics = new Level<Labelled>('group-topic', GT_FAMILIES);
  private readonly groupPartitions = new Level<Labelled>('group-partition', GP_FAMILIES);
  private readonly topics = new Level<Topic>('topic', TOPIC_FAMILIES);
  private readonly partitions = new Level<TopicPartition>('partition', TP_FAMILIES);
  private readonly cellLevel = new Level<CellEntry>('cell', [CELL_CONDITION, CELL_CONFIDENCE]);
  private readonly brokers = new Map<string, Broker>();
  private readonly cellKinds: ReadonlySet<string>;
  private readonly leftOutTotal = new Map<ExpositionLevel, number>(EXPOSITION_LEVELS.map((l) => [l, 0]));
  private readonly filtered = new Map<ExpositionLevel, number>(EXPOSITION_LEVELS.map((l) => [l, 0]));
  private lastRenderMs = 0;
  private lastExpiry = 0n;
  private readonly arena = new Arena(1 << 20);

  constructor(private readonly settings: ExpositionSettings, private readonly cellInfo?: CellKindOf) {
    this.cellKinds = new Set(settings.cellKinds);
  }

  /** Entities held, by level (tests, the bench). */
  get size(): Record<ExpositionLevel, number> {
    return {
      broker: this.brokers.size, group: this.groups.entries.size, 'group-topic': this.groupTopics.entries.size, topic: this.topics.entries.size,
      partition: this.partitions.entries.size, cell: this.cellLevel.entries.size, 'group-partition': this.groupPartitions.entries.size,
    };
  }

  private groupPasses(g: string): boolean {
    const s = this.settings;
    return (!s.includeGroups || s.includeGroups.test(g)) && !(s.excludeGroups && s.excludeGroups.test(g));
  }

  private topicPasses(t: string): boolean {
    const s = this.settings;
    return (!s.includeTopics || s.includeTopics.test(t)) && !(s.excludeTopics && s.excludeTopics.test(t));
  }

  private filter(level: ExpositionLevel): void {
    this.filtered.set(level, this.filtered.get(level)! + 1);
  }

  /** Takes one accepted signal (with what the hierarchy read of its subject), heard at `nowNs` (pipeline time). */
  accept(s: Signal, info: SubjectInfo, nowNs: bigint): void {
    const cluster = info.cluster;
    if (cluster === undefined || info.aspect === '') return;
    switch (info.kind) {
      case 'group':
        if (info.aspect === 'lag') this.group(s, info, cluster, nowNs);
        return;
      case 'group-topic':
        if (info.aspect === 'lag') this.groupTopic(s, info, cluster, nowNs);
        return;
      case 'group-partition':
        if (info.aspect === 'lag') this.groupPartition(s, info, cluster, nowNs);
        return;
      case 'partition':
        if (info.aspect === 'replicas') this.replicas(s, info, cluster, nowNs);
        return;
      case 'broker':
        if (info.aspect === 'metadata') this.broker(cluster, info.broker!, nowNs).down = s.status?.condition === Status_Condition.DOWN;
        return;
      default:
    }
  }

  /** Takes the hierarchy's cell changes: entity cells of the chosen kinds keep their condition and confidence lines. */
  acceptCells(changes: readonly CellChange[], nowNs: bigint): void {
    if (this.cellKinds.size === 0) return;
    for (let k = 0; k < changes.length; k++) {
      const c = changes[k]!;
      let e = this.cellLevel.get(c.path);
      if (!e) {
        if (c.path.includes('#')) continue; // an aspect, not an entity
        const info = this.cellInfo?.(c.path);
        if (!info || !this.cellKinds.has(info.kind) || (info.group !== undefined && !this.groupPasses(info.group)) || (info.topic !== undefined && !this.topicPasses(info.topic))) continue;
        const labels = `kind="${info.kind}",entity="${labelValue(c.path)}",${info.cluster !== undefined ? `cluster="${labelValue(info.cluster)}"` : `service="${labelValue(info.service ?? '')}"`}`;
        e = this.cellLevel.add(c.path, { slot: -1, heardAt: nowNs, series: 0, condition: `${CELL_CONDITION.name}{${labels}} `, confidence: `${CELL_CONFIDENCE.name}{${labels}} ` });
      }
      this.cellLevel.set(e, [`${e.condition}${SEVERITY[c.current] ?? 0}\n`, `${e.confidence}${c.confidence}\n`], nowNs);
    }
  }

  private group(s: Signal, info: SubjectInfo, cluster: string, now: bigint): void {
    const g = info.group!;
    if (!this.groupPasses(g)) return this.filter('group');
    const e = this.groups.get(info.entity) ?? this.groups.add(info.entity, labelled(`cluster="${labelValue(cluster)}",consumergroup="${labelValue(g)}"`, `cluster_name="${labelValue(cluster)}",group="${labelValue(g)}"`, now));
    const c = s.context;
    const lines: string[] = [c.burrow ? `${GROUP_STATUS.name}{${e.labels},status="${labelValue(c.burrow)}"} 1\n` : ''];
    let byStatus = '';
    for (const part of (c['partition-status'] ?? '').split(',')) {
      const eq = part.indexOf('=');
      const n = eq > 0 ? numberOf(part.slice(eq + 1)) : undefined;
      if (n !== undefined) byStatus += `${GROUP_PARTITIONS.name}{${e.labels},status="${labelValue(part.slice(0, eq))}"} ${n}\n`;
    }
    lines.push(byStatus, c['lag-seconds-from'] ? `${GROUP_LAG_FROM.name}{${e.labels},from="${labelValue(c['lag-seconds-from'])}"} 1\n` : '');
    numbers(e, c, GROUP_NUMBERS, lines);
    this.groups.set(e, lines, now);
  }

  private groupTopic(s: Signal, info: SubjectInfo, cluster: string, now: bigint): void {
    if (!this.groupPasses(info.group!) || !this.topicPasses(info.topic!)) return this.filter('group-topic');
    const e = this.groupTopics.get(info.entity) ?? this.groupTopics.add(info.entity, labelled(`cluster="${labelValue(cluster)}",consumergroup="${labelValue(info.group!)}",topic="${labelValue(info.topic!)}"`, '', now));
    const lines: string[] = [];
    numbers(e, s.context, GT_FAMILIES, lines);
    this.groupTopics.set(e, lines, now);
  }

  private groupPartition(s: Signal, info: SubjectInfo, cluster: string, now: bigint): void {
    if (!this.settings.partitions) return;
    const topic = info.topic!;
    if (!this.topicPasses(topic)) return this.filter('group-partition');
    const c = s.context;
    // The offsets a group's evaluation read are the partition's, whatever the group.
    const end = numberOf(c['log-end-offset']);
    const start = numberOf(c['log-start-offset']);
    if (end !== undefined || start !== undefined) {
      const tp = this.topicPartition(cluster, topic, info.partition!, now);
      const shown = shownOf(tp);
      if (s.timestamp >= shown.offsetsAt) {
        shown.offsetsAt = s.timestamp;
        if (end !== undefined) shown.current = end;
        if (start !== undefined) shown.oldest = start;
        this.partitionLines(tp, now);
      }
    }
    if (!this.groupPasses(info.group!)) return this.filter('group-partition');
    let e = this.groupPartitions.get(info.entity);
    if (!e) {
      const l = `topic="${labelValue(topic)}",partition="${info.partition!}"`;
      e = this.groupPartitions.add(info.entity, labelled(`cluster="${labelValue(cluster)}",consumergroup="${labelValue(info.group!)}",${l}`, `cluster_name="${labelValue(cluster)}",group="${labelValue(info.group!)}",${l}`, now));
    }
    const lines: string[] = [c.burrow ? `${PARTITION_STATUS.name}{${e.labels},status="${labelValue(c.burrow)}"} 1\n` : ''];
    numbers(e, c, GP_NUMBERS, lines);
    this.groupPartitions.set(e, lines, now);
  }

  private topic(cluster: string, name: string, now: bigint): Topic {
    const key = `${cluster}\u0000${name}`;
    return this.topics.get(key) ?? this.topics.add(key, { slot: -1, heardAt: now, series: 0, labels: `cluster="${labelValue(cluster)}",topic="${labelValue(name)}"`, partitions: 0, urp: 0, offline: 0 });
  }

  /** The partition's entry, keyed by its entity path (`entity`: that path when the caller holds it, the tree's own string). */
  private topicPartition(cluster: string, topic: string, partition: string, now: bigint, entity?: string): TopicPartition {
    const key = entity ?? `cluster/${cluster}/topic/${topic}/partition/${partition}`;
    let tp = this.partitions.get(key);
    if (!tp) {
      const t = this.topic(cluster, topic, now);
      tp = this.partitions.add(key, {
        slot: -1, heardAt: now, series: 0, partition,
        topic: t, counted: false, countedUrp: false, countedOffline: false, countedLeader: undefined, shown: undefined,
      });
    }
    return tp;
  }

  private replicas(s: Signal, info: SubjectInfo, cluster: string, now: bigint): void {
    if (!this.topicPasses(info.topic!)) return this.filter('topic');
    const c = s.context;
    const tp = this.topicPartition(cluster, info.topic!, info.partition!, now, info.entity);
    const replicas = (c.replicas ?? '').split(',').filter((r) => r !== '');
    const read = c.leader === undefined || c.leader === 'none' ? -1 : Number(c.leader);
    const leader = Number.isInteger(read) ? read : -1;
    const isr = countOf(c.isr);
    if (this.settings.partitions) {
      const shown = shownOf(tp);
      shown.leader = leader;
      shown.replicas = replicas.length;
      shown.isr = isr;
      shown.preferred = replicas.length > 0 && replicas[0] === String(leader);
    }
    for (const r of replicas) this.broker(cluster, r, now);
    this.uncount(tp);
    const urp = c.state === 'under-replicated' || isr < replicas.length;
    const offline = c.state === 'offline' || leader < 0;
    const lead = leader >= 0 ? this.broker(cluster, String(leader), now) : undefined;
    tp.counted = true;
    tp.countedUrp = urp;
    tp.countedOffline = offline;
    tp.countedLeader = lead;
    const t = tp.topic;
    t.partitions++;
    if (urp) t.urp++;
    if (offline) t.offline++;
    if (lead) lead.leads++;
    this.topicLines(t, now);
    this.partitionLines(tp, now);
  }

  /** Takes back what a partition added to its topic's and leader's counts. */
  private uncount(tp: TopicPartition): void {
    if (!tp.counted) return;
    const t = tp.topic;
    t.partitions--;
    if (tp.countedUrp) t.urp--;
    if (tp.countedOffline) t.offline--;
    if (tp.countedLeader) tp.countedLeader.leads--;
    tp.counted = false;
    tp.countedUrp = tp.countedOffline = false;
    tp.countedLeader = undefined;
  }

  private topicLines(t: Topic, now: bigint): void {
    const l = t.labels;
    this.topics.set(t, t.partitions > 0 ? [`${TOPIC.partitions.name}{${l}} ${t.partitions}\n`, `${TOPIC.urp.name}{${l}} ${t.urp}\n`, `${TOPIC.offline.name}{${l}} ${t.offline}\n`] : [], now);
  }

  private partitionLines(tp: TopicPartition, now: bigint): void {
    if (!this.settings.partitions) {
      if (now > tp.heardAt) tp.heardAt = now;
      return;
    }
    const lines: string[] = [];
    const shown = shownOf(tp);
    const l = shown.labels;
    if (!tp.counted) lines.push('', '', '', '', '', '');
    else {
      lines.push(`${TP.leader.name}{${l}} ${shown.leader}\n`, `${TP.replicas.name}{${l}} ${shown.replicas}\n`, `${TP.isr.name}{${l}} ${shown.isr}\n`, `${TP.preferred.name}{${l}} ${shown.preferred ? 1 : 0}\n`);
      lines.push(`${TP.urp.name}{${l}} ${tp.countedUrp ? 1 : 0}\n`, `${TP.offline.name}{${l}} ${tp.countedOffline ? 1 : 0}\n`);
    }
    lines.push(shown.current === undefined ? '' : `${TP.current.name}{${l}} ${shown.current}\n`, shown.oldest === undefined ? '' : `${TP.oldest.name}{${l}} ${shown.oldest}\n`);
    this.partitions.set(tp, lines, now);
  }

  private broker(cluster: string, id: string, now: bigint): Broker {
    const key = `${cluster}\u0000${id}`;
    let b = this.brokers.get(key);
    if (!b) {
      b = { cluster, labels: `cluster="${labelValue(cluster)}",broker="${labelValue(id)}"`, heardAt: now, down: false, leads: 0 };
      this.brokers.set(key, b);
    }
    if (now > b.heardAt) b.heardAt = now;
    return b;
  }

  /** Drops what has not been heard for expireAfterNs (looked at no more than once a second of pipeline time). */
  private expire(nowNs: bigint): void {
    const horizon = this.settings.expireAfterNs;
    if (horizon <= 0n || nowNs - this.lastExpiry < 1_000_000_000n) return;
    this.lastExpiry = nowNs;
    const cut = nowNs - horizon;
    for (const l of [this.groups, this.groupTopics, this.groupPartitions]) {
      for (const [k, e] of l.entries) if (e.heardAt < cut) l.delete(k);
    }
    const touched = new Set<Topic>();
    for (const [k, tp] of this.partitions.entries) {
      if (tp.heardAt >= cut) continue;
      this.uncount(tp);
      touched.add(tp.topic);
      this.partitions.delete(k);
    }
    for (const t of touched) this.topicLines(t, t.heardAt);
    for (const [k, t] of this.topics.entries) if (t.partitions === 0 && t.heardAt < cut) this.topics.delete(k);
    for (const [k, b] of this.brokers) if (b.heardAt < cut && b.leads <= 0) this.brokers.delete(k);
  }

  /**
   * The exposition of everything known at pipeline time `nowNs`, after `prefix` (the aggregator's
   * own metrics): at most maxSeries Kafka and cell series, then the exporter's own series. The
   * body lives in a buffer reused by the next scrape: call done() once it has been sent.
   */
  render(nowNs: bigint, prefix = ''): { body: Buffer; done(): void } {
    const t0 = performance.now();
    this.expire(nowNs);
    // A scrape still being sent keeps its buffer; this one gets its own.
    const arena = this.arena.lent ? new Arena(1 << 20) : this.arena;
    arena.lent = true;
    arena.used = 0;
    // One allocation for the whole body, not a series of doublings on a first or growing scrape.
    let size = Buffer.byteLength(prefix) + 64 * 1024;
    for (const l of [this.groups, this.groupTopics, this.topics, this.partitions, this.cellLevel, this.groupPartitions] as Level<Entry>[]) size += l.bytes();
    arena.reserve(size);
    arena.string(prefix);
    let budget = this.settings.maxSeries;
    const shown = new Map<ExpositionLevel, number>();
    const leftOut = new Map<ExpositionLevel, number>();
    const b = this.brokerSection(arena, budget);
    shown.set('broker', b.shown);
    leftOut.set('broker', b.leftOut);
    budget -= b.shown;
    for (const l of [this.groups, this.groupTopics, this.topics, this.partitions, this.cellLevel, this.groupPartitions] as Level<Entry>[]) {
      const r = l.render(arena, budget);
      budget -= r.shown;
      shown.set(l.name, r.shown);
      leftOut.set(l.name, r.leftOut);
    }
    const ms = performance.now() - t0;
    for (const [l, n] of leftOut) this.leftOutTotal.set(l, this.leftOutTotal.get(l)! + n);
    const byLevel = (f: Family, m: ReadonlyMap<ExpositionLevel, number>): string => {
      let s = header(f);
      for (const l of EXPOSITION_LEVELS) s += `${f.name}{level="${l}"} ${m.get(l) ?? 0}\n`;
      return s;
    };
    arena.string(
      byLevel(SELF.series, shown) + byLevel(SELF.leftOut, leftOut) + byLevel(SELF.leftOutTotal, this.leftOutTotal) + byLevel(SELF.filtered, this.filtered) +
      `${header(SELF.maxSeries)}${SELF.maxSeries.name} ${this.settings.maxSeries}\n${header(SELF.render)}${SELF.render.name} ${this.lastRenderMs / 1000}\n`,
    );
    this.lastRenderMs = ms;
    return { body: arena.buf.subarray(0, arena.used), done: () => void (arena.lent = false) };
  }

  /** kafka_brokers per cluster first, then per broker: up, partitions led. */
  private brokerSection(a: Arena, budget: number): { shown: number; leftOut: number } {
    const perCluster = new Map<string, number>();
    for (const b of this.brokers.values()) perCluster.set(b.cluster, (perCluster.get(b.cluster) ?? 0) + 1);
    let counts = '';
    let up = '';
    let leads = '';
    let series = 0;
    for (const [cluster, n] of perCluster) if (series < budget) {
      counts += `${BROKERS.name}{cluster="${labelValue(cluster)}"} ${n}\n`;
      series++;
    }
    for (const b of this.brokers.values()) if (series + 2 <= budget) {
      up += `${BROKER_UP.name}{${b.labels}} ${b.down ? 0 : 1}\n`;
      leads += `${BROKER_LEADS.name}{${b.labels}} ${b.leads}\n`;
      series += 2;
    }
    if (counts) a.string(header(BROKERS) + counts);
    if (up) a.string(header(BROKER_UP) + up + header(BROKER_LEADS) + leads);
    return { shown: series, leftOut: perCluster.size + 2 * this.brokers.size - series };
  }
}

function labelled(labels: string, kle: string, now: bigint): Labelled {
  return { slot: -1, heardAt: now, series: 0, labels, kle };
}

/** Lines of number families read from context keys, appended to `lines`. */
function numbers(e: Labelled, c: Record<string, string>, families: readonly FromContext[], lines: string[]): void {
  for (const f of families) {
    const v = numberOf(c[f.key]);
    lines.push(v === undefined ? '' : `${f.name}{${f.kle ? e.kle : e.labels}} ${v}\n`);
  }
}
