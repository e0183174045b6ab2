// Wires an agent: intake (gRPC, HTTP, file) -> outbox -> link to the aggregator.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { ServerCredentials } from '@grpc/grpc-js';
import { ServerError, Status, createServer } from 'nice-grpc';
import type { Logger } from 'pino';
import { LocalAgentDefinition, SignalBatch, directDefinition, nowNs } from '../proto/index.js';
import type { AgentConfig } from './config.js';
import { Outbox } from './outbox.js';
import { AggregatorLink } from './link.js';
import { Intake } from './intake.js';
import { createAgentMetrics } from './metrics.js';
import { agentHttpServer, agentProbeServer } from './http.js';
import { readiness } from './readiness.js';
import { IntakeGuard, countSignals } from './intake-guard.js';
import type { Sensor } from './sensor.js';

export interface RunningAgent {
  grpcPort: number;
  httpPort: number;
  /** The probe port (/healthz, /readyz, /metrics), when one was asked for. */
  healthPort?: number;
  outbox: Outbox;
  link: AggregatorLink;
  intake: Intake;
  /** The intake's bounds and its refusals by reason. */
  guard: IntakeGuard;
  /** Resolves when a --from-file run with exitWhenDone has sent and had acknowledged everything. */
  done: Promise<void>;
  stop(): Promise<void>;
}

export async function startAgent(config: AgentConfig, logger: Logger, sensors: readonly Sensor[] = []): Promise<RunningAgent> {
  const outbox = new Outbox(config.agentId, config.outboxCapacity, config.outboxPolicy, undefined, config.outboxBlockTimeoutMs);
  const link = new AggregatorLink(outbox, { ...config, url: config.aggregatorUrl }, logger);
  const intake = new Intake(outbox, nowNs, config.intake.maxDepth);
  const guard = new IntakeGuard(config.intake, logger.child({ component: 'intake' }));
  const registry = createAgentMetrics(outbox, link, intake, guard);

  const grpc = createServer(guard.grpcServerOptions());
  // Refused as data by the decoder, answered by the handler: more signals than --intake-max-signals
  // (counted before decoding: 4 MiB of empty signals would decode to 2 million objects), and a
  // frame that is not a SignalBatch (INVALID_ARGUMENT with the reason, where grpc-js says INTERNAL).
  const refused = new WeakMap<SignalBatch, { reason: 'too_many_signals' | 'malformed'; message: string }>();
  grpc.add(directDefinition(LocalAgentDefinition, {
    emit: (bytes: Uint8Array): SignalBatch => {
      try {
        if (countSignals(bytes, config.intake.maxSignals) > config.intake.maxSignals) {
          const batch: SignalBatch = { signals: [] };
          refused.set(batch, { reason: 'too_many_signals', message: `more than ${config.intake.maxSignals} signals in one call (the limit is --intake-max-signals); send smaller batches` });
          return batch;
        }
        return SignalBatch.decode(bytes);
      } catch (e) {
        const batch: SignalBatch = { signals: [] };
        refused.set(batch, { reason: 'malformed', message: `malformed SignalBatch (${bytes.length} bytes): ${(e as Error).message}` });
        return batch;
      }
    },
  }), {
    emit: async (batch: SignalBatch) => {
      const problem = refused.get(batch);
      if (problem !== undefined) {
        guard.refuse('grpc', problem.reason, problem.message);
        throw new ServerError(problem.reason === 'malformed' ? Status.INVALID_ARGUMENT : Status.RESOURCE_EXHAUSTED, problem.message);
      }
      return intake.emit(batch.signals, 'grpc');
    },
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
  const http = agentHttpServer(intake, registry, status, ready, guard);
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
      // Calls still open after a grace (a caller holding a refused call open, say) are cut.
      const graceOver = new Promise<void>((resolve) => setTimeout(resolve, 2000).unref());
      await Promise.race([grpc.shutdown(), graceOver]);
      grpc.forceShutdown();
      await link.close();
      for (const server of probes ? [http, probes] : [http]) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      if (outbox.size > 0) logger.warn({ unacked: outbox.size }, 'stopped with signals not acknowledged (they were not delivered)');
      logger.info({ acked: outbox.stats.acked, dropped: outbox.stats.dropped }, 'agent stopped');
    })());

  return { grpcPort, httpPort, healthPort, outbox, link, intake, guard, done, stop };
}
