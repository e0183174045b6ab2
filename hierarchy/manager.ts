// The HierarchyManager: one cell per subject path segment, each holding the condition of signals
// addressed to it ("own"), a roll-up of its children (rollup.ts), and how fresh that is. Pure
// state, no I/O, no clock of its own: signals and ticks come in with the time, cell changes go out.
//
// Per signal the work is O(depth): the cell's ancestors are re-rolled up until one does not
// change, and each cell counts its children per (severity, confidence) instead of rescanning them.
// Staleness costs O(1) per signal too: cells that hold an own condition sit in two lists ordered
// by when they last heard (fresh, then confidence-lowered), so a tick only looks at the oldest.
//
// A cell hears several independent streams — a producer's buffer (queue signs), its request
// latency (a status with context metric "request-latency-avg"), its sends to each broker (service
// signs with context "node-id") — so its own condition is the worst of each stream's latest, not
// whichever signal came last (that would flap between a healthy buffer and a slow broker).
import { SEVERITY, Status_Condition, Status_Confidence, assess, type Assessment, type Cell, type CellChange, type Signal } from '../proto/index.js';
import { ROLLUP_DEFAULTS, lowered, rollUp, slotOf, CONFIDENCES, LEVELS, DIVERGING_SEVERITY, type Rollup, type RollupSettings } from './rollup.js';
import { parseCellPath, type SubjectInfo } from '../proto/index.js';

const BY_SEVERITY: Status_Condition[] = [];
for (const [c, s] of Object.entries(SEVERITY)) if (Number(c) >= 0) BY_SEVERITY[s] = Number(c) as Status_Condition;
BY_SEVERITY[0] = Status_Condition.CONDITION_UNSPECIFIED;

const NONE = 0;
const FRESH = 1;
const DECAYED = 2;
/** Where a parent counts a stale child: not in its condition counts. */
const STALE_SLOT = -1;

/** What observers may read of a cell. */
export interface CellState {
  readonly path: string;
  readonly info: SubjectInfo;
  /** Rolled-up condition and confidence. */
  readonly condition: Status_Condition;
  readonly confidence: Status_Confidence;
  /** The condition of signals addressed to this very cell, and of the one before. */
  readonly own: Status_Condition;
  readonly ownConfidence: Status_Confidence;
  readonly previousOwn: Status_Condition;
  readonly stale: boolean;
  /** The own condition has gone unheard long enough to be stale. */
  readonly ownStale: boolean;
  /** Clock time (the caller's) when the own condition was last heard. */
  readonly heardAt: bigint;
  /** Largest signal timestamp at or below this cell. */
  readonly lastHeard: bigint;
  readonly affected: number;
  readonly known: number;
  readonly staleChildren: number;
}

/** Read-only access for observers. */
export interface HierarchyView {
  state(path: string): CellState | undefined;
  children(path: string): Iterable<CellState>;
}

/** One stream of signals at a cell: its latest condition. */
interface Stream {
  readonly key: string;
  condition: Status_Condition;
  confidence: Status_Confidence;
  heardAt: bigint;
}

/** Most streams a cell keeps (the least recently heard goes beyond it). */
const MAX_STREAMS = 16;

/** Which stream a signal belongs to: its metric, else its sign set (per broker for calls). */
export function streamOf(s: Signal): string {
  const c = s.context;
  const metric = c.metric;
  if (metric !== undefined) return metric;
  if (s.service || s.probe) {
    const broker = c['node-id'] ?? c['broker-id'] ?? c['broker.id'] ?? c.broker;
    const set = s.service ? 'service' : 'probe';
    return broker === undefined ? set : `${set}@${broker}`;
  }
  return s.status ? 'status' : s.queue ? 'queue' : s.resource ? 'resource' : s.gauge ? 'gauge' : 'counter';
}

