// Wires an agent: intake (gRPC, HTTP, file) -> outbox -> link to the aggregator.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { ServerCredentials } from '@grpc/grpc-js';
import { ServerError, Status, createServer } from 'nice-grpc';
import type { Logger } from 'pino';
import { LocalAgentDefinition, SignalBatch, directDefinition, nowNs } from '../proto/index.js';
import type { AgentConfig } from './config.js';
import { Outbox } from './outbox.js';
import { AggregatorLink, type LinkStats } from './link.js';
import { FanOutbox, splitUrls, type SignalQueue } from './fanout.js';
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
  /** The (first) aggregator's queue and link. */
  outbox: Outbox;
  link: AggregatorLink;
  /** Every aggregator's link and queue (one unless --aggregator-url names several). */
  aggregators: { url: string; link: AggregatorLink; outbox: Outbox }[];
  intake: Intake;
  /** The intake's bounds and its refusals by reason. */
  guard: IntakeGuard;
  /** Resolves when a --from-file run with exitWhenDone has sent and had acknowledged everything. */
  done: Promise<void>;
  stop(): Promise<void>;
}

export async function startAgent(config: AgentConfig, logger: Logger, sensors: readonly Sensor[] = []): Promise<RunningAgent> {
  // One aggregator: one outbox and link, as always. Several (an HA pair): one queue and link each
  // over the same numbered signals (agent/fanout.ts).
  const urls = splitUrls(config.aggregatorUrl);
  const fan = urls.length > 1 ? new FanOutbox(config.agentId, urls.length, config.outboxCapacity, config.outboxPolicy, config.outboxBlockTimeoutMs) : undefined;
  const outboxes = fan ? fan.queues : [new Outbox(config.agentId, config.outboxCapacity, config.outboxPolicy, undefined, config.outboxBlockTimeoutMs)];
  const aggregators = urls.map((url, i) => ({ url, outbox: outboxes[i]!, link: new AggregatorLink(outboxes[i]!, { ...config, url }, fan ? logger.child({ aggregator: url }) : logger) }));
  const outbox = outboxes[0]!;
  const link = aggregators[0]!.link;
  const queue: SignalQueue = fan ?? outbox;
  // What the agent-wide metrics and status read: the one link, or all of them together.
  const linkView: { stats: LinkStats } = fan ? { get stats() { return sumLinks(aggregators.map((a) => a.link.stats)); } } : link;
  const outboxView = fan ?? outbox;
  const intake = new Intake(queue, nowNs, config.intake.maxDepth);
  const guard = new IntakeGuard(config.intake, logger.child({ component: 'intake' }));
  const registry = createAgentMetrics(outboxView, linkView, intake, guard, aggregators);

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
    connected: linkView.stats.connected,
    outbox: { signals: outboxView.size, capacity: outbox.capacity, policy: config.outboxPolicy, dropped: outboxView.stats.dropped },
    lastSeq: outbox.lastSeq,
    ackedSeq: outboxView.ackedSeq,
    sent: linkView.stats.signalsSent,
    rejectedByAggregator: linkView.stats.rejectedByAggregator,
    acksBeyondSent: linkView.stats.acksBeyondSent,
    lastError: linkView.stats.lastError,
    ...(fan
      ? {
          aggregators: aggregators.map((a) => ({ url: a.url, connected: a.link.stats.connected, signals: a.outbox.size, ackedSeq: a.outbox.ackedSeq, dropped: a.outbox.stats.dropped, sent: a.link.stats.signalsSent, lastError: a.link.stats.lastError })),
        }
      : {}),
    sensors: Object.fromEntries(sensors.map((s) => [s.name, s.status()])),
  });
  // Several aggregators: ready while at least one is connected (each one down is said in /v1/status and the metrics).
  const ready = () => {
    const down = aggregators.filter((a) => !a.link.stats.connected);
    const url = down.length === 1 ? down[0]!.url : down.map((a) => a.url).join(' nor ');
    return readiness(linkView.stats.connected, url, down.map((a) => a.link.stats.lastError).filter((e) => e !== '').join('; '), sensors.map((s) => ({ name: s.name, ...s.answering() })));
  };
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

  for (const a of aggregators) a.link.start();
  for (const sensor of sensors) {
    await sensor.start({
      emit: async (signal) => {
        await queue.add(signal, nowNs());
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
      await outboxView.drained(stopAll.signal);
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
      if (linkView.stats.connected && outboxView.size > 0) await Promise.all(aggregators.filter((a) => a.link.stats.connected).map((a) => a.outbox.drained(grace)));
      // Calls still open after a grace (a caller holding a refused call open, say) are cut.
      const graceOver = new Promise<void>((resolve) => setTimeout(resolve, 2000).unref());
      await Promise.race([grpc.shutdown(), graceOver]);
      grpc.forceShutdown();
      await Promise.all(aggregators.map((a) => a.link.close()));
      for (const server of probes ? [http, probes] : [http]) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      if (outboxView.size > 0) logger.warn({ unacked: outboxView.size, ...(fan ? { byAggregator: Object.fromEntries(aggregators.map((a) => [a.url, a.outbox.size])) } : {}) }, 'stopped with signals not acknowledged (they were not delivered)');
      logger.info({ acked: outboxView.stats.acked, dropped: outboxView.stats.dropped }, 'agent stopped');
    })());

  return { grpcPort, httpPort, healthPort, outbox, link, aggregators, intake, guard, done, stop };
}

/** Several links' stats as one: connected while any is; counts summed; the last errors joined. */
function sumLinks(all: readonly LinkStats[]): LinkStats {
  const s: LinkStats = { connected: all.some((x) => x.connected), connects: 0, failures: 0, batchesSent: 0, signalsSent: 0, rejectedByAggregator: 0, acksBeyondSent: 0, lastError: all.map((x) => x.lastError).filter((e) => e !== '').join('; ') };
  for (const x of all) {
    s.connects += x.connects;
    s.failures += x.failures;
    s.batchesSent += x.batchesSent;
    s.signalsSent += x.signalsSent;
    s.rejectedByAggregator += x.rejectedByAggregator;
    s.acksBeyondSent += x.acksBeyondSent;
  }
  return s;
}
