// Decide, part two: narratives — one per incident — which open, update as evidence arrives, and
// resolve. Findings are gathered into incidents by entity (proto/subject.ts), never by aspect:
//   - a finding joins the incident that already holds its scope (Finding.scope: the group, the
//     service, the broker, the cluster its story spans), its entity, or the entity of any of its
//     evidence (a slow-consumer finding on a group a cascade already names is that cascade's; a
//     producer's buffer and its exhaustions, or two replicas of one service, are one story);
//   - a finding that roots an incident (a cascade, a broker in trouble, a JVM pausing) takes over
//     incidents rooted only in their symptoms: the producer whose buffer filled and the group that
//     fell behind become steps of the broker's story, in one narrative, keeping the id subscribers
//     already know when one was published;
//   - an incident rooted only in a symptom waits `causeWaitNs` for a cause to show before it is
//     published (the broker's sensor may poll later, or its agent's signals arrive late);
//   - only findings of MEASURED confidence or more publish (TENTATIVE ones only observe);
//   - an incident resolves when all its findings have been resolved for `resolveAfterNs`.
// Recent resolved narratives are kept (bounded) for ListNarratives.
import {
  Narrative_State,
  Situation_Level,
  Status_Confidence,
  type Evidence,
  type Finding,
  type ListNarrativesRequest,
  type ListNarrativesResponse,
  type Narrative,
  entityOf,
  isUnder,
} from '../proto/index.js';
import type { HierarchyView } from '../hierarchy/manager.js';
import { orderChain } from './chain.js';
import { explain, levelOf, rootRank, type Explanation } from './explain.js';

export interface NarrativeSettings {
  /** How long an incident rooted only in a symptom waits for its cause before it is published. */
  causeWaitNs: bigint;
  /** How long all of an incident's findings must stay resolved before its narrative resolves. */
  resolveAfterNs: bigint;
  /** Resolved narratives kept for ListNarratives. */
  keepResolved: number;
  /** Open incidents at most (findings beyond are not narrated, and counted). */
  maxIncidents: number;
  /** Most evidence items in a causal chain. */
  maxChain: number;
  /** Updates of one narrative closer together than this are merged into one (a burst of evidence is one update). */
  minUpdateGapNs: bigint;
  /** Prefix of narrative ids (the aggregator makes them unique across restarts). */
  idPrefix: string;
  /**
   * Ids derived from what opened the incident (its first finding's observer and subject and the
   * earliest signal of its evidence, by source and seq), not from a counter: two aggregators fed the
   * same signals (an HA pair) name the same incident alike, so an upstream can merge their copies and
   * a PagerDuty dedup key collapses. Unique across restarts because (source, seq) is.
   */
  stableIds?: boolean;
}

export const NARRATIVE_DEFAULTS: NarrativeSettings = {
  causeWaitNs: 15_000_000_000n,
  resolveAfterNs: 30_000_000_000n,
  keepResolved: 200,
  maxIncidents: 10_000,
  maxChain: 24,
  minUpdateGapNs: 1_000_000_000n,
  idPrefix: 'n',
};

interface Incident {
  id: string;
  findings: Map<string, Finding>;
  /** The last version of each finding while it held: what the incident is explained from (a resolved version only says "over"). */
  told: Map<string, Finding>;
  root: Finding;
  /** Every piece of evidence any of its findings ever gave, one per (subject, stage): the chain only grows. */
  evidence: Map<string, Evidence>;
  /** The evidence in causal order, while `evidence` has not changed since (emitting re-renders often, the chain seldom moves). */
  chain: Evidence[] | undefined;
  /** The surest the diagnosis has been, and the worst the incident got: recovery does not unsay them. */
  confidence: Status_Confidence;
  peak: Situation_Level;
  members: Set<string>;
  createdAt: bigint;
  published: boolean;
  openedAt: bigint;
  revision: number;
  key: string;
  /** What `key` was made of. */
  keyParts: { x: Explanation; level: Situation_Level; confidence: Status_Confidence; shown: readonly Evidence[]; findingIds: readonly string[] } | undefined;
  last: Narrative | undefined;
  lastEmitAt: bigint;
  /** Something changed since the last update, which waits for minUpdateGapNs. */
  dirty: boolean;
  quietSince: bigint | undefined;
}

export interface NarrativeStats {
  opened: number;
  updated: number;
  resolved: number;
  merged: number;
  /** Findings not narrated because maxIncidents incidents were open. */
  unnarrated: number;
}

const ROOTING = 2; // rootRank at or above which a finding roots an incident at once

