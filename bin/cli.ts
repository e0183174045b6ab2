// kafka-obs: the whole command line (aggregator, agent, tail, replay, demo). bin/kafka-obs.ts
// loads it for every subcommand but `agent`, which it starts alone (bin/agent.ts).
import { Command, InvalidArgumentError, Option } from 'commander';
import { createChannel, createClientFactory, ClientError, Status } from 'nice-grpc';
import { AGGREGATOR_DEFAULTS, type AggregatorConfig, type MetricsSettings } from '../aggregator/config.js';
import { CELL_KINDS } from '../aggregator/exposition.js';
import type { EntityKind } from '../proto/index.js';
import { startAggregator } from '../aggregator/server.js';
import { UPSTREAM_DEFAULTS, checkLeafName, defaultLeafName } from '../aggregator/federation/leaf.js';
import { JournalError } from '../aggregator/journal/journal.js';
import { readSidecarTemplate } from '../aggregator/webhook.js';
import { Identities, IdentityError } from '../aggregator/identity.js';
import { ActorsConfigError, loadActorsSettings } from '../actors/config.js';
import { bearerToken, channelCredentials, channelOptions, parseTarget, TargetError } from '../agent/connection.js';
import { eventJson, formatEvent } from '../tail/format.js';
import { follow } from '../tail/follow.js';
import { DEMO_HELP, demoCommand } from '../demo/command.js';
import { INCIDENTS } from '../demo/incidents.js';
import { printReplay, replay } from '../replay/replay.js';
import { EventKind, HealthDefinition, SignalAggregatorDefinition, directDefinition } from '../proto/index.js';
import { VERSION, duration, factor, fail, int, logger, onShutdown, secret, size, startupFailure } from './common.js';
import { addAgentCommand } from './agent-command.js';

/** true/false, on/off, yes/no, 1/0 (a flag given without a value is on). */
function onOff(v: string | boolean): boolean {
  if (typeof v === 'boolean') return v;
  const t = v.trim().toLowerCase();
  if (['true', 'on', 'yes', '1'].includes(t)) return true;
  if (['false', 'off', 'no', '0'].includes(t)) return false;
  throw new InvalidArgumentError(`expected true or false, got "${v}"`);
}

/** A regular expression setting, or a precise refusal naming the flag and its variable. */
function regexOption(flag: string, envName: string, v: string | undefined): RegExp | undefined {
  if (v === undefined || v === '') return undefined;
  try {
    return new RegExp(v);
  } catch (e) {
    fail(`${flag} (${envName}): "${v}" is not a valid regular expression: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`);
  }
}

/** --metrics-cells: entity kinds, comma-separated, or "none". */
function cellKinds(v: string): EntityKind[] {
  const list = v.split(',').map((k) => k.trim()).filter((k) => k !== '');
  if (list.length === 1 && list[0] === 'none') return [];
  for (const k of list) if (!(CELL_KINDS as readonly string[]).includes(k)) fail(`--metrics-cells (KAFKA_OBS_METRICS_CELLS): unknown kind "${k}" (expected "none" or some of ${CELL_KINDS.join(', ')})`);
  return list as EntityKind[];
}

const program = new Command()
  .name('kafka-obs')
  .description('Kafka observability mesh: sidecar agents stream signals over gRPC to an aggregator that explains what is happening.')
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText('after', `
Examples:
  $ kafka-obs aggregator                         # gRPC :50051, HTTP :8080, data in ./data
  $ AGGREGATOR_URL=grpc://aggregator:50051 kafka-obs agent
  $ curl -XPOST localhost:8081/v1/signals -d '{"subject":"service/orders/pod/orders-1/producer/p1","queue":{"sign":"OVERFLOW","units":95}}'
  $ kafka-obs tail --kinds signal,cell --prefix service/orders
  $ kafka-obs tail --kinds narrative,situation          # what the aggregator concludes
  $ buf curl --protocol grpc --http2-prior-knowledge --list-methods http://localhost:50051`);

