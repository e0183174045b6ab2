// Federation, the upstream's side: what leaf aggregators forward (their entity cells, findings,
// situations, narratives, optionally raw signals, each with its offset in the leaf's journal) is
// checked, deduplicated by (leaf, journal, offset) and appended to this aggregator's event log,
// tagged with the leaf. Narratives keep the leaf's ids; a leaf's cells are mirrored into this
// hierarchy as inferred conditions (so they roll up with everything else), remembering which
// leaf reported them. Synchronous and free of I/O: the caller acknowledges once the log commits.
//
// HA pairs (leaves started with the same --ha-group watch the same estate): the upstream keeps one
// copy of what the group decides. Narratives are merged by id (the members derive ids from the
// evidence that opened an incident, so both name it alike; a copy whose id is unknown but whose
// root subject matches an open narrative of the group that this member has not reported is taken
// as the same incident). The first member to report a narrative speaks for it: its revisions are
// taken, renumbered by the upstream; the others' are dropped as copies until it leaves (its stream
// ends), when the next member to report it takes over. A narrative resolves upstream when every
// member that reported it and is still connected has resolved it; once resolved it stays resolved.
// Raw signals are deduplicated by (source, seq) across the group; findings and situations are taken
// from the group's primary (the longest-connected member) only.
import { Status_Condition, Status_Confidence, Narrative_State, isUnder, type Cell, type CellChange, type Event, type FederationAck, type FederationBatch, type ListNarrativesRequest, type ListNarrativesResponse, type Narrative } from '../../proto/index.js';
import type { HierarchyManager } from '../../hierarchy/manager.js';
import type { EventLog } from '../event-log.js';
import type { LeafCorrelator } from './correlate.js';

/** A leaf's name: what its events are tagged with, and the source its caller must be allowed to speak for. */
export const LEAF_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** LEAF_NAME in words, for refusals. */
export const LEAF_NAME_RULE = '1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit';

/** The dedupe key of one leaf's journal (kept with the agents' high-waters, written with the events). */
export const federationKey = (leaf: string, journalId: string): string => `federation/${leaf}/${journalId}`;

/** A batch that cannot be taken at all: the stream is ended with this (INVALID_ARGUMENT). */
export class FederationRefusal extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
  }
}

/** What happened to the HA groups' events, by outcome. */
export interface HaStats {
  /** Narrative revisions: opened (new to the group), taken (the speaker's), copy (dropped: another member's), aliased (matched by root subject), held (a resolve waiting for the other member), resolved_on_leave. */
  narratives: Map<string, number>;
  /** Events dropped as the group's copies, by kind (signal, finding, situation). */
  deduped: Map<string, number>;
}

interface Merged {
  id: string;
  group: string;
  resolved: boolean;
  revision: number;
  speaker: string;
  /** Each member that reported it: its latest revision (a held resolve waits here). */
  reporters: Map<string, Narrative>;
  /** `${leaf}\u0000${id}` of member copies known under another id. */
  aliases: string[];
}

interface Group {
  /** Members with an open Federate stream, in the order they connected (the first is the primary), and how many streams each holds. */
  live: Map<string, number>;
  /** Highest seq of each source taken from any member (raw signals). */
  signalHw: Map<string, bigint>;
}

/** Sources whose signal high-water one group keeps (beyond, the oldest is forgotten). */
const MAX_GROUP_SOURCES = 100_000;

export interface UpstreamStats {
  /** Events taken, by leaf. */
  accepted: Map<string, number>;
  duplicates: number;
  /** Events refused, by reason. */
  rejected: Map<string, number>;
  /** Snapshot cells applied. */
  snapshotCells: number;
  ha: HaStats;
}

/** Resolved narratives of leaves kept for ListNarratives (open ones are always kept). */
const KEEP_RESOLVED = 1000;
/** Refusal texts carried in one ack, at most. */
const MAX_REJECTION_TEXTS = 5;

