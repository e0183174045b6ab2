// Wires the aggregator: gRPC (signals, subscriptions, replay, cells, narratives, health,
// reflection) and HTTP (metrics, probes, the JSON API), around the pure pipeline (ingress ->
// hierarchy -> observers -> reporters -> event log -> journal), which a timer lets time pass in.
// On start the journal is opened and the pipeline rebuilt from its tail (recovery.ts).
import { mkdirSync, readFileSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { once, setMaxListeners } from 'node:events';
import type { AddressInfo } from 'node:net';
import { ServerCredentials } from '@grpc/grpc-js';
import type { ServerMiddleware } from 'nice-grpc';
import { ServerReflection, ServerReflectionService } from 'nice-grpc-server-reflection';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { HealthDefinition, Narrative_State, SERVICE_NAMES, Situation_Level, descriptorSet, directDefinition, nowNs, type Narrative } from '../proto/index.js';
import type { HierarchyManager } from '../hierarchy/manager.js';
import { OBSERVER_DEFAULTS, scaledObserverSettings } from '../observers/index.js';
import { NARRATIVE_DEFAULTS } from '../reporters/narratives.js';
import { SITUATION_DEFAULTS } from '../reporters/situations.js';
import { Pipeline, type PipelineSettings } from './pipeline.js';
import { EventLog } from './event-log.js';
import { Ingress } from './ingress.js';
import { createAggregatorMetrics } from './metrics.js';
import { authMiddleware, authRequired, type AuthSettings } from './auth.js';
import { grpcDoor } from './grpc-door.js';
import { watchCertificate } from './certificate.js';
import { signalAggregatorDefinition, signalService } from './signal-service.js';
import { healthService } from './health-service.js';
import { aggregatorHttpServer } from './http.js';
import type { AggregatorConfig } from './config.js';
import { startActing } from './acting.js';
import { Journal, isDiskFull } from './journal/journal.js';
import { NarrativeIds, recover, type RecoveryReport } from './recovery.js';
import { ApiDeps } from './api.js';
import { startWebhook } from './webhook.js';
import { KafkaExposition } from './exposition.js';
import { FederationUpstream } from './federation/upstream.js';
import { startLeaf } from './federation/leaf.js';
import { LeafCorrelator } from './federation/correlate.js';
import { decodeFramed, indexEvents } from './journal/codec.js';
import { EventKind } from '../proto/index.js';

export interface RunningAggregator {
  grpcPort: number;
  httpPort: number;
  ingress: Ingress;
  hierarchy: HierarchyManager;
  log: EventLog;
  pipeline: Pipeline;
  journal: Journal;
  recovery: RecoveryReport;
  /** Stops taking signals, lets open streams finish their batch, flushes subscribers, closes everything. */
  stop(): Promise<void>;
}

export async function startAggregator(config: AggregatorConfig, logger: Logger): Promise<RunningAggregator> {
  mkdirSync(config.dataDir, { recursive: true });
  const journal = new Journal({
    path: join(config.dataDir, 'journal'),
    sync: config.journalSync,
    writer: config.journalWriter,
    retention: { signalsMs: config.retainSignalsMs, signalsBytes: config.retainSignalsBytes, verdictsMs: config.retainNarrativesMs, verdictsBytes: config.retainNarrativesBytes },
  });
  const state = await journal.open();
  let recovering = true;
  // An HA pair's members name incidents alike (from the evidence that opened them), so the upstream merges their copies.
  const pipeline = new Pipeline(pipelineSettings(config, config.upstream?.group !== undefined ? 'h-' : `n-${Date.now().toString(36)}-`), (n) => {
    if (!recovering) logNarrative(logger, ingress.narrativeIds ? ingress.narrativeIds.translate(n) : n);
  });
  const hierarchy = pipeline.hierarchy;
  // Why signals are refused (the journal cannot write), if they are.
  let refusal: string | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  const log: EventLog = new EventLog(config.retainEvents, {
    journal,
    nextOffset: state.nextOffset,
    onWriteError: (e) => {
      const full = isDiskFull(e.message);
      refusal = full ? `the journal's disk is full (${e.message}); acknowledgements stop until space is freed (agents keep their signals)` : `the journal cannot write (${e.message})`;
      logger.error({ err: e.message, path: journal.path, diskFull: full }, `journal write failed: not acknowledging or taking signals until it works again${full ? ' (free space on the data directory\'s filesystem)' : ''}`);
      retryTimer ??= setInterval(() => void retryWrite(), 1000);
    },
    onWriteRecovered: () => {
      logger.warn({ path: journal.path }, 'journal writes again: taking and acknowledging signals');
      refusal = undefined;
      clearInterval(retryTimer);
      retryTimer = undefined;
    },
  });
  let retrying = false;
  const retryWrite = async (): Promise<void> => {
    if (retrying || !log.blocked) return;
    retrying = true;
    try {
      const fs = statfsSync(journal.path);
      const free = fs.bavail * fs.bsize;
      if (free < config.journalMinFreeBytes) return;
      await journal.reopen(); // RocksDB takes no writes after a failed one until reopened
      log.retry();
    } catch (e) {
      logger.warn({ err: (e as Error).message }, 'journal still cannot write');
    } finally {
      retrying = false;
    }
  };
  // Kafka state for /metrics, fed from every signal the pipeline takes (recovery's included).
  const exposition = new KafkaExposition({ ...config.metrics, expireAfterNs: ms(config.staleAfterMs) }, (path) => hierarchy.state(path)?.info);
  pipeline.signalListener = (s, info, now) => exposition.accept(s, info, now);
  pipeline.cellListener = (changes, now) => exposition.acceptCells(changes, now);
  const ingress = new Ingress(pipeline, log, nowNs, { maxSources: config.maxSources, evictAfterNs: BigInt(config.sourceEvictAfterMs) * 1_000_000n });
  ingress.restore(state.highWater);
  // What leaf aggregators forward (federation): dedupe state and their narratives from the journal.
  // --correlate-leaves: the leaves' raw signals through a pipeline of our own; its stories that span leaves are published as ours.
  const correlator = config.correlateLeaves ? new LeafCorrelator(pipelineSettings(config, `x-${Date.now().toString(36)}-`)) : undefined;
  const federation = new FederationUpstream(log, pipeline.hierarchy, nowNs, correlator, (leaf) =>
    logger.warn({ leaf }, `--correlate-leaves: leaf "${leaf}" forwards no raw signals (start it with --upstream-signals); what its agents see cannot join stories across leaves`),
  );
  if (correlator) logger.info('--correlate-leaves: raw signals the leaves forward (--upstream-signals) go through this aggregator\'s own pipeline; its narratives are published only when they span two leaves or more');
  federation.restore(state.highWater);
  if ([...state.highWater.keys()].some((k) => k.startsWith('federation/'))) await restoreLeafNarratives(journal, federation);
  const ids = new NarrativeIds();
  const recovery = await recover(journal, pipeline, ids, { windowMs: config.recoveryWindowMs, maxEvents: config.recoveryMaxEvents, tickMs: config.tickMs, nowNs: nowNs() });
  recovering = false;
  ingress.narrativeIds = ids;
  for (const n of recovery.closed) {
    logger.warn({ narrative: n.id, root: n.rootSubject }, 'narrative open in the journal has no evidence in the recovery window: resolved at recovery');
    log.append({ narrative: n }, nowNs());
  }
  if (recovery.closed.length > 0) log.publish();
  logger.info(
    { journal: journal.path, id: journal.id, nextOffset: String(state.nextOffset), firstOffset: String(state.firstOffset), sources: state.highWater.size, tailFromOffset: String(recovery.tailFromOffset), tailSignals: recovery.tailSignals, cells: recovery.cells, openNarratives: recovery.openNarratives, matchedNarratives: recovery.matched, closedNarratives: recovery.closed.length, capped: recovery.capped, ms: Math.round(recovery.ms) },
    'journal opened and pipeline recovered',
  );
  const listNarratives = (req: Parameters<Pipeline['listNarratives']>[0]) => {
    const r = pipeline.listNarratives(req);
    return federation.merge(ids.size > 0 ? { narratives: r.narratives.map((n) => ids.translate(n)) } : r, req);
  };
  const metrics = createAggregatorMetrics(ingress.stats, pipeline, log, journal, () => refusal);
  const acting = startActing(config.actors, log, metrics.registry, logger);
  const draining = new AbortController();
  const closing = new AbortController();
  // Every open stream and subscriber listens for the drain: as many listeners as clients.
  setMaxListeners(0, draining.signal);
  setMaxListeners(0, closing.signal);
  let ready = false;
  const subscribers = new Set<{ cursor: bigint }>();
  let signalStreams = 0;

  const auth: AuthSettings = { sharedToken: config.token, identities: config.identities, mutualTls: config.tls?.clientCaFile !== undefined };
  const guarded = authRequired(auth);
  // Unguarded, the ports stay on loopback unless an address is given: nothing is exposed by accident.
  const grpcHost = config.grpcHost ?? (guarded ? '0.0.0.0' : '127.0.0.1');
  const httpHost = config.httpHost ?? config.grpcHost ?? (guarded ? '0.0.0.0' : '127.0.0.1');
  if (!guarded) {
    logger.warn({ grpcHost, httpHost }, 'no token and no mutual TLS: anyone who reaches the ports may send signals and read everything (give --token-file, --identities-file or --tls-client-ca)');
  } else if (config.token !== undefined && !config.identities && !auth.mutualTls) {
    logger.warn('one shared token: whoever holds it may speak for any source; give each agent its own identity with --identities-file or mutual TLS');
  }
  const authMw = authMiddleware(auth, (reason, peer) => {
    metrics.authFailures.inc({ reason });
    logger.warn({ reason, peer }, 'call refused: %s', reason);
  });
  const server = grpcDoor(
    {
      maxConnections: config.maxConnections,
      connectionStartTimeoutMs: config.connectionStartTimeoutMs,
      connectionIdleMs: config.connectionIdleMs,
      maxStreamsPerConnection: config.maxStreamsPerConnection,
      maxReceiveBytes: config.maxBatchBytes + 1024 * 1024,
    },
    {
      refused: (reason) => metrics.refusals.inc({ door: 'grpc', reason }),
      handled: (method, code) => {
        const i = method.lastIndexOf('/');
        metrics.grpcHandled.inc({ grpc_service: method.slice(1, i), grpc_method: method.slice(i + 1), grpc_code: code });
      },
      connections: (n) => metrics.connectionsOpen.set(n),
    },
    authMw as ServerMiddleware,
  );
  server.add(
    signalAggregatorDefinition(config),
    signalService({
      ingress, hierarchy, listNarratives, log, metrics, logger, limits: config, draining: draining.signal, closing: closing.signal, journal,
      refusing: () => refusal,
      subscribers,
      streams: { open: () => signalStreams++, close: () => signalStreams--, get count() { return signalStreams; } },
      refused: (reason) => metrics.refusals.inc({ door: 'grpc', reason }),
      federation,
    }),
  );
  server.add(directDefinition(HealthDefinition), healthService([SERVICE_NAMES.aggregator], () => ready && refusal === undefined, draining.signal));
  // Reflection v1 and v1alpha: one implementation, two paths (the messages are the same on the wire).
  const reflection = ServerReflection(descriptorSet(), [SERVICE_NAMES.aggregator, SERVICE_NAMES.health, SERVICE_NAMES.reflection, SERVICE_NAMES.reflectionV1alpha]);
  server.add(ServerReflectionService, reflection);
  server.add(reflectionV1alphaService, reflection);

  const stopWatchingCertificate = config.tls
    ? watchCertificate(config.tls.certFile, config.certificateWarnMs, logger, (info) => metrics.certificateExpiry.set({ certificate: 'server' }, info.notAfter.getTime() / 1000))
    : undefined;

  const grpcPort = await server.listen(grpcHost, config.grpcPort, serverCredentials(config));
  const api: ApiDeps = { hierarchy, listNarratives, log, journal, nowNs, maxResponseCells: config.maxResponseCells, tagCells: (c) => federation.tagCells(c) };
  const http = aggregatorHttpServer(metrics.registry, api, () => (!ready ? 'starting or draining' : refusal), {
    auth,
    metricsOpen: config.metricsOpen,
    tls: config.tls ? { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile), ca: config.tls.clientCaFile ? readFileSync(config.tls.clientCaFile) : undefined } : undefined,
    refused: (reason) => metrics.refusals.inc({ door: 'http', reason }),
  }, (own) => exposition.render(pipeline.now, own));
  http.listen(config.httpPort, httpHost);
  await once(http, 'listening');
  const httpPort = (http.address() as AddressInfo).port;
  const webhook = config.webhook ? await startWebhook(config.webhook, metrics.registry, logger) : undefined;
  federationMetrics(metrics.registry, federation);
  const leaf = config.upstream ? startLeaf(config.upstream, log, journal.id, hierarchy, metrics.registry, logger) : undefined;
  // Time passes in the pipeline on its own too: silent cells go stale, windows close, narratives resolve.
  let observerErrorsLogged = 0;
  let lastErrorLog = 0;
  const ticker = setInterval(() => {
    if (refusal === undefined) {
      // nothing new is written while the journal cannot write
      ingress.tick();
      federation.tick();
    }
    const errors = [...pipeline.stats.observerErrors.values()].reduce((a, b) => a + b, 0);
    if (errors > observerErrorsLogged && Date.now() - lastErrorLog > 10_000) {
      logger.error({ errors: errors - observerErrorsLogged, last: pipeline.stats.lastObserverError }, 'observers failed on some signals (counted in kafkaobs_observer_errors_total); those signals still count');
      observerErrorsLogged = errors;
      lastErrorLog = Date.now();
    }
  }, config.tickMs);
  ticker.unref();
  let retaining = false;
  const retention = setInterval(() => {
    if (retaining || refusal !== undefined) return;
    retaining = true;
    journal.retain(nowNs()).then(
      (r) => {
        if (r.blocks > 0 || r.verdicts > 0) logger.info({ blocks: r.blocks, verdicts: r.verdicts, firstOffset: String(journal.firstOffset) }, 'retention deleted old journal entries');
      },
      (e: Error) => logger.warn({ err: e.message }, 'journal retention failed; will try again'),
    ).finally(() => (retaining = false));
  }, config.retentionIntervalMs);
  retention.unref();
  ready = true;
  logger.info(
    { grpc: `${grpcHost}:${grpcPort}`, http: `${config.tls ? 'https' : 'http'}://${httpHost}:${httpPort}`, tls: config.tls ? (config.tls.clientCaFile ? 'mutual' : 'server') : 'off', auth: !guarded ? 'off' : [auth.mutualTls ? 'certificate' : '', config.identities ? `${config.identities.tokens} identity tokens` : '', config.token ? 'shared token' : ''].filter((x) => x).join(' + '), dataDir: config.dataDir, sync: config.journalSync, nextOffset: String(log.nextOffset) },
    'aggregator listening',
  );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      ready = false;
      clearInterval(ticker);
      clearInterval(retention);
      logger.info('draining: no new batches taken; open streams finish and end');
      draining.abort();
      const deadline = Date.now() + config.drainTimeoutMs;
      const waitUntil = async (done: () => boolean): Promise<boolean> => {
        while (!done()) {
          if (Date.now() > deadline) return false;
          await new Promise((r) => setTimeout(r, 10));
        }
        return true;
      };
      // 1. Signal streams finish the batch in hand (committed and acknowledged) and end.
      await waitUntil(() => signalStreams === 0);
      // 2. What time made due is appended, and everything is committed.
      if (refusal === undefined) {
        ingress.tick();
        federation.tick();
      }
      const committed = await Promise.race([log.committedAll().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), Math.max(0, deadline - Date.now())))]);
      // 3. Subscribers get every committed event before their streams end.
      const end = log.nextOffset;
      const flushed = committed && (await waitUntil(() => [...subscribers].every((s) => s.cursor >= end)));
      if (!committed || !flushed) logger.warn({ committed, flushed, timeoutMs: config.drainTimeoutMs }, 'drain timed out before subscribers had everything');
      closing.abort();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          logger.warn({ timeoutMs: config.drainTimeoutMs }, 'drain timed out: closing remaining calls');
          server.forceShutdown();
          resolve();
        }, Math.max(1000, deadline - Date.now()));
      });
      await Promise.race([server.shutdown(), timedOut]);
      clearTimeout(timer);
      stopWatchingCertificate?.();
      await leaf?.stop();
      await acting.stop();
      await log.committedAll().catch(() => {});
      clearInterval(retryTimer);
      await journal.close();
      await webhook?.stop();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      logger.info({ accepted: ingress.stats.accepted, duplicates: ingress.stats.duplicates, nextOffset: String(log.nextOffset) }, 'aggregator stopped');
    })());

  return { grpcPort, httpPort, ingress, hierarchy, log, pipeline, journal, recovery, stop };
}

