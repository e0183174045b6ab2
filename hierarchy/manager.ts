// The HierarchyManager: one cell per subject path segment, each holding its own latest condition
// and a roll-up of its children. Pure state, no I/O: signals in, cell changes out.
//
// Roll-up is worst-of for now (a later issue weighs how many children are affected). To stay
// O(depth) per signal however wide a cell is, each cell counts its children per
// (severity, confidence) instead of rescanning them.
import {
  assess,
  SEVERITY,
  Status_Condition,
  Status_Confidence,
  type Cell,
  type CellChange,
  type Signal,
} from '../proto/index.js';

const CONFIDENCES = 4; // UNSPECIFIED, TENTATIVE, MEASURED, CONFIRMED
const LEVELS = 8; // severities 0..7
const BY_SEVERITY: Status_Condition[] = [];
for (const [c, s] of Object.entries(SEVERITY)) if (Number(c) >= 0) BY_SEVERITY[s] = Number(c) as Status_Condition;
BY_SEVERITY[0] = Status_Condition.CONDITION_UNSPECIFIED;

interface Node {
  readonly path: string;
  readonly name: string;
  readonly parent: Node | undefined;
  readonly children: Map<string, Node>;
  /** Condition of signals addressed to this cell itself. */
  own: Status_Condition;
  ownConfidence: Status_Confidence;
  /** Rolled-up condition and its confidence. */
  condition: Status_Condition;
  confidence: Status_Confidence;
  lastHeard: bigint;
  signals: number;
  /** childCounts[severity * CONFIDENCES + confidence] = children rolled up to that. */
  readonly childCounts: Uint32Array;
}

export interface HierarchyOptions {
  /** Cells beyond this are refused (the signal is rejected), so a flood of subjects cannot exhaust memory. */
  maxCells: number;
}

export class HierarchyManager {
  private readonly root: Node = newNode('', '', undefined);
  private readonly byPath = new Map<string, Node>([['', this.root]]);
  private readonly maxCells: number;

  constructor(options: Partial<HierarchyOptions> = {}) {
    this.maxCells = options.maxCells ?? 1_000_000;
  }

  get size(): number {
    return this.byPath.size - 1;
  }

  /** Whether a signal for this subject can be taken (its cell exists or there is room). */
  canAccept(subject: string): boolean {
    return this.byPath.has(subject) || this.byPath.size + subject.split('/').length <= this.maxCells + 1;
  }

  /** Applies one (validated) signal; returns the cells whose condition or confidence changed. */
  apply(signal: Signal): CellChange[] {
    const node = this.ensure(signal.subject);
    const ts = signal.timestamp;
    for (let n: Node | undefined = node; n; n = n.parent) {
      n.signals++;
      if (ts > n.lastHeard) n.lastHeard = ts;
    }
    const a = assess(signal);
    if (!a) return [];
    node.own = a.condition;
    node.ownConfidence = a.confidence;
    const changes: CellChange[] = [];
    // Re-roll up the cell, then each ancestor, stopping where nothing changes.
    for (let n: Node | undefined = node; n; n = n.parent) {
      const prevCondition = n.condition;
      const prevConfidence = n.confidence;
      rollUp(n);
      if (n.condition === prevCondition && n.confidence === prevConfidence) break;
      if (n.parent) {
        n.parent.childCounts[slot(prevCondition, prevConfidence)]!--;
        n.parent.childCounts[slot(n.condition, n.confidence)]!++;
      }
      changes.push({
        path: n.path,
        previous: prevCondition,
        current: n.condition,
        confidence: n.confidence,
        causeSourceId: signal.sourceId,
        causeSeq: signal.seq,
      });
    }
    return changes;
  }

  /** A subtree as the API returns it; undefined when there is no such cell. */
  get(path: string, depth = 0): Cell | undefined {
    const n = this.byPath.get(path);
    return n ? toCell(n, depth <= 0 ? Infinity : depth) : undefined;
  }

  private ensure(path: string): Node {
    const found = this.byPath.get(path);
    if (found) return found;
    const cut = path.lastIndexOf('/');
    const parent = cut < 0 ? this.root : this.ensure(path.slice(0, cut));
    const node = newNode(path, path.slice(cut + 1), parent);
    parent.children.set(node.name, node);
    parent.childCounts[slot(node.condition, node.confidence)]!++;
    this.byPath.set(path, node);
    return node;
  }
}

function newNode(path: string, name: string, parent: Node | undefined): Node {
  return {
    path,
    name,
    parent,
    children: new Map(),
    own: Status_Condition.CONDITION_UNSPECIFIED,
    ownConfidence: Status_Confidence.CONFIDENCE_UNSPECIFIED,
    condition: Status_Condition.CONDITION_UNSPECIFIED,
    confidence: Status_Confidence.CONFIDENCE_UNSPECIFIED,
    lastHeard: 0n,
    signals: 0,
    childCounts: new Uint32Array(LEVELS * CONFIDENCES),
  };
}

function slot(c: Status_Condition, conf: Status_Confidence): number {
  return (SEVERITY[c] ?? 0) * CONFIDENCES + (conf >= 0 && conf < CONFIDENCES ? conf : 0);
}

/** Worst of own and children; at the worst severity, the highest confidence that reached it. */
function rollUp(n: Node): void {
  let worst = SEVERITY[n.own] ?? 0;
  let confidence: Status_Confidence = n.own === Status_Condition.CONDITION_UNSPECIFIED ? Status_Confidence.CONFIDENCE_UNSPECIFIED : n.ownConfidence;
  for (let level = LEVELS - 1; level > worst; level--) {
    for (let c = CONFIDENCES - 1; c >= 0; c--) {
      if (n.childCounts[level * CONFIDENCES + c]! > 0) {
        worst = level;
        confidence = c;
        break;
      }
    }
    if (worst === level) break;
  }
  if (worst === (SEVERITY[n.own] ?? 0)) {
    // Children at the same severity as own may be surer than own.
    for (let c = CONFIDENCES - 1; c > confidence; c--) {
      if (n.childCounts[worst * CONFIDENCES + c]! > 0) {
        confidence = c;
        break;
      }
    }
  }
  n.condition = BY_SEVERITY[worst]!;
  n.confidence = worst === 0 ? Status_Confidence.CONFIDENCE_UNSPECIFIED : confidence;
}

function toCell(n: Node, depth: number): Cell {
  const children: Cell[] = [];
  if (depth > 0) for (const c of n.children.values()) children.push(toCell(c, depth - 1));
  return {
    path: n.path,
    name: n.name,
    condition: n.condition,
    confidence: n.confidence,
    ownCondition: n.own,
    lastHeard: n.lastHeard,
    signals: BigInt(n.signals),
    children,
    omittedChildren: depth > 0 ? 0 : n.children.size,
  };
}