// A cell of the tree. Its small enumerations and flags are packed into two integers (two fields
// where there were thirteen: ~88 bytes a cell) behind accessors, so the code below and observers
// read and write them as plain properties. A lane holds -1..30 (an enum value + 1 in 5 bits):
// the conditions and confidences (0..7, 0..3, UNRECOGNIZED -1) and a parent's slot (-1..31, 6 bits).
const LANE = 31;
// r: the roll-up and where the parent counts it.
const R_CONDITION = 0;
const R_CONFIDENCE = 5;
const R_STALE = 1 << 10;
const R_SLOT = 11; // 6 bits
const R_LIST = 17; // 2 bits
// o: what the cell itself says.
const O_OWN = 0;
const O_OWN_CONFIDENCE = 5;
const O_PREVIOUS_OWN = 10;
const O_INFERRED = 15;
const O_INFERRED_CONFIDENCE = 20;
const O_DECAYED = 1 << 25;
const O_STALE = 1 << 26;
const O_POPULATION = 1 << 27;

const lane = (word: number, shift: number): number => ((word >>> shift) & LANE) - 1;
const withLane = (word: number, shift: number, v: number): number => (word & ~(LANE << shift)) | (((v + 1) & LANE) << shift);

class Node implements CellState {
  /** Made with the first child (most cells, aspects and partitions, never have one), in the order made. */
  children: Node[] | undefined = undefined;
  /**
   * The streams heard. One alone is only its key: its latest is the cell's own condition and
   * confidence, and heardAt (the common case, a Stream and an array the less a cell).
   */
  streams: string | Stream[] | undefined = undefined;
  heardAt = 0n;
  lastHeard = 0n;
  signals = 0;
  affected = 0;
  known = 0;
  staleChildren = 0;
  /**
   * counts[countsAt + slotOf(severity, confidence)] = non-stale children rolled up to that. The
   * counts of many cells share one chunk (a Uint32Array of their own would cost ~4x the 128 bytes);
   * taken with the first child, NO_CHILDREN before.
   */
  counts: Uint32Array = NO_CHILDREN;
  countsAt = 0;
  prev: Node | undefined = undefined;
  next: Node | undefined = undefined;
  private r: number;
  private o: number;

  constructor(
    readonly path: string,
    readonly name: string,
    readonly parent: Node | undefined,
    readonly info: SubjectInfo,
  ) {
    // Every enum UNSPECIFIED (0), slot 0, in no list, nothing stale.
    this.r = withLane(withLane(withLane(0, R_CONDITION, 0), R_CONFIDENCE, 0), R_SLOT, 0) | (NONE << R_LIST);
    this.o = withLane(withLane(withLane(withLane(withLane(0, O_OWN, 0), O_OWN_CONFIDENCE, 0), O_PREVIOUS_OWN, 0), O_INFERRED, 0), O_INFERRED_CONFIDENCE, 0);
    // A container's children are a population of peers (the brokers, the pods, the partitions);
    // an entity's are aspects of one thing and the containers below it: the worst counts.
    if (info.kind === 'container') this.o |= O_POPULATION;
  }