export class NarrativeReporter {
  private readonly incidents = new Set<Incident>();
  private readonly byFinding = new Map<string, Incident>();
  private readonly byMember = new Map<string, Incident>();
  private readonly resolved: Narrative[] = [];
  private n = 0;
  readonly stats: NarrativeStats = { opened: 0, updated: 0, resolved: 0, merged: 0, unnarrated: 0 };

  constructor(private readonly settings: NarrativeSettings, private readonly tree: HierarchyView) {}

  get open(): number {
    let n = 0;
    for (const i of this.incidents) if (i.published) n++;
    return n;
  }

  /** Open narratives by the level they were last told at: index = Situation_Level (0 unspecified, 1 NORMAL, 2 WARNING, 3 CRITICAL). */
  openByLevel(): number[] {
    const counts = [0, 0, 0, 0];
    for (const i of this.incidents) if (i.published && i.last) counts[i.last.level >= 0 && i.last.level <= 3 ? i.last.level : 0]!++;
    return counts;
  }

  accept(f: Finding, now: bigint, out: Narrative[]): void {
    this.acceptAll([f], now, out);
  }

  /** Takes the findings one signal (or tick) produced, then publishes each incident they touched once. */
  acceptAll(found: readonly Finding[], now: bigint, out: Narrative[]): void {
    const touched = new Set<Incident>();
    for (const f of found) {
      const inc = this.take(f, now, out);
      if (inc) touched.add(inc);
    }
    for (const inc of touched) if (this.incidents.has(inc)) this.settle(inc, now, out, true);
  }

  private take(f: Finding, now: bigint, out: Narrative[]): Incident | undefined {
    let inc = this.byFinding.get(f.id);
    if (!inc) {
      if (f.resolved) return undefined; // the end of something never narrated
      inc = this.place(f, now, out);
      if (!inc) return undefined;
    }
    inc.findings.set(f.id, f);
    if (!f.resolved) inc.told.set(f.id, f);
    this.byFinding.set(f.id, inc);
    const previousRoot = inc.root;
    if (rootRank(f) > rootRank(inc.root) || inc.root.id === f.id) inc.root = f;
    if (inc.root !== previousRoot && inc.root.id !== previousRoot.id) inc.confidence = inc.root.confidence;
    else if (inc.root.confidence > inc.confidence) inc.confidence = inc.root.confidence;
    if (levelOf(f) > inc.peak) inc.peak = levelOf(f);
    for (const e of f.evidence) {
      const key = evidenceKey(e);
      const known = inc.evidence.get(key);
      if (!known || e.time < known.time) {
        inc.evidence.set(key, e);
        inc.chain = undefined;
      }
    }
    // Subjects a rooted incident now names are taken from incidents rooted only in symptoms.
    for (const displaced of this.claim(inc, f)) this.merge(displaced, inc, now, out);
    return inc;
  }

  /** Time passing: incidents done waiting for a cause publish, quiet ones resolve. */
  tick(now: bigint, out: Narrative[]): void {
    // Settling only ever drops the incident settled (a Set's iteration goes on past a deletion): no copy.
    for (const inc of this.incidents) if (!inc.published || inc.quietSince !== undefined || inc.dirty) this.settle(inc, now, out, inc.dirty);
  }

  list(req: ListNarrativesRequest): ListNarrativesResponse {
    const limit = req.limit > 0 ? req.limit : 100;
    const open = [...this.incidents].filter((i) => i.published && i.last).map((i) => i.last!);
    open.sort((a, b) => (a.updatedAt > b.updatedAt ? -1 : a.updatedAt < b.updatedAt ? 1 : 0));
    const all = req.includeResolved ? [...open, ...this.resolved] : open;
    const prefix = req.subjectPrefix;
    const touches = (n: Narrative): boolean => prefix === '' || isUnder(n.rootSubject, prefix) || n.causalChain.some((e) => isUnder(e.subject, prefix));
    return { narratives: all.filter(touches).slice(0, limit) };
  }

  /** Finds or makes the incident a new finding belongs to. */
  private place(f: Finding, now: bigint, out: Narrative[]): Incident | undefined {
    const candidates = new Set<Incident>();
    const near = (subject: string): void => {
      const i = this.byMember.get(subject);
      if (i) candidates.add(i);
    };
    if (f.scope) near(f.scope);
    near(entityOf(f.subject));
    for (const e of f.evidence) near(entityOf(e.subject));
    const rank = rootRank(f);
    if (rank >= ROOTING) {
      const same = [...candidates].find((i) => entityOf(i.root.subject) === entityOf(f.subject) && rootRank(i.root) >= ROOTING);
      if (same) return same;
      // Take over the incidents rooted only in symptoms; leave other roots their own stories.
      const weaker = [...candidates].filter((i) => rootRank(i.root) < ROOTING).sort((a, b) => Number(b.published) - Number(a.published) || (a.createdAt < b.createdAt ? -1 : 1));
      if (weaker.length) {
        const target = weaker[0]!;
        for (const other of weaker.slice(1)) this.merge(other, target, now, out);
        target.root = f;
        return target;
      }
      return this.create(f, now);
    }
    if (candidates.size) return [...candidates].sort((a, b) => rootRank(b.root) - rootRank(a.root))[0]!;
    return this.create(f, now);
  }

