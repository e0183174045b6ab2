// The aggregator's JSON API on its HTTP port (described in aggregator/openapi.json, served at
// /api/openapi.json): recent signals, narratives with their revision history, cells, and a
// Burrow-style listing of clusters, consumer groups and topics. Times are given twice: RFC 3339
// (nanosecond precision, UTC) and unix nanoseconds as a decimal string.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Cell, EventKind, Narrative, Signal, type ListNarrativesRequest, type ListNarrativesResponse } from '../proto/index.js';
import type { HierarchyManager } from '../hierarchy/manager.js';
import type { EventLog } from './event-log.js';
import type { Journal } from './journal/journal.js';
import { decodeFramed, indexEvents } from './journal/codec.js';
import { under } from './subscription.js';
import spec from './openapi.json' with { type: 'json' };

export interface ApiDeps {
  hierarchy: HierarchyManager;
  listNarratives(req: ListNarrativesRequest): ListNarrativesResponse;
  log: EventLog;
  journal: Journal;
  nowNs(): bigint;
  /** Most cells (or listed entities) in one answer. */
  maxResponseCells: number;
  /** Marks the cells mirrored from a leaf aggregator (federation) with the leaf's name. */
  tagCells?(c: Cell): Cell;
}

export const OPENAPI = spec;

/** RFC 3339 in UTC with nanoseconds, e.g. 2026-12-06T17:04:05.123456789Z; "" for 0. */
export function rfc3339(ns: bigint): string {
  if (ns <= 0n) return '';
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // ...T17:04:05.123Z
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${iso.slice(0, 19)}.${frac}Z`;
}

const SIGN_KINDS = ['status', 'queue', 'service', 'probe', 'resource', 'gauge', 'counter'] as const;

class BadRequest extends Error {}

function intParam(url: URL, name: string, dflt: number, max: number): number {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new BadRequest(`${name} must be a whole number from 1 to ${max}, got "${v}"`);
  return n;
}

function signalJson(offset: bigint, time: bigint, s: Signal): Record<string, unknown> {
  return { offset: offset.toString(), time: rfc3339(time), timeNs: time.toString(), timestamp: rfc3339(s.timestamp), timestampNs: s.timestamp.toString(), signal: Signal.toJSON(s) };
}

function narrativeJson(n: Narrative, offset?: bigint): Record<string, unknown> {
  return {
    ...(offset !== undefined ? { offset: offset.toString() } : {}),
    openedAt: rfc3339(n.openedAt),
    openedAtNs: n.openedAt.toString(),
    updatedAt: rfc3339(n.updatedAt),
    updatedAtNs: n.updatedAt.toString(),
    resolvedAt: rfc3339(n.resolvedAt),
    resolvedAtNs: n.resolvedAt.toString(),
    narrative: Narrative.toJSON(n),
  };
}

function cellJson(c: Cell): Record<string, unknown> {
  return { lastHeard: rfc3339(c.lastHeard), lastHeardNs: c.lastHeard.toString(), cell: Cell.toJSON(c) };
}

/** The newest signals (newest first) under `prefix`, of sign set `kind`: from memory, then the journal. */
async function recentSignals(d: ApiDeps, prefix: string, kind: string | undefined, limit: number): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  const take = (bytes: Uint8Array, start: number, subject: string, eventKind: EventKind): boolean => {
    if (eventKind !== EventKind.SIGNAL || !under(subject, prefix)) return false;
    const e = decodeFramed(bytes, start);
    const s = e.signal!;
    if (kind && s[kind as (typeof SIGN_KINDS)[number]] === undefined) return false;
    out.push(signalJson(e.offset, e.time, s));
    return out.length >= limit;
  };
  let oldest = d.log.nextOffset;
  for (const b of d.log.blocksNewestFirst()) {
    for (let i = b.count - 1; i >= 0; i--) if (take(b.bytes, b.starts[i]!, b.subjects[i]!, b.kinds[i]!)) return out;
    oldest = b.first;
  }
  // Older than memory: the journal, newest blocks first (bounded so a rare subject cannot scan it all).
  const firsts = prefix !== '' ? await d.journal.blocksForSubject(prefix, 0n, oldest) : undefined;
  const older = firsts
    ? (async function* () {
        for (const f of [...firsts].reverse()) {
          const bytes = await d.journal.block(f);
          if (bytes) yield { first: f, bytes };
        }
      })()
    : d.journal.blocksBackward(oldest);
  let blocks = 0;
  for await (const b of older) {
    if (++blocks > 2000) break;
    const idx = indexEvents(b.bytes);
    for (let i = idx.offsets.length - 1; i >= 0; i--) if (idx.offsets[i]! < oldest && take(b.bytes, idx.starts[i]!, idx.subjects[i]!, idx.kinds[i]!)) return out;
  }
  return out;
}

/** Latest revision of each narrative, newest first, from the journal's verdicts. */
async function latestNarratives(d: ApiDeps, prefix: string, limit: number, includeResolved: boolean): Promise<Record<string, unknown>[]> {
  const seen = new Set<string>();
  const out: Record<string, unknown>[] = [];
  let scanned = 0;
  for await (const v of d.journal.verdicts({ reverse: true })) {
    if (++scanned > 500_000) break;
    const idx = indexEvents(v.framed);
    if (idx.kinds[0] !== EventKind.NARRATIVE) continue;
    const n = decodeFramed(v.framed, 0).narrative!;
    // One entry per narrative: ids are an aggregator's own, so upstream they are told apart by the
    // leaf that wrote them (an HA group's members write one narrative between them).
    const key = `${n.group ?? n.leaf ?? ''}\u0000${n.id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (!includeResolved && n.resolvedAt !== 0n) continue;
    if (prefix !== '' && !under(n.rootSubject, prefix) && !n.causalChain.some((e) => under(e.subject, prefix))) continue;
    out.push(narrativeJson(n, v.offset));
    if (out.length >= limit) break;
  }
  return out;
}