program
  .command('aggregator')
  .description('Run the aggregator: takes agent streams, keeps the hierarchy, serves subscribers.')
  .addOption(new Option('--grpc-port <port>', 'gRPC port').env('KAFKA_OBS_GRPC_PORT').argParser(int(0, 65535)).default(AGGREGATOR_DEFAULTS.grpcPort))
  .addOption(new Option('--grpc-host <host>', 'gRPC listen address (default: all interfaces when a token or mutual TLS guards the door, 127.0.0.1 otherwise)').env('KAFKA_OBS_GRPC_HOST'))
  .addOption(new Option('--http-port <port>', 'HTTP port (/api/..., /metrics, /healthz, /readyz); HTTPS with --tls-cert, behind the same token or certificate as gRPC').env('KAFKA_OBS_HTTP_PORT').argParser(int(0, 65535)).default(AGGREGATOR_DEFAULTS.httpPort))
  .addOption(new Option('--http-host <host>', 'HTTP listen address (default: as --grpc-host)').env('KAFKA_OBS_HTTP_HOST'))
  .addOption(new Option('--data-dir <dir>', 'where state is kept').env('KAFKA_OBS_DATA_DIR').default(AGGREGATOR_DEFAULTS.dataDir))
  .addOption(new Option('--retain-events <n>', 'events kept in memory for subscribers (older ones are read back from the journal)').env('KAFKA_OBS_RETAIN_EVENTS').argParser(int(1000)).default(AGGREGATOR_DEFAULTS.retainEvents))
  .addOption(new Option('--max-batch-signals <n>', 'largest batch accepted, in signals').env('KAFKA_OBS_MAX_BATCH_SIGNALS').argParser(int(1)).default(AGGREGATOR_DEFAULTS.maxBatchSignals))
  .addOption(new Option('--max-batch-bytes <n>', 'largest batch accepted, in bytes').env('KAFKA_OBS_MAX_BATCH_BYTES').argParser(int(1024)).default(AGGREGATOR_DEFAULTS.maxBatchBytes))
  .addOption(new Option('--max-cells <n>', 'most hierarchy cells kept; signals for new subjects beyond it are rejected').env('KAFKA_OBS_MAX_CELLS').argParser(int(1)).default(AGGREGATOR_DEFAULTS.maxCells))
  .addOption(new Option('--tls-cert <file>', 'server certificate (PEM): enables TLS').env('KAFKA_OBS_TLS_CERT'))
  .addOption(new Option('--tls-key <file>', 'server private key (PEM)').env('KAFKA_OBS_TLS_KEY'))
  .addOption(new Option('--tls-client-ca <file>', 'CA that client certificates must chain to: enables mutual TLS').env('KAFKA_OBS_TLS_CLIENT_CA'))
  .addOption(new Option('--token-file <file>', 'file holding one shared bearer token (or set KAFKA_OBS_TOKEN): its holders may speak for any source').env('KAFKA_OBS_TOKEN_FILE'))
  .addOption(new Option('--identities-file <file>', 'YAML: one identity per agent or tool (name, token or tokenSha256 or certificate, sources it may speak for); see aggregator/README.md').env('KAFKA_OBS_IDENTITIES_FILE'))
  .addOption(new Option('--metrics-open', 'serve /metrics without a token (probes /healthz and /readyz are always open)').env('KAFKA_OBS_METRICS_OPEN').default(AGGREGATOR_DEFAULTS.metricsOpen))
  .addOption(new Option('--max-connections <n>', 'most TCP connections on the gRPC port (0: no limit)').env('KAFKA_OBS_MAX_CONNECTIONS').argParser(int(0)).default(AGGREGATOR_DEFAULTS.maxConnections))
  .addOption(new Option('--connection-start-timeout <duration>', 'a connection that has not started a call this long after opening is closed').env('KAFKA_OBS_CONNECTION_START_TIMEOUT').argParser(duration).default(AGGREGATOR_DEFAULTS.connectionStartTimeoutMs, '10s'))
  .addOption(new Option('--connection-idle-timeout <duration>', 'a connection with no call open this long is closed (0: never)').env('KAFKA_OBS_CONNECTION_IDLE_TIMEOUT').argParser(duration).default(AGGREGATOR_DEFAULTS.connectionIdleMs, '5m'))
  .addOption(new Option('--max-streams-per-connection <n>', 'most calls open at once on one connection').env('KAFKA_OBS_MAX_STREAMS_PER_CONNECTION').argParser(int(1)).default(AGGREGATOR_DEFAULTS.maxStreamsPerConnection))
  .addOption(new Option('--max-streams <n>', 'most signal streams (agents) open at once (0: no limit)').env('KAFKA_OBS_MAX_STREAMS').argParser(int(0)).default(AGGREGATOR_DEFAULTS.maxSignalStreams))
  .addOption(new Option('--max-subscribers <n>', 'most subscriptions open at once (0: no limit)').env('KAFKA_OBS_MAX_SUBSCRIBERS').argParser(int(0)).default(AGGREGATOR_DEFAULTS.maxSubscribers))
  .addOption(new Option('--stream-idle-timeout <duration>', 'a signal stream that sends nothing this long is ended (agents send a keepalive every third of it; 0: never)').env('KAFKA_OBS_STREAM_IDLE_TIMEOUT').argParser(duration).default(AGGREGATOR_DEFAULTS.streamIdleTimeoutMs, '2m'))
  .addOption(new Option('--max-sources <n>', 'most sources (agents) tracked for deduplication; beyond it the longest silent is forgotten, or new sources are refused').env('KAFKA_OBS_MAX_SOURCES').argParser(int(1)).default(AGGREGATOR_DEFAULTS.maxSources))
  .addOption(new Option('--source-evict-after <duration>', 'a source silent this long may be forgotten when room is needed').env('KAFKA_OBS_SOURCE_EVICT_AFTER').argParser(duration).default(AGGREGATOR_DEFAULTS.sourceEvictAfterMs, '24h'))
  .addOption(new Option('--max-response-cells <n>', 'most cells in one GetCell or /api/cells answer (pages beyond)').env('KAFKA_OBS_MAX_RESPONSE_CELLS').argParser(int(1)).default(AGGREGATOR_DEFAULTS.maxResponseCells))
  .addOption(new Option('--max-response-narratives <n>', 'most narratives in one ListNarratives answer').env('KAFKA_OBS_MAX_RESPONSE_NARRATIVES').argParser(int(1)).default(AGGREGATOR_DEFAULTS.maxResponseNarratives))
  .addOption(new Option('--certificate-warn <duration>', 'warn when the server certificate expires within this long').env('KAFKA_OBS_CERTIFICATE_WARN').argParser(duration).default(AGGREGATOR_DEFAULTS.certificateWarnMs, '14d'))
  .addOption(new Option('--drain-timeout-ms <ms>', 'how long SIGTERM waits for open streams').argParser(int(0)).default(AGGREGATOR_DEFAULTS.drainTimeoutMs))
  .addOption(new Option('--actors <file>', 'YAML or JSON file: who acts on narratives (log, webhook, slack, pagerduty); each is off until enabled').env('KAFKA_OBS_ACTORS'))
  .option('--dry-run', 'actors only say what they would do (the default; forces every actor, or set KAFKA_OBS_DRY_RUN=true)')
  .option('--no-dry-run', 'enabled actors act for real unless their entry says dryRun: true (or KAFKA_OBS_DRY_RUN=false)')
  .addOption(new Option('--tick-ms <ms>', 'how often time passes in the pipeline (staleness, narratives publishing and resolving)').env('KAFKA_OBS_TICK_MS').argParser(int(10, 60_000)).default(AGGREGATOR_DEFAULTS.tickMs))
  .addOption(new Option('--decay-after-ms <ms>', 'a cell silent this long loses a step of confidence (0: never)').env('KAFKA_OBS_DECAY_AFTER_MS').argParser(int(0)).default(AGGREGATOR_DEFAULTS.decayAfterMs))
  .addOption(new Option('--stale-after-ms <ms>', 'a cell silent this long is stale: its parent stops counting it (0: never)').env('KAFKA_OBS_STALE_AFTER_MS').argParser(int(0)).default(AGGREGATOR_DEFAULTS.staleAfterMs))
  .addOption(new Option('--cause-wait-ms <ms>', 'a narrative rooted only in a symptom (a full buffer, a lagging group) waits this long for its cause to show').env('KAFKA_OBS_CAUSE_WAIT_MS').argParser(int(0)).default(AGGREGATOR_DEFAULTS.causeWaitMs))
  .addOption(new Option('--resolve-after-ms <ms>', 'a narrative resolves once all its findings have been over this long').env('KAFKA_OBS_RESOLVE_AFTER_MS').argParser(int(0)).default(AGGREGATOR_DEFAULTS.resolveAfterMs))
  .addOption(new Option('--situation-hold-ms <ms>', 'a situation falls (CRITICAL/WARNING to lower) only after this long at the lower level').env('KAFKA_OBS_SITUATION_HOLD_MS').argParser(int(0)).default(AGGREGATOR_DEFAULTS.situationHoldMs))
  .addOption(new Option('--time-scale <factor>', 'multiply the observers\' windows (evidence spans, calm periods, time-to-live) by this: for demos and tests that play incidents faster than life').env('KAFKA_OBS_TIME_SCALE').argParser(factor).default(AGGREGATOR_DEFAULTS.timeScale))
  .addOption(new Option('--webhook-port <port>', 'serve the sidecar injector (Kubernetes mutating admission webhook, POST /inject over HTTPS) on this port').env('KAFKA_OBS_WEBHOOK_PORT').argParser(int(0, 65535)))
  .addOption(new Option('--webhook-host <host>', 'webhook listen address').env('KAFKA_OBS_WEBHOOK_HOST').default('0.0.0.0'))
  .addOption(new Option('--webhook-cert <file>', 'webhook TLS certificate (PEM)').env('KAFKA_OBS_WEBHOOK_CERT'))
  .addOption(new Option('--webhook-key <file>', 'webhook TLS private key (PEM)').env('KAFKA_OBS_WEBHOOK_KEY'))
  .addOption(new Option('--webhook-sidecar <file>', 'YAML: the container (and volumes) to inject; the chart renders it').env('KAFKA_OBS_WEBHOOK_SIDECAR'))
  .addOption(new Option('--default-cluster <name>', 'cluster assumed for client signals that do not name theirs (context "cluster")').env('KAFKA_CLUSTER').default(AGGREGATOR_DEFAULTS.defaultCluster))
  .addOption(new Option('--journal-sync <policy>', 'when an ack may go out: fsync (the journal\'s WAL is synced to disk: survives power loss) or os (the OS has it: survives a crash of the process only)').env('KAFKA_OBS_JOURNAL_SYNC').choices(['fsync', 'os']).default(AGGREGATOR_DEFAULTS.journalSync))
  .addOption(new Option('--journal-writer <where>', 'where group commits are written: inline (on the event loop: acks go out sooner), thread (a worker thread: for disks whose sync takes many milliseconds) or auto (inline for a group under 500 events, the thread for a larger one: a busy event loop does not stop for the sync)').env('KAFKA_OBS_JOURNAL_WRITER').choices(['inline', 'thread', 'auto']).default(AGGREGATOR_DEFAULTS.journalWriter))
  .addOption(new Option('--retain-signals <duration>', 'keep signals (and every other event of the log) this long: 7d, 12h, 30m, 0 = forever').env('KAFKA_OBS_RETAIN_SIGNALS').argParser(duration).default(AGGREGATOR_DEFAULTS.retainSignalsMs, '7d'))
  .addOption(new Option('--retain-signals-bytes <size>', 'and at most this much of them: 20GiB, 500MiB, 0 = no limit').env('KAFKA_OBS_RETAIN_SIGNALS_BYTES').argParser(size).default(AGGREGATOR_DEFAULTS.retainSignalsBytes, '20GiB'))
  .addOption(new Option('--retain-narratives <duration>', 'keep narratives, findings, situations and actions this long').env('KAFKA_OBS_RETAIN_NARRATIVES').argParser(duration).default(AGGREGATOR_DEFAULTS.retainNarrativesMs, '365d'))
  .addOption(new Option('--retain-narratives-bytes <size>', 'and at most this much of them').env('KAFKA_OBS_RETAIN_NARRATIVES_BYTES').argParser(size).default(AGGREGATOR_DEFAULTS.retainNarrativesBytes, '2GiB'))
  .addOption(new Option('--retention-interval-ms <ms>', 'how often retention runs').argParser(int(100)).default(AGGREGATOR_DEFAULTS.retentionIntervalMs))
  .addOption(new Option('--recovery-window <duration>', 'on start, rebuild the pipeline from the journal\'s signals of this last stretch of time').env('KAFKA_OBS_RECOVERY_WINDOW').argParser(duration).default(AGGREGATOR_DEFAULTS.recoveryWindowMs, '15m'))
  .addOption(new Option('--recovery-max-events <n>', 'but from at most this many events').argParser(int(0)).default(AGGREGATOR_DEFAULTS.recoveryMaxEvents))
  .addOption(new Option('--journal-min-free <size>', 'with the disk full, writing is tried again once this much is free').argParser(size).default(AGGREGATOR_DEFAULTS.journalMinFreeBytes, '64MiB'))
  .addOption(new Option('--metrics-partitions [on]', '/metrics also has per-partition lag series (kafka_consumergroup_lag{partition}...): about 10 times the group series').env('KAFKA_OBS_METRICS_PARTITIONS').preset('true').argParser(onOff).default(AGGREGATOR_DEFAULTS.metrics.partitions))
  .addOption(new Option('--metrics-max-series <n>', 'most Kafka and cell series per scrape of /metrics; whole entities beyond it are left out, counted in kafkaobs_exporter_series_left_out_total').env('KAFKA_OBS_METRICS_MAX_SERIES').argParser(int(0)).default(AGGREGATOR_DEFAULTS.metrics.maxSeries))
  .addOption(new Option('--metrics-groups <regex>', 'only consumer groups whose name matches (JavaScript regular expression, unanchored)').env('KAFKA_OBS_METRICS_GROUPS'))
  .addOption(new Option('--metrics-exclude-groups <regex>', 'no series for consumer groups whose name matches').env('KAFKA_OBS_METRICS_EXCLUDE_GROUPS'))
  .addOption(new Option('--metrics-topics <regex>', 'only topics whose name matches (lag per topic and partition, partition health)').env('KAFKA_OBS_METRICS_TOPICS'))
  .addOption(new Option('--metrics-exclude-topics <regex>', 'no series for topics whose name matches, e.g. "^__"').env('KAFKA_OBS_METRICS_EXCLUDE_TOPICS'))
  .addOption(new Option('--metrics-cells <kinds>', `entity kinds whose cells get kafkaobs_cell_condition/_confidence series, comma-separated, or "none" (kinds: ${CELL_KINDS.join(', ')})`).env('KAFKA_OBS_METRICS_CELLS').default(AGGREGATOR_DEFAULTS.metrics.cellKinds.join(',')))
  .addOption(new Option('--upstream <url>', 'federation: forward what this aggregator decides (entity cells, findings, situations, narratives) to an upstream aggregator, grpc://host:port or grpcs://host:port').env('KAFKA_OBS_UPSTREAM'))
  .addOption(new Option('--leaf-name <name>', 'federation: this aggregator\'s name upstream (default: the host name); the upstream\'s identity for it must allow this name as a source').env('KAFKA_OBS_LEAF_NAME'))
  .addOption(new Option('--upstream-signals', 'federation: forward raw signals too').env('KAFKA_OBS_UPSTREAM_SIGNALS').default(false))
  .addOption(new Option('--upstream-tls-ca <file>', 'federation: CA to trust for the upstream (grpcs://)').env('UPSTREAM_TLS_CA'))
  .addOption(new Option('--upstream-tls-cert <file>', 'federation: client certificate for mutual TLS with the upstream').env('UPSTREAM_TLS_CERT'))
  .addOption(new Option('--upstream-tls-key <file>', 'federation: client key for mutual TLS with the upstream').env('UPSTREAM_TLS_KEY'))
  .addOption(new Option('--upstream-tls-server-name <name>', 'federation: expected name in the upstream\'s certificate').env('UPSTREAM_TLS_SERVER_NAME'))
  .addOption(new Option('--upstream-token-file <file>', 'federation: file holding the bearer token for the upstream (or set UPSTREAM_TOKEN)').env('UPSTREAM_TOKEN_FILE'))
  .addOption(new Option('--ha-group <name>', 'federation, HA pair: this leaf and another watch the same estate (agents send to both); give both the same group and the upstream keeps one copy of what they decide (one narrative, one page per incident). Needs --upstream').env('KAFKA_OBS_HA_GROUP'))
  .addOption(new Option('--correlate-leaves', 'federation, upstream: run the raw signals leaves forward (--upstream-signals on the leaves) through this aggregator\'s own pipeline and publish its narratives whose evidence spans two leaves or more (stories no single leaf sees whole); single-leaf stories stay the leaf\'s').env('KAFKA_OBS_CORRELATE_LEAVES').default(false))
  .addOption(new Option('--ha-actors', 'HA pair: run this member\'s actors anyway (off: with --ha-group the actors belong on the upstream, or every incident is announced by both members)').env('KAFKA_OBS_HA_ACTORS').default(false))
  .action(async (o) => {
    const log = logger('aggregator');
    let upstream: AggregatorConfig['upstream'];
    if (o.upstream !== undefined) {
      const leaf = (o.leafName as string | undefined) ?? defaultLeafName();
      const bad = checkLeafName(leaf);
      if (bad) fail(`--leaf-name: ${bad}`);
      const tls = { caFile: o.upstreamTlsCa, certFile: o.upstreamTlsCert, keyFile: o.upstreamTlsKey, serverName: o.upstreamTlsServerName };
      try {
        channelCredentials(parseTarget(o.upstream), tls);
      } catch (e) {
        if (!(e instanceof TargetError)) throw e;
        fail(`--upstream: ${e.message}`);
      }
      const group = o.haGroup as string | undefined;
      if (group !== undefined) {
        const badGroup = checkLeafName(group);
        if (badGroup) fail(`--ha-group: ${badGroup.replace('leaf name', 'group name')}`);
        if (group === leaf) fail(`--ha-group "${group}" is this leaf's own name (--leaf-name): each member of the pair needs its own leaf name and both the same group`);
      }
      upstream = { ...UPSTREAM_DEFAULTS, url: o.upstream, leaf, tls, token: secret(o.upstreamTokenFile, 'UPSTREAM_TOKEN'), signals: o.upstreamSignals === true || o.upstreamSignals === 'true', ...(group !== undefined ? { group } : {}) };
    } else if (o.haGroup !== undefined) {
      fail('--ha-group needs --upstream: the members of an HA pair are leaves of one upstream, which merges what they decide (add --upstream grpc://host:port to both members)');
    } else if (o.leafName !== undefined || o.upstreamTlsCa !== undefined || o.upstreamTokenFile !== undefined) {
      fail('--leaf-name, --upstream-tls-* and --upstream-token-file go with --upstream');
    }
    const metrics: MetricsSettings = {
      partitions: o.metricsPartitions,
      maxSeries: o.metricsMaxSeries,
      includeGroups: regexOption('--metrics-groups', 'KAFKA_OBS_METRICS_GROUPS', o.metricsGroups),
      excludeGroups: regexOption('--metrics-exclude-groups', 'KAFKA_OBS_METRICS_EXCLUDE_GROUPS', o.metricsExcludeGroups),
      includeTopics: regexOption('--metrics-topics', 'KAFKA_OBS_METRICS_TOPICS', o.metricsTopics),
      excludeTopics: regexOption('--metrics-exclude-topics', 'KAFKA_OBS_METRICS_EXCLUDE_TOPICS', o.metricsExcludeTopics),
      cellKinds: cellKinds(o.metricsCells),
    };
    let actors;
    try {
      actors = loadActorsSettings({ file: o.actors, dryRun: o.dryRun, env: process.env });
    } catch (e) {
      if (!(e instanceof ActorsConfigError)) throw e;
      fail(e.message);
    }
    const haActors = o.haActors === true || o.haActors === 'true';
    if (haActors && o.haGroup === undefined) fail('--ha-actors goes with --ha-group');
    if (upstream?.group !== undefined && !haActors && actors !== undefined && actors.actors.length > 0) {
      fail(`--ha-group "${upstream.group}" with enabled actors (${actors.actors.map((a) => a.name).join(', ')}): both members of the pair would announce every incident. Run the actors on the upstream (it acts on the merged narratives), or pass --ha-actors to act here anyway`);
    }
    if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) fail('TLS needs both --tls-cert and --tls-key');
    if (o.tlsClientCa && !o.tlsCert) fail('--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key');
    let identities: Identities | undefined;
    if (o.identitiesFile) {
      try {
        identities = Identities.fromFile(o.identitiesFile);
      } catch (e) {
        if (!(e instanceof IdentityError)) throw e;
        fail(e.message);
      }
    }
    const webhookParts = [o.webhookCert, o.webhookKey, o.webhookSidecar];
    if (o.webhookPort !== undefined && webhookParts.some((x) => x === undefined)) fail('the webhook (--webhook-port) needs --webhook-cert, --webhook-key and --webhook-sidecar');
    if (o.webhookPort === undefined && webhookParts.some((x) => x !== undefined)) fail('--webhook-cert, --webhook-key and --webhook-sidecar go with --webhook-port');
    if (o.webhookSidecar) {
      try {
        readSidecarTemplate(o.webhookSidecar);
      } catch (e) {
        fail((e as Error).message);
      }
    }
    const config: AggregatorConfig = {
      ...AGGREGATOR_DEFAULTS,
      grpcHost: o.grpcHost, grpcPort: o.grpcPort, httpHost: o.httpHost, httpPort: o.httpPort, dataDir: o.dataDir,
      retainEvents: o.retainEvents, maxBatchSignals: o.maxBatchSignals, maxBatchBytes: o.maxBatchBytes, maxCells: o.maxCells,
      drainTimeoutMs: o.drainTimeoutMs,
      tickMs: o.tickMs, decayAfterMs: o.decayAfterMs, staleAfterMs: o.staleAfterMs, causeWaitMs: o.causeWaitMs,
      resolveAfterMs: o.resolveAfterMs, situationHoldMs: o.situationHoldMs, defaultCluster: o.defaultCluster, timeScale: o.timeScale,
      journalSync: o.journalSync, journalWriter: o.journalWriter, retainSignalsMs: o.retainSignals, retainSignalsBytes: o.retainSignalsBytes,
      retainNarrativesMs: o.retainNarratives, retainNarrativesBytes: o.retainNarrativesBytes, retentionIntervalMs: o.retentionIntervalMs,
      recoveryWindowMs: o.recoveryWindow, recoveryMaxEvents: o.recoveryMaxEvents, journalMinFreeBytes: o.journalMinFree,
      tls: o.tlsCert ? { certFile: o.tlsCert, keyFile: o.tlsKey, clientCaFile: o.tlsClientCa } : undefined,
      token: secret(o.tokenFile, 'KAFKA_OBS_TOKEN'),
      identities,
      metricsOpen: o.metricsOpen === true || o.metricsOpen === 'true',
      maxConnections: o.maxConnections, connectionStartTimeoutMs: o.connectionStartTimeout, connectionIdleMs: o.connectionIdleTimeout,
      maxStreamsPerConnection: o.maxStreamsPerConnection, maxSignalStreams: o.maxStreams, maxSubscribers: o.maxSubscribers,
      streamIdleTimeoutMs: o.streamIdleTimeout, maxSources: o.maxSources, sourceEvictAfterMs: o.sourceEvictAfter,
      maxResponseCells: o.maxResponseCells, maxResponseNarratives: o.maxResponseNarratives, certificateWarnMs: o.certificateWarn,
      actors,
      webhook: o.webhookPort === undefined ? undefined : { host: o.webhookHost, port: o.webhookPort, certFile: o.webhookCert, keyFile: o.webhookKey, sidecarFile: o.webhookSidecar },
      metrics,
      upstream,
      correlateLeaves: o.correlateLeaves === true || o.correlateLeaves === 'true',
    };
    const running = await startAggregator(config, log).catch((e) => {
      if (e instanceof JournalError) {
        log.fatal({ err: e.message, code: e.code }, 'aggregator could not start: journal problem');
        process.stderr.write(`kafka-obs: ${e.message}\n`);
        process.exit(3);
      }
      return startupFailure(log, 'aggregator', e);
    });
    onShutdown(log, running.stop);
  });

