// What kafka-obs knows about Kafka, as Prometheus series: consumer lag (messages, seconds, the
// Burrow-style status) per group, group-topic and (opt-in) group-partition; partition health per
// topic and (opt-in) per partition; brokers; and the condition and confidence of the estate's
// entity cells. kafka_exporter's names and labels where a series means what its does (Strimzi's
// alert rules and the common dashboards work unchanged), Kafka Lag Exporter's for its lag-in-
// seconds family, kafkaobs_* for the rest. aggregator/README.md lists every series.
//
// Fed at the pipeline's edge: the aggregator hands each accepted signal (live, and those recovery
// feeds back from the journal) to accept(), which keeps only the latest state per entity with its
// exposition lines already written (one string per family). A scrape writes those, family by
// family, into one buffer reused from scrape to scrape (render()): no Kafka call, no prom-client
// object per series, no formatting for entities that did not change. Cells are read from the
// hierarchy at scrape time (their label text cached).
//
// Cardinality: include/exclude regular expressions for groups and topics, per-partition series
// off unless asked for, entity-cell kinds chosen, and one cap on the series rendered. The cap
// leaves out whole entities, the least important level first (group-partitions, then cells,
// partitions...), and says how many series it left out (kafkaobs_exporter_series_left_out{,_total}).
import { SEVERITY, Status_Condition, type EntityKind, type Signal, type SubjectInfo } from '../proto/index.js';
import type { CellState, HierarchyView } from '../hierarchy/manager.js';

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
const NO_LINES: readonly string[] = [];

/** One entity's latest state as exposition text: lines[i] holds family i's lines ('' for none). */
interface Entry {
  readonly labels: string;
  /** Kafka Lag Exporter's labels for its families (cluster_name, group...). */
  readonly kle?: string;
  /** Where it is in its level's list. */
  slot: number;
  heardAt: bigint;
  lines: readonly string[];
  /** Whether every line is ASCII (its byte length is its string length). */
  ascii: boolean;
  series: number;
}

interface Topic extends Entry {
  partitions: number;
  urp: number;
  offline: number;
}

interface TopicPartition extends Entry {
  readonly topic: Topic;
  /** What this partition adds to its topic's and leader's counts (taken back on change or expiry). */
  counted: { urp: boolean; offline: boolean; leader: Broker | undefined } | undefined;
  leader: number;
  replicas: number;
  isr: number;
  preferred: boolean;
  current: string | undefined;
  oldest: string | undefined;
  offsetsAt: bigint;
}

interface Broker {
  readonly cluster: string;
  readonly labels: string;
  heardAt: bigint;
  down: boolean;
  leads: number;
}

function newEntry<T extends object>(labels: string, now: bigint, more: T, kle?: string): Entry & T {
  return { labels, kle, slot: -1, heardAt: now, lines: NO_LINES, ascii: true, series: 0, ...more };
}

const NOT_ASCII = /[^\x00-\x7f]/;

const byteLength = (line: string, ascii: boolean): number => (ascii ? line.length : Buffer.byteLength(line));

/** Sets an entity's lines (one string per family, '' for none). */
function encode(e: Entry, lines: readonly string[], now: bigint): void {
  let series = 0;
  let ascii = true;
  for (const l of lines) {
    for (let j = l.indexOf('\n'); j >= 0; j = l.indexOf('\n', j + 1)) series++;
    if (ascii && NOT_ASCII.test(l)) ascii = false;
  }
  e.lines = lines;
  e.ascii = ascii;
  e.series = series;
  if (now > e.heardAt) e.heardAt = now;
}

/**
 * The entities of one level, with the bytes per family and the series of all of them kept as they
 * change, so a scrape under the cap sizes its buffers without a pass over the entities.
 */
class Level<E extends Entry> {
  readonly entries = new Map<string, E>();
  /** The same entries as an array, for scrapes (iterating an array is several times faster than a Map). */
  readonly list: E[] = [];
  readonly bytes: Float64Array;
  series = 0;

  constructor(readonly name: ExpositionLevel, readonly families: readonly Family[]) {
    this.bytes = new Float64Array(families.length);
  }

  get(key: string): E | undefined {
    return this.entries.get(key);
  }

  add(key: string, e: E): E {
    e.slot = this.list.length;
    this.list.push(e);
    this.entries.set(key, e);
    return e;
  }

  encode(e: E, lines: readonly string[], now: bigint): void {
    this.account(e, -1);
    encode(e, lines, now);
    this.account(e, 1);
  }

