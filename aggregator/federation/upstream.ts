// Federation, the upstream's side: what leaf aggregators forward (their entity cells, findings,
// situations, narratives, optionally raw signals, each with its offset in the leaf's journal) is
// checked, deduplicated by (leaf, journal, offset) and appended to this aggregator's event log,
// tagged with the leaf. Narratives keep the leaf's ids; a leaf's cells are mirrored into this
// hierarchy as inferred conditions (so they roll up with everything else), remembering which
// leaf reported them. Synchronous and free of I/O: the caller acknowledges once the log commits.
import { Status_Condition, Status_Confidence, Narrative_State, isUnder, type Cell, type CellChange, type Event, type FederationAck, type FederationBatch, type ListNarrativesRequest, type ListNarrativesResponse, type Narrative } from '../../proto/index.js';
import type { HierarchyManager } from '../../hierarchy/manager.js';
import type { EventLog } from '../event-log.js';

/** A leaf's name: what its events are tagged with, and the source its caller must be allowed to speak for. */
export const LEAF_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The dedupe key of one leaf's journal (kept with the agents' high-waters, written with the events). */
export const federationKey = (leaf: string, journalId: string): string => `federation/${leaf}/${journalId}`;

/** A batch that cannot be taken at all: the stream is ended with this (INVALID_ARGUMENT). */
export class FederationRefusal extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
  }
}

export interface UpstreamStats {
  /** Events taken, by leaf. */
  accepted: Map<string, number>;
  duplicates: number;
  /** Events refused, by reason. */
  rejected: Map<string, number>;
  /** Snapshot cells applied. */
  snapshotCells: number;
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
  readonly stats: UpstreamStats = { accepted: new Map(), duplicates: 0, rejected: new Map(), snapshotCells: 0 };

  constructor(
    private readonly log: EventLog,
    private readonly hierarchy: HierarchyManager,
    private readonly nowNs: () => bigint,
  ) {}

  /** Dedupe state from the journal (the agents' high-waters are in the same table: only ours are taken). */
  restore(highWater: ReadonlyMap<string, bigint>): void {
    for (const [k, v] of highWater) if (k.startsWith('federation/')) this.highWater.set(k, v);
  }

  /** A leaf narrative read back from the journal at start (newest revision first: older ones are ignored). */
  restoreNarrative(n: Narrative): void {
    if (!n.leaf || this.narratives.has(n.id)) return;
    this.narratives.set(n.id, n);
  }

  /** Leaves and journals known, with how far each is held. */
  get leaves(): ReadonlyMap<string, bigint> {
    return this.highWater;
  }

  /** Checks a batch as a whole; throws FederationRefusal naming what is wrong. */
  check(b: FederationBatch, maxEvents: number): void {
    if (!LEAF_NAME.test(b.leaf)) throw new FederationRefusal('invalid_leaf', `FederationBatch.leaf "${b.leaf.slice(0, 140)}" is not a leaf name (1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit)`);
    if (b.journalId === '' || b.journalId.length > 128) throw new FederationRefusal('invalid_journal_id', `FederationBatch.journal_id must be 1-128 characters (got ${b.journalId.length})`);
    if (b.events.length + b.cells.length > maxEvents) throw new FederationRefusal('oversize_batch', `FederationBatch holds ${b.events.length} events and ${b.cells.length} cells, more than the limit of ${maxEvents}; send smaller batches`);
  }

  /** Takes one (checked) batch; appends what it carries to the log and publishes it. */
  ingest(b: FederationBatch): FederationAck {
    const now = this.nowNs();
    const key = federationKey(b.leaf, b.journalId);
    let hw = this.highWater.get(key) ?? 0n;
    const ack: FederationAck = { ackedOffset: hw, accepted: 0, duplicates: 0, rejected: 0, rejections: [] };
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
      const problem = this.take(b.leaf, e, now);
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
  private take(leaf: string, e: Event, now: bigint): [string, string] | undefined {
    const tag = { leaf, leafOffset: e.offset };
    if (e.narrative) {
      const n = e.narrative;
      if (n.id === '') return ['invalid_event', 'narrative without an id'];
      const tagged: Narrative = { ...n, leaf };
      this.log.append({ narrative: tagged, ...tag }, now);
      this.remember(tagged);
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
      this.log.appendSignal(e.signal, undefined, now);
      return undefined;
    }
    if (e.action) return ['unexpected_kind', 'actions are not forwarded (the upstream acts on the narratives itself)'];
    if (e.gap) return ['unexpected_kind', 'a gap is not an event to forward'];
    return ['invalid_event', 'event without a payload'];
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
    if (this.narratives.size <= KEEP_RESOLVED * 2) return;
    let resolved = 0;
    for (const x of this.narratives.values()) if (x.state === Narrative_State.RESOLVED) resolved++;
    for (const [id, x] of this.narratives) {
      if (resolved <= KEEP_RESOLVED) break;
      if (x.state === Narrative_State.RESOLVED) {
        this.narratives.delete(id);
        resolved--;
      }
    }
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
