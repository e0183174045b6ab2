// Wires an agent: intake (gRPC, HTTP, file) -> outbox -> link to the aggregator.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { ServerCredentials } from '@grpc/grpc-js';
import { createServer } from 'nice-grpc';
import type { Logger } from 'pino';
import { LocalAgentDefinition, directDefinition, nowNs, type SignalBatch } from '../proto/index.js';
import type { AgentConfig } from './config.js';
import { Outbox } from './outbox.js';
import { AggregatorLink } from './link.js';
import { Intake } from './intake.js';
import { createAgentMetrics } from './metrics.js';
import { agentHttpServer, agentProbeServer } from './http.js';
import { readiness } from './readiness.js';
import type { Sensor } from './sensor.js';

export interface RunningAgent {
  grpcPort: number;
  httpPort: number;
  /** The probe port (/healthz, /readyz, /metrics), when one was asked for. */
  healthPort?: number;
  outbox: Outbox;
  link: AggregatorLink;
  intake: Intake;
  /** Resolves when a --from-file run with exitWhenDone has sent and had acknowledged everything. */
  done: Promise<void>;
  stop(): Promise<void>;
}

export async function startAgent(config: AgentConfig, logger: Logger, sensors: readonly Sensor[] = []): Promise<RunningAgent> {
  const outbox = new Outbox(config.agentId, config.outboxCapacity, config.outboxPolicy, undefined, config.outboxBlockTimeoutMs);
  const link = new AggregatorLink(outbox, { ...config, url: config.aggregatorUrl }, logger);
  const intake = new Intake(outbox, nowNs);
  const registry = createAgentMetrics(outbox, link, intake);

  const grpc = createServer();
  grpc.add(directDefinition(LocalAgentDefinition), {
    emit: async (batch: SignalBatch) => intake.emit(batch.signals, 'grpc'),
  });
  const grpcPort = await grpc.listen(`${config.grpcHost}:${config.grpcPort}`, ServerCredentials.createInsecure());

  const status = () => ({
    agentId: config.agentId,
    aggregator: config.aggregatorUrl,
    connected: link.stats.connected,
    outbox: { signals: outbox.size, capacity: outbox.capacity, policy: outbox.policy, dropped: outbox.stats.dropped },
    lastSeq: outbox.lastSeq,
    ackedSeq: outbox.ackedSeq,
    sent: link.stats.signalsSent,
    rejectedByAggregator: link.stats.rejectedByAggregator,
    acksBeyondSent: link.stats.acksBeyondSent,
    lastError: link.stats.lastError,
    sensors: Object.fromEntries(sensors.map((s) => [s.name, s.status()])),
  });
  const ready = () =>
    readiness(link.stats.connected, config.aggregatorUrl, link.stats.lastError, sensors.map((s) => ({ name: s.name, ...s.answering() })));
  const http = agentHttpServer(intake, registry, status, ready);
  http.listen(config.httpPort, config.httpHost);
  await once(http, 'listening');
  const httpPort = (http.address() as AddressInfo).port;
  let probes: ReturnType<typeof agentProbeServer> | undefined;
  let healthPort: number | undefined;
  if (config.healthPort !== undefined) {
    probes = agentProbeServer(registry, ready);
    probes.listen(config.healthPort, config.healthHost);
    await once(probes, 'listening');
    healthPort = (probes.address() as AddressInfo).port;
  }

  link.start();
  for (const sensor of sensors) {
    await sensor.start({
      emit: async (signal) => {
        await outbox.add(signal, nowNs());
      },
      logger: logger.child({ sensor: sensor.name }),
      names: config.names,
      registry,
    });
  }
  logger.info(
    { agentId: config.agentId, aggregator: config.aggregatorUrl, sensors: sensors.map((s) => s.name), grpc: `${config.grpcHost}:${grpcPort}`, http: `${config.httpHost}:${httpPort}`, ...(probes ? { health: `${config.healthHost}:${healthPort}` } : {}), outbox: `${config.outboxCapacity} ${config.outboxPolicy}` },
    'agent started',
  );

  const stopAll = new AbortController();
  let done: Promise<void> = new Promise<void>(() => {});
  if (config.fromFile) {
    const file = config.fromFile;
    done = (async () => {
      const r = await intake.fromFile(file, (line, reason) => logger.warn({ file, line }, 'skipped line: %s', reason));
      logger.info({ file, accepted: r.accepted, rejected: r.rejected }, 'file read');
      if (!config.exitWhenDone) return new Promise<void>(() => {});
      await outbox.drained(stopAll.signal);
      logger.info({ file, acked: outbox.stats.acked }, 'every signal from the file acknowledged');
    })();
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      stopAll.abort();
      await Promise.all(sensors.map((s) => s.stop().catch((e: Error) => logger.warn({ sensor: s.name, err: e.message }, 'sensor did not stop cleanly'))));
      // Let what is already in the outbox reach the aggregator, briefly.
      const grace = AbortSignal.timeout(2000);
      if (link.stats.connected && outbox.size > 0) await outbox.drained(grace);
      await grpc.shutdown();
      await link.close();
      for (const server of probes ? [http, probes] : [http]) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      if (outbox.size > 0) logger.warn({ unacked: outbox.size }, 'stopped with signals not acknowledged (they were not delivered)');
      logger.info({ acked: outbox.stats.acked, dropped: outbox.stats.dropped }, 'agent stopped');
    })());

  return { grpcPort, httpPort, healthPort, outbox, link, intake, done, stop };
}
