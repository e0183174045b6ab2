// oscillation: a cell flapping — its own condition crossing between healthy (STABLE, CONVERGING)
// and troubled (DIVERGING or worse) again and again. The agents' translators keep hysteresis, so
// flapping that gets through them is real: a threshold set at the metric's normal level, a
// client reconnecting in a loop, a consumer kicked out and let back in. A cell that crosses a few
// times is noise (TENTATIVE, observe only); one that keeps crossing is a finding that counts.
import { SEVERITY, Status_Condition, Status_Confidence, entityOf, type Evidence, type Finding } from '../proto/index.js';
import type { HierarchyView } from '../hierarchy/manager.js';
import { NO_FINDINGS, evidenceOf, finding, type Ids, type Observation, type Observer } from './observer.js';

export interface OscillationSettings {
  /** Crossings within the window (event time) that make a TENTATIVE finding ... */
  minFlips: number;
  /** ... and a MEASURED one. */
  measuredFlips: number;
  windowNs: bigint;
  /** Most cells followed at once (the oldest are dropped beyond it). */
  maxCells: number;
}

interface CellFlips {
  /** When it began to be followed, in order: the map's own order. */
  seq: number;
  flips: bigint[];
  newest: bigint;
  lastFlipAt: bigint;
  first: Evidence | undefined;
  /** The last crossing, from and to (its words are written only into a finding). */
  lastFrom: Status_Condition;
  lastTo: Status_Condition;
  id: string;
  confidence: Status_Confidence;
  open: boolean;
}

const DIVERGING = SEVERITY[Status_Condition.DIVERGING];
const KEEP = 24;

/** A cell's flip, in the order they happened: the head is the cell whose last flip is oldest. */
interface Flip {
  readonly subject: string;
  readonly cell: CellFlips;
  readonly at: bigint;
}

export class Oscillation implements Observer {
  readonly name = 'oscillation';
  readonly kinds = 'all' as const;
  private readonly cells = new Map<string, CellFlips>();
  /**
   * Every flip in clock order (the clock never runs back); an entry is current while it is its
   * cell's last flip. The first current entry is the cell silent longest: while it is within the
   * window, so is every cell, and a tick has nothing to look at.
   */
  private flipQueue: Flip[] = [];
  private flipHead = 0;
  private followed = 0;

  constructor(private readonly settings: OscillationSettings, private readonly ids: Ids) {}

  observe(o: Observation, _tree: HierarchyView, now: bigint): readonly Finding[] {
    const { own, previousOwn } = o.cell;
    if (own === previousOwn || previousOwn === Status_Condition.CONDITION_UNSPECIFIED || own === Status_Condition.CONDITION_UNSPECIFIED) return NO_FINDINGS;
    if ((SEVERITY[own] >= DIVERGING) === (SEVERITY[previousOwn] >= DIVERGING)) return NO_FINDINGS;
    const subject = o.signal.subject;
    let c = this.cells.get(subject);
    if (!c) {
      if (this.cells.size >= this.settings.maxCells) this.cells.delete(this.cells.keys().next().value!);
      c = { seq: ++this.followed, flips: [], newest: 0n, lastFlipAt: now, first: undefined, lastFrom: Status_Condition.CONDITION_UNSPECIFIED, lastTo: Status_Condition.CONDITION_UNSPECIFIED, id: '', confidence: Status_Confidence.CONFIDENCE_UNSPECIFIED, open: false };
      this.cells.set(subject, c);
    }
    const ts = o.signal.timestamp;
    c.flips.push(ts);
    if (c.flips.length > KEEP) c.flips.shift();
    if (ts > c.newest) c.newest = ts;
    c.lastFlipAt = now;
    this.flipQueue.push({ subject, cell: c, at: now });
    if (this.flipQueue.length - this.flipHead > 4 * this.cells.size + 4096) this.rebuildFlips();
    c.lastFrom = previousOwn;
    c.lastTo = own;
    const cutoff = c.newest - this.settings.windowNs;
    let recent = 0;
    for (let i = 0; i < c.flips.length; i++) if (c.flips[i]! >= cutoff) recent++;
    if (recent < this.settings.minFlips) return NO_FINDINGS;
    const confidence = recent >= this.settings.measuredFlips ? Status_Confidence.MEASURED : Status_Confidence.TENTATIVE;
    if (c.open && confidence === c.confidence) return NO_FINDINGS;
    if (!c.open) {
      c.id = this.ids.next(this.name);
      c.first = evidenceOf(o.signal, 'other');
    }
    c.open = true;
    c.confidence = confidence;
    return [this.findingOf(subject, c, recent, false)];
  }

  tick(now: bigint): readonly Finding[] {
    // The cells silent for the window: from the oldest flips, up to the first cell still within it
    // (stale entries are skipped), then in the map's order, as a walk over the whole map finds them.
    const q = this.flipQueue;
    const window = this.settings.windowNs;
    let due: Flip[] | undefined;
    let i = this.flipHead;
    for (; i < q.length; i++) {
      const f = q[i]!;
      if (this.cells.get(f.subject) !== f.cell || f.cell.lastFlipAt !== f.at) continue;
      if (now - f.at < window) break;
      (due ??= []).push(f);
    }
    this.flipHead = i;
    if (this.flipHead > 1024 && this.flipHead * 2 > q.length) {
      this.flipQueue = q.slice(this.flipHead);
      this.flipHead = 0;
    }
    if (!due) return NO_FINDINGS;
    if (due.length > 1) due.sort((a, b) => a.cell.seq - b.cell.seq);
    let out: Finding[] | undefined;
    for (const { subject, cell: c } of due) {
      if (this.cells.get(subject) !== c) continue; // twice in the queue (two flips at one clock time)
      this.cells.delete(subject);
      if (c.open) (out ??= []).push(this.findingOf(subject, c, 0, true));
    }
    return out ?? NO_FINDINGS;
  }

  /** One entry per followed cell, oldest flip first (when no tick has come to drop stale ones). */
  private rebuildFlips(): void {
    this.flipQueue = [...this.cells].map(([subject, cell]) => ({ subject, cell, at: cell.lastFlipAt })).sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    this.flipHead = 0;
  }

  private findingOf(subject: string, c: CellFlips, recent: number, resolved: boolean): Finding {
    const window = Number(this.settings.windowNs / 1_000_000_000n);
    return finding({
      id: c.id,
      observer: this.name,
      subject,
      scope: entityOf(subject),
      condition: Status_Condition.ERRATIC,
      confidence: c.confidence,
      summary: resolved ? `${subject} steady again` : `${subject} flapping: ${recent} crossings between ${Status_Condition[c.lastFrom]} and ${Status_Condition[c.lastTo]} within ${window} s`,
      evidence: c.first ? [c.first] : [],
      resolved,
      context: { flips: String(recent) },
    });
  }
}