  get population(): boolean {
    return (this.o & O_POPULATION) !== 0;
  }
  get condition(): Status_Condition {
    return lane(this.r, R_CONDITION);
  }
  set condition(v: Status_Condition) {
    this.r = withLane(this.r, R_CONDITION, v);
  }
  get confidence(): Status_Confidence {
    return lane(this.r, R_CONFIDENCE);
  }
  set confidence(v: Status_Confidence) {
    this.r = withLane(this.r, R_CONFIDENCE, v);
  }
  get stale(): boolean {
    return (this.r & R_STALE) !== 0;
  }
  set stale(v: boolean) {
    this.r = v ? this.r | R_STALE : this.r & ~R_STALE;
  }
  /** Where the parent counts this cell: a slot of its counts, or STALE_SLOT. */
  get slot(): number {
    return ((this.r >>> R_SLOT) & 63) - 1;
  }
  set slot(v: number) {
    this.r = (this.r & ~(63 << R_SLOT)) | (((v + 1) & 63) << R_SLOT);
  }
  get list(): number {
    return (this.r >>> R_LIST) & 3;
  }
  set list(v: number) {
    this.r = (this.r & ~(3 << R_LIST)) | ((v & 3) << R_LIST);
  }
  get own(): Status_Condition {
    return lane(this.o, O_OWN);
  }
  set own(v: Status_Condition) {
    this.o = withLane(this.o, O_OWN, v);
  }
  get ownConfidence(): Status_Confidence {
    return lane(this.o, O_OWN_CONFIDENCE);
  }
  set ownConfidence(v: Status_Confidence) {
    this.o = withLane(this.o, O_OWN_CONFIDENCE, v);
  }
  get previousOwn(): Status_Condition {
    return lane(this.o, O_PREVIOUS_OWN);
  }
  set previousOwn(v: Status_Condition) {
    this.o = withLane(this.o, O_PREVIOUS_OWN, v);
  }
  get inferred(): Status_Condition {
    return lane(this.o, O_INFERRED);
  }
  set inferred(v: Status_Condition) {
    this.o = withLane(this.o, O_INFERRED, v);
  }
  get inferredConfidence(): Status_Confidence {
    return lane(this.o, O_INFERRED_CONFIDENCE);
  }
  set inferredConfidence(v: Status_Confidence) {
    this.o = withLane(this.o, O_INFERRED_CONFIDENCE, v);
  }
  get ownDecayed(): boolean {
    return (this.o & O_DECAYED) !== 0;
  }
  set ownDecayed(v: boolean) {
    this.o = v ? this.o | O_DECAYED : this.o & ~O_DECAYED;
  }
  get ownStale(): boolean {
    return (this.o & O_STALE) !== 0;
  }
  set ownStale(v: boolean) {
    this.o = v ? this.o | O_STALE : this.o & ~O_STALE;
  }
}

export interface HierarchyOptions {
  /** Cells beyond this are refused (the signal is rejected), so a flood of subjects cannot exhaust memory. */
  maxCells: number;
  /** A cell that has not heard its own signals for this long loses one step of confidence (0: never). */
  decayAfterNs: bigint;
  /** ... and for this long is marked stale: its parent stops counting it (0: never). */
  staleAfterNs: bigint;
  rollup: RollupSettings;
}

export const HIERARCHY_DEFAULTS: HierarchyOptions = {
  maxCells: 1_000_000,
  decayAfterNs: 120_000_000_000n,
  staleAfterNs: 300_000_000_000n,
  rollup: ROLLUP_DEFAULTS,
};

class List {
  head: Node | undefined;
  tail: Node | undefined;
  constructor(readonly id: number) {}

  push(n: Node): void {
    n.list = this.id;
    n.prev = this.tail;
    n.next = undefined;
    if (this.tail) this.tail.next = n;
    else this.head = n;
    this.tail = n;
  }

  remove(n: Node): void {
    if (n.prev) n.prev.next = n.next;
    else this.head = n.next;
    if (n.next) n.next.prev = n.prev;
    else this.tail = n.prev;
    n.prev = n.next = undefined;
    n.list = NONE;
  }
}

export class HierarchyManager implements HierarchyView {
  /** One copy of each name the cells' infos hold (a cluster's, a topic's, "0"..., an aspect's). */
  private readonly names = new Map<string, string>();
  private readonly intern = (name: string): string => {
    const had = this.names.get(name);
    if (had !== undefined) return had;
    this.names.set(name, name);
    return name;
  };
  private readonly root: Node = newNode('', '', undefined, this.intern);
  private readonly byPath = new Map<string, Node>([['', this.root]]);
  private readonly options: HierarchyOptions;
  private readonly fresh = new List(FRESH);
  private readonly decayed = new List(DECAYED);
  private readonly r: Rollup = { severity: 0, confidence: 0, affected: 0, known: 0, by: 'none' };
  /** The chunk cells' counts are taken from, and how many cells' counts it holds. */
  private chunk = new Uint32Array(COUNTS_PER_CHUNK * SLOTS);
  private chunkUsed = 0;