  /** Removes an entry; the last one takes its place in the scrape order. */
  delete(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.account(e, -1);
    this.entries.delete(key);
    const last = this.list.pop()!;
    if (last !== e) {
      this.list[e.slot] = last;
      last.slot = e.slot;
    }
  }

  private account(e: E, sign: number): void {
    const lines = e.lines;
    for (let f = 0; f < lines.length && f < this.bytes.length; f++) if (lines[f] !== '') this.bytes[f]! += sign * byteLength(lines[f]!, e.ascii);
    this.series += sign * e.series;
  }
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

/** One scrape's bookkeeping: the budget left, and the series shown and left out per level. */
interface Round {
  readonly arena: Arena;
  budget: number;
  readonly shown: Map<ExpositionLevel, number>;
  readonly leftOut: Map<ExpositionLevel, number>;
}

export class KafkaExposition {
  private readonly groups = new Level<Entry>('group', GROUP_FAMILIES);
  private readonly groupTopics = new Level<Entry>('group-topic', GT_FAMILIES);
  private readonly groupPartitions = new Level<Entry>('group-partition', GP_FAMILIES);
  private readonly topics = new Level<Topic>('topic', TOPIC_FAMILIES);
  private readonly partitions = new Level<TopicPartition>('partition', TP_FAMILIES);
  private readonly brokers = new Map<string, Broker>();
  /** Cell path -> its two line prefixes, or null when a filter excludes it. */
  private readonly cellLabels = new Map<string, readonly [string, string] | null>();
  private readonly cellKinds: ReadonlySet<string>;
  private readonly leftOutTotal = new Map<ExpositionLevel, number>(EXPOSITION_LEVELS.map((l) => [l, 0]));
  private readonly filtered = new Map<ExpositionLevel, number>(EXPOSITION_LEVELS.map((l) => [l, 0]));
  private lastRenderMs = 0;
  private lastExpiry = 0n;
  private readonly arena = new Arena(1 << 20);
  private readonly belowCache = new Map<string, boolean>();

  constructor(private readonly settings: ExpositionSettings, private readonly hierarchy?: HierarchyView) {
    this.cellKinds = new Set(settings.cellKinds);
  }

  /** Entities held, by level (tests, the bench). */
  get size(): Record<Exclude<ExpositionLevel, 'cell'>, number> {
    return { broker: this.brokers.size, group: this.groups.entries.size, 'group-topic': this.groupTopics.entries.size, topic: this.topics.entries.size, partition: this.partitions.entries.size, 'group-partition': this.groupPartitions.entries.size };
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

  private group(s: Signal, info: SubjectInfo, cluster: string, now: bigint): void {
    const g = info.group!;
    if (!this.groupPasses(g)) return this.filter('group');
    let e = this.groups.get(info.entity);
    if (!e) {
      e = this.groups.add(info.entity, newEntry(`cluster="${labelValue(cluster)}",consumergroup="${labelValue(g)}"`, now, {}, `cluster_name="${labelValue(cluster)}",group="${labelValue(g)}"`));
    }
    const c = s.context;
    const lines: string[] = [c.burrow ? `${GROUP_STATUS.name}{${e.labels},status="${labelValue(c.burrow)}"} 1\n` : ''];
    let byStatus = '';
    for (const part of (c['partition-status'] ?? '').split(',')) {
      const eq = part.indexOf('=');
      const n = eq > 0 ? numberOf(part.slice(eq + 1)) : undefined;
      if (n !== undefined) byStatus += `${GROUP_PARTITIONS.name}{${e.labels},status="${labelValue(part.slice(0, eq))}"} ${n}\n`;
    }
    lines.push(byStatus, c['lag-seconds-from'] ? `${GROUP_LAG_FROM.name}{${e.labels},from="${labelValue(c['lag-seconds-from'])}"} 1\n` : '');
    this.numbers(e, c, GROUP_NUMBERS, lines);
    this.groups.encode(e, lines, now);
  }

  private numbers(e: Entry, c: Record<string, string>, families: readonly FromContext[], lines: string[]): void {
    for (const f of families) {
      const v = numberOf(c[f.key]);
      lines.push(v === undefined ? '' : `${f.name}{${f.kle ? e.kle! : e.labels}} ${v}\n`);
    }
  }

  private groupTopic(s: Signal, info: SubjectInfo, cluster: string, now: bigint): void {
    if (!this.groupPasses(info.group!) || !this.topicPasses(info.topic!)) return this.filter('group-topic');
    let e = this.groupTopics.get(info.entity);
    if (!e) {
      e = this.groupTopics.add(info.entity, newEntry(`cluster="${labelValue(cluster)}",consumergroup="${labelValue(info.group!)}",topic="${labelValue(info.topic!)}"`, now, {}));
    }
    const lines: string[] = [];
    this.numbers(e, s.context, GT_FAMILIES, lines);
    this.groupTopics.encode(e, lines, now);
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
      if (s.timestamp >= tp.offsetsAt) {
        tp.offsetsAt = s.timestamp;
        if (end !== undefined) tp.current = end;
        if (start !== undefined) tp.oldest = start;
        this.partitionLines(tp, now);
      }
    }
    if (!this.groupPasses(info.group!)) return this.filter('group-partition');
    let e = this.groupPartitions.get(info.entity);
    if (!e) {
      const l = `topic="${labelValue(topic)}",partition="${info.partition!}"`;
      e = this.groupPartitions.add(info.entity, newEntry(`cluster="${labelValue(cluster)}",consumergroup="${labelValue(info.group!)}",${l}`, now, {}, `cluster_name="${labelValue(cluster)}",group="${labelValue(info.group!)}",${l}`));
    }
    const lines: string[] = [c.burrow ? `${PARTITION_STATUS.name}{${e.labels},status="${labelValue(c.burrow)}"} 1\n` : ''];
    this.numbers(e, c, GP_NUMBERS, lines);
    this.groupPartitions.encode(e, lines, now);
  }

