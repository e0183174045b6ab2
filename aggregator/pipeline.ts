// The OODA middle, composed: hierarchy (observe) -> observers (orient) -> reporters (decide).
// Pure and synchronous: a signal or a tick and the time in, events out (cell changes, findings,
// situations, narratives) for the event log. The aggregator calls ingest() for every accepted
// signal and tick() on a timer; tests and replays call both with a fake clock. Actors follow the
// event log like any subscriber.
import { ENTITY_KINDS, type CellKind, type CellChange, type ListNarrativesRequest, type ListNarrativesResponse, type Narrative, type Signal, type Situation, type Finding, type SubjectInfo } from '../proto/index.js';
import { HierarchyManager, type HierarchyOptions } from '../hierarchy/manager.js';
import { OBSERVER_DEFAULTS, buildObservers, emptyFact, readAssessedFact, type Observer, type ObserverSet, type ObserverSettings } from '../observers/index.js';
import type { Observation } from '../observers/observer.js';
import { NARRATIVE_DEFAULTS, NarrativeReporter, type NarrativeSettings } from '../reporters/narratives.js';
import { SITUATION_DEFAULTS, SituationReporter, type SituationSettings } from '../reporters/situations.js';
import type { EventPayload } from './event-log.js';

export interface PipelineSettings {
  hierarchy: Partial<HierarchyOptions>;
  observers: ObserverSettings;
  situations: SituationSettings;
  narratives: NarrativeSettings;
}

export const PIPELINE_DEFAULTS: PipelineSettings = {
  hierarchy: {},
  observers: OBSERVER_DEFAULTS,
  situations: SITUATION_DEFAULTS,
  narratives: NARRATIVE_DEFAULTS,
};

export interface PipelineStats {
  findings: Map<string, number>;
  situations: number;
  /** Observers that threw, by name: the signal still counts, the observer skipped it. */
  observerErrors: Map<string, number>;
  lastObserverError: string;
}


export class Pipeline {
  readonly hierarchy: HierarchyManager;
  readonly situations: SituationReporter;
  readonly narratives: NarrativeReporter;
  readonly observerSet: ObserverSet;
  readonly stats: PipelineStats = { findings: new Map(), situations: 0, observerErrors: new Map(), lastObserverError: '' };
  private readonly routes = new Map<CellKind, Observer[]>();
  private readonly observation: { signal: Signal; cell: Observation['cell']; fact: Observation['fact'] };
  private readonly changes: CellChange[] = [];
  private readonly situationOut: Situation[] = [];
  private readonly narrativeOut: Narrative[] = [];
  /** Findings of the current step, handed to the narratives together once every observer has spoken. */
  private readonly stepFindings: Finding[] = [];
  private clock = 0n;
  /**
   * Hears every signal taken, with what the hierarchy read of its subject, at pipeline time (the
   * aggregator's Prometheus exposition; recovery's signals too). Must not throw or take long.
   */
  signalListener: ((signal: Signal, info: SubjectInfo, nowNs: bigint) => void) | undefined;
  /** Hears the hierarchy's cell changes as they happen (from signals, inferences and ticks). Must not throw or take long. */
  cellListener: ((changes: readonly CellChange[], nowNs: bigint) => void) | undefined;

  /** `onNarrative` hears every narrative event (the aggregator logs openings and resolutions). */
  constructor(settings: Partial<PipelineSettings> = {}, private readonly onNarrative?: (n: Narrative) => void) {
    const s = { ...PIPELINE_DEFAULTS, ...settings };
    this.hierarchy = new HierarchyManager(s.hierarchy);
    this.observerSet = buildObservers(s.observers);
    this.situations = new SituationReporter(s.situations);
    this.narratives = new NarrativeReporter(s.narratives, this.hierarchy);
    // Signals are about entities (the grammar refuses the rest): one route per entity kind.
    for (const k of ENTITY_KINDS) this.routes.set(k, this.observerSet.observers.filter((o) => o.kinds === 'all' || o.kinds.includes(k)));
    this.observation = { signal: undefined as unknown as Signal, cell: undefined as unknown as Observation['cell'], fact: emptyFact() };
  }

  /** The pipeline's time: the latest the caller has given (it never runs backwards). */
  get now(): bigint {
    return this.clock;
  }