  constructor(options: Partial<HierarchyOptions> = {}) {
    this.options = { ...HIERARCHY_DEFAULTS, ...options };
  }

  private staleOwn = 0;
  /** What the last signal applied says (assess()), for readers that would otherwise assess it again. */
  assessed: Assessment | undefined = undefined;

  get size(): number {
    return this.byPath.size - 1;
  }

  /** Cells whose own signals have gone unheard long enough to be stale. */
  get staleCount(): number {
    return this.staleOwn;
  }

  /** Whether a signal for this subject can be taken (its cell exists or there is room). */
  canAccept(subject: string): boolean {
    return this.byPath.has(subject) || this.byPath.size + subject.split('/').length <= this.options.maxCells + 1;
  }

  /** Applies one (validated) signal, using its timestamp as the time; returns the cell changes. */
  apply(signal: Signal): CellChange[] {
    const out: CellChange[] = [];
    this.applyTo(signal, signal.timestamp, out);
    return out;
  }

  /**
   * Applies one (validated) signal heard at clock time `nowNs`; pushes the cells whose condition,
   * confidence or staleness changed onto `out` (cell first, then up); returns the cell.
   */
  applyTo(signal: Signal, nowNs: bigint, out: CellChange[]): CellState {
    const node = this.ensure(signal.subject);
    const ts = signal.timestamp;
    // A cell's lastHeard is the latest below it, so none above the first that had heard later moves.
    let n: Node | undefined = node;
    for (; n && ts > n.lastHeard; n = n.parent) {
      n.signals++;
      n.lastHeard = ts;
    }
    for (; n; n = n.parent) n.signals++;
    const a = assess(signal);
    this.assessed = a;
    node.previousOwn = node.own;
    if (!a) return node;
    this.hear(node, streamOf(signal), a, nowNs);
    node.heardAt = nowNs;
    node.ownDecayed = false;
    if (node.ownStale) this.staleOwn--;
    node.ownStale = false;
    if (node.list === FRESH) this.fresh.remove(node);
    else if (node.list === DECAYED) this.decayed.remove(node);
    this.fresh.push(node);
    this.propagate(node, out, signal.sourceId, signal.seq, true);
    return node;
  }

  /**
   * Sets (or with undefined clears) a condition the aggregator inferred for a cell that may hear
   * nothing itself, e.g. a managed broker judged from its clients. A reported own condition wins.
   */
  infer(path: string, a: Assessment | undefined, reason: string, out: CellChange[]): void {
    const node = this.byPath.get(path) ?? (a && this.canAccept(path) ? this.ensure(path) : undefined);
    if (!node) return;
    node.inferred = a?.condition ?? Status_Condition.CONDITION_UNSPECIFIED;
    node.inferredConfidence = a?.confidence ?? Status_Confidence.CONFIDENCE_UNSPECIFIED;
    const from = out.length;
    this.propagate(node, out, '', 0n, true);
    if (out.length > from && out[from]!.path === path) out[from]!.reason = reason;
  }

  /** Lets time pass: cells silent for too long lose confidence, then go stale. */
  tick(nowNs: bigint, out: CellChange[]): void {
    const { decayAfterNs, staleAfterNs } = this.options;
    if (decayAfterNs > 0n) {
      for (let n = this.fresh.head; n && nowNs - n.heardAt >= decayAfterNs; n = this.fresh.head) {
        this.fresh.remove(n);
        n.ownDecayed = true;
        this.decayed.push(n);
        const from = out.length;
        this.propagate(n, out, '', 0n, true);
        if (out.length > from && out[from]!.path === n.path) out[from]!.reason = `silent for ${secondsOf(nowNs - n.heardAt)} s: confidence lowered`;
      }
    }
    if (staleAfterNs > 0n) {
      const list = decayAfterNs > 0n ? this.decayed : this.fresh;
      for (let n = list.head; n && nowNs - n.heardAt >= staleAfterNs; n = list.head) {
        list.remove(n);
        n.ownStale = true;
        this.staleOwn++;
        const from = out.length;
        this.propagate(n, out, '', 0n, true);
        if (out.length > from && out[from]!.path === n.path) out[from]!.reason = `silent for ${secondsOf(nowNs - n.heardAt)} s: stale`;
      }
    }
  }