  private create(f: Finding, now: bigint): Incident | undefined {
    if (this.incidents.size >= this.settings.maxIncidents) {
      this.stats.unnarrated++;
      return undefined;
    }
    const inc: Incident = {
      id: this.newId(f), findings: new Map(), told: new Map(), root: f, evidence: new Map(), chain: undefined, confidence: f.confidence, peak: Situation_Level.NORMAL, members: new Set(), createdAt: now,
      published: false, openedAt: 0n, revision: 0, key: '', keyParts: undefined, last: undefined, lastEmitAt: 0n, dirty: false, quietSince: undefined,
    };
    this.incidents.add(inc);
    return inc;
  }

  /** A new incident's id: a counter, or (stableIds) a hash of what opened it. */
  private newId(f: Finding): string {
    if (!this.settings.stableIds || f.evidence.length === 0) return `${this.settings.idPrefix}${++this.n}`;
    let first = f.evidence[0]!;
    for (const e of f.evidence) {
      if (e.time < first.time || (e.time === first.time && (e.sourceId < first.sourceId || (e.sourceId === first.sourceId && e.seq < first.seq)))) first = e;
    }
    const base = `${this.settings.idPrefix}${stableHash(`${f.observer}\u0000${f.scope || entityOf(f.subject)}\u0000${first.sourceId}\u0000${first.seq}`)}`;
    // The same opening evidence for two incidents open at once (never expected): told apart, deterministically.
    let id = base;
    for (let k = 2; [...this.incidents].some((i) => i.id === id); k++) id = `${base}.${k}`;
    return id;
  }

  /** Moves `from`'s findings into `into`; a published `from` resolves, saying where it went. */
  private merge(from: Incident, into: Incident, now: bigint, out: Narrative[]): void {
    for (const [id, f] of from.findings) {
      into.findings.set(id, f);
      this.byFinding.set(id, into);
    }
    for (const [id, f] of from.told) into.told.set(id, f);
    for (const [k, e] of from.evidence) {
      const known = into.evidence.get(k);
      if (!known || e.time < known.time) {
        into.evidence.set(k, e);
        into.chain = undefined;
      }
    }
    if (from.peak > into.peak) into.peak = from.peak;
    for (const m of from.members) {
      into.members.add(m);
      this.byMember.set(m, into);
    }
    this.incidents.delete(from);
    this.stats.merged++;
    if (from.published && from.last) {
      const n: Narrative = { ...from.last, state: Narrative_State.RESOLVED, situation: `${from.last.situation} (merged into ${into.id})`, updatedAt: now, resolvedAt: now, revision: from.revision + 1 };
      this.keep(n);
      out.push(n);
    }
  }

  /** Records the subjects `f` names as the incident's; returns symptom-rooted incidents it displaces. */
  private claim(inc: Incident, f: Finding): Set<Incident> {
    const displaced = new Set<Incident>();
    const rooted = rootRank(inc.root) >= ROOTING;
    const add = (subject: string): void => {
      inc.members.add(subject);
      const holder = this.byMember.get(subject);
      if (holder && holder !== inc && this.incidents.has(holder) && rooted && rootRank(holder.root) < ROOTING) displaced.add(holder);
      // A subject belongs to the incident with the strongest root that names it.
      if (!holder || holder === inc || !this.incidents.has(holder) || rootRank(holder.root) <= rootRank(inc.root)) this.byMember.set(subject, inc);
    };
    if (f.scope) add(f.scope);
    add(entityOf(f.subject));
    for (const e of f.evidence) add(entityOf(e.subject));
    return displaced;
  }