/** The latest signal context of a subject: memory first, then the journal's newest block for it. */
async function latestContext(d: ApiDeps, subject: string): Promise<Record<string, string> | undefined> {
  for (const b of d.log.blocksNewestFirst()) {
    for (let i = b.count - 1; i >= 0; i--) {
      if (b.kinds[i] === EventKind.SIGNAL && (b.subjects[i] === subject || under(b.subjects[i]!, subject))) return decodeFramed(b.bytes, b.starts[i]!).signal!.context;
    }
  }
  const firsts = await d.journal.blocksForSubject(subject);
  for (const f of firsts.reverse().slice(0, 20)) {
    const bytes = await d.journal.block(f);
    if (!bytes) continue;
    const idx = indexEvents(bytes);
    for (let i = idx.offsets.length - 1; i >= 0; i--) {
      if (idx.kinds[i] === EventKind.SIGNAL && under(idx.subjects[i]!, subject)) return decodeFramed(bytes, idx.starts[i]!).signal!.context;
    }
  }
  return undefined;
}

const num = (v: string | undefined): number | null => (v === undefined || v === '' || v === 'unknown' || !Number.isFinite(Number(v)) ? null : Number(v));

/** A Burrow-style status for a cell: the group's own evaluation when the lag source said it, else from the condition. */
function statusOf(c: Cell, ctx: Record<string, string> | undefined): string {
  const burrow = ctx?.burrow ?? ctx?.['burrow-status'];
  if (burrow) return burrow.toUpperCase();
  if (c.stale) return 'STALE';
  switch (c.condition) {
    case 0:
      return 'UNKNOWN';
    case 1:
    case 2:
      return 'OK';
    case 3:
    case 4:
      return 'WARN';
    default:
      return 'ERR';
  }
}

/** How many children a cell has (fetched with a limit of 1: only counted). */
const childCount = (c: Cell | undefined): number => (c ? c.children.length + c.omittedChildren : 0);

function entityJson(c: Cell): Record<string, unknown> {
  const j = Cell.toJSON(c) as { condition?: string; confidence?: string };
  return { name: c.name, path: c.path, ...(c.leaf ? { leaf: c.leaf } : {}), condition: j.condition ?? 'CONDITION_UNSPECIFIED', confidence: j.confidence ?? 'CONFIDENCE_UNSPECIFIED', stale: c.stale, lastHeard: rfc3339(c.lastHeard), lastHeardNs: c.lastHeard.toString() };
}

async function clusterListing(d: ApiDeps, cluster: string, what: 'groups' | 'topics', page: { limit: number; after: string }): Promise<{ list: Record<string, unknown>[]; next: string } | undefined> {
  if (!d.hierarchy.get(`cluster/${cluster}`, 0, { limit: 1 })) return undefined;
  // One more than asked for, plus the parent itself: whether there is a next page.
  const found = d.hierarchy.get(`cluster/${cluster}/${what === 'groups' ? 'group' : 'topic'}`, 1, { limit: page.limit + 1, after: page.after });
  const parent = found && d.tagCells ? d.tagCells(found) : found;
  const out: Record<string, unknown>[] = [];
  for (const c of parent?.children ?? []) {
    const ctx = await latestContext(d, c.path);
    if (what === 'groups') {
      out.push({
        ...entityJson(c),
        status: statusOf(c, ctx),
        totalLag: num(ctx?.['total-lag']),
        maxLag: num(ctx?.['max-lag']),
        maxLagPartition: ctx?.['max-lag-partition'] ?? null,
        lagSeconds: num(ctx?.['lag-seconds']),
        partitions: num(ctx?.partitions),
        complete: num(ctx?.completeness),
      });
    } else {
      const partitions = d.hierarchy.get(`${c.path}/partition`, 1, { limit: 1 });
      out.push({
        ...entityJson(c),
        status: statusOf(c, undefined),
        partitions: childCount(partitions),
        affectedPartitions: partitions?.affectedChildren ?? 0,
      });
    }
  }
  return { list: out, next: parent?.nextAfter ?? '' };
}