export class FederationUpstream {
  private readonly highWater = new Map<string, bigint>();
  /** Latest revision of each leaf narrative, by id. */
  private readonly narratives = new Map<string, Narrative>();
  /** Which leaf a mirrored cell came from, by path. */
  private readonly cellLeaf = new Map<string, string>();
  private readonly changes: CellChange[] = [];
  readonly stats: UpstreamStats = { accepted: new Map(), duplicates: 0, rejected: new Map(), snapshotCells: 0, ha: { narratives: new Map(), deduped: new Map() } };
  private readonly groups = new Map<string, Group>();
  /** The group each leaf last named. */
  private readonly leafGroup = new Map<string, string>();
  /** HA groups' narratives by id (open ones always kept; resolved ones bounded). */
  private readonly merged = new Map<string, Merged>();
  private readonly alias = new Map<string, string>();
  /** Whether each leaf said, in its latest batch, that it forwards raw signals (FederationBatch.signals). */
  readonly leafSignals = new Map<string, boolean>();
  private readonly crossOut: Narrative[] = [];

  /**
   * `correlator` (--correlate-leaves): forwarded raw signals also go through it, and the stories it
   * tells that span leaves are published as this aggregator's own. `noSignals` hears a leaf that
   * says it forwards no raw signals while correlating (once each time it starts saying so).
   */
  constructor(
    private readonly log: EventLog,
    private readonly hierarchy: HierarchyManager,
    private readonly nowNs: () => bigint,
    readonly correlator?: LeafCorrelator,
    private readonly noSignals?: (leaf: string) => void,
  ) {}

  /** Lets time pass in the correlating pipeline (--correlate-leaves); appends and publishes the cross-leaf narratives that follow. */
  tick(): void {
    if (!this.correlator) return;
    const out = this.crossOut;
    out.length = 0;
    const now = this.nowNs();
    this.correlator.tick(now, out);
    this.publishCross(out, now);
    if (out.length > 0) this.log.publish();
  }

  private publishCross(out: readonly Narrative[], now: bigint): void {
    for (const n of out) {
      this.log.append({ narrative: n }, now);
      this.remember(n);
    }
  }

  /** Dedupe state from the journal (the agents' high-waters are in the same table: only ours are taken). */
  restore(highWater: ReadonlyMap<string, bigint>): void {
    for (const [k, v] of highWater) if (k.startsWith('federation/')) this.highWater.set(k, v);
  }

  /** A leaf narrative read back from the journal at start (newest revision first: older ones are ignored). */
  restoreNarrative(n: Narrative): void {
    if (!n.leaf || this.narratives.has(n.id)) return;
    this.narratives.set(n.id, n);
    if (n.group) {
      // Its reporters are not known again until they send: the next revision from any member speaks.
      this.merged.set(n.id, { id: n.id, group: n.group, resolved: n.state === Narrative_State.RESOLVED, revision: n.revision, speaker: '', reporters: new Map(), aliases: [] });
    }
  }

  /** A Federate stream of `leaf` (in `group`, or none) opened. */
  connected(leaf: string, group: string): void {
    if (group === '') return;
    this.leafGroup.set(leaf, group);
    const g = this.group(group);
    g.live.set(leaf, (g.live.get(leaf) ?? 0) + 1);
  }

  /**
   * A Federate stream of `leaf` ended. When it was the member's last, narratives it reported and
   * the remaining members have resolved are resolved now (appended; the caller publishes).
   */
  disconnected(leaf: string, group: string): void {
    if (group === '') return;
    const g = this.group(group);
    const n = (g.live.get(leaf) ?? 0) - 1;
    if (n > 0) {
      g.live.set(leaf, n);
      return;
    }
    g.live.delete(leaf);
    const now = this.nowNs();
    let any = false;
    for (const m of this.merged.values()) {
      if (m.group !== group || m.resolved || !m.reporters.has(leaf)) continue;
      const done = this.resolvedByAllLive(m, g);
      if (done) {
        this.count('resolved_on_leave');
        this.appendMerged(m, done, now);
        any = true;
      }
    }
    if (any) this.log.publish();
  }

  private group(name: string): Group {
    let g = this.groups.get(name);
    if (!g) this.groups.set(name, (g = { live: new Map(), signalHw: new Map() }));
    return g;
  }

  private count(outcome: string): void {
    this.stats.ha.narratives.set(outcome, (this.stats.ha.narratives.get(outcome) ?? 0) + 1);
  }

  private dedupe(kind: string): void {
    this.stats.ha.deduped.set(kind, (this.stats.ha.deduped.get(kind) ?? 0) + 1);
  }

