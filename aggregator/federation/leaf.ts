// Federation, the leaf's side: with --upstream, this aggregator forwards what it decided — entity
// cell changes, findings, situations, narratives (and raw signals with --upstream-signals) — to an
// upstream aggregator over Federate, read from its own event log and journal by offset. The
// upstream says, in answer to a hello, the last offset it holds of this leaf's journal; the leaf
// resumes after it. So an absent upstream costs nothing but lag: the journal keeps everything
// (within its retention) and the leaf catches up when the upstream is back. After every connect
// the leaf also sends its entity cells as they are now, so a restarted upstream has the tree.
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientError, Status, createChannel, createClientFactory, type Channel } from 'nice-grpc';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { EventKind, SignalAggregatorDefinition, directDefinition, nowNs, type Cell, type CellChange, type Event, type FederationBatch } from '../../proto/index.js';
import type { HierarchyManager } from '../../hierarchy/manager.js';
import { bearerToken, channelCredentials, channelOptions, parseTarget, type ClientTls } from '../../agent/connection.js';
import type { EventLog } from '../event-log.js';
import { decodeChunk, followRaw } from '../subscription.js';
import { LEAF_NAME, LEAF_NAME_RULE } from './upstream.js';

export interface UpstreamSettings {
  /** grpc://host:port or grpcs://host:port. */
  url: string;
  /** This leaf's name upstream (default: the host name). */
  leaf: string;
  tls: ClientTls;
  /** Bearer token (from a file or the environment; never logged). */
  token?: string;
  /** Forward raw signals too (off: only what was decided). */
  signals: boolean;
  /** HA pair: the group this leaf and its twin share (--ha-group); the upstream merges the group's copies. */
  group?: string;
  /** Events per batch, at most. */
  batchEvents: number;
  /** Batches sent and not yet acknowledged, at most. */
  inFlight: number;
}

export const UPSTREAM_DEFAULTS = { signals: false, batchEvents: 500, inFlight: 8 } as const;

export const defaultLeafName = (): string => hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 128) || 'leaf';

export function checkLeafName(name: string): string | undefined {
  return LEAF_NAME.test(name) ? undefined : `leaf name "${name}" is not valid: ${LEAF_NAME_RULE}`;
}

export interface LeafStats {
  connected: boolean;
  /** The last offset of this leaf's journal the upstream holds. */
  ackedOffset: bigint;
  forwarded: number;
  batches: number;
  /** Events the upstream refused (bad input on our side: logged). */
  refused: number;
  /** Events retention deleted before they could be forwarded. */
  missed: bigint;
  reconnects: number;
  /** Streams the upstream refused (UNAUTHENTICATED, PERMISSION_DENIED, INVALID_ARGUMENT), by code. */
  refusals: Map<string, number>;
}

/** Codes that mean the upstream will not take this leaf as it is configured: retried slowly, said with what to change. */
const REFUSAL_CODES: ReadonlySet<Status> = new Set([Status.UNAUTHENTICATED, Status.PERMISSION_DENIED, Status.INVALID_ARGUMENT]);

/** What to change on either side when the upstream refuses this leaf (never the token itself). */
export function refusalHint(code: Status, o: Pick<UpstreamSettings, 'leaf' | 'token' | 'tls' | 'url'>): string {
  const cert = o.tls.certFile !== undefined;
  if (code === Status.UNAUTHENTICATED) {
    if (o.token !== undefined) return `the upstream did not accept this leaf's bearer token (from --upstream-token-file or UPSTREAM_TOKEN${cert ? ', with the client certificate --upstream-tls-cert' : ''}): give the token of an identity in the upstream's --identities-file (or its --token-file)`;
    return `this leaf sent no bearer token${cert ? '' : ' and no client certificate'}: give --upstream-token-file (or UPSTREAM_TOKEN)${cert || !o.url.startsWith('grpcs://') ? '' : ', or --upstream-tls-cert and --upstream-tls-key for mutual TLS'}`;
  }
  if (code === Status.PERMISSION_DENIED) {
    return `the identity this leaf calls the upstream as may not speak for the leaf name "${o.leaf}": add "${o.leaf}" to that identity's sources in the upstream's --identities-file, give this leaf the ${cert ? 'certificate' : 'token'} of an identity that may, or change --leaf-name`;
  }
  return 'the upstream refused what this leaf sent (see err)';
}

/** What to change when the TLS handshake with the upstream fails (gRPC says UNAVAILABLE), if the error says why. */
export function handshakeHint(details: string, o: Pick<UpstreamSettings, 'tls'>): string | undefined {
  if (/certificate required|alert handshake failure/i.test(details) && o.tls.certFile === undefined) {
    return 'the upstream asks for a client certificate (mutual TLS): give --upstream-tls-cert and --upstream-tls-key (UPSTREAM_TLS_CERT, UPSTREAM_TLS_KEY)';
  }
  if (/alert (bad certificate|unknown ca|certificate unknown|certificate expired|unsupported certificate)/i.test(details)) {
    return 'the upstream does not accept this leaf\'s client certificate (--upstream-tls-cert): it must be signed by the CA of the upstream\'s --tls-client-ca, and valid';
  }
  if (/self.signed|unable to (get|verify)|certificate verify failed|unknown ca/i.test(details)) {
    return 'this leaf does not trust the upstream\'s certificate: give the CA that signed it with --upstream-tls-ca (UPSTREAM_TLS_CA)';
  }
  if (/does not match|altname|hostname/i.test(details)) return 'the upstream\'s certificate does not name the host of --upstream: give the name it carries with --upstream-tls-server-name';
  return undefined;
}

