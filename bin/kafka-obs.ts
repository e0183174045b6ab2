#!/usr/bin/env node
// kafka-obs: the command line. Subcommands: aggregator, agent, tail.
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { pino, type Logger } from 'pino';
import { ClientError, Status, createChannel, createClientFactory } from 'nice-grpc';
import { AGGREGATOR_DEFAULTS, type AggregatorConfig } from '../aggregator/config.js';
import { startAggregator } from '../aggregator/server.js';
import { UPSTREAM_DEFAULTS, checkLeafName, defaultLeafName } from '../aggregator/federation/leaf.js';
import { JournalError } from '../aggregator/journal/journal.js';
import { readSidecarTemplate } from '../aggregator/webhook.js';
import { Identities, IdentityError } from '../aggregator/identity.js';
import { AGENT_DEFAULTS, type AgentConfig } from '../agent/config.js';
import { startAgent } from '../agent/agent.js';
import { ConfigFileError, readAgentFile, type AgentFile } from '../agent/config-file.js';
import { ActorsConfigError, loadActorsSettings } from '../actors/config.js';
import { buildSensors } from '../agent/sensors.js';
import type { CheckResult } from '../agent/sensor.js';
import { bearerToken, channelCredentials, channelOptions, parseTarget, TargetError } from '../agent/connection.js';
import { eventJson, formatEvent } from '../tail/format.js';
import { follow } from '../tail/follow.js';
import { DEMO_HELP, demoCommand } from '../demo/command.js';
import { INCIDENTS } from '../demo/incidents.js';
import { printReplay, replay } from '../replay/replay.js';
import { EventKind, HealthDefinition, SignalAggregatorDefinition, directDefinition } from '../proto/index.js';

const VERSION = '0.1.0';

function logger(name: string): Logger {
  return pino({ name, level: process.env.LOG_LEVEL ?? 'info', redact: ['token', '*.token', 'password', '*.password'] }, pino.destination({ fd: 2 }));
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}, got "${v}"`);
  return n;
};

/** A time scale: a number above 0 and at most 1000. */
const factor = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 1000) throw new InvalidArgumentError(`expected a number above 0 (e.g. 0.2 for five times faster), got "${v}"`);
  return n;
};

/** A secret from a file (trailing newline trimmed) or an environment variable; never from a flag. */
function secret(file: string | undefined, envName: string): string | undefined {
  if (file) {
    try {
      const v = readFileSync(file, 'utf8').trim();
      if (v === '') fail(`token file ${file} is empty`);
      return v;
    } catch (e) {
      fail(`cannot read token file ${file}: ${(e as Error).message}`);
    }
  }
  const v = process.env[envName]?.trim();
  return v ? v : undefined;
}

/** 90s, 15m, 12h, 7d, 1500ms or plain milliseconds; 0 = unlimited. */
function duration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`expected a duration such as 90s, 15m, 12h, 7d (or milliseconds), got "${v}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
  return Math.round(Number(m[1]) * unit);
}

/** 20GiB, 500MiB, 64MB, 1024 (bytes); 0 = unlimited. */
function size(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB)?$/i.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`expected a size such as 500MiB, 20GiB (or bytes), got "${v}"`);
  const units: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3, tb: 1e12, tib: 1024 ** 4 };
  return Math.round(Number(m[1]) * units[(m[2] ?? 'b').toLowerCase()]!);
}

/** A size (as `size`) of at least `min` bytes and at most 2 GiB. */
const sizeAtLeast = (min: number, flag: string) => (v: string): number => {
  const n = size(v);
  if (n < min || n > 2 ** 31 - 1) throw new InvalidArgumentError(`--${flag} must be from ${min} bytes to 2GiB, got "${v}"`);
  return n;
};

function fail(message: string): never {
  process.stderr.write(`kafka-obs: ${message}\n`);
  process.exit(2);
}