  /** The resolve to publish when every live reporter has resolved (and one has), else undefined. */
  private resolvedByAllLive(m: Merged, g: Group): Narrative | undefined {
    let last: Narrative | undefined;
    for (const [leaf, n] of m.reporters) {
      if (!g.live.has(leaf)) continue;
      if (n.state !== Narrative_State.RESOLVED) return undefined;
      if (!last || n.updatedAt > last.updatedAt) last = n;
    }
    return last;
  }

  /** Appends a member's revision as the group's narrative (its id, the next upstream revision). */
  private appendMerged(m: Merged, n: Narrative, now: bigint): void {
    m.revision++;
    if (n.state === Narrative_State.RESOLVED) m.resolved = true;
    const leaf = n.leaf ?? m.speaker;
    const tagged: Narrative = { ...n, id: m.id, revision: m.revision, leaf, group: m.group };
    this.log.append({ narrative: tagged, leaf, leafOffset: 0n }, now);
    this.remember(tagged);
  }

  /** A member's narrative revision: merged into the group's narrative, or dropped as a copy. */
  private takeGroupNarrative(group: string, leaf: string, n: Narrative, now: bigint): void {
    const g = this.group(group);
    const own: Narrative = { ...n, leaf };
    let id = this.alias.get(`${leaf}\u0000${n.id}`) ?? n.id;
    let m = this.merged.get(id);
    if (!m && n.state !== Narrative_State.RESOLVED && n.rootSubject !== '') {
      // The same incident named differently (its opening evidence differed between the members).
      for (const x of this.merged.values()) {
        if (x.group === group && !x.resolved && !x.reporters.has(leaf) && x.reporters.size > 0 && [...x.reporters.values()].some((r) => r.rootSubject === n.rootSubject)) {
          m = x;
          id = x.id;
          const key = `${leaf}\u0000${n.id}`;
          this.alias.set(key, id);
          x.aliases.push(key);
          this.count('aliased');
          break;
        }
      }
    }
    if (!m) {
      m = { id, group, resolved: false, revision: 0, speaker: leaf, reporters: new Map([[leaf, own]]), aliases: [] };
      this.merged.set(id, m);
      this.count('opened');
      this.appendMerged(m, { ...own, leaf }, now);
      this.forget();
      return;
    }
    m.reporters.set(leaf, own);
    if (m.resolved) {
      this.count('copy');
      return;
    }
    if (n.state === Narrative_State.RESOLVED) {
      const done = this.resolvedByAllLive(m, g);
      if (done) {
        this.count('taken');
        this.appendMerged(m, own, now);
      } else this.count('held');
      return;
    }
    if (m.speaker === '' || (m.speaker !== leaf && !g.live.has(m.speaker))) m.speaker = leaf;
    if (m.speaker !== leaf) {
      this.count('copy');
      return;
    }
    this.count('taken');
    this.appendMerged(m, own, now);
  }

  /** Keeps at most KEEP_RESOLVED resolved group narratives (the oldest are forgotten first). */
  private forget(): void {
    trimResolved(this.merged, (x) => x.resolved, (x) => {
      for (const a of x.aliases) this.alias.delete(a);
    });
  }

  /** Leaves and journals known, with how far each is held. */
  get leaves(): ReadonlyMap<string, bigint> {
    return this.highWater;
  }

  /** Checks a batch as a whole; throws FederationRefusal naming what is wrong. */
  check(b: FederationBatch, maxEvents: number): void {
    if (!LEAF_NAME.test(b.leaf)) throw new FederationRefusal('invalid_leaf', `FederationBatch.leaf "${b.leaf.slice(0, 140)}" is not a leaf name (${LEAF_NAME_RULE})`);
    if (b.journalId === '' || b.journalId.length > 128) throw new FederationRefusal('invalid_journal_id', `FederationBatch.journal_id must be 1-128 characters (got ${b.journalId.length})`);
    if (b.group !== '' && !LEAF_NAME.test(b.group)) throw new FederationRefusal('invalid_group', `FederationBatch.group "${b.group.slice(0, 140)}" is not a group name (${LEAF_NAME_RULE})`);
    if (b.events.length + b.cells.length > maxEvents) throw new FederationRefusal('oversize_batch', `FederationBatch holds ${b.events.length} events and ${b.cells.length} cells, more than the limit of ${maxEvents}; send smaller batches`);
  }