addAgentCommand(program);

program
  .command('tail')
  .description('Subscribe to the aggregator and print events as they happen.')
  .addOption(new Option('--aggregator-url <url>', 'grpc://host:port or grpcs://host:port').env('AGGREGATOR_URL').default('grpc://localhost:50051'))
  .option('--kinds <list>', 'event kinds to show: signal,cell,gap,finding,situation,narrative,action (default all)')
  .option('--prefix <subject>', 'only subjects under this path, e.g. cluster/prod', '')
  .option('--from <offset>', 'first every journalled event from this offset (0 = from the oldest kept), then live')
  .option('--json', 'one canonical JSON event per line', false)
  .option('--no-color', 'plain text even on a terminal')
  .option('--limit <n>', 'exit after this many events')
  .addOption(new Option('--tls-ca <file>', 'CA to trust (grpcs://)').env('AGGREGATOR_TLS_CA'))
  .addOption(new Option('--tls-cert <file>', 'client certificate for mutual TLS').env('AGGREGATOR_TLS_CERT'))
  .addOption(new Option('--tls-key <file>', 'client key for mutual TLS').env('AGGREGATOR_TLS_KEY'))
  .addOption(new Option('--token-file <file>', 'file holding the bearer token (or set AGGREGATOR_TOKEN)').env('AGGREGATOR_TOKEN_FILE'))
  .action(async (o) => {
    const kindNames: Record<string, EventKind> = {
      signal: EventKind.SIGNAL, cell: EventKind.CELL_CHANGE, cell_change: EventKind.CELL_CHANGE, gap: EventKind.GAP,
      finding: EventKind.FINDING, situation: EventKind.SITUATION, narrative: EventKind.NARRATIVE, action: EventKind.ACTION,
    };
    const kinds = (o.kinds ? String(o.kinds).split(',') : []).map((k: string) => {
      const kind = kindNames[k.trim().toLowerCase()];
      if (kind === undefined) fail(`unknown event kind "${k}" (expected signal, cell, gap, finding, situation, narrative, action)`);
      return kind;
    });
    const fromOffset = o.from === undefined ? undefined : BigInt(int(0)(o.from));
    const limit = o.limit === undefined ? Infinity : int(1)(o.limit);
    let target;
    try {
      target = parseTarget(o.aggregatorUrl);
    } catch (e) {
      fail((e as TargetError).message);
    }
    const tls = { caFile: o.tlsCa, certFile: o.tlsCert, keyFile: o.tlsKey };
    // Reconnect within seconds of an aggregator coming back (grpc-js would otherwise back off to 2 min).
    const channel = createChannel(target.address, channelCredentials(target, tls), { ...channelOptions(tls), 'grpc.max_reconnect_backoff_ms': 5000 });
    const token = secret(o.tokenFile, 'AGGREGATOR_TOKEN');
    const client = (token ? createClientFactory().use(bearerToken(token)) : createClientFactory()).create(directDefinition(SignalAggregatorDefinition), channel);
    const abort = new AbortController();
    process.on('SIGINT', () => abort.abort());
    process.on('SIGTERM', () => abort.abort());
    process.stdout.on('error', () => abort.abort()); // e.g. piped into head
    const color = o.color !== false && !o.json && process.stdout.isTTY === true;
    const health = (token ? createClientFactory().use(bearerToken(token)) : createClientFactory()).create(directDefinition(HealthDefinition), channel);
    try {
      await follow({ subscribe: (r, opts) => client.subscribe(r, opts), check: (r, opts) => health.check(r, opts) }, {
        request: { kinds, subjectPrefix: o.prefix, fromOffset },
        limit,
        url: o.aggregatorUrl,
        signal: abort.signal,
        onEvent: (e) => process.stdout.write(`${o.json ? eventJson(e) : formatEvent(e, color, process.stdout.columns || 100)}\n`),
        say: (line) => process.stderr.write(`kafka-obs tail: ${line}\n`),
      });
    } catch (e) {
      process.stderr.write(`kafka-obs tail: ${(e as Error).message} (aggregator ${o.aggregatorUrl})\n`);
      process.exitCode = 1;
    } finally {
      channel.close();
    }
  });