/** Handles /api/...; returns false when the path is not the API's. */
export function handleApi(d: ApiDeps, req: IncomingMessage, res: ServerResponse, url: URL): boolean {
  if (!url.pathname.startsWith('/api/')) return false;
  const json = (code: number, body: unknown): void => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(`${JSON.stringify(body)}\n`);
  };
  const fail = (code: number, message: string): void => json(code, { error: message });
  const route = async (): Promise<void> => {
    const p = url.pathname;
    const prefix = url.searchParams.get('prefix') ?? '';
    if (p === '/api/openapi.json') return json(200, OPENAPI);
    if (p === '/api/signals/recent') {
      const limit = intParam(url, 'limit', 100, 10_000);
      const kind = url.searchParams.get('kind') ?? undefined;
      if (kind !== undefined && !(SIGN_KINDS as readonly string[]).includes(kind)) throw new BadRequest(`kind must be one of ${SIGN_KINDS.join(', ')}, got "${kind}"`);
      return json(200, { signals: await recentSignals(d, prefix, kind, limit) });
    }
    if (p === '/api/narratives/latest') {
      const limit = intParam(url, 'limit', 20, 1000);
      const resolved = url.searchParams.get('resolved');
      if (resolved !== null && !['true', 'false', '1', '0'].includes(resolved)) throw new BadRequest(`resolved must be true or false, got "${resolved}"`);
      const includeResolved = resolved === null || resolved === 'true' || resolved === '1';
      const open = d.listNarratives({ includeResolved: false, limit: 1000, subjectPrefix: prefix }).narratives.length;
      return json(200, { open, narratives: await latestNarratives(d, prefix, limit, includeResolved) });
    }
    const nm = /^\/api\/narratives\/([^/]+)$/.exec(p);
    if (nm) {
      const id = decodeURIComponent(nm[1]!);
      const history = await d.journal.narrativeHistory(id);
      if (history.length === 0) return fail(404, `no narrative "${id}" in the journal`);
      const last = history[history.length - 1]!;
      return json(200, { id, narrative: narrativeJson(last.narrative!, last.offset), revisions: history.map((e) => ({ ...narrativeJson(e.narrative!, e.offset), time: rfc3339(e.time), timeNs: e.time.toString() })) });
    }
    if (p === '/api/cells' || p.startsWith('/api/cells/')) {
      const path = decodeURIComponent(p.slice('/api/cells'.length).replace(/^\//, ''));
      const depthText = url.searchParams.get('depth');
      const depth = depthText === null ? 1 : Number(depthText);
      if (!Number.isInteger(depth) || depth < 0 || depth > 64) throw new BadRequest(`depth must be a whole number from 0 (all) to 64, got "${depthText}"`);
      const limit = intParam(url, 'limit', d.maxResponseCells, d.maxResponseCells);
      const cell = d.hierarchy.get(path, depth, { limit, after: url.searchParams.get('after') ?? '' });
      if (!cell) return fail(404, `no cell at path "${path}"`);
      return json(200, cellJson(d.tagCells ? d.tagCells(cell) : cell));
    }
    if (p === '/api/clusters') {
      const found = d.hierarchy.get('cluster', 1, { limit: d.maxResponseCells });
      const root = found && d.tagCells ? d.tagCells(found) : found;
      const clusters = [];
      for (const c of root?.children ?? []) {
        const count = (what: string): number => childCount(d.hierarchy.get(`${c.path}/${what}`, 1, { limit: 1 }));
        clusters.push({ ...entityJson(c), status: statusOf(c, undefined), brokers: count('broker'), topics: count('topic'), groups: count('group') });
      }
      return json(200, { clusters });
    }
    const cm = /^\/api\/clusters\/([^/]+)\/(groups|topics)$/.exec(p);
    if (cm) {
      const cluster = decodeURIComponent(cm[1]!);
      const listing = await clusterListing(d, cluster, cm[2] as 'groups' | 'topics', { limit: intParam(url, 'limit', 1000, d.maxResponseCells), after: url.searchParams.get('after') ?? '' });
      if (!listing) return fail(404, `no cluster "${cluster}"`);
      return json(200, { cluster, [cm[2]!]: listing.list, ...(listing.next ? { next: listing.next } : {}) });
    }
    return fail(404, `no such API path ${p}: see /api/openapi.json`);
  };
  if (req.method !== 'GET') {
    fail(405, 'the API is read-only: use GET');
    return true;
  }
  route().catch((e: Error) => (e instanceof BadRequest ? fail(400, e.message) : fail(500, e.message)));
  return true;
}