  private topic(cluster: string, name: string, now: bigint): Topic {
    const key = `${cluster}\u0000${name}`;
    let t = this.topics.get(key);
    if (!t) {
      t = this.topics.add(key, newEntry(`cluster="${labelValue(cluster)}",topic="${labelValue(name)}"`, now, { partitions: 0, urp: 0, offline: 0 }));
    }
    return t;
  }

  private topicPartition(cluster: string, topic: string, partition: string, now: bigint): TopicPartition {
    const key = `${cluster}\u0000${topic}\u0000${partition}`;
    let tp = this.partitions.get(key);
    if (!tp) {
      const t = this.topic(cluster, topic, now);
      tp = this.partitions.add(key, newEntry(`${t.labels},partition="${partition}"`, now, {
        topic: t, counted: undefined, leader: -1, replicas: 0, isr: 0, preferred: false, current: undefined, oldest: undefined, offsetsAt: 0n,
      }));
    }
    return tp;
  }

  private replicas(s: Signal, info: SubjectInfo, cluster: string, now: bigint): void {
    if (!this.topicPasses(info.topic!)) return this.filter('topic');
    const c = s.context;
    const tp = this.topicPartition(cluster, info.topic!, info.partition!, now);
    const replicas = (c.replicas ?? '').split(',').filter((r) => r !== '');
    const leader = c.leader === undefined || c.leader === 'none' ? -1 : Number(c.leader);
    tp.leader = Number.isInteger(leader) ? leader : -1;
    tp.replicas = replicas.length;
    tp.isr = countOf(c.isr);
    tp.preferred = replicas.length > 0 && replicas[0] === String(tp.leader);
    for (const r of replicas) this.broker(cluster, r, now);
    this.uncount(tp);
    const urp = c.state === 'under-replicated' || tp.isr < tp.replicas;
    const offline = c.state === 'offline' || tp.leader < 0;
    const lead = tp.leader >= 0 ? this.broker(cluster, String(tp.leader), now) : undefined;
    tp.counted = { urp, offline, leader: lead };
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
    const was = tp.counted;
    if (!was) return;
    const t = tp.topic;
    t.partitions--;
    if (was.urp) t.urp--;
    if (was.offline) t.offline--;
    if (was.leader) was.leader.leads--;
    tp.counted = undefined;
  }

  private topicLines(t: Topic, now: bigint): void {
    const l = t.labels;
    this.topics.encode(t, t.partitions > 0 ? [`${TOPIC.partitions.name}{${l}} ${t.partitions}\n`, `${TOPIC.urp.name}{${l}} ${t.urp}\n`, `${TOPIC.offline.name}{${l}} ${t.offline}\n`] : ['', '', ''], now);
  }

