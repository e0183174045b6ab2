// The roll-up rule (ARCHITECTURE §6): how a cell's condition follows from its own and its
// children's. Worst-of alone is wrong at scale — one degraded partition of a thousand would turn
// the cluster red — so where the children are a population of peers the rule weighs how many
// are affected and how sure they are:
//   - at least `majority` (default half) of the known children, weighted by confidence
//     (TENTATIVE counts half), at a condition or worse: the parent takes that condition;
//   - otherwise, at least `minority` (default 10 %) DIVERGING or worse: the parent is DIVERGING,
//     TENTATIVE ("something is moving among my children");
//   - otherwise the parent stays healthy.
// Where the children are aspects of one thing (a pod's producer, consumer and JVM; a cluster's
// brokers, topics and groups containers) the worst counts, as any aspect failing fails the whole.
// Counts are kept per (severity, confidence), so a roll-up costs the same for 3 or 30 000 children.
import { Status_Confidence } from '../proto/index.js';

export const LEVELS = 8; // severities 0 (unknown) .. 7 (DOWN), see SEVERITY in proto/signs.ts
export const CONFIDENCES = 4; // UNSPECIFIED, TENTATIVE, MEASURED, CONFIRMED
export const DIVERGING_SEVERITY = 3;

export interface RollupSettings {
  /** Share of known children (weighted) at a condition or worse that carries it up. */
  majority: number;
  /** Share of known children DIVERGING or worse that makes a population DIVERGING, TENTATIVE. */
  minority: number;
  /** Weight of a TENTATIVE child in those shares (a MEASURED or CONFIRMED one weighs 1). */
  tentativeWeight: number;
}

export const ROLLUP_DEFAULTS: RollupSettings = { majority: 0.5, minority: 0.1, tentativeWeight: 0.5 };

/** The result of one roll-up; one object is reused by the caller (the hot path allocates nothing). */
export interface Rollup {
  severity: number;
  confidence: Status_Confidence;
  /** Children DIVERGING or worse. */
  affected: number;
  /** Children with a known condition. */
  known: number;
  /** How the children moved the result: 'none', 'worst', 'majority', 'minority', 'healthy'. */
  by: 'none' | 'worst' | 'majority' | 'minority' | 'healthy';
}

export function slotOf(severity: number, confidence: number): number {
  return severity * CONFIDENCES + (confidence >= 0 && confidence < CONFIDENCES ? confidence : 0);
}

/**
 * Rolls up into `out`: `ownSeverity`/`ownConfidence` (0 when the cell says nothing itself) and
 * `counts[at + slotOf(severity, confidence)]` = children rolled up to that (many cells' counts may
 * share one array).
 */
export function rollUp(ownSeverity: number, ownConfidence: number, counts: Uint32Array, population: boolean, s: RollupSettings, out: Rollup, at = 0): Rollup {
  let known = 0;
  let affected = 0;
  for (let i = CONFIDENCES; i < LEVELS * CONFIDENCES; i++) {
    const c = counts[at + i]!;
    if (c === 0) continue;
    known += c;
    if (i >= DIVERGING_SEVERITY * CONFIDENCES) affected += c;
  }
  out.known = known;
  out.affected = affected;
  let sev = 0;
  let conf = 0;
  out.by = 'none';
  if (known > 0) {
    if (population) populationOf(counts, at, known, s, out);
    else worstOf(counts, at, out);
    sev = out.severity;
    conf = out.confidence;
  }
  // The cell's own word counts in full; at equal severity the surer confidence wins.
  if (ownSeverity > sev || (ownSeverity === sev && ownSeverity > 0 && ownConfidence > conf)) {
    sev = ownSeverity;
    conf = ownConfidence;
  }
  out.severity = sev;
  out.confidence = sev === 0 ? Status_Confidence.CONFIDENCE_UNSPECIFIED : conf;
  return out;
}

function worstOf(counts: Uint32Array, at: number, out: Rollup): void {
  for (let level = LEVELS - 1; level >= 1; level--) {
    for (let c = CONFIDENCES - 1; c >= 0; c--) {
      if (counts[at + level * CONFIDENCES + c]! > 0) {
        out.severity = level;
        out.confidence = c;
        out.by = level >= DIVERGING_SEVERITY ? 'worst' : 'healthy';
        return;
      }
    }
  }
}

function populationOf(counts: Uint32Array, at: number, known: number, s: RollupSettings, out: Rollup): void {
  const need = s.majority * known;
  let weighted = 0;
  for (let level = LEVELS - 1; level >= DIVERGING_SEVERITY; level--) {
    const base = at + level * CONFIDENCES;
    weighted += (counts[base]! + counts[base + 1]!) * s.tentativeWeight + counts[base + 2]! + counts[base + 3]!;
    if (weighted > 0 && weighted >= need) {
      out.severity = level;
      out.confidence = majorityConfidence(counts, at, level, need);
      out.by = 'majority';
      return;
    }
  }
  if (weighted > 0 && weighted >= s.minority * known) {
    out.severity = DIVERGING_SEVERITY;
    out.confidence = Status_Confidence.TENTATIVE;
    out.by = 'minority';
    return;
  }
  // Healthy: CONVERGING when most children are still converging back, else STABLE.
  const c2 = at + 2 * CONFIDENCES;
  const converging = counts[c2]! + counts[c2 + 1]! + counts[c2 + 2]! + counts[c2 + 3]!;
  const level = converging > 0 && converging >= need ? 2 : 1;
  out.severity = level;
  out.confidence = majorityConfidence(counts, at, 1, need);
  out.by = 'healthy';
}

/** The highest confidence that at least `need` children at `level` or worse hold (else TENTATIVE). */
function majorityConfidence(counts: Uint32Array, at: number, level: number, need: number): Status_Confidence {
  for (let c = CONFIDENCES - 1; c >= 1; c--) {
    let n = 0;
    for (let l = level; l < LEVELS; l++) for (let k = c; k < CONFIDENCES; k++) n += counts[at + l * CONFIDENCES + k]!;
    if (n > 0 && n >= need) return c;
  }
  return Status_Confidence.TENTATIVE;
}

/** One confidence step down: what a cell keeps after it has been silent a while. */
export function lowered(c: Status_Confidence): Status_Confidence {
  return c === Status_Confidence.CONFIRMED ? Status_Confidence.MEASURED : c === Status_Confidence.MEASURED ? Status_Confidence.TENTATIVE : c;
}
