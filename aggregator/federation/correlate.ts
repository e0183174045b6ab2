// Federation, --correlate-leaves: stories that span leaves. The upstream feeds the raw signals its
// leaves forward (--upstream-signals on the leaves) through a pipeline of its own, with a tree of
// its own (the leaves' mirrored cells stay as they are), and publishes what that pipeline narrates
// only when the story spans the estates of two leaves or more: a story one leaf can see whole is
// that leaf's to tell (its narrative is already forwarded), so the upstream stays silent on it.
//
// The rule (storyLeaves, pure): a narrative's leaves are the estates of its evidence — each step of
// its causal chain belongs to the leaf that forwarded its signal's source (or, for a step without a
// known source, to the leaves that forwarded signals about its entity) — and the estates of its
// root's entity. An estate is a leaf, or its HA group (both members of a pair watch one estate).
// The gate (CrossLeafGate, pure) publishes a narrative from the revision its leaves first number
// two or more, as OPEN with revision 1 and its leaves named; every later revision follows
// (renumbered, leaves only ever added) until it resolves. A narrative that resolves without ever
// spanning two leaves is never published: it is counted as suppressed (single-leaf).
import { Narrative_State, entityOf, signalProblem, type Narrative, type Signal } from '../../proto/index.js';
import type { EventPayload } from '../event-log.js';
import { Pipeline, type PipelineSettings } from '../pipeline.js';

/** Where evidence came from: the estate (leaf or HA group) that forwarded a source's signals, and those that forwarded signals about an entity. */
export interface EstateIndex {
  ofSource(sourceId: string): string | undefined;
  ofEntity(entityPath: string): Iterable<string> | undefined;
}

/** The estates a narrative's evidence and root belong to, sorted (the rule above). */
export function storyLeaves(n: Narrative, index: EstateIndex): string[] {
  const leaves = new Set<string>();
  const entity = (subject: string): void => {
    if (subject === '') return;
    for (const l of index.ofEntity(entityOf(subject)) ?? []) leaves.add(l);
  };
  for (const e of n.causalChain) {
    const l = e.sourceId !== '' ? index.ofSource(e.sourceId) : undefined;
    if (l !== undefined) leaves.add(l);
    else entity(e.subject);
  }
  entity(n.rootSubject);
  return [...leaves].sort();
}

export interface CrossLeafStats {
  /** Narratives published as spanning leaves (each counted once, when it first did). */
  published: number;
  /** Revisions of them published (the opening included). */
  revisions: number;
  /** Narratives that resolved (or were dropped) without ever spanning two leaves: not published. */
  suppressed: number;
}

/** Narratives not yet spanning two leaves that the gate remembers at most (the oldest are counted suppressed and forgotten). */
const MAX_PENDING = 10_000;

/** Decides which of the correlating pipeline's narrative revisions are published (pure: no I/O, no clock). */
export class CrossLeafGate {
  readonly stats: CrossLeafStats = { published: 0, revisions: 0, suppressed: 0 };
  /** Published and open: the revision last published and the leaves named so far. */
  private readonly open = new Map<string, { revision: number; leaves: string[] }>();
  /** Seen, not (yet) spanning two leaves. */
  private readonly pending = new Set<string>();

  /** The revision to publish for `n` (whose evidence spans `leaves`), or undefined to stay silent. */
  pass(n: Narrative, leaves: readonly string[]): Narrative | undefined {
    const o = this.open.get(n.id);
    if (o) {
      o.revision++;
      for (const l of leaves) if (!o.leaves.includes(l)) o.leaves.push(l);
      o.leaves.sort();
      if (n.state === Narrative_State.RESOLVED) this.open.delete(n.id);
      this.stats.revisions++;
      return { ...n, state: n.state === Narrative_State.OPEN ? Narrative_State.UPDATED : n.state, revision: o.revision, leaves: [...o.leaves], leaf: undefined, group: undefined };
    }
    if (leaves.length >= 2 && n.state !== Narrative_State.RESOLVED) {
      this.pending.delete(n.id);
      this.open.set(n.id, { revision: 1, leaves: [...leaves] });
      this.stats.published++;
      this.stats.revisions++;
      return { ...n, state: Narrative_State.OPEN, revision: 1, resolvedAt: 0n, leaves: [...leaves], leaf: undefined, group: undefined };
    }
    if (n.state === Narrative_State.RESOLVED) {
      this.pending.delete(n.id);
      this.stats.suppressed++;
      return undefined;
    }
    if (!this.pending.has(n.id)) {
      if (this.pending.size >= MAX_PENDING) {
        const oldest = this.pending.values().next().value!;
        this.pending.delete(oldest);
        this.stats.suppressed++;
      }
      this.pending.add(n.id);
    }
    return undefined;
  }