/** Stops gracefully on SIGTERM/SIGINT; a second signal exits at once. */
function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (sig: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal: sig }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal: sig }, 'shutting down');
    stop().then(() => process.exit(0), (e: Error) => {
      log.error({ err: e.message }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

function startupFailure(log: Logger, what: string, e: unknown): never {
  const err = e as NodeJS.ErrnoException;
  const hint = err.code === 'EADDRINUSE' ? ' (the port is taken: choose another with the port flags)' : err.code === 'ENOENT' ? ' (a file named in the settings does not exist)' : '';
  log.fatal({ err: err.message }, `${what} could not start${hint}`);
  process.stderr.write(`kafka-obs: ${what} could not start: ${err.message}${hint}\n`);
  process.exit(1);
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
  .addOption(new Option('--journal-writer <where>', 'where group commits are written: inline (on the event loop: acks go out sooner) or thread (a worker thread: for disks whose sync takes many milliseconds)').env('KAFKA_OBS_JOURNAL_WRITER').choices(['inline', 'thread']).default(AGGREGATOR_DEFAULTS.journalWriter))
  .addOption(new Option('--retain-signals <duration>', 'keep signals (and every other event of the log) this long: 7d, 12h, 30m, 0 = forever').env('KAFKA_OBS_RETAIN_SIGNALS').argParser(duration).default(AGGREGATOR_DEFAULTS.retainSignalsMs, '7d'))
  .addOption(new Option('--retain-signals-bytes <size>', 'and at most this much of them: 20GiB, 500MiB, 0 = no limit').env('KAFKA_OBS_RETAIN_SIGNALS_BYTES').argParser(size).default(AGGREGATOR_DEFAULTS.retainSignalsBytes, '20GiB'))
  .addOption(new Option('--retain-narratives <duration>', 'keep narratives, findings, situations and actions this long').env('KAFKA_OBS_RETAIN_NARRATIVES').argParser(duration).default(AGGREGATOR_DEFAULTS.retainNarrativesMs, '365d'))
  .addOption(new Option('--retain-narratives-bytes <size>', 'and at most this much of them').env('KAFKA_OBS_RETAIN_NARRATIVES_BYTES').argParser(size).default(AGGREGATOR_DEFAULTS.retainNarrativesBytes, '2GiB'))
  .addOption(new Option('--retention-interval-ms <ms>', 'how often retention runs').argParser(int(100)).default(AGGREGATOR_DEFAULTS.retentionIntervalMs))
  .addOption(new Option('--recovery-window <duration>', 'on start, rebuild the pipeline from the journal\'s signals of this last stretch of time').env('KAFKA_OBS_RECOVERY_WINDOW').argParser(duration).default(AGGREGATOR_DEFAULTS.recoveryWindowMs, '15m'))
  .addOption(new Option('--recovery-max-events <n>', 'but from at most this many events').argParser(int(0)).default(AGGREGATOR_DEFAULTS.recoveryMaxEvents))
  .addOption(new Option('--journal-min-free <size>', 'with the disk full, writing is tried again once this much is free').argParser(size).default(AGGREGATOR_DEFAULTS.journalMinFreeBytes, '64MiB'))
  .addOption(new Option('--upstream <url>', 'federation: forward what this aggregator decides (entity cells, findings, situations, narratives) to an upstream aggregator, grpc://host:port or grpcs://host:port').env('KAFKA_OBS_UPSTREAM'))
  .addOption(new Option('--leaf-name <name>', 'federation: this aggregator\'s name upstream (default: the host name); the upstream\'s identity for it must allow this name as a source').env('KAFKA_OBS_LEAF_NAME'))
  .addOption(new Option('--upstream-signals', 'federation: forward raw signals too').env('KAFKA_OBS_UPSTREAM_SIGNALS').default(false))
  .addOption(new Option('--upstream-tls-ca <file>', 'federation: CA to trust for the upstream (grpcs://)').env('UPSTREAM_TLS_CA'))
  .addOption(new Option('--upstream-tls-cert <file>', 'federation: client certificate for mutual TLS with the upstream').env('UPSTREAM_TLS_CERT'))
  .addOption(new Option('--upstream-tls-key <file>', 'federation: client key for mutual TLS with the upstream').env('UPSTREAM_TLS_KEY'))
  .addOption(new Option('--upstream-tls-server-name <name>', 'federation: expected name in the upstream\'s certificate').env('UPSTREAM_TLS_SERVER_NAME'))
  .addOption(new Option('--upstream-token-file <file>', 'federation: file holding the bearer token for the upstream (or set UPSTREAM_TOKEN)').env('UPSTREAM_TOKEN_FILE'))
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
      upstream = { ...UPSTREAM_DEFAULTS, url: o.upstream, leaf, tls, token: secret(o.upstreamTokenFile, 'UPSTREAM_TOKEN'), signals: o.upstreamSignals === true || o.upstreamSignals === 'true' };
    } else if (o.leafName !== undefined || o.upstreamTlsCa !== undefined || o.upstreamTokenFile !== undefined) {
      fail('--leaf-name, --upstream-tls-* and --upstream-token-file go with --upstream');
    }
    let actors;
    try {
      actors = loadActorsSettings({ file: o.actors, dryRun: o.dryRun, env: process.env });
    } catch (e) {
      if (!(e instanceof ActorsConfigError)) throw e;
      fail(e.message);
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
      upstream,
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

program
  .command('agent')
  .description('Run an agent (sidecar): takes signals from the service beside it and streams them to the aggregator.')
  .addOption(new Option('--aggregator-url <url>', 'grpc://host:port, or grpcs://host:port for TLS').env('AGGREGATOR_URL').default(AGENT_DEFAULTS.aggregatorUrl))
  .addOption(new Option('--agent-id <id>', 'this agent\'s source id (default: the pod or host name)').env('AGENT_ID').default(AGENT_DEFAULTS.agentId))
  .addOption(new Option('--grpc-port <port>', 'local gRPC intake (kafkaobs.v1.LocalAgent)').env('AGENT_GRPC_PORT').argParser(int(0, 65535)).default(AGENT_DEFAULTS.grpcPort))
  .addOption(new Option('--grpc-host <host>', 'local gRPC intake address').env('AGENT_GRPC_HOST').default(AGENT_DEFAULTS.grpcHost))
  .addOption(new Option('--http-port <port>', 'local HTTP (POST /v1/signals, /metrics, /healthz, /readyz, /v1/status)').env('AGENT_HTTP_PORT').argParser(int(0, 65535)).default(AGENT_DEFAULTS.httpPort))
  .addOption(new Option('--http-host <host>', 'local HTTP address (0.0.0.0 to let Prometheus scrape it)').env('AGENT_HTTP_HOST').default(AGENT_DEFAULTS.httpHost))
  .addOption(new Option('--health-port <port>', 'probe port: GET /healthz, /readyz, /metrics only (no intake), for kubelet and Prometheus (off unless set)').env('AGENT_HEALTH_PORT').argParser(int(0, 65535)))
  .addOption(new Option('--health-host <host>', 'probe port address').env('AGENT_HEALTH_HOST').default(AGENT_DEFAULTS.healthHost))
  .addOption(new Option('--intake-max-body-bytes <size>', 'intake: largest HTTP body and gRPC message taken (4MiB, 512KiB or bytes); a declared larger body gets 413 before it is read').env('AGENT_INTAKE_MAX_BODY_BYTES').argParser(sizeAtLeast(1024, 'intake-max-body-bytes')).default(AGENT_DEFAULTS.intake.maxBodyBytes, '4MiB'))
  .addOption(new Option('--intake-max-depth <n>', 'intake: deepest JSON nesting taken (a signal is about 4 deep); deeper is refused (400) before parsing').env('AGENT_INTAKE_MAX_DEPTH').argParser(int(4, 1000)).default(AGENT_DEFAULTS.intake.maxDepth))
  .addOption(new Option('--intake-max-signals <n>', 'intake: most signals in one HTTP request or gRPC call (counted before parsing); beyond, 413 (gRPC: RESOURCE_EXHAUSTED)').env('AGENT_INTAKE_MAX_SIGNALS').argParser(int(1, 10_000_000)).default(AGENT_DEFAULTS.intake.maxSignals))
  .addOption(new Option('--intake-max-in-flight <n>', 'intake: HTTP requests and gRPC calls handled at once; beyond, 503 with Retry-After (gRPC: RESOURCE_EXHAUSTED)').env('AGENT_INTAKE_MAX_IN_FLIGHT').argParser(int(1, 100_000)).default(AGENT_DEFAULTS.intake.maxInFlight))
  .addOption(new Option('--intake-headers-timeout-ms <ms>', 'intake: a request\'s headers must arrive within this (else 408 and the connection is closed)').env('AGENT_INTAKE_HEADERS_TIMEOUT_MS').argParser(int(100, 3_600_000)).default(AGENT_DEFAULTS.intake.headersTimeoutMs))
  .addOption(new Option('--intake-request-timeout-ms <ms>', 'intake: a whole request (headers and body; gRPC: the call\'s message) must arrive within this; at least the headers timeout').env('AGENT_INTAKE_REQUEST_TIMEOUT_MS').argParser(int(100, 3_600_000)).default(AGENT_DEFAULTS.intake.requestTimeoutMs))
  .addOption(new Option('--intake-keep-alive-timeout-ms <ms>', 'intake: an idle keep-alive HTTP connection is closed after this').env('AGENT_INTAKE_KEEP_ALIVE_TIMEOUT_MS').argParser(int(100, 3_600_000)).default(AGENT_DEFAULTS.intake.keepAliveTimeoutMs))
  .addOption(new Option('--intake-max-connections <n>', 'intake: open HTTP connections at most (intake, /metrics and /healthz together); beyond, new ones are closed at once').env('AGENT_INTAKE_MAX_CONNECTIONS').argParser(int(1, 1_000_000)).default(AGENT_DEFAULTS.intake.maxConnections))
  .addOption(new Option('--intake-max-header-bytes <size>', 'intake: request line and headers at most this large (431 beyond)').env('AGENT_INTAKE_MAX_HEADER_BYTES').argParser(sizeAtLeast(1024, 'intake-max-header-bytes')).default(AGENT_DEFAULTS.intake.maxHeaderBytes, '16KiB'))
  .addOption(new Option('--outbox-capacity <n>', 'signals held until acknowledged').env('OUTBOX_CAPACITY').argParser(int(1)).default(AGENT_DEFAULTS.outboxCapacity))
  .addOption(new Option('--outbox-policy <policy>', 'when the outbox is full').env('OUTBOX_POLICY').choices(['block', 'drop-oldest']).default(AGENT_DEFAULTS.outboxPolicy))
  .addOption(new Option('--outbox-block-timeout-ms <ms>', 'with block: how long a caller of the intake waits for room before 429 (aggregator connected) or 503 (unreachable)').env('OUTBOX_BLOCK_TIMEOUT_MS').argParser(int(1)).default(5000))
  .addOption(new Option('--max-batch <n>', 'signals per batch').env('AGENT_MAX_BATCH').argParser(int(1, 10_000)).default(AGENT_DEFAULTS.maxBatch))
  .addOption(new Option('--linger-ms <ms>', 'how long a batch waits to fill').env('AGENT_LINGER_MS').argParser(int(0, 10_000)).default(AGENT_DEFAULTS.lingerMs))
  .addOption(new Option('--backoff-max-ms <ms>', 'longest wait between reconnects').argParser(int(1)).default(AGENT_DEFAULTS.backoffMaxMs))
  .addOption(new Option('--keepalive <duration>', 'with nothing to send this long, a keepalive on the stream (keep it under a third of the aggregator\'s --stream-idle-timeout)').env('AGENT_KEEPALIVE').argParser(duration).default(AGENT_DEFAULTS.keepaliveMs, '30s'))
  .addOption(new Option('--tls-ca <file>', 'CA to trust for the aggregator (grpcs://)').env('AGGREGATOR_TLS_CA'))
  .addOption(new Option('--tls-cert <file>', 'client certificate for mutual TLS').env('AGGREGATOR_TLS_CERT'))
  .addOption(new Option('--tls-key <file>', 'client key for mutual TLS').env('AGGREGATOR_TLS_KEY'))
  .addOption(new Option('--tls-server-name <name>', 'expected name in the aggregator\'s certificate').env('AGGREGATOR_TLS_SERVER_NAME'))
  .addOption(new Option('--token-file <file>', 'file holding the bearer token (or set AGGREGATOR_TOKEN)').env('AGGREGATOR_TOKEN_FILE'))
  .addOption(new Option('--config <file>', 'YAML or JSON file: JMX targets, Prometheus endpoints, Kafka settings, rules').env('KAFKA_OBS_AGENT_CONFIG'))
  .addOption(new Option('--service-name <name>', 'service this pod belongs to (subjects service/<name>/pod/<agent-id>/...)').env('SERVICE_NAME'))
  .addOption(new Option('--cluster <name>', 'Kafka cluster name in subjects (cluster/<name>/...)').env('KAFKA_CLUSTER'))
  .addOption(new Option('--poll-interval-ms <ms>', 'how often sensors poll').env('POLL_INTERVAL_MS').argParser(int(100)))
  .addOption(new Option('--time-scale <factor>', 'multiply every duration of the translation rules (trend windows, heartbeats, hysteresis) by this: for demos and tests that play incidents faster than life').env('KAFKA_OBS_TIME_SCALE').argParser(factor).default(1))
  .option('--check', 'print what each configured source can see (and what is wrong), then exit', false)
  .addHelpText('after', `
Sources (each on when its variable is set; --config lists several):
  JMX_URL, KAFKA_JMX_URL          a JVM's JMX (host:port or service:jmx:...), see README "JVM sources"
  PROMETHEUS_URL                  a JMX exporter page (Strimzi), comma-separated
  KAFKA_BOOTSTRAP_SERVERS         the Kafka Admin API: partition health and consumer lag (also KAFKA_BROKER_URL)
    KAFKA_SECURITY_PROTOCOL       PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    KAFKA_SASL_MECHANISM          PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE
    KAFKA_SSL_CA_FILE, KAFKA_SSL_CERT_FILE, KAFKA_SSL_KEY_FILE   PEM files (TLS listeners, mutual TLS)
    KAFKA_CONSUMER_GROUPS         groups to evaluate besides those the cluster lists (comma-separated)
    KAFKA_POLL_INTERVAL_MS        how often lag is evaluated (default: POLL_INTERVAL_MS)
    KAFKA_MAX_TRACKED_GROUPS      at most this many groups (default 50000)

Examples:
  KAFKA_BOOTSTRAP_SERVERS=kafka:9092 KAFKA_CLUSTER=prod kafka-obs agent --check
  JMX_URL=localhost:9999 SERVICE_NAME=orders kafka-obs agent`)
  .option('--from-file <file>', 'also read signals from an NDJSON file ("-" for stdin)')
  .option('--exit-when-done', 'with --from-file: exit once every signal of the file is acknowledged', false)
  .action(async (o) => {
    const log = logger('agent');
    let file: AgentFile = {};
    if (o.config) {
      try {
        file = readAgentFile(o.config);
      } catch (e) {
        fail((e as ConfigFileError).message);
      }
    }
    try {
      parseTarget(o.aggregatorUrl);
    } catch (e) {
      fail((e as TargetError).message);
    }
    const config: AgentConfig = {
      ...AGENT_DEFAULTS,
      aggregatorUrl: o.aggregatorUrl, agentId: o.agentId,
      grpcHost: o.grpcHost, grpcPort: o.grpcPort, httpHost: o.httpHost, httpPort: o.httpPort,
      healthHost: o.healthHost, healthPort: o.healthPort,
      intake: {
        maxBodyBytes: o.intakeMaxBodyBytes, maxDepth: o.intakeMaxDepth, maxSignals: o.intakeMaxSignals, maxInFlight: o.intakeMaxInFlight,
        headersTimeoutMs: o.intakeHeadersTimeoutMs, requestTimeoutMs: o.intakeRequestTimeoutMs, keepAliveTimeoutMs: o.intakeKeepAliveTimeoutMs,
        maxConnections: o.intakeMaxConnections, maxHeaderBytes: o.intakeMaxHeaderBytes,
      },
      outboxCapacity: o.outboxCapacity, outboxPolicy: o.outboxPolicy, outboxBlockTimeoutMs: o.outboxBlockTimeoutMs, maxBatch: o.maxBatch, lingerMs: o.lingerMs,
      backoffMaxMs: o.backoffMaxMs, keepaliveMs: o.keepalive,
      tls: { caFile: o.tlsCa, certFile: o.tlsCert, keyFile: o.tlsKey, serverName: o.tlsServerName },
      token: secret(o.tokenFile, 'AGGREGATOR_TOKEN'),
      fromFile: o.fromFile, exitWhenDone: o.exitWhenDone,
      names: {
        service: o.serviceName ?? file.serviceName ?? AGENT_DEFAULTS.names.service,
        pod: o.agentId,
        cluster: o.cluster ?? file.cluster ?? AGENT_DEFAULTS.names.cluster,
      },
      pollIntervalMs: o.pollIntervalMs ?? file.pollIntervalMs ?? AGENT_DEFAULTS.pollIntervalMs,
      timeScale: o.timeScale,
      file,
      env: process.env,
    };
    if (config.exitWhenDone && !config.fromFile) fail('--exit-when-done goes with --from-file');
    if (config.intake.headersTimeoutMs > config.intake.requestTimeoutMs) {
      fail(`--intake-headers-timeout-ms (${config.intake.headersTimeoutMs}) must not be longer than --intake-request-timeout-ms (${config.intake.requestTimeoutMs}): the headers are part of the request`);
    }
    let sensors;
    try {
      sensors = buildSensors(config, log);
    } catch (e) {
      fail((e as Error).message);
    }
    if (o.check) {
      const results = await Promise.all(sensors.map((s) => s.check()));
      process.stdout.write(formatChecks(results));
      process.exit(results.every((r) => r.ok) ? 0 : 1);
    }
    const running = await startAgent(config, log, sensors).catch((e) => startupFailure(log, 'agent', e));
    onShutdown(log, running.stop);
    running.done.then(async () => {
      await running.stop();
      process.exit(0);
    }, (e: Error) => {
      log.error({ err: e.message }, 'reading the file failed');
      void running.stop().then(() => process.exit(1));
    });
  });

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

/** `agent --check` output: one block per source, what it sees and what is wrong. */
function formatChecks(results: CheckResult[]): string {
  if (results.length === 0) {
    return 'no sources configured: set JMX_URL, a Prometheus endpoint or KAFKA_BOOTSTRAP_SERVERS, or pass --config (see --help)\n';
  }
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${r.ok ? 'OK  ' : 'FAIL'} ${r.source}`);
    for (const f of r.facts) lines.push(`     ${f}`);
    for (const e of r.errors) lines.push(`     error: ${e}`);
  }
  const bad = results.filter((r) => !r.ok).length;
  lines.push(bad === 0 ? `all ${results.length} source(s) OK` : `${bad} of ${results.length} source(s) have problems`);
  return `${lines.join('\n')}\n`;
}

program.parseAsync(process.argv).catch((e: Error) => fail(e.message));
