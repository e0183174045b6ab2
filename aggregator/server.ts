// Wires the aggregator: gRPC (signals, subscriptions, cells, health, reflection) and HTTP
// (metrics, probes), around the pure pipeline (ingress -> hierarchy -> event log).
import { mkdirSync, readFileSync } from 'node:fs';
import { once, setMaxListeners } from 'node:events';
import type { AddressInfo } from 'node:net';
import { ServerCredentials } from '@grpc/grpc-js';
import { createServer } from 'nice-grpc';
import { ServerReflection, ServerReflectionService } from 'nice-grpc-server-reflection';
import type { Logger } from 'pino';
import { HealthDefinition, SERVICE_NAMES, descriptorSet, directDefinition, nowNs } from '../proto/index.js';
import { HierarchyManager } from '../hierarchy/manager.js';
import { EventLog } from './event-log.js';
import { Ingress } from './ingress.js';
import { createAggregatorMetrics } from './metrics.js';
import { bearerAuth } from './auth.js';
import { signalAggregatorDefinition, signalService } from './signal-service.js';
import { healthService } from './health-service.js';
import { aggregatorHttpServer } from './http.js';
import type { AggregatorConfig } from './config.js';
import { startActing } from './acting.js';

export interface RunningAggregator {
  grpcPort: number;
  httpPort: number;
  ingress: Ingress;
  hierarchy: HierarchyManager;
  log: EventLog;
  /** Stops taking signals, lets open streams finish their batch, closes everything. */
  stop(): Promise<void>;
}

export async function startAggregator(config: AggregatorConfig, logger: Logger): Promise<RunningAggregator> {
  mkdirSync(config.dataDir, { recursive: true });
  const hierarchy = new HierarchyManager({ maxCells: config.maxCells });
  const log = new EventLog(config.retainEvents);
  const ingress = new Ingress(hierarchy, log, nowNs);
  const metrics = createAggregatorMetrics(ingress.stats, hierarchy, log);
  const acting = startActing(config.actors, log, metrics.registry, logger);
  const draining = new AbortController();
  // Every open stream and subscriber listens for the drain: as many listeners as clients.
  setMaxListeners(0, draining.signal);
  let ready = false;

  const server = config.token
    ? createServer({ 'grpc.max_receive_message_length': config.maxBatchBytes + 1024 * 1024 }).use(
        bearerAuth(config.token, (reason) => {
          metrics.authFailures.inc({ reason });
          logger.warn({ reason }, 'call refused: bearer token %s', reason);
        }),
      )
    : createServer({ 'grpc.max_receive_message_length': config.maxBatchBytes + 1024 * 1024 });
  server.add(
    signalAggregatorDefinition(config),
    signalService({ ingress, hierarchy, listNarratives: () => ({ narratives: [] }), log, metrics, logger, limits: config, draining: draining.signal }),
  );
  server.add(directDefinition(HealthDefinition), healthService([SERVICE_NAMES.aggregator], () => ready, draining.signal));
  server.add(
    ServerReflectionService,
    ServerReflection(descriptorSet(), [SERVICE_NAMES.aggregator, SERVICE_NAMES.health, SERVICE_NAMES.reflection]),
  );

  const grpcPort = await server.listen(`${config.grpcHost}:${config.grpcPort}`, serverCredentials(config));
  const http = aggregatorHttpServer(metrics.registry, hierarchy, () => ready);
  http.listen(config.httpPort, config.httpHost);
  await once(http, 'listening');
  const httpPort = (http.address() as AddressInfo).port;
  ready = true;
  logger.info(
    { grpc: `${config.grpcHost}:${grpcPort}`, http: `${config.httpHost}:${httpPort}`, tls: config.tls ? (config.tls.clientCaFile ? 'mutual' : 'server') : 'off', auth: config.token ? 'bearer' : 'off', dataDir: config.dataDir },
    'aggregator listening',
  );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      ready = false;
      logger.info('draining: no new batches taken; open streams finish and end');
      draining.abort(); // also wakes subscribers waiting for events
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          logger.warn({ timeoutMs: config.drainTimeoutMs }, 'drain timed out: closing remaining calls');
          server.forceShutdown();
          resolve();
        }, config.drainTimeoutMs);
      });
      await Promise.race([server.shutdown(), timedOut]);
      clearTimeout(timer);
      await acting.stop();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      logger.info({ accepted: ingress.stats.accepted, duplicates: ingress.stats.duplicates }, 'aggregator stopped');
    })());

  return { grpcPort, httpPort, ingress, hierarchy, log, stop };
}

function serverCredentials(config: AggregatorConfig): ServerCredentials {
  if (!config.tls) return ServerCredentials.createInsecure();
  const { certFile, keyFile, clientCaFile } = config.tls;
  return ServerCredentials.createSsl(
    clientCaFile ? readFileSync(clientCaFile) : null,
    [{ cert_chain: readFileSync(certFile), private_key: readFileSync(keyFile) }],
    clientCaFile !== undefined,
  );
}