  private partitionLines(tp: TopicPartition, now: bigint): void {
    const lines: string[] = [];
    const c = tp.counted;
    if (!this.settings.partitions) {
      if (now > tp.heardAt) tp.heardAt = now;
      return;
    }
    const l = tp.labels;
    if (c === undefined) lines.push('', '', '', '', '', '');
    else {
      lines.push(`${TP.leader.name}{${l}} ${tp.leader}\n`, `${TP.replicas.name}{${l}} ${tp.replicas}\n`, `${TP.isr.name}{${l}} ${tp.isr}\n`, `${TP.preferred.name}{${l}} ${tp.preferred ? 1 : 0}\n`);
      lines.push(`${TP.urp.name}{${l}} ${c.urp ? 1 : 0}\n`, `${TP.offline.name}{${l}} ${c.offline ? 1 : 0}\n`);
    }
    lines.push(tp.current === undefined ? '' : `${TP.current.name}{${l}} ${tp.current}\n`, tp.oldest === undefined ? '' : `${TP.oldest.name}{${l}} ${tp.oldest}\n`);
    this.partitions.encode(tp, lines, now);
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
    arena.string(prefix);
    const r: Round = { arena, budget: this.settings.maxSeries, shown: new Map(), leftOut: new Map() };
    this.brokerSection(r);
    this.level(r, this.groups);
    this.level(r, this.groupTopics);
    this.level(r, this.topics);
    this.level(r, this.partitions);
    this.cells(r);
    this.level(r, this.groupPartitions);
    const ms = performance.now() - t0;
    for (const [l, n] of r.leftOut) this.leftOutTotal.set(l, this.leftOutTotal.get(l)! + n);
    const byLevel = (f: Family, m: ReadonlyMap<ExpositionLevel, number>): string => {
      let s = header(f);
      for (const l of EXPOSITION_LEVELS) s += `${f.name}{level="${l}"} ${m.get(l) ?? 0}\n`;
      return s;
    };
    arena.string(
      byLevel(SELF.series, r.shown) + byLevel(SELF.leftOut, r.leftOut) + byLevel(SELF.leftOutTotal, this.leftOutTotal) + byLevel(SELF.filtered, this.filtered) +
      `${header(SELF.maxSeries)}${SELF.maxSeries.name} ${this.settings.maxSeries}\n${header(SELF.render)}${SELF.render.name} ${this.lastRenderMs / 1000}\n`,
    );
    this.lastRenderMs = ms;
    return { body: arena.buf.subarray(0, arena.used), done: () => void (arena.lent = false) };
  }

  /** A level's entries that fit the budget, in order (the first that does not fit ends it), family by family; the rest counted left out. */
  private level(r: Round, l: Level<Entry>): void {
    const families = l.families;
    let n = l.entries.size;
    let series = l.series;
    let rest = 0;
    let bytes = l.bytes;
    if (series > r.budget) {
      n = 0;
      series = 0;
      bytes = new Float64Array(families.length);
      for (const e of l.list) {
        if (rest === 0 && series + e.series <= r.budget) {
          n++;
          series += e.series;
          const lines = e.lines;
          for (let f = 0; f < lines.length && f < families.length; f++) bytes[f]! += byteLength(lines[f]!, e.ascii);
        } else rest += e.series;
      }
    }
    r.budget -= series;
    r.shown.set(l.name, series);
    r.leftOut.set(l.name, rest);
    const a = r.arena;
    for (let f = 0; f < families.length; f++) {
      if (bytes[f] === 0) continue;
      const h = header(families[f]!);
      a.reserve(h.length + bytes[f]!);
      a.string(h);
      const buf = a.buf;
      let pos = a.used;
      const list = l.list;
      for (let i = 0; i < n; i++) {
        const line = list[i]!.lines[f];
        if (line) pos += buf.write(line, pos);
      }
      a.used = pos;
    }
  }

  /** kafka_brokers per cluster first, then per broker: up, partitions led. */
  private brokerSection(r: Round): void {
    const perCluster = new Map<string, number>();
    for (const b of this.brokers.values()) perCluster.set(b.cluster, (perCluster.get(b.cluster) ?? 0) + 1);
    let counts = '';
    let up = '';
    let leads = '';
    let series = 0;
    for (const [cluster, n] of perCluster) if (series < r.budget) {
      counts += `${BROKERS.name}{cluster="${labelValue(cluster)}"} ${n}\n`;
      series++;
    }
    for (const b of this.brokers.values()) if (series + 2 <= r.budget) {
      up += `${BROKER_UP.name}{${b.labels}} ${b.down ? 0 : 1}\n`;
      leads += `${BROKER_LEADS.name}{${b.labels}} ${b.leads}\n`;
      series += 2;
    }
    if (counts) r.arena.string(header(BROKERS) + counts);
    if (up) r.arena.string(header(BROKER_UP) + up + header(BROKER_LEADS) + leads);
    r.budget -= series;
    r.shown.set('broker', series);
    r.leftOut.set('broker', perCluster.size + 2 * this.brokers.size - series);
  }

