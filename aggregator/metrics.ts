// The aggregator's Prometheus metrics. Hot-path numbers live in plain fields of the pipeline's
// stats and are read at scrape time, so ingest pays nothing per signal for them.
import { readFileSync } from 'node:fs';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { IngressStats } from './ingress.js';
import type { EventLog } from './event-log.js';
import type { Pipeline } from './pipeline.js';
import type { Journal } from './journal/journal.js';

export interface AggregatorMetrics {
  registry: Registry;
  streamsOpen: Gauge;
  subscribersOpen: Gauge;
  subscriberGaps: Counter;
  subscriberMissed: Counter;
  streamErrors: Counter<'reason'>;
  authFailures: Counter<'reason'>;
  /** Refusals at a door (grpc, http), by reason: connection_limit, stream_limit, foreign_source, truncated_frame... */
  refusals: Counter<'door' | 'reason'>;
  /** Every gRPC call's ending, by service, method and status code (grpc-js's own refusals included). */
  grpcHandled: Counter<'grpc_service' | 'grpc_method' | 'grpc_code'>;
  connectionsOpen: Gauge;
  certificateExpiry: Gauge<'certificate'>;
}

export function createAggregatorMetrics(stats: IngressStats, pipeline: Pipeline, log: EventLog, journal?: Journal, refusing: () => string | undefined = () => undefined): AggregatorMetrics {
  const hierarchy = pipeline.hierarchy;
  const registry = new Registry();
  // The standard process_* and nodejs_* names, so Node dashboards and alerts find them.
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'kafkaobs_build_info',
    help: 'Always 1: the kafka-obs version and the Node.js running it.',
    labelNames: ['version', 'nodejs_version'],
    registers: [registry],
  }).set({ version: packageVersion(), nodejs_version: process.version }, 1);
  const gaugeFrom = (name: string, help: string, read: () => number): void => {
    new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  };
  new Counter({
    name: 'kafkaobs_signals_accepted_total',
    help: 'Signals accepted into the pipeline.',
    registers: [registry],
    collect() { this.reset(); this.inc(stats.accepted); },
  });
  new Counter({
    name: 'kafkaobs_signals_duplicate_total',
    help: 'Signals dropped as duplicates of an already handled (source, seq).',
    registers: [registry],
    collect() { this.reset(); this.inc(stats.duplicates); },
  });
  new Counter({
    name: 'kafkaobs_signals_rejected_total',
    help: 'Signals (or whole frames) rejected, by reason: invalid_signal, hierarchy_full, seq_ahead, source_limit, malformed_frame, invalid_utf8, oversize_batch.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of stats.rejected) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: 'kafkaobs_source_seq_jumps_total',
    help: 'Times a source skipped ahead in its sequence (it dropped signals, or restarted).',
    registers: [registry],
    collect() { this.reset(); this.inc(stats.seqJumps); },
  });
  gaugeFrom('kafkaobs_sources', 'Sources (agents) tracked for deduplication (at most --max-sources).', () => stats.sources);
  new Counter({
    name: 'kafkaobs_sources_evicted_total',
    help: 'Sources forgotten to make room under --max-sources (silent longer than --source-evict-after).',
    registers: [registry],
    collect() { this.reset(); this.inc(stats.sourcesEvicted); },
  });
  gaugeFrom('kafkaobs_hierarchy_cells', 'Cells in the hierarchy.', () => hierarchy.size);
  gaugeFrom('kafkaobs_event_log_next_offset', 'Offset the next event will get.', () => Number(log.nextOffset));
  const counterFrom = (name: string, help: string, label: string, read: () => Iterable<[string, number]>): void => {
    new Counter({
      name, help, labelNames: [label], registers: [registry],
      collect() {
        this.reset();
        for (const [k, n] of read()) this.inc({ [label]: k }, n);
      },
    });
  };
  counterFrom('kafkaobs_findings_total', 'Findings emitted (opened, updated or resolved), by observer.', 'observer', () => pipeline.stats.findings);
  counterFrom('kafkaobs_observer_errors_total', 'Signals an observer failed on (it skipped them; the signal still counted), by observer.', 'observer', () => pipeline.stats.observerErrors);
  counterFrom('kafkaobs_context_unreadable_total', 'Context values that should be numbers and are not (the sensor sent e.g. "abc" for a lag), by key.', 'key', () => pipeline.observerSet.numbers.unreadable);
  const n = pipeline.narratives.stats;
  counterFrom('kafkaobs_narratives_total', 'Narrative events, by state (opened, updated, resolved, merged into another).', 'state', () => [['opened', n.opened], ['updated', n.updated], ['resolved', n.resolved], ['merged', n.merged]]);
  gaugeFrom('kafkaobs_narratives_open', 'Narratives open now.', () => pipeline.narratives.open);
  new Gauge({
    name: 'kafkaobs_narratives_open_by_level',
    help: 'Narratives open now, by the level they were last told at (NORMAL, WARNING, CRITICAL).',
    labelNames: ['level'],
    registers: [registry],
    collect() {
      const c = pipeline.narratives.openByLevel();
      this.set({ level: 'NORMAL' }, c[1]!);
      this.set({ level: 'WARNING' }, c[2]!);
      this.set({ level: 'CRITICAL' }, c[3]!);
    },
  });
  new Counter({
    name: 'kafkaobs_narratives_unnarrated_total',
    help: 'Findings not narrated because too many incidents were open at once.',
    registers: [registry],
    collect() { this.reset(); this.inc(n.unnarrated); },
  });
  new Gauge({
    name: 'kafkaobs_situations',
    help: 'Subjects whose situation is WARNING or CRITICAL now.',
    labelNames: ['level'],
    registers: [registry],
    collect() {
      const c = pipeline.situations.counts();
      this.set({ level: 'WARNING' }, c.warning);
      this.set({ level: 'CRITICAL' }, c.critical);
    },
  });
  gaugeFrom('kafkaobs_hierarchy_stale_cells', 'Cells that stopped hearing (their parents no longer count them).', () => hierarchy.staleCount);
  gaugeFrom('kafkaobs_event_log_retained', 'Events held in memory for subscribers (older ones are read from the journal).', () => Number(log.nextOffset - log.firstOffset));
  gaugeFrom('kafkaobs_event_log_uncommitted', 'Events appended but not yet written to the journal (their batches are not acknowledged yet).', () => log.uncommitted);
  if (journal) {
    const j = journal.stats;
    new Counter({ name: 'kafkaobs_journal_commits_total', help: 'Group commits written to the journal (each one atomic RocksDB write).', registers: [registry], collect() { this.reset(); this.inc(j.commits); } });
    new Counter({ name: 'kafkaobs_journal_bytes_written_total', help: 'Bytes of events written to the journal (before compression).', registers: [registry], collect() { this.reset(); this.inc(j.bytesWritten); } });
    new Counter({ name: 'kafkaobs_journal_write_errors_total', help: 'Journal writes that failed (e.g. disk full); their events stay pending and are written again.', registers: [registry], collect() { this.reset(); this.inc(j.writeErrors); } });
    new Counter({ name: 'kafkaobs_journal_deleted_total', help: 'Journal entries deleted by retention, by store (log blocks, verdicts).', labelNames: ['store'], registers: [registry], collect() { this.reset(); this.inc({ store: 'log_blocks' }, j.blocksDeleted); this.inc({ store: 'verdicts' }, j.verdictsDeleted); } });
    gaugeFrom('kafkaobs_journal_commit_seconds', 'Duration of the last group commit (write and sync).', () => j.lastCommitMs / 1000);
    gaugeFrom('kafkaobs_journal_log_bytes', 'Bytes of event blocks kept in the journal (before compression).', () => j.logBytes);
    gaugeFrom('kafkaobs_journal_verdict_bytes', 'Bytes of verdicts (narratives, findings, situations, actions) kept in the journal.', () => j.verdictBytes);
    gaugeFrom('kafkaobs_journal_first_offset', 'Oldest offset the journal still holds.', () => Number(journal.firstOffset));
  }
  new Gauge({
    name: 'kafkaobs_journal_writable',
    help: '1 while the journal writes and signals are taken; 0 while it cannot (reason label: disk_full or error).',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      const r = refusing();
      if (r === undefined) this.set({ reason: '' }, 1);
      else this.set({ reason: r.includes('disk is full') ? 'disk_full' : 'error' }, 0);
    },
  });
  return {
    registry,
    streamsOpen: new Gauge({ name: 'kafkaobs_streams_open', help: 'Agent signal streams open.', registers: [registry] }),
    subscribersOpen: new Gauge({ name: 'kafkaobs_subscribers_open', help: 'Subscribe streams open.', registers: [registry] }),
    subscriberGaps: new Counter({ name: 'kafkaobs_subscriber_gaps_total', help: 'Gap events sent to subscribers that fell behind or resumed too far back.', registers: [registry] }),
    subscriberMissed: new Counter({ name: 'kafkaobs_subscriber_dropped_events_total', help: 'Events subscribers missed (reported to them in gap events).', registers: [registry] }),
    streamErrors: new Counter({ name: 'kafkaobs_stream_errors_total', help: 'Signal streams ended with an error, by reason.', labelNames: ['reason'], registers: [registry] }),
    authFailures: new Counter({ name: 'kafkaobs_auth_failures_total', help: 'Calls refused because the caller did not prove who it is (missing or wrong token, unknown certificate, certificate and token of different identities), on either door.', labelNames: ['reason'], registers: [registry] }),
    refusals: new Counter({ name: 'kafkaobs_refusals_total', help: 'What the doors refused, by door (grpc, http) and reason (connection_limit, connection_start_timeout, stream_limit, subscriber_limit, idle_stream, foreign_source, truncated_frame, malformed_request, message_too_large, unauthenticated...).', labelNames: ['door', 'reason'], registers: [registry] }),
    grpcHandled: new Counter({ name: 'kafkaobs_grpc_server_handled_total', help: 'gRPC calls ended, by service, method and status code (including what grpc-js refused itself).', labelNames: ['grpc_service', 'grpc_method', 'grpc_code'], registers: [registry] }),
    connectionsOpen: new Gauge({ name: 'kafkaobs_grpc_connections_open', help: 'TCP connections open on the gRPC port.', registers: [registry] }),
    certificateExpiry: new Gauge({ name: 'kafkaobs_tls_certificate_expiry_timestamp_seconds', help: 'When the TLS certificate expires (unix seconds): alert well before it.', labelNames: ['certificate'], registers: [registry] }),
  };
}

/** The version in package.json (dist/aggregator/ is two levels below it). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
