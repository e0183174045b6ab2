// The safety model (ARCHITECTURE §8), pure: given a narrative revision and the time, what may one
// actor do? It remembers, per narrative, whether the actor announced it, so an incident opens once
// and resolves once however many revisions arrive, and per target when it last announced one.
import { Narrative_State, Situation_Level, Status_Confidence, type Narrative } from '../proto/index.js';
import type { ActorKind } from './config.js';

/** What acting means for one narrative revision: tell that it opened, that it changed, that it ended. */
export type Transition = 'open' | 'update' | 'resolve';

export type Verdict =
  | { act: Transition }
  /** Refused by a rule: confidence, level, rate limit. `rule` is stable, `reason` is for people. */
  | { deny: string; rule: DenyRule }
  /** Nothing to do and nothing worth saying (duplicate, update not wanted, already denied so). */
  | { none: string };

export type DenyRule = 'tentative' | 'confidence' | 'level' | 'rate-limit';

export interface PolicyRules {
  kind: ActorKind;
  minConfidence: Status_Confidence;
  minLevel: Situation_Level;
  /** One announcement per target (the narrative's root subject) per this window; 0 = no limit. */
  rateLimitMs: number;
  notifyUpdates: boolean;
}

interface Memory {
  announced: boolean;
  lastActMs: number;
  /** The rule that last refused it: the same refusal is said once, not at every revision. */
  lastDenial?: DenyRule;
}

/** Narratives remembered at once; beyond it the oldest are forgotten (and counted). */
const MAX_OPEN = 100_000;
const MAX_RESOLVED = 10_000;

export class SafetyPolicy {
  private readonly open = new Map<string, Memory>();
  /** Resolved narrative ids, so a late or repeated revision does not act again. */
  private readonly resolved = new Set<string>();
  /** The same ids in arrival order, to forget the oldest in O(1) (a Set's first key is not O(1) after many deletes). */
  private readonly resolvedRing: (string | undefined)[] = new Array(MAX_RESOLVED);
  private resolvedNext = 0;
  /** Per target, when it was last announced. */
  private readonly lastAnnounced = new Map<string, number>();
  /** Open narratives forgotten because MAX_OPEN were open at once (their resolve will not be sent). */
  forgotten = 0;

  constructor(readonly rules: PolicyRules) {}

  decide(n: Narrative, nowMs: number): Verdict {
    if (this.resolved.has(n.id)) return { none: 'narrative already resolved' };
    let mem = this.open.get(n.id);
    if (n.state === Narrative_State.RESOLVED) {
      this.open.delete(n.id);
      this.remember(n.id);
      // Resolving is exempt from gates and rate limits: it closes what this actor opened.
      return mem?.announced ? { act: 'resolve' } : { none: 'never announced, nothing to resolve' };
    }
    if (n.state !== Narrative_State.OPEN && n.state !== Narrative_State.UPDATED) return { none: `narrative state ${n.state} is not acted on` };
    if (!mem) {
      mem = { announced: false, lastActMs: 0 };
      this.open.set(n.id, mem);
      if (this.open.size > MAX_OPEN) {
        this.open.delete(this.open.keys().next().value!);
        this.forgotten++;
      }
    }
    if (!mem.announced) {
      const refusal = this.gate(n);
      if (refusal) return this.deny(mem, refusal.rule, refusal.reason);
      const target = n.rootSubject || n.id;
      const last = this.lastAnnounced.get(target);
      if (this.rules.rateLimitMs > 0 && last !== undefined && nowMs - last < this.rules.rateLimitMs) {
        return this.deny(mem, 'rate-limit', `rate limited: ${target} was announced ${seconds(nowMs - last)} ago (at most once per ${seconds(this.rules.rateLimitMs)} per target)`);
      }
      if (this.rules.rateLimitMs > 0) this.noteAnnounced(target, nowMs);
      mem.announced = true;
      mem.lastActMs = nowMs;
      mem.lastDenial = undefined;
      return { act: 'open' };
    }
    if (n.state === Narrative_State.OPEN) return { none: 'already announced' };
    if (!this.rules.notifyUpdates) return { none: 'updates are not sent by this actor' };
    const refusal = this.gate(n);
    if (refusal) return this.deny(mem, refusal.rule, refusal.reason);
    if (this.rules.rateLimitMs > 0 && nowMs - mem.lastActMs < this.rules.rateLimitMs) {
      return this.deny(mem, 'rate-limit', `rate limited: narrative ${n.id} was last sent ${seconds(nowMs - mem.lastActMs)} ago (at most once per ${seconds(this.rules.rateLimitMs)})`);
    }
    mem.lastActMs = nowMs;
    mem.lastDenial = undefined;
    return { act: 'update' };
  }

  /** Confidence and level: TENTATIVE never acts, alerts need minConfidence, remediation CONFIRMED. */
  private gate(n: Narrative): { rule: DenyRule; reason: string } | undefined {
    const confidence = n.confidence === Status_Confidence.UNRECOGNIZED ? Status_Confidence.CONFIDENCE_UNSPECIFIED : n.confidence;
    if (confidence <= Status_Confidence.TENTATIVE) {
      return { rule: 'tentative', reason: `confidence ${confidenceName(confidence)}: observe only` };
    }
    if (confidence < this.rules.minConfidence) {
      return {
        rule: 'confidence',
        reason: this.rules.kind === 'remediation'
          ? `remediation acts only on CONFIRMED evidence; this narrative is ${confidenceName(confidence)}`
          : `confidence ${confidenceName(confidence)} is below this actor's minConfidence ${confidenceName(this.rules.minConfidence)}`,
      };
    }
    const level = n.level === Situation_Level.UNRECOGNIZED ? Situation_Level.LEVEL_UNSPECIFIED : n.level;
    if (level < this.rules.minLevel) {
      return { rule: 'level', reason: `level ${Situation_Level[level] ?? level} is below this actor's minLevel ${Situation_Level[this.rules.minLevel]}` };
    }
    return undefined;
  }

  private deny(mem: Memory, rule: DenyRule, reason: string): Verdict {
    if (mem.lastDenial === rule) return { none: `still refused (${rule})` };
    mem.lastDenial = rule;
    return { deny: reason, rule };
  }

  private remember(id: string): void {
    const oldest = this.resolvedRing[this.resolvedNext];
    if (oldest !== undefined) this.resolved.delete(oldest);
    this.resolvedRing[this.resolvedNext] = id;
    this.resolvedNext = (this.resolvedNext + 1) % MAX_RESOLVED;
    this.resolved.add(id);
  }

  private noteAnnounced(target: string, nowMs: number): void {
    this.lastAnnounced.delete(target); // re-insert: the map stays ordered oldest first
    this.lastAnnounced.set(target, nowMs);
    if (this.lastAnnounced.size > MAX_OPEN) {
      // Entries older than the window no longer limit anything.
      for (const [t, at] of this.lastAnnounced) {
        if (nowMs - at < this.rules.rateLimitMs) break;
        this.lastAnnounced.delete(t);
      }
    }
  }
}

export function confidenceName(c: Status_Confidence): string {
  return c === Status_Confidence.CONFIDENCE_UNSPECIFIED ? 'UNSPECIFIED' : (Status_Confidence[c] ?? String(c));
}

function seconds(ms: number): string {
  return ms >= 10_000 || ms % 1000 === 0 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`;
}