  private settle(inc: Incident, now: bigint, out: Narrative[], changed: boolean): void {
    let active = 0;
    let counts = false;
    for (const f of inc.findings.values()) {
      if (!f.resolved) active++;
      if (f.confidence !== Status_Confidence.TENTATIVE) counts = true;
    }
    if (!inc.published) {
      if (active === 0) return this.drop(inc);
      if (!counts) return;
      if (rootRank(inc.root) < ROOTING && now - inc.createdAt < this.settings.causeWaitNs) return;
      inc.published = true;
      inc.openedAt = now;
      this.emit(inc, Narrative_State.OPEN, now, out);
      return;
    }
    if (active > 0) {
      inc.quietSince = undefined;
      if (!changed) return;
      if (now - inc.lastEmitAt >= this.settings.minUpdateGapNs) this.emit(inc, Narrative_State.UPDATED, now, out);
      else inc.dirty = true;
      return;
    }
    inc.quietSince ??= now;
    if (now - inc.quietSince < this.settings.resolveAfterNs) return;
    this.emit(inc, Narrative_State.RESOLVED, now, out);
    this.keep(inc.last!);
    this.drop(inc);
  }

  private drop(inc: Incident): void {
    this.incidents.delete(inc);
    for (const id of inc.findings.keys()) if (this.byFinding.get(id) === inc) this.byFinding.delete(id);
    for (const m of inc.members) if (this.byMember.get(m) === inc) this.byMember.delete(m);
  }

  private keep(n: Narrative): void {
    this.resolved.unshift(n);
    if (this.resolved.length > this.settings.keepResolved) this.resolved.pop();
  }

  /** Renders the incident; emits it when it is new, resolved, or says something new. */
  private emit(inc: Incident, state: Narrative_State, now: bigint, out: Narrative[]): void {
    const chain = (inc.chain ??= orderChain([...inc.evidence.values()]));
    const told = [...inc.told.values()];
    const x = explain(inc.told.get(inc.root.id) ?? inc.root, told, chain, this.tree);
    const level = inc.peak;
    inc.dirty = false;
    // An update that says what the last one said is not emitted. The parts of the key equal to
    // those it was made of mean the same key: no need to write it (half the updates say nothing new).
    if (state === Narrative_State.UPDATED && sameAsTold(inc, x, level, chain, this.settings.maxChain)) return;
    const findingIds = [...inc.findings.keys()];
    const shown = chain.slice(0, this.settings.maxChain);
    const key = [x.situation, x.rootCause, x.recommendation, level, inc.confidence, shown.map((e) => `${e.subject}|${e.stage}`).join(','), findingIds.join(',')].join('\n');
    if (state === Narrative_State.UPDATED && key === inc.key) return;
    inc.key = key;
    inc.keyParts = { x, level, confidence: inc.confidence, shown, findingIds };
    inc.lastEmitAt = now;
    inc.revision++;
    const n: Narrative = {
      id: inc.id,
      state,
      situation: x.situation,
      causalChain: shown,
      rootCause: x.rootCause,
      rootSubject: inc.root.subject,
      recommendation: x.recommendation,
      confidence: inc.confidence,
      level,
      openedAt: inc.openedAt,
      updatedAt: now,
      resolvedAt: state === Narrative_State.RESOLVED ? now : 0n,
      revision: inc.revision,
      findingIds,
      leaves: [],
    };
    inc.last = n;
    if (state === Narrative_State.OPEN) this.stats.opened++;
    else if (state === Narrative_State.UPDATED) this.stats.updated++;
    else this.stats.resolved++;
    out.push(n);
  }
}

/** Whether the key of the incident told now would be the one of its last telling, from the parts it was made of. */
function sameAsTold(inc: Incident, x: Explanation, level: Situation_Level, chain: readonly Evidence[], maxChain: number): boolean {
  const k = inc.keyParts;
  if (!k || k.level !== level || k.confidence !== inc.confidence || k.x.situation !== x.situation || k.x.rootCause !== x.rootCause || k.x.recommendation !== x.recommendation) return false;
  const shown = Math.min(chain.length, maxChain);
  if (k.shown.length !== shown) return false;
  for (let i = 0; i < shown; i++) {
    const a = k.shown[i]!;
    const b = chain[i]!;
    if (a !== b && (a.subject !== b.subject || a.stage !== b.stage)) return false;
  }
  if (k.findingIds.length !== inc.findings.size) return false;
  let i = 0;
  for (const id of inc.findings.keys()) if (k.findingIds[i++] !== id) return false;
  return true;
}

/** FNV-1a, 64 bits, as 16 hex digits: a stable name for a string (not a security hash). */
export function stableHash(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

/** One chain entry per subject, stage and sign set: a buffer's PRESSURE and its exhaustion counter are two facts. */
function evidenceKey(e: Evidence): string {
  const space = e.sign.indexOf(' ');
  return `${e.subject}\u0000${e.stage}\u0000${space < 0 ? e.sign : e.sign.slice(0, space)}`;
}