  /** A subtree as the API returns it; undefined when there is no such cell. */
  /**
   * The cell at `path` with `depth` levels of children (0: all), at most `limit` cells in all
   * (children past it are counted as omitted; the top cell's next_after says where to go on),
   * its own children starting after the one named `after`.
   */
  get(path: string, depth = 0, page: { limit?: number; after?: string } = {}): Cell | undefined {
    const n = this.byPath.get(path);
    if (!n) return undefined;
    const budget = { left: page.limit && page.limit > 0 ? page.limit : Infinity };
    return toCell(n, depth <= 0 ? Infinity : depth, budget, page.after ?? '');
  }

  state(path: string): CellState | undefined {
    return this.byPath.get(path);
  }

  children(path: string): Iterable<CellState> {
    return this.byPath.get(path)?.children ?? [];
  }

  /** Records a stream's latest; the own condition becomes the worst of the streams still current. */
  private hear(node: Node, key: string, a: Assessment, nowNs: bigint): void {
    const heard = node.streams;
    if (heard === undefined || heard === key) {
      // The first stream, or the only one heard again (kept as its key alone, one copy for all cells).
      if (heard === undefined) node.streams = this.intern(key);
      node.own = a.condition;
      node.ownConfidence = a.confidence;
      return;
    }
    // A second stream: the first becomes a Stream of its own (its latest is the cell's own).
    const streams = typeof heard === 'string' ? (node.streams = [{ key: heard, condition: node.own, confidence: node.ownConfidence, heardAt: node.heardAt }]) : heard;
    if (streams.length === 1 && streams[0]!.key === key) {
      // The common case, one stream heard again: it is the cell's only current word (just heard,
      // so within the stale horizon).
      const only = streams[0]!;
      only.condition = a.condition;
      only.confidence = a.confidence;
      only.heardAt = nowNs;
      node.own = a.condition;
      node.ownConfidence = a.confidence;
      return;
    }
    let found: Stream | undefined;
    for (let i = 0; i < streams.length; i++) if (streams[i]!.key === key) found = streams[i];
    if (found) {
      found.condition = a.condition;
      found.confidence = a.confidence;
      found.heardAt = nowNs;
    } else {
      if (streams.length >= MAX_STREAMS) {
        let oldest = 0;
        for (let i = 1; i < streams.length; i++) if (streams[i]!.heardAt < streams[oldest]!.heardAt) oldest = i;
        streams.splice(oldest, 1);
      }
      streams.push({ key, condition: a.condition, confidence: a.confidence, heardAt: nowNs });
    }
    // A stream silent for the stale horizon no longer speaks for the cell (dropped in place).
    const horizon = this.options.staleAfterNs > 0n ? nowNs - this.options.staleAfterNs : -1n;
    let worst = 0;
    let condition: Status_Condition = Status_Condition.CONDITION_UNSPECIFIED;
    let confidence: Status_Confidence = Status_Confidence.CONFIDENCE_UNSPECIFIED;
    for (let i = 0; i < streams.length; i++) {
      const x = streams[i]!;
      if (x.heardAt <= horizon) {
        streams.splice(i--, 1);
        continue;
      }
      const sev = SEVERITY[x.condition] ?? 0;
      if (sev > worst || (sev === worst && x.confidence > confidence)) {
        worst = sev;
        condition = x.condition;
        confidence = x.confidence;
      }
    }
    node.own = condition;
    node.ownConfidence = confidence;
  }