export interface RunningLeaf {
  readonly stats: LeafStats;
  stop(): Promise<void>;
}

const CELL_CHUNK = 1000;

/** Whether an event of the leaf's log goes upstream. */
function forwarded(e: Event, signals: boolean): boolean {
  if (e.cellChange) return e.cellChange.path !== '' && !e.cellChange.path.includes('#');
  return e.finding !== undefined || e.situation !== undefined || e.narrative !== undefined || (signals && e.signal !== undefined);
}

/** The leaf's entity cells as they are now, in chunks (parents before children). */
function* snapshot(hierarchy: HierarchyManager): Generator<CellChange[]> {
  const root = hierarchy.get('', 0);
  if (!root) return;
  let chunk: CellChange[] = [];
  const stack: Cell[] = [...root.children].reverse();
  while (stack.length > 0) {
    const c = stack.pop()!;
    if (!c.path.includes('#')) {
      chunk.push({ path: c.path, previous: 0, current: c.condition, confidence: c.confidence, causeSourceId: '', causeSeq: 0n, stale: c.stale, reason: 'snapshot' });
      if (chunk.length >= CELL_CHUNK) {
        yield chunk;
        chunk = [];
      }
    }
    for (let i = c.children.length - 1; i >= 0; i--) stack.push(c.children[i]!);
  }
  if (chunk.length > 0) yield chunk;
}

