// Wires the aggregator: gRPC (signals, subscriptions, cells, narratives, health, reflection) and
// HTTP (metrics, probes, cells, narratives), around the pure pipeline (ingress -> hierarchy ->
// observers -> reporters -> event log), which a timer lets time pass in.
import { mkdirSync, readFileSync } from 'node:fs';
import { once, setMaxListeners } from 'node:events';
import type { AddressInfo } from 'node:net';
import { ServerCredentials } from '@grpc/grpc-js';
import { createServer } from 'nice-grpc';
import { ServerReflection, ServerReflectionService } from 'nice-grpc-server-reflection';
import type { Logger } from 'pino';
import { HealthDefinition, Narrative_State, SERVICE_NAMES, Situation_Level, descriptorSet, directDefinition, nowNs, type Narrative } from '../proto/index.js';
import type { HierarchyManager } from '../hierarchy/manager.js';
import { OBSERVER_DEFAULTS, scaledObserverSettings } from '../observers/index.js';
import { NARRATIVE_DEFAULTS } from '../reporters/narratives.js';
import { SITUATION_DEFAULTS } from '../reporters/situations.js';
import { Pipeline, type PipelineSettings } from './pipeline.js';
import { EventLog } from './event-log.js';
import { Ingress } from './ingress.js';
import { createAggregatorMetrics } from './metrics.js';
import { bearerAuth } from './auth.js';
import { signalAggregatorDefinition, signalService } from './signal-service.js';
import { healthService } from './health-service.js';
import { aggregatorHttpServer } from './http.js';
import type { AggregatorConfig } from './config.js';
import { startActing } from './acting.js';
import { startWebhook } from './webhook.js';

export interface RunningAggregator {
  grpcPort: number;
  httpPort: number;
  ingress: Ingress;
  hierarchy: HierarchyManager;
  log: EventLog;
  pipeline: Pipeline;
  /** Stops taking signals, lets open streams finish their batch, closes everything. */
  stop(): Promise<void>;
}

export async function startAggregator(config: AggregatorConfig, logger: Logger): Promise<RunningAggregator> {
  mkdirSync(config.dataDir, { recursive: true });
  const pipeline = new Pipeline(pipelineSettings(config, `n-${Date.now().toString(36)}-`), (n) => logNarrative(logger, n));
  const hierarchy = pipeline.hierarchy;
  const log = new EventLog(config.retainEvents);
  const ingress = new Ingress(pipeline, log, nowNs);
  const metrics = createAggregatorMetrics(ingress.stats, pipeline, log);
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
    signalService({ ingress, hierarchy, listNarratives: (req) => pipeline.listNarratives(req), log, metrics, logger, limits: config, draining: draining.signal }),
  );
  server.add(directDefinition(HealthDefinition), healthService([SERVICE_NAMES.aggregator], () => ready, draining.signal));
  server.add(
    ServerReflectionService,
    ServerReflection(descriptorSet(), [SERVICE_NAMES.aggregator, SERVICE_NAMES.health, SERVICE_NAMES.reflection]),
  );

  const grpcPort = await server.listen(`${config.grpcHost}:${config.grpcPort}`, serverCredentials(config));
  const http = aggregatorHttpServer(metrics.registry, hierarchy, (req) => pipeline.listNarratives(req), () => ready);
  http.listen(config.httpPort, config.httpHost);
  await once(http, 'listening');
  const httpPort = (http.address() as AddressInfo).port;
  const webhook = config.webhook ? await startWebhook(config.webhook, metrics.registry, logger) : undefined;
  // Time passes in the pipeline on its own too: silent cells go stale, windows close, narratives resolve.
  let observerErrorsLogged = 0;
  let lastErrorLog = 0;
  const ticker = setInterval(() => {
    ingress.tick();
    const errors = [...pipeline.stats.observerErrors.values()].reduce((a, b) => a + b, 0);
    if (errors > observerErrorsLogged && Date.now() - lastErrorLog > 10_000) {
      logger.error({ errors: errors - observerErrorsLogged, last: pipeline.stats.lastObserverError }, 'observers failed on some signals (counted in kafkaobs_observer_errors_total); those signals still count');
      observerErrorsLogged = errors;
      lastErrorLog = Date.now();
    }
  }, config.tickMs);
  ticker.unref();
  ready = true;
  logger.info(
    { grpc: `${config.grpcHost}:${grpcPort}`, http: `${config.httpHost}:${httpPort}`, tls: config.tls ? (config.tls.clientCaFile ? 'mutual' : 'server') : 'off', auth: config.token ? 'bearer' : 'off', dataDir: config.dataDir },
    'aggregator listening',
  );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      ready = false;
      clearInterval(ticker);
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
      await webhook?.stop();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      logger.info({ accepted: ingress.stats.accepted, duplicates: ingress.stats.duplicates }, 'aggregator stopped');
    })());

  return { grpcPort, httpPort, ingress, hierarchy, log, pipeline, stop };
}

const ms = (n: number): bigint => BigInt(n) * 1_000_000n;

/** The pipeline's settings from the aggregator's (the rest are the defaults each stage documents). */
export function pipelineSettings(config: AggregatorConfig, idPrefix: string): PipelineSettings {
  return {
    hierarchy: { maxCells: config.maxCells, decayAfterNs: ms(config.decayAfterMs), staleAfterNs: ms(config.staleAfterMs) },
    observers: scaledObserverSettings(
      {
        ...OBSERVER_DEFAULTS,
        brokerInference: { ...OBSERVER_DEFAULTS.brokerInference, defaultCluster: config.defaultCluster },
        rebalance: { ...OBSERVER_DEFAULTS.rebalance, defaultCluster: config.defaultCluster },
      },
      config.timeScale,
    ),
    situations: { ...SITUATION_DEFAULTS, lowerAfterNs: ms(config.situationHoldMs) },
    narratives: { ...NARRATIVE_DEFAULTS, causeWaitNs: ms(config.causeWaitMs), resolveAfterNs: ms(config.resolveAfterMs), idPrefix },
  };
}

/** Operators see incidents open and close in the aggregator's log too (updates go to subscribers only). */
function logNarrative(logger: Logger, n: Narrative): void {
  if (n.state === Narrative_State.UPDATED) return;
  const fields = { narrative: n.id, level: Situation_Level[n.level], root: n.rootSubject, revision: n.revision };
  if (n.state === Narrative_State.OPEN) logger.warn({ ...fields, rootCause: n.rootCause }, `narrative opened: ${n.situation}`);
  else logger.info(fields, `narrative resolved: ${n.situation}`);
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