  /** Narratives published and still open. */
  get openCount(): number {
    return this.open.size;
  }
}

/** Sources and entities whose estate the correlator remembers, at most (beyond, the oldest is forgotten). */
const MAX_INDEX = 200_000;

export interface CorrelatorStats {
  /** Forwarded signals fed to the correlating pipeline. */
  signals: number;
  /** Forwarded signals dropped as already fed (by source and seq: two leaves forwarding one agent's signals). */
  duplicates: number;
  /** Forwarded signals the correlating pipeline could not take (invalid here: the leaf took it). */
  invalid: number;
}

/**
 * The upstream's correlating pipeline over its leaves' forwarded signals, the estates they came
 * from, and the gate. Synchronous and free of I/O: the caller appends what it returns.
 */
export class LeafCorrelator implements EstateIndex {
  readonly pipeline: Pipeline;
  readonly gate = new CrossLeafGate();
  readonly stats: CorrelatorStats = { signals: 0, duplicates: 0, invalid: 0 };
  private readonly sources = new Map<string, string>();
  private readonly entities = new Map<string, Set<string>>();
  private readonly highWater = new Map<string, bigint>();
  private readonly derived: EventPayload[] = [];

  constructor(settings: Partial<PipelineSettings>) {
    this.pipeline = new Pipeline(settings);
  }

  ofSource(sourceId: string): string | undefined {
    return this.sources.get(sourceId);
  }

  ofEntity(entityPath: string): Iterable<string> | undefined {
    return this.entities.get(entityPath);
  }

  /** One (checked) signal forwarded by `estate` at `nowNs`; pushes the narratives to publish onto `out`. */
  signal(estate: string, s: Signal, nowNs: bigint, out: Narrative[]): void {
    const hw = this.highWater.get(s.sourceId);
    if (hw !== undefined && s.seq <= hw) {
      this.stats.duplicates++;
      return;
    }
    if (signalProblem(s, nowNs) !== undefined) {
      this.stats.invalid++;
      return;
    }
    bounded(this.highWater, s.sourceId, s.seq);
    bounded(this.sources, s.sourceId, estate);
    const path = entityOf(s.subject);
    let set = this.entities.get(path);
    if (!set) bounded(this.entities, path, (set = new Set()));
    set.add(estate);
    if (!this.pipeline.hierarchy.canAccept(s.subject)) return;
    this.stats.signals++;
    this.pipeline.ingest(s, nowNs, this.derived);
    this.gated(out);
  }

  /** Lets time pass to `nowNs` (windows close, narratives publish and resolve); pushes what to publish onto `out`. */
  tick(nowNs: bigint, out: Narrative[]): void {
    this.pipeline.tick(nowNs, this.derived);
    this.gated(out);
  }

  /** The correlating pipeline's cell changes, findings and situations stay inside (the leaves' are shown); its narratives pass the gate. */
  private gated(out: Narrative[]): void {
    for (const e of this.derived) {
      if (!e.narrative) continue;
      const n = this.gate.pass(e.narrative, storyLeaves(e.narrative, this));
      if (n) out.push(n);
    }
    this.derived.length = 0;
  }
}

function bounded<V>(m: Map<string, V>, k: string, v: V): void {
  if (!m.has(k) && m.size >= MAX_INDEX) m.delete(m.keys().next().value!);
  m.set(k, v);
}