/** A point in time: RFC 3339 / ISO 8601, unix nanoseconds, or a duration ago ("-15m", "-2h"). */
function instant(v: string): bigint {
  const t = v.trim();
  if (/^\d{16,}$/.test(t)) return BigInt(t);
  const ago = /^-(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(t);
  if (ago) return BigInt(Date.now()) * 1_000_000n - BigInt(duration(t.slice(1))) * 1_000_000n;
  const ms = Date.parse(t);
  if (Number.isNaN(ms)) throw new InvalidArgumentError(`expected a time: RFC 3339 (2026-12-06T17:00:00Z), unix nanoseconds, or "-15m" for 15 minutes ago; got "${v}"`);
  const frac = /\.(\d+)/.exec(t)?.[1] ?? '';
  return BigInt(ms) * 1_000_000n + BigInt((frac.slice(3, 9) || '0').padEnd(6, '0'));
}

program
  .command('replay')
  .description('Re-run a stored stretch of the journal through the current pipeline (offline) and print the narratives it reaches.')
  .option('--data-dir <dir>', 'the aggregator\'s data directory (stop the aggregator or copy the directory first)', AGGREGATOR_DEFAULTS.dataDir)
  .option('--aggregator-url <url>', 'or read a running aggregator\'s journal through its Replay call (grpc://host:port, grpcs:// for TLS)')
  .addOption(new Option('--tls-ca <file>', 'with --aggregator-url: CA to trust (grpcs://)').env('AGGREGATOR_TLS_CA'))
  .addOption(new Option('--tls-cert <file>', 'client certificate for mutual TLS').env('AGGREGATOR_TLS_CERT'))
  .addOption(new Option('--tls-key <file>', 'client key for mutual TLS').env('AGGREGATOR_TLS_KEY'))
  .addOption(new Option('--token-file <file>', 'file holding the bearer token (or set AGGREGATOR_TOKEN)').env('AGGREGATOR_TOKEN_FILE'))
  .option('--from <time>', 'from this time (RFC 3339, unix ns, or -2h for two hours ago); default: the journal\'s start')
  .option('--to <time>', 'up to this time (exclusive); default: the journal\'s end, then --settle of quiet time')
  .option('--prefix <subject>', 'only narratives whose root or chain is under this path', '')
  .option('--settle <duration>', 'without --to: time to let pass after the last signal (causes waited for, narratives resolved)', '60s')
  .option('--compare', 'also print what the journal recorded for the same stretch, and whether the replay agrees (exit 1 if not)', false)
  .option('--json', 'one JSON object per narrative', false)
  .addOption(new Option('--tick-ms <ms>', 'the pipeline\'s tick, as the aggregator\'s').argParser(int(10, 60_000)).default(AGGREGATOR_DEFAULTS.tickMs))
  .addOption(new Option('--cause-wait-ms <ms>', 'as the aggregator\'s').argParser(int(0)).default(AGGREGATOR_DEFAULTS.causeWaitMs))
  .addOption(new Option('--resolve-after-ms <ms>', 'as the aggregator\'s').argParser(int(0)).default(AGGREGATOR_DEFAULTS.resolveAfterMs))
  .addOption(new Option('--situation-hold-ms <ms>', 'as the aggregator\'s').argParser(int(0)).default(AGGREGATOR_DEFAULTS.situationHoldMs))
  .addOption(new Option('--decay-after-ms <ms>', 'as the aggregator\'s').argParser(int(0)).default(AGGREGATOR_DEFAULTS.decayAfterMs))
  .addOption(new Option('--stale-after-ms <ms>', 'as the aggregator\'s').argParser(int(0)).default(AGGREGATOR_DEFAULTS.staleAfterMs))
  .addOption(new Option('--default-cluster <name>', 'as the aggregator\'s').env('KAFKA_CLUSTER').default(AGGREGATOR_DEFAULTS.defaultCluster))
  .addOption(new Option('--time-scale <factor>', 'as the aggregator\'s').env('KAFKA_OBS_TIME_SCALE').argParser(factor).default(AGGREGATOR_DEFAULTS.timeScale))
  .action(async (o) => {
    let fromNs = 0n;
    let toNs = 0n;
    let settleMs = 0;
    try {
      if (o.from) fromNs = instant(o.from);
      if (o.to) toNs = instant(o.to);
      settleMs = duration(o.settle);
    } catch (e) {
      fail((e as Error).message);
    }
    if (toNs > 0n && fromNs > toNs) fail('--from is after --to');
    const config: AggregatorConfig = {
      ...AGGREGATOR_DEFAULTS,
      tickMs: o.tickMs, causeWaitMs: o.causeWaitMs, resolveAfterMs: o.resolveAfterMs, situationHoldMs: o.situationHoldMs,
      decayAfterMs: o.decayAfterMs, staleAfterMs: o.staleAfterMs, defaultCluster: o.defaultCluster, timeScale: o.timeScale,
    };
    if (o.aggregatorUrl) {
      try {
        parseTarget(o.aggregatorUrl);
      } catch (e) {
        fail((e as TargetError).message);
      }
    }
    const opts = {
      dataDir: o.dataDir, fromNs, toNs, prefix: o.prefix, settleMs, json: o.json, compare: o.compare, config,
      url: o.aggregatorUrl as string | undefined, tls: { caFile: o.tlsCa, certFile: o.tlsCert, keyFile: o.tlsKey }, token: secret(o.tokenFile, 'AGGREGATOR_TOKEN'),
    };
    try {
      const r = await replay(opts);
      printReplay(r, opts, (t) => process.stdout.write(t));
      process.exitCode = o.compare && !r.same ? 1 : 0;
    } catch (e) {
      if (e instanceof JournalError) {
        process.stderr.write(`kafka-obs replay: ${e.message}\n`);
        process.exit(e.code === 'missing' ? 2 : 3);
      }
      if (e instanceof ClientError) {
        process.stderr.write(`kafka-obs replay: ${Status[e.code]}: ${e.details} (aggregator ${o.aggregatorUrl})\n`);
        process.exit(3);
      }
      throw e;
    }
  });

program
  .command('demo')
  .description('See it work: an aggregator, agents and what they watch play an incident (a cascading failure that starts at a broker, unless --incident names another).')
  .addOption(new Option('--incident <name>', 'which incident to play').choices(INCIDENTS.map((i) => i.name)).default('cascade'))
  .option('--fast', 'the same story at a quicker pace (about half a minute)', false)
  .option('--jvm', 'real JVMs with Kafka MBeans, watched over JMX (the default when a JDK is found)')
  .option('--no-jvm', 'recorded signal timelines replayed through the agents instead of JVMs')
  .option('--verbose', 'every signal and cell change, and the processes\' own log lines', false)
  .option('--no-color', 'plain text even on a terminal')
  .addHelpText('after', DEMO_HELP)
  .action(async (o) => {
    process.exitCode = await demoCommand({ incident: o.incident, fast: o.fast, jvm: o.jvm, verbose: o.verbose, color: o.color });
  });

program.parseAsync(process.argv).catch((e: Error) => fail(e.message));
