// Decide, part one: how serious things are at each subject — Serventis Situations NORMAL,
// WARNING, CRITICAL — from the findings about it. A subject's level is the highest its open
// findings call for (levelOf: TENTATIVE findings only observe). It rises at once and falls only
// after it has stayed lower for `lowerAfterNs` (hysteresis), and a Situation event is emitted
// only when the level shown changes (de-duplication). Variability says how often it changed lately.
import { Situation_Level, Situation_Variability, type Finding, type Situation } from '../proto/index.js';
import { levelOf } from './explain.js';

export interface SituationSettings {
  /** A level falls only after the findings have called for less for this long. */
  lowerAfterNs: bigint;
  /** Changes within this much time make a situation VARIABLE (2-3) or VOLATILE (4 or more). */
  variabilityWindowNs: bigint;
}

export const SITUATION_DEFAULTS: SituationSettings = { lowerAfterNs: 30_000_000_000n, variabilityWindowNs: 600_000_000_000n };

interface SubjectState {
  findings: Map<string, { level: Situation_Level; summary: string }>;
  shown: Situation_Level;
  lowerSince: bigint | undefined;
  changes: bigint[];
}

export class SituationReporter {
  private readonly subjects = new Map<string, SubjectState>();
  /** Subjects waiting to lower their level (lowerSince set), with their state. */
  private readonly lowering = new Map<string, SubjectState>();

  constructor(private readonly settings: SituationSettings) {}

  /** The level shown for a subject (NORMAL when nothing is known). */
  level(subject: string): Situation_Level {
    return this.subjects.get(subject)?.shown ?? Situation_Level.NORMAL;
  }

  /** Counts by level shown, for /metrics. */
  counts(): { warning: number; critical: number } {
    let warning = 0;
    let critical = 0;
    for (const s of this.subjects.values()) {
      if (s.shown === Situation_Level.WARNING) warning++;
      else if (s.shown === Situation_Level.CRITICAL) critical++;
    }
    return { warning, critical };
  }

  accept(f: Finding, now: bigint, out: Situation[]): void {
    let s = this.subjects.get(f.subject);
    const level = levelOf(f);
    if (!s) {
      if (level === Situation_Level.NORMAL) return; // nothing to say about a subject nobody worried about
      s = { findings: new Map(), shown: Situation_Level.NORMAL, lowerSince: undefined, changes: [] };
      this.subjects.set(f.subject, s);
    }
    if (f.resolved) s.findings.delete(f.id);
    else s.findings.set(f.id, { level, summary: f.summary });
    this.settle(f.subject, s, now, out);
  }

  tick(now: bigint, out: Situation[]): void {
    // Between two accepts a subject's findings stand still: settling one that has not waited
    // lowerAfterNs yet changes nothing, so only those due are settled (in the same order).
    const due = now - this.settings.lowerAfterNs;
    this.lowering.forEach((s, subject) => {
      if (s.lowerSince !== undefined && s.lowerSince <= due) this.settle(subject, s, now, out);
    });
  }

  private settle(subject: string, s: SubjectState, now: bigint, out: Situation[]): void {
    let wanted = Situation_Level.NORMAL;
    let reason = '';
    for (const x of s.findings.values()) {
      if (x.level > wanted) {
        wanted = x.level;
        reason = x.summary;
      }
    }
    if (wanted > s.shown) {
      this.show(subject, s, wanted, reason, now, out);
    } else if (wanted < s.shown) {
      s.lowerSince ??= now;
      if (!this.lowering.has(subject)) this.lowering.set(subject, s);
      if (now - s.lowerSince >= this.settings.lowerAfterNs) {
        this.show(subject, s, wanted, reason || `nothing calls for ${Situation_Level[s.shown]} any more`, now, out);
      }
    } else {
      s.lowerSince = undefined;
      this.lowering.delete(subject);
    }
    if (s.shown === Situation_Level.NORMAL && s.findings.size === 0) {
      this.subjects.delete(subject);
      this.lowering.delete(subject);
    }
  }

  private show(subject: string, s: SubjectState, level: Situation_Level, reason: string, now: bigint, out: Situation[]): void {
    const previous = s.shown;
    s.shown = level;
    s.lowerSince = undefined;
    this.lowering.delete(subject);
    const since = now - this.settings.variabilityWindowNs;
    s.changes = s.changes.filter((t) => t >= since);
    s.changes.push(now);
    const n = s.changes.length;
    const variability = n >= 4 ? Situation_Variability.VOLATILE : n >= 2 ? Situation_Variability.VARIABLE : Situation_Variability.CONSTANT;
    out.push({ subject, previous, current: level, variability, reason });
  }
}
