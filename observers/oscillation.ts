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
  flips: bigint[];
  newest: bigint;
  lastFlipAt: bigint;
  first: Evidence | undefined;
  lastPair: string;
  id: string;
  confidence: Status_Confidence;
  open: boolean;
}

const DIVERGING = SEVERITY[Status_Condition.DIVERGING];
const KEEP = 24;

export class Oscillation implements Observer {
  readonly name = 'oscillation';
  readonly kinds = 'all' as const;
  private readonly cells = new Map<string, CellFlips>();

  constructor(private readonly settings: OscillationSettings, private readonly ids: Ids) {}

  observe(o: Observation, _tree: HierarchyView, now: bigint): readonly Finding[] {
    const { own, previousOwn } = o.cell;
    if (own === previousOwn || previousOwn === Status_Condition.CONDITION_UNSPECIFIED || own === Status_Condition.CONDITION_UNSPECIFIED) return NO_FINDINGS;
    if ((SEVERITY[own] >= DIVERGING) === (SEVERITY[previousOwn] >= DIVERGING)) return NO_FINDINGS;
    const subject = o.signal.subject;
    let c = this.cells.get(subject);
    if (!c) {
      if (this.cells.size >= this.settings.maxCells) this.cells.delete(this.cells.keys().next().value!);
      c = { flips: [], newest: 0n, lastFlipAt: now, first: undefined, lastPair: '', id: '', confidence: Status_Confidence.CONFIDENCE_UNSPECIFIED, open: false };
      this.cells.set(subject, c);
    }
    const ts = o.signal.timestamp;
    c.flips.push(ts);
    if (c.flips.length > KEEP) c.flips.shift();
    if (ts > c.newest) c.newest = ts;
    c.lastFlipAt = now;
    c.lastPair = `${Status_Condition[previousOwn]} and ${Status_Condition[own]}`;
    const cutoff = c.newest - this.settings.windowNs;
    const recent = c.flips.filter((t) => t >= cutoff).length;
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
    let out: Finding[] | undefined;
    for (const [subject, c] of this.cells) {
      if (now - c.lastFlipAt < this.settings.windowNs) continue;
      this.cells.delete(subject);
      if (c.open) (out ??= []).push(this.findingOf(subject, c, 0, true));
    }
    return out ?? NO_FINDINGS;
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
      summary: resolved ? `${subject} steady again` : `${subject} flapping: ${recent} crossings between ${c.lastPair} within ${window} s`,
      evidence: c.first ? [c.first] : [],
      resolved,
      context: { flips: String(recent) },
    });
  }
}