/** nice-grpc-server-reflection's v1 service definition at v1alpha's path. */
const reflectionV1alphaService = {
  serverReflectionInfo: { ...ServerReflectionService.serverReflectionInfo, path: `/${SERVICE_NAMES.reflectionV1alpha}/ServerReflectionInfo` as string },
};

const ms = (n: number): bigint => BigInt(n) * 1_000_000n;

/** The leaves' narratives as the journal last recorded them (newest verdicts first, bounded), for ListNarratives. */
async function restoreLeafNarratives(journal: Journal, federation: FederationUpstream): Promise<void> {
  let scanned = 0;
  for await (const v of journal.verdicts({ reverse: true })) {
    if (++scanned > 200_000) break;
    if (indexEvents(v.framed).kinds[0] !== EventKind.NARRATIVE) continue;
    const n = decodeFramed(v.framed, 0).narrative;
    if (n?.leaf) federation.restoreNarrative(n);
  }
}

function federationMetrics(registry: Registry, f: FederationUpstream): void {
  new Counter({
    name: 'kafkaobs_federation_received_total',
    help: 'Events leaf aggregators forwarded, by leaf and outcome (accepted; duplicate: already held).',
    labelNames: ['leaf', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [leaf, n] of f.stats.accepted) this.inc({ leaf, outcome: 'accepted' }, n);
      if (f.stats.duplicates > 0) this.inc({ leaf: '', outcome: 'duplicate' }, f.stats.duplicates);
    },
  });
  new Counter({
    name: 'kafkaobs_federation_ha_narratives_total',
    help: 'HA groups (--ha-group on the leaves): member narrative revisions by outcome (opened: new to the group; taken: the speaking member\'s revision; copy: another member\'s, dropped; aliased: matched by root subject; held: a resolve waiting for the other live member; resolved_on_leave: resolved when a member left).',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const outcome of ['opened', 'taken', 'copy', 'aliased', 'held', 'resolved_on_leave']) this.inc({ outcome }, f.stats.ha.narratives.get(outcome) ?? 0);
    },
  });
  new Counter({
    name: 'kafkaobs_federation_ha_deduped_total',
    help: 'HA groups: events dropped as a copy of what another member of the group forwarded, by kind (signal: by source and seq; finding, situation: taken from the group\'s primary only).',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.reset();
      for (const kind of ['signal', 'finding', 'situation']) this.inc({ kind }, f.stats.ha.deduped.get(kind) ?? 0);
    },
  });
  if (f.correlator) {
    const c = f.correlator;
    new Counter({
      name: 'kafkaobs_federation_cross_leaf_narratives_total',
      help: '--correlate-leaves: narratives of this aggregator\'s correlating pipeline by outcome (published: its evidence spans two leaves or more, published as this aggregator\'s own; suppressed: resolved without spanning two leaves, left to the leaf that saw it whole).',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ outcome: 'published' }, c.gate.stats.published);
        this.inc({ outcome: 'suppressed' }, c.gate.stats.suppressed);
      },
    });
    new Counter({
      name: 'kafkaobs_federation_correlated_signals_total',
      help: '--correlate-leaves: raw signals forwarded by leaves, by outcome (fed: through the correlating pipeline; duplicate: the same source and seq already fed, e.g. from another leaf; invalid).',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ outcome: 'fed' }, c.stats.signals);
        this.inc({ outcome: 'duplicate' }, c.stats.duplicates);
        this.inc({ outcome: 'invalid' }, c.stats.invalid);
      },
    });
    new Gauge({
      name: 'kafkaobs_federation_leaf_forwards_signals',
      help: '--correlate-leaves: 1 when the leaf said in its latest batch that it forwards raw signals (--upstream-signals), 0 when not (its estate cannot join stories across leaves).',
      labelNames: ['leaf'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [leaf, on] of f.leafSignals) this.set({ leaf }, on ? 1 : 0);
      },
    });
  }
  new Counter({
    name: 'kafkaobs_federation_rejected_total',
    help: 'Events leaf aggregators forwarded that were refused, by reason (invalid_event, unexpected_kind, hierarchy_full).',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of f.stats.rejected) this.inc({ reason }, n);
    },
  });
}

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
    narratives: { ...NARRATIVE_DEFAULTS, causeWaitNs: ms(config.causeWaitMs), resolveAfterNs: ms(config.resolveAfterMs), idPrefix, stableIds: config.upstream?.group !== undefined },
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