  /** Re-rolls up `node` and its ancestors until one does not change, recording each change. */
  private propagate(node: Node, out: CellChange[], causeSourceId: string, causeSeq: bigint, first: boolean): void {
    let own = first;
    // A child going silent (or coming back) is news to its parent even when its condition holds.
    let staleMoved = false;
    for (let n: Node | undefined = node; n; n = n.parent) {
      const prevCondition: Status_Condition = n.condition;
      const prevConfidence: Status_Confidence = n.confidence;
      const prevStale: boolean = n.stale;
      this.recompute(n);
      const changed = n.condition !== prevCondition || n.confidence !== prevConfidence || n.stale !== prevStale;
      if (!changed && !staleMoved) break;
      staleMoved = false;
      if (changed && n.parent) {
        const slot = n.stale ? STALE_SLOT : slotOf(SEVERITY[n.condition] ?? 0, n.confidence);
        if (slot !== n.slot) {
          if (n.slot === STALE_SLOT) n.parent.staleChildren--;
          else n.parent.counts[n.parent.countsAt + n.slot]!--;
          if (slot === STALE_SLOT) n.parent.staleChildren++;
          else n.parent.counts[n.parent.countsAt + slot]!++;
          staleMoved = (slot === STALE_SLOT) !== (n.slot === STALE_SLOT);
          n.slot = slot;
        }
      }
      out.push({
        path: n.path,
        previous: prevCondition,
        current: n.condition,
        confidence: n.confidence,
        causeSourceId,
        causeSeq,
        stale: n.stale,
        reason: own ? '' : this.reasonOf(n),
      });
      own = false;
      if (!changed) break;
    }
  }

  private recompute(n: Node): void {
    let ownSev = 0;
    let ownConf: Status_Confidence = Status_Confidence.CONFIDENCE_UNSPECIFIED;
    if (n.own !== Status_Condition.CONDITION_UNSPECIFIED && !n.ownStale) {
      ownSev = SEVERITY[n.own] ?? 0;
      ownConf = n.ownDecayed ? lowered(n.ownConfidence) : n.ownConfidence;
    } else if (n.inferred !== Status_Condition.CONDITION_UNSPECIFIED) {
      ownSev = SEVERITY[n.inferred] ?? 0;
      ownConf = n.inferredConfidence;
    }
    let r = this.r;
    if (n.children === undefined) {
      // A leaf (most cells): what rollUp makes of no children, without scanning its zero counts.
      r.known = 0;
      r.affected = 0;
      r.by = 'none';
      r.severity = ownSev;
      r.confidence = ownSev === 0 ? Status_Confidence.CONFIDENCE_UNSPECIFIED : ownConf;
    } else r = rollUp(ownSev, ownConf, n.counts, n.population, this.options.rollup, this.r, n.countsAt);
    n.affected = r.affected;
    n.known = r.known;
    if (r.severity === 0 && (n.ownStale || n.staleChildren > 0)) {
      // Nothing current to say, but something was said: show the last known, marked stale.
      n.stale = true;
      if (n.condition !== Status_Condition.CONDITION_UNSPECIFIED) n.confidence = Status_Confidence.TENTATIVE;
      return;
    }
    n.stale = false;
    n.condition = BY_SEVERITY[r.severity]!;
    n.confidence = r.confidence;
  }

  private reasonOf(n: Node): string {
    if (n.stale) return n.staleChildren > 0 ? `${children(n.staleChildren)} silent, none heard` : 'silent';
    const stale = n.staleChildren > 0 ? `; ${children(n.staleChildren)} silent` : '';
    if (!n.population) return n.affected > 0 ? `worst of its parts${stale}` : `all parts healthy${stale}`;
    const share = `${n.affected} of ${children(n.known)} DIVERGING or worse`;
    const sev = SEVERITY[n.condition] ?? 0;
    if (sev >= DIVERGING_SEVERITY) {
      const minority = sev === DIVERGING_SEVERITY && n.confidence === Status_Confidence.TENTATIVE && n.affected * 2 < n.known;
      return `${share}${minority ? ' (a minority)' : ''}${stale}`;
    }
    return n.affected > 0 ? `${share} (too few to count)${stale}` : `${children(n.known)} healthy${stale}`;
  }

