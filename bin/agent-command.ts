// The `agent` subcommand: its options and what it runs. Shared by the whole command line
// (bin/cli.ts) and by bin/agent.ts, which runs it alone. Everything a configuration may not use is
// loaded when it is used: the config file's reader (zod, yaml) with --config, the JVM sources
// with JMX or Prometheus targets, kafkajs with Kafka settings (agent/sensors.ts).
import { Option, type Command } from 'commander';
import { AGENT_DEFAULTS, type AgentConfig } from '../agent/config.js';
import type { AgentFile } from '../agent/config-file.js';
import { buildSensors } from '../agent/sensors.js';
import type { CheckResult } from '../agent/sensor.js';
import { parseTarget, TargetError } from '../agent/connection.js';
import { splitUrls } from '../agent/fanout.js';
import { duration, factor, fail, int, logger, onShutdown, secret, sizeAtLeast, startupFailure } from './common.js';

export function addAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('Run an agent (sidecar): takes signals from the service beside it and streams them to the aggregator.')
    .addOption(new Option('--aggregator-url <url>', 'grpc://host:port, or grpcs://host:port for TLS; several separated by commas (an HA pair): the agent sends every signal to each').env('AGGREGATOR_URL').default(AGENT_DEFAULTS.aggregatorUrl))
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
    JMX_URL, KAFKA_JMX_URL          a JVM's JMX (host:port or service:jmx:...), see agent/README.md "JVM sources"
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
          file = (await import('../agent/config-file.js')).readAgentFile(o.config);
        } catch (e) {
          fail((e as Error).message);
        }
      }
      const urls = splitUrls(o.aggregatorUrl);
      if (urls.length === 0) fail(`--aggregator-url (AGGREGATOR_URL) is empty: give grpc://host:port, or several separated by commas`);
      for (const url of urls) {
        try {
          parseTarget(url);
        } catch (e) {
          fail((e as TargetError).message);
        }
      }
      const same = urls.find((u, i) => urls.findIndex((v) => parseTarget(v).address === parseTarget(u).address) !== i);
      if (same !== undefined) fail(`--aggregator-url names ${same} twice: each aggregator once (the agent sends every signal to each)`);
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
        sensors = await buildSensors(config, log);
      } catch (e) {
        fail((e as Error).message);
      }
      if (o.check) {
        const results = await Promise.all(sensors.map((s) => s.check()));
        process.stdout.write(formatChecks(results));
        process.exit(results.every((r) => r.ok) ? 0 : 1);
      }
      const { startAgent } = await import('../agent/agent.js');
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
}

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