  /** Entity cells of the chosen kinds, walked from the hierarchy's root, two series each. */
  private cells(r: Round): void {
    let condition = '';
    let confidence = '';
    let series = 0;
    let rest = 0;
    const budget = r.budget;
    const tree = this.hierarchy;
    const kinds = this.cellKinds;
    if (tree && kinds.size > 0) {
      // `under`: the kind of the nearest entity above (what a container's name means depends on it).
      const visit = (c: CellState, under: string): void => {
        const kind = c.info.kind;
        if (kind !== 'container' && kind !== 'root') {
          if (kinds.has(kind)) {
            const labels = this.cellLabelsOf(c);
            if (labels !== null) {
              if (rest === 0 && series + 2 <= budget) {
                condition += `${labels[0]}${SEVERITY[c.condition] ?? 0}\n`;
                confidence += `${labels[1]}${c.confidence}\n`;
                series += 2;
              } else rest += 2;
            }
          }
          under = kind;
          // Nothing chosen below this entity (the usual group or topic): its children are not looked at.
          if (!this.below(kind)) return;
        }
        for (const child of tree.children(c.path)) if (this.descend(child, under)) visit(child, under);
      };
      const root = tree.state('');
      if (root) visit(root, 'root');
    }
    if (condition) {
      r.arena.string(header(CELL_CONDITION));
      r.arena.string(condition);
      r.arena.string(header(CELL_CONFIDENCE));
      r.arena.string(confidence);
    }
    r.budget -= series;
    r.shown.set('cell', series);
    r.leftOut.set('cell', rest);
  }

  /** Whether a chosen kind can lie at or below this cell (aspects never; a container by what it holds below `under`). */
  private descend(c: CellState, under: string): boolean {
    const info = c.info;
    if (info.aspect !== '') return false;
    const kinds = this.cellKinds;
    if (info.kind !== 'container') return kinds.has(info.kind) || this.below(info.kind);
    const holds = CONTAINS[`${under}/${c.path.slice(c.path.lastIndexOf('/') + 1)}`];
    return holds !== undefined && holds.some((x) => kinds.has(x));
  }

  /** Whether a chosen kind lies below entities of this kind. */
  private below(kind: string): boolean {
    let b = this.belowCache.get(kind);
    if (b === undefined) {
      b = ((BELOW as Partial<Record<string, readonly EntityKind[]>>)[kind] ?? []).some((x) => x !== kind && this.cellKinds.has(x));
      this.belowCache.set(kind, b);
    }
    return b;
  }

  /** A cell's two line prefixes (condition, confidence), or null when a filter excludes it; cached. */
  private cellLabelsOf(c: CellState): readonly [string, string] | null {
    let l = this.cellLabels.get(c.path);
    if (l !== undefined) return l;
    const i = c.info;
    const passes = (i.group === undefined || this.groupPasses(i.group)) && (i.topic === undefined || this.topicPasses(i.topic));
    const labels = `kind="${i.kind}",entity="${labelValue(c.path)}",${i.cluster !== undefined ? `cluster="${labelValue(i.cluster)}"` : `service="${labelValue(i.service ?? '')}"`}`;
    l = passes ? [`${CELL_CONDITION.name}{${labels}} `, `${CELL_CONFIDENCE.name}{${labels}} `] : null;
    this.cellLabels.set(c.path, l);
    return l;
  }
}

/** Entity kinds that may lie at or below an entity of a kind (for the cell walk). */
const BELOW = {
  cluster: ['cluster', 'broker', 'topic', 'partition', 'group', 'group-topic', 'group-partition'],
  topic: ['partition'],
  group: ['group-topic', 'group-partition'],
  'group-topic': ['group-partition'],
  service: ['service', 'pod', 'client', 'jvm', 'agent'],
  pod: ['client', 'jvm', 'agent'],
} as const satisfies Partial<Record<string, readonly EntityKind[]>>;

/** What a container holds, by the kind of the entity above it and its name. */
const CONTAINS: Partial<Record<string, readonly EntityKind[]>> = {
  'root/cluster': BELOW.cluster,
  'root/service': BELOW.service,
  'cluster/broker': ['broker'],
  'cluster/topic': ['topic', 'partition'],
  'cluster/group': ['group', 'group-topic', 'group-partition'],
  'topic/partition': ['partition'],
  'group/topic': ['group-topic', 'group-partition'],
  'group-topic/partition': ['group-partition'],
  'service/pod': ['pod', 'client', 'jvm', 'agent'],
  'pod/producer': ['client'],
  'pod/consumer': ['client'],
  'pod/admin': ['client'],
};