export function startLeaf(o: UpstreamSettings, log: EventLog, journalId: string, hierarchy: HierarchyManager, registry: Registry, logger: Logger): RunningLeaf {
  const target = parseTarget(o.url);
  const stats: LeafStats = { connected: false, ackedOffset: 0n, forwarded: 0, batches: 0, refused: 0, missed: 0n, reconnects: 0, refusals: new Map() };
  new Gauge({ name: 'kafkaobs_federation_upstream_connected', help: '1 while the stream to the upstream aggregator is open and answered.', registers: [registry], collect() { this.set(stats.connected ? 1 : 0); } });
  new Gauge({ name: 'kafkaobs_federation_upstream_acked_offset', help: 'The last offset of this journal the upstream holds.', registers: [registry], collect() { this.set(Number(stats.ackedOffset)); } });
  new Gauge({ name: 'kafkaobs_federation_upstream_behind_events', help: 'Events of this journal past what the upstream holds (all kinds, forwarded or not).', registers: [registry], collect() { this.set(Math.max(0, Number(log.nextOffset - 1n - stats.ackedOffset))); } });
  new Counter({ name: 'kafkaobs_federation_forwarded_total', help: 'Events sent upstream (resent ones counted again).', registers: [registry], collect() { this.reset(); this.inc(stats.forwarded); } });
  new Counter({ name: 'kafkaobs_federation_upstream_refused_total', help: 'Events the upstream refused as invalid (see the log).', registers: [registry], collect() { this.reset(); this.inc(stats.refused); } });
  new Counter({ name: 'kafkaobs_federation_missed_total', help: 'Events retention deleted before they could be forwarded.', registers: [registry], collect() { this.reset(); this.inc(Number(stats.missed)); } });
  new Counter({
    name: 'kafkaobs_federation_upstream_refusals_total',
    help: 'Streams the upstream refused this leaf (UNAUTHENTICATED: no or a wrong token or certificate; PERMISSION_DENIED: its identity may not speak for the leaf name; INVALID_ARGUMENT), by gRPC code.',
    labelNames: ['code'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [code, n] of stats.refusals) this.inc({ code }, n);
    },
  });
  new Counter({ name: 'kafkaobs_federation_reconnects_total', help: 'Streams to the upstream that ended and were opened again.', registers: [registry], collect() { this.reset(); this.inc(stats.reconnects); } });

  const stopping = new AbortController();
  const channel: Channel = createChannel(target.address, channelCredentials(target, o.tls), channelOptions(o.tls));
  const client = (o.token ? createClientFactory().use(bearerToken(o.token)) : createClientFactory()).create(directDefinition(SignalAggregatorDefinition), channel);
  const kinds = new Set([EventKind.CELL_CHANGE, EventKind.FINDING, EventKind.SITUATION, EventKind.NARRATIVE, ...(o.signals ? [EventKind.SIGNAL] : [])]);

  let sessionConnected = false;
  async function session(): Promise<void> {
    const ac = new AbortController();
    const signal = AbortSignal.any([ac.signal, stopping.signal]);
    let hello: ((offset: bigint) => void) | undefined;
    const resume = new Promise<bigint>((r) => (hello = r));
    let unacked = 0;
    let room: (() => void) | undefined;
    const batch = (events: Event[], cells: CellChange[]): FederationBatch => ({ leaf: o.leaf, journalId, events, cells, group: o.group ?? '', signals: o.signals });
    async function* requests(): AsyncGenerator<FederationBatch> {
      yield batch([], []);
      const from = await resume;
      const send = async (): Promise<void> => {
        while (unacked >= o.inFlight && !signal.aborted) await new Promise<void>((r) => (room = r));
        unacked++;
      };
      for (const cells of snapshot(hierarchy)) {
        await send();
        yield batch([], cells);
      }
      const chunks = followRaw(log, { kinds, subjectPrefix: '' }, from + 1n, signal, {
        onGap: (missed) => {
          stats.missed += missed;
          logger.error({ missed: String(missed), from: String(from + 1n) }, 'federation: events were deleted by retention before the upstream had them (they are missing upstream)');
        },
      }, nowNs, o.batchEvents);
      for await (const chunk of chunks) {
        const events = decodeChunk(chunk.bytes).filter((e) => forwarded(e, o.signals));
        if (events.length === 0) continue;
        await send();
        if (signal.aborted) return;
        stats.forwarded += events.length;
        stats.batches++;
        yield batch(events, []);
      }
    }
    let first = true;
    try {
      for await (const ack of client.federate(requests(), { signal })) {
        if (first) {
          first = false;
          stats.connected = true;
          sessionConnected = true;
          stats.ackedOffset = ack.ackedOffset;
          logger.info({ upstream: o.url, leaf: o.leaf, resumeAfter: String(ack.ackedOffset), nextOffset: String(log.nextOffset) }, 'federation: connected to the upstream; forwarding from its last acknowledged offset');
          hello!(ack.ackedOffset);
          continue;
        }
        unacked--;
        room?.();
        room = undefined;
        if (ack.ackedOffset > stats.ackedOffset) stats.ackedOffset = ack.ackedOffset;
        if (ack.rejected > 0) {
          stats.refused += ack.rejected;
          logger.error({ refused: ack.rejected, examples: ack.rejections }, 'federation: the upstream refused events');
        }
      }
    } finally {
      stats.connected = false;
      ac.abort();
      room?.();
    }
  }

  const running = (async () => {
    let failures = 0;
    // A refusal is said when it begins or changes, then every 5 minutes while it lasts.
    let refusal: { key: string; since: number; saidAt: number; attempts: number } | undefined;
    while (!stopping.signal.aborted) {
      const since = Date.now();
      let refused = false;
      try {
        await session();
        if (!stopping.signal.aborted) logger.warn({ upstream: o.url }, 'federation: the upstream ended the stream; reconnecting');
      } catch (e) {
        if (stopping.signal.aborted) break;
        const code = e instanceof ClientError ? Status[e.code] : undefined;
        const details = e instanceof ClientError ? e.details : (e as Error).message;
        if (e instanceof ClientError && REFUSAL_CODES.has(e.code)) {
          refused = true;
          stats.refusals.set(Status[e.code], (stats.refusals.get(Status[e.code]) ?? 0) + 1);
          const key = `${e.code}\n${details}`;
          const now = Date.now();
          if (refusal?.key !== key) refusal = { key, since: now, saidAt: 0, attempts: 0 };
          refusal.attempts++;
          if (refusal.saidAt === 0 || now - refusal.saidAt >= 300_000) {
            refusal.saidAt = now;
            logger.error(
              { upstream: o.url, leaf: o.leaf, code, err: details, attempts: refusal.attempts, ackedOffset: String(stats.ackedOffset), nextOffset: String(log.nextOffset) },
              `federation: the upstream refused this leaf (${code}): ${refusalHint(e.code, o)}. Everything stays in the journal; retrying every 30 s at most`,
            );
          }
        } else if (failures === 0) {
          // Said once per outage, then quietly retried (the journal keeps what the upstream misses).
          const hint = handshakeHint(details, o);
          logger.warn({ upstream: o.url, code, err: details, ackedOffset: String(stats.ackedOffset) }, `federation: cannot reach the upstream${hint ? ` (${hint})` : ''}; keeping everything in the journal and retrying`);
        }
      }
      stats.reconnects++;
      if (sessionConnected) {
        if (refusal) logger.info({ upstream: o.url, leaf: o.leaf, afterAttempts: refusal.attempts }, 'federation: the upstream takes this leaf again');
        refusal = undefined;
      }
      if (sessionConnected || Date.now() - since > 10_000) failures = 0;
      sessionConnected = false;
      failures++;
      // Unreachable: 50 ms doubling to 2 s. Refused (a setting must change somewhere): 1 s doubling to 30 s.
      const backoff = refused ? Math.min(30_000, 1000 * 2 ** Math.min(refusal!.attempts - 1, 5)) : Math.min(2000, 50 * 2 ** Math.min(failures, 6));
      await sleep(backoff / 2 + Math.random() * (backoff / 2), undefined, { signal: stopping.signal }).catch(() => {});
    }
  })();

  return {
    stats,
    async stop() {
      stopping.abort();
      await running;
      channel.close();
    },
  };
}