  /** Gives a cell its own counts, the next free ones of the current chunk. */
  private takeCounts(n: Node): void {
    if (this.chunkUsed === COUNTS_PER_CHUNK) {
      this.chunk = new Uint32Array(COUNTS_PER_CHUNK * SLOTS);
      this.chunkUsed = 0;
    }
    n.counts = this.chunk;
    n.countsAt = this.chunkUsed++ * SLOTS;
  }

  /** The cell at `path` and its ancestors, made as needed: an aspect's parent is its entity. */
  private ensure(path: string): Node {
    const found = this.byPath.get(path);
    if (found) return found;
    const hash = path.indexOf('#');
    const cut = hash >= 0 ? hash : path.lastIndexOf('/');
    const parent = cut < 0 ? this.root : this.ensure(path.slice(0, cut));
    const node = newNode(path, this.intern(hash >= 0 ? path.slice(hash) : path.slice(cut + 1)), parent, this.intern);
    if (parent.children) parent.children.push(node);
    else {
      parent.children = [node];
      this.takeCounts(parent);
    }
    parent.counts[parent.countsAt + node.slot]!++;
    this.byPath.set(path, node);
    return node;
  }
}

/** What a cell the tree made for an accepted subject is (parseCellPath cannot fail for those). */
function infoOf(path: string, intern: (name: string) => string): SubjectInfo {
  const info = parseCellPath(path, intern);
  if (!info) throw new Error(`hierarchy: "${path}" is not a cell of the subject grammar`);
  return info;
}

function newNode(path: string, name: string, parent: Node | undefined, intern: (name: string) => string): Node {
  return new Node(path, name, parent, infoOf(path, intern));
}

const children = (n: number): string => (n === 1 ? '1 child' : `${n} children`);

/** Counts per cell: one per (severity, confidence). */
const SLOTS = LEVELS * CONFIDENCES;
/** Cells whose counts share one chunk (4,096 x 128 bytes). */
const COUNTS_PER_CHUNK = 4096;
/** The counts of a cell with no children (never written: a cell takes its own with its first child). */
const NO_CHILDREN = new Uint32Array(SLOTS);

function secondsOf(ns: bigint): number {
  return Number(ns / 1_000_000_000n);
}

/** The cell as the API shows it, within a budget of cells shared by the whole answer. */
function toCell(n: Node, depth: number, budget: { left: number }, after?: string): Cell {
  budget.left--;
  const children: Cell[] = [];
  let omitted = 0;
  let nextAfter = '';
  if (n.children) {
    let skipping = after !== undefined && after !== '' && n.children.some((c) => c.name === after);
    for (const c of n.children) {
      if (skipping) {
        if (c.name === after) skipping = false;
        continue;
      }
      if (depth > 0 && budget.left > 0) {
        children.push(toCell(c, depth - 1, budget));
        nextAfter = c.name;
      } else omitted++;
    }
  }
  return {
    path: n.path,
    name: n.name,
    condition: n.condition,
    confidence: n.confidence,
    ownCondition: n.own,
    lastHeard: n.lastHeard,
    signals: BigInt(n.signals),
    children,
    omittedChildren: omitted,
    nextAfter: after !== undefined && depth > 0 && omitted > 0 && budget.left <= 0 ? nextAfter : '',
    affectedChildren: n.affected,
    knownChildren: n.known,
    staleChildren: n.staleChildren,
    stale: n.stale,
    inferred: (n.own === Status_Condition.CONDITION_UNSPECIFIED || n.ownStale) && n.inferred !== Status_Condition.CONDITION_UNSPECIFIED,
  };
}