  /** Takes one validated signal heard at `nowNs`; pushes what follows onto `out`. */
  ingest(signal: Signal, nowNs: bigint, out: EventPayload[]): void {
    if (nowNs > this.clock) this.clock = nowNs;
    const now = this.clock;
    const changes = this.changes;
    changes.length = 0;
    const cell = this.hierarchy.applyTo(signal, now, changes);
    for (let i = 0; i < changes.length; i++) out.push({ cellChange: changes[i] });
    if (changes.length > 0) this.cellListener?.(changes, now);
    this.signalListener?.(signal, cell.info, now);
    const route = this.routes.get(cell.info.kind)!;
    if (route.length === 0) return;
    const o = this.observation;
    o.signal = signal;
    o.cell = cell;
    readAssessedFact(signal, cell.info, this.hierarchy.assessed, o.fact);
    for (let i = 0; i < route.length; i++) {
      const observer = route[i]!;
      let found: readonly Finding[];
      try {
        found = observer.observe(o, this.hierarchy, now);
      } catch (e) {
        this.failed(observer, e);
        continue;
      }
      if (found.length > 0) this.conclude(found, now, out);
    }
    if (this.stepFindings.length > 0) this.narrate(now, out);
  }

  /** Lets time pass to `nowNs`: staleness, windows closing, narratives publishing and resolving. */
  tick(nowNs: bigint, out: EventPayload[]): void {
    if (nowNs > this.clock) this.clock = nowNs;
    const now = this.clock;
    const changes = this.changes;
    changes.length = 0;
    this.hierarchy.tick(now, changes);
    for (const c of changes) out.push({ cellChange: c });
    if (changes.length > 0) this.cellListener?.(changes, now);
    for (const observer of this.observerSet.observers) {
      let found: readonly Finding[];
      try {
        found = observer.tick(now, this.hierarchy);
      } catch (e) {
        this.failed(observer, e);
        continue;
      }
      if (found.length > 0) this.conclude(found, now, out);
    }
    if (this.stepFindings.length > 0) this.narrate(now, out);
    const situations = this.situationOut;
    situations.length = 0;
    this.situations.tick(now, situations);
    for (const s of situations) out.push({ situation: s });
    this.publishNarratives(() => this.narratives.tick(now, this.narrativeOut), out);
  }

  listNarratives(req: ListNarrativesRequest): ListNarrativesResponse {
    return this.narratives.list(req);
  }

  /** Findings go to the log, to the hierarchy (inferred brokers), to the situations, and (per step) to the narratives. */
  private conclude(found: readonly Finding[], now: bigint, out: EventPayload[]): void {
    for (const f of found) {
      out.push({ finding: f });
      this.stats.findings.set(f.observer, (this.stats.findings.get(f.observer) ?? 0) + 1);
      if (f.observer === 'broker-inferred') {
        const changes = this.changes;
        changes.length = 0;
        this.hierarchy.infer(f.subject, f.resolved ? undefined : { condition: f.condition, confidence: f.confidence }, f.resolved ? 'clients no longer failing against it' : `inferred: ${f.context['failing-clients'] ?? 'several'} clients failing against it`, changes);
        for (const c of changes) out.push({ cellChange: c });
        if (changes.length > 0) this.cellListener?.(changes, now);
      }
      const situations = this.situationOut;
      situations.length = 0;
      this.situations.accept(f, now, situations);
      this.stats.situations += situations.length;
      for (const s of situations) out.push({ situation: s });
      this.stepFindings.push(f);
    }
  }

  private narrate(now: bigint, out: EventPayload[]): void {
    this.publishNarratives(() => this.narratives.acceptAll(this.stepFindings, now, this.narrativeOut), out);
    this.stepFindings.length = 0;
  }

  private publishNarratives(run: () => void, out: EventPayload[]): void {
    const narratives = this.narrativeOut;
    narratives.length = 0;
    run();
    for (const n of narratives) {
      out.push({ narrative: n });
      this.onNarrative?.(n);
    }
  }

  private failed(observer: Observer, e: unknown): void {
    this.stats.observerErrors.set(observer.name, (this.stats.observerErrors.get(observer.name) ?? 0) + 1);
    this.stats.lastObserverError = `${observer.name}: ${(e as Error)?.stack ?? String(e)}`;
  }
}