  /** Takes one (checked) batch; appends what it carries to the log and publishes it. */
  ingest(b: FederationBatch): FederationAck {
    const now = this.nowNs();
    const key = federationKey(b.leaf, b.journalId);
    let hw = this.highWater.get(key) ?? 0n;
    const ack: FederationAck = { ackedOffset: hw, accepted: 0, duplicates: 0, rejected: 0, rejections: [] };
    const signals = b.signals === true;
    if (this.leafSignals.get(b.leaf) !== signals) {
      this.leafSignals.set(b.leaf, signals);
      if (!signals && this.correlator) this.noSignals?.(b.leaf);
    }
    for (const c of b.cells) {
      const problem = this.mirror(b.leaf, c, now);
      if (problem) this.reject(ack, problem[0], `snapshot cell "${c.path.slice(0, 200)}": ${problem[1]}`);
      else this.stats.snapshotCells++;
    }
    let accepted = 0;
    for (const e of b.events) {
      if (e.offset <= hw) {
        ack.duplicates++;
        this.stats.duplicates++;
        continue;
      }
      const problem = this.take(b.leaf, b.group, e, now);
      if (problem) this.reject(ack, problem[0], `event at leaf offset ${e.offset}: ${problem[1]}`);
      else accepted++;
      // Refused events are handled too: sending them again would not make them right.
      hw = e.offset;
    }
    if (hw !== ack.ackedOffset) {
      this.highWater.set(key, hw);
      this.log.noteHighWater(key, hw);
      ack.ackedOffset = hw;
    }
    ack.accepted = accepted;
    if (accepted > 0) this.stats.accepted.set(b.leaf, (this.stats.accepted.get(b.leaf) ?? 0) + accepted);
    this.log.publish();
    return ack;
  }

  private reject(ack: FederationAck, reason: string, text: string): void {
    ack.rejected++;
    if (ack.rejections.length < MAX_REJECTION_TEXTS) ack.rejections.push(text);
    this.stats.rejected.set(reason, (this.stats.rejected.get(reason) ?? 0) + 1);
  }

  /** One forwarded event; returns [reason, why] when it is refused. */
  private take(leaf: string, group: string, e: Event, now: bigint): [string, string] | undefined {
    const tag = { leaf, leafOffset: e.offset };
    if (e.narrative) {
      const n = e.narrative;
      if (n.id === '') return ['invalid_event', 'narrative without an id'];
      if (group !== '') {
        this.takeGroupNarrative(group, leaf, n, now);
        return undefined;
      }
      const tagged: Narrative = { ...n, leaf };
      this.log.append({ narrative: tagged, ...tag }, now);
      this.remember(tagged);
      return undefined;
    }
    if (group !== '' && (e.finding || e.situation) && !this.primary(leaf, group)) {
      this.dedupe(e.finding ? 'finding' : 'situation');
      return undefined;
    }
    if (e.finding) {
      if (e.finding.id === '') return ['invalid_event', 'finding without an id'];
      this.log.append({ finding: e.finding, ...tag }, now);
      return undefined;
    }
    if (e.situation) {
      if (e.situation.subject === '') return ['invalid_event', 'situation without a subject'];
      this.log.append({ situation: e.situation, ...tag }, now);
      return undefined;
    }
    if (e.cellChange) return this.mirror(leaf, e.cellChange, now);
    if (e.signal) {
      if (e.signal.subject === '' || e.signal.sourceId === '') return ['invalid_event', 'signal without a subject or source id'];
      if (group !== '') {
        const hw = this.group(group).signalHw;
        const seen = hw.get(e.signal.sourceId);
        if (seen !== undefined && e.signal.seq <= seen) {
          this.dedupe('signal');
          return undefined;
        }
        if (seen === undefined && hw.size >= MAX_GROUP_SOURCES) hw.delete(hw.keys().next().value!);
        hw.set(e.signal.sourceId, e.signal.seq);
      }
      this.log.appendSignal(e.signal, undefined, now);
      if (this.correlator) {
        const out = this.crossOut;
        out.length = 0;
        this.correlator.signal(group || leaf, e.signal, now, out);
        this.publishCross(out, now);
      }
      return undefined;
    }
    if (e.action) return ['unexpected_kind', 'actions are not forwarded (the upstream acts on the narratives itself)'];
    if (e.gap) return ['unexpected_kind', 'a gap is not an event to forward'];
    return ['invalid_event', 'event without a payload'];
  }

  /** Whether `leaf` is its group's primary: the first of its live members (or it is the only one that ever spoke). */
  private primary(leaf: string, group: string): boolean {
    const live = this.group(group).live;
    if (live.size === 0) return true;
    return live.keys().next().value === leaf;
  }

  /** Mirrors a leaf's cell into this hierarchy (entity cells only); appends the changes that follows. */
  private mirror(leaf: string, c: CellChange, now: bigint): [string, string] | undefined {
    if (c.path === '' || c.path.includes('#')) return ['invalid_event', 'only entity cells are forwarded (not the root, not aspects)'];
    if (!Status_Condition[c.current] || !Status_Confidence[c.confidence]) return ['invalid_event', `unknown condition ${c.current} or confidence ${c.confidence}`];
    if (!this.hierarchy.state(c.path) && !this.hierarchy.canAccept(c.path)) return ['hierarchy_full', `hierarchy is full (${this.hierarchy.size} cells); cell not mirrored`];
    const known = c.current !== Status_Condition.CONDITION_UNSPECIFIED;
    const confidence = c.stale ? Status_Confidence.TENTATIVE : c.confidence === Status_Confidence.CONFIDENCE_UNSPECIFIED ? Status_Confidence.TENTATIVE : c.confidence;
    const changes = this.changes;
    changes.length = 0;
    this.hierarchy.infer(c.path, known ? { condition: c.current, confidence } : undefined, `leaf ${leaf}${c.stale ? ' (stale there)' : ''}${c.reason ? `: ${c.reason}` : ''}`, changes);
    this.cellLeaf.set(c.path, leaf);
    for (const x of changes) this.log.append({ cellChange: { ...x, causeSourceId: x.causeSourceId || `leaf/${leaf}` }, leaf, leafOffset: 0n }, now);
    return undefined;
  }

  private remember(n: Narrative): void {
    this.narratives.delete(n.id);
    this.narratives.set(n.id, n);
    trimResolved(this.narratives, (x) => x.state === Narrative_State.RESOLVED);
  }

  /** Sets `leaf` on every cell of an answer that mirrors a leaf's cell. */
  tagCells(c: Cell): Cell {
    if (this.cellLeaf.size === 0) return c;
    const walk = (x: Cell): void => {
      const leaf = this.cellLeaf.get(x.path);
      if (leaf !== undefined) x.leaf = leaf;
      for (const ch of x.children) walk(ch);
    };
    walk(c);
    return c;
  }

  /** This aggregator's own narratives and the leaves', open first (most recently updated first), then resolved. */
  merge(own: ListNarrativesResponse, req: ListNarrativesRequest): ListNarrativesResponse {
    if (this.narratives.size === 0) return own;
    const all = [...own.narratives];
    for (const n of this.narratives.values()) {
      if (!req.includeResolved && n.state === Narrative_State.RESOLVED) continue;
      if (req.subjectPrefix !== '' && !isUnder(n.rootSubject, req.subjectPrefix) && !n.causalChain.some((e) => isUnder(e.subject, req.subjectPrefix))) continue;
      all.push(n);
    }
    const open = (n: Narrative): number => (n.state === Narrative_State.RESOLVED ? 1 : 0);
    all.sort((a, b) => open(a) - open(b) || (b.updatedAt > a.updatedAt ? 1 : b.updatedAt < a.updatedAt ? -1 : 0));
    const limit = req.limit > 0 ? req.limit : 100;
    return { narratives: all.slice(0, limit) };
  }
}

/** Once `map` holds twice KEEP_RESOLVED entries, forgets its oldest resolved ones down to KEEP_RESOLVED (insertion order). */
function trimResolved<V>(map: Map<string, V>, resolved: (v: V) => boolean, forgotten?: (v: V) => void): void {
  if (map.size <= KEEP_RESOLVED * 2) return;
  let n = 0;
  for (const v of map.values()) if (resolved(v)) n++;
  for (const [k, v] of map) {
    if (n <= KEEP_RESOLVED) break;
    if (!resolved(v)) continue;
    map.delete(k);
    forgotten?.(v);
    n--;
  }
}
