// The demo's window on the aggregator: a subscriber (SubscribeBatches, from the first event) that
// prints what matters as it happens — signals that change something, the upper tree turning,
// findings, situations, narratives — and keeps the story so far, which the script waits on.
import type { Channel } from 'nice-grpc';
import {
  SEVERITY,
  Status_Condition,
  assess,
  parseCellPath,
  type CellChange,
  type Event,
  type Finding,
  type Narrative,
  type Signal,
  type SignalAggregatorClient,
} from '../proto/index.js';
import {
  Painter,
  cellLine,
  elapsed,
  findingLine,
  narrativeLines,
  phaseLines,
  signKey,
  signalLine,
  situationLine,
  treeLines,
  treeTurnLine,
} from './format.js';

export interface ViewOptions {
  /** Every signal, gauge and heartbeat too, and every cell change. */
  verbose: boolean;
  /** Where lines go (stdout). */
  write: (line: string) => void;
  painter: Painter;
  /** The demo's start, for "+12.3s". */
  startNs: bigint;
  /** Keep every signal, in arrival order (to record an incident's timeline). */
  record?: boolean;
}

export interface StoryCounts {
  signals: number;
  cellChanges: number;
  findings: number;
  situations: number;
  narratives: number;
  actions: number;
  gaps: number;
  /** Signals the view printed (the rest were healthy first reports, repeats or gauges). */
  shownSignals: number;
}

const DIVERGING = SEVERITY[Status_Condition.DIVERGING];
/** Cells this deep or shallower are "the tree": cluster/prod/broker/1, service/x/pod/y (not their aspects). */
const TREE_DEPTH = 4;

export class DemoView {
  readonly counts: StoryCounts = { signals: 0, cellChanges: 0, findings: 0, situations: 0, narratives: 0, actions: 0, gaps: 0, shownSignals: 0 };
  /** Latest revision of each narrative. */
  readonly narratives = new Map<string, Narrative>();
  /** Each narrative's first revision (as it opened). */
  readonly openings = new Map<string, Narrative>();
  readonly findings = new Map<string, Finding>();
  /** Latest signal per subject. */
  readonly latest = new Map<string, Signal>();
  /** Every signal in arrival order, when recording. */
  readonly recorded: Signal[] = [];
  /** When (wall clock, ms) each narrative's first revision reached this subscriber. */
  readonly arrivedAt = new Map<string, number>();
  /** The sign last shown (or counted as a healthy start) per subject and metric. */
  private readonly shownSign = new Map<string, string>();
  private readonly waiters: { test: () => boolean; resolve: (met: boolean) => void }[] = [];
  private readonly abort = new AbortController();
  private done: Promise<void> | undefined;
  /** Set when the subscription failed (not when it was closed). */
  error: Error | undefined;
  private quietBaseline = 0;
  /** Cell changes caused by one signal, printed together. */
  private turning: CellChange[] = [];
  private turningCause = '';
  private turningWhen = '';

  constructor(private readonly client: SignalAggregatorClient, private readonly channel: Channel, private readonly o: ViewOptions) {}

  /** Subscribes from the first retained event and follows live. */
  start(): void {
    this.done = (async () => {
      try {
        for await (const batch of this.client.subscribeBatches({ kinds: [], subjectPrefix: '', fromOffset: 0n }, { signal: this.abort.signal })) {
          for (const e of batch.events) this.take(e);
          this.wake();
        }
      } catch (e) {
        if (!this.abort.signal.aborted) this.error = e as Error;
      }
      this.wake(true);
    })();
  }

  /**
   * Resolves true once `test` holds (checked after every batch of events), false after
   * `timeoutMs` or when the subscription ends.
   */
  until(test: () => boolean, timeoutMs: number, abort?: AbortSignal): Promise<boolean> {
    if (test()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = {
        test,
        resolve: (met: boolean) => {
          clearTimeout(timer);
          abort?.removeEventListener('abort', onAbort);
          resolve(met);
        },
      };
      const drop = (): void => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        w.resolve(false);
      };
      const onAbort = (): void => drop();
      const timer = setTimeout(drop, timeoutMs);
      abort?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(w);
    });
  }

  private wake(ended = false): void {
    for (const w of [...this.waiters]) {
      if (ended || w.test()) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(!ended || w.test());
      }
    }
  }

  private when(e: Event): string {
    return elapsed(e.time, this.o.startNs);
  }

  private print(lines: string | string[]): void {
    for (const l of Array.isArray(lines) ? lines : [lines]) this.o.write(l);
  }

  /** Prints the cells one signal turned, as one line. */
  private flushTurn(): void {
    if (this.turning.length > 0) this.print(treeTurnLine(this.o.painter, this.turning, this.turningWhen));
    this.turning = [];
  }

  private take(e: Event): void {
    const p = this.o.painter;
    if (!e.cellChange) this.flushTurn();
    if (e.signal) {
      this.counts.signals++;
      this.latest.set(e.signal.subject, e.signal);
      if (this.o.record) this.recorded.push(e.signal);
      if (this.shouldShow(e.signal)) {
        this.counts.shownSignals++;
        this.print(signalLine(p, e.signal, assess(e.signal)?.condition, this.when(e)));
      }
    } else if (e.cellChange) {
      this.counts.cellChanges++;
      const c = e.cellChange;
      if (this.o.verbose) {
        this.print(cellLine(p, c.path, c.previous, c.current, c.confidence, this.when(e), c.reason));
        return;
      }
      const cause = `${c.causeSourceId}#${c.causeSeq}`;
      if (this.turning.length > 0 && this.turningCause !== cause) this.flushTurn();
      this.turningCause = cause;
      this.turningWhen = this.when(e);
      const shallow = c.path === '' || (!c.path.includes('#') && c.path.split('/').length <= TREE_DEPTH);
      const baseline = c.previous === Status_Condition.CONDITION_UNSPECIFIED && c.current === Status_Condition.STABLE;
      if (shallow && !baseline && c.previous !== c.current) this.turning.push(c);
      return;
    } else if (e.finding) {
      this.counts.findings++;
      const before = this.findings.get(e.finding.id);
      this.findings.set(e.finding.id, e.finding);
      if (this.o.verbose || !before || before.summary !== e.finding.summary || before.resolved !== e.finding.resolved) this.print(findingLine(p, e.finding, this.when(e)));
    } else if (e.situation) {
      this.counts.situations++;
      this.print(situationLine(p, e.situation, this.when(e)));
    } else if (e.narrative) {
      this.counts.narratives++;
      const n = e.narrative;
      const before = this.narratives.get(n.id);
      this.narratives.set(n.id, n);
      if (!this.openings.has(n.id)) {
        this.openings.set(n.id, n);
        this.arrivedAt.set(n.id, Date.now());
      }
      this.print(narrativeLines(p, n, before));
    } else if (e.action) {
      this.counts.actions++;
      this.print(`  ${p.paint('dim', this.when(e))}  ${p.paint('cyan', 'action ')} ${e.action.actor} ${e.action.detail}`);
    } else if (e.gap) {
      this.counts.gaps++;
      this.print(`  ${p.paint('dim', this.when(e))}  ${p.paint(['yellow', 'bold'], 'gap    ')} missed ${e.gap.missed} events: ${e.gap.reason}`);
    }
  }

  /**
   * A signal is shown when it changes what its subject says (per metric), except a healthy first
   * report (the baseline is summed up instead); heartbeats, gauges and counters only with --verbose.
   */
  private shouldShow(s: Signal): boolean {
    if (this.o.verbose) return true;
    if (s.context.heartbeat === 'true') return false;
    const a = assess(s);
    if (!a) return false;
    const unhealthy = (SEVERITY[a.condition] ?? 0) >= DIVERGING;
    if (parseCellPath(s.subject)?.kind === 'agent' && !unhealthy) return false;
    const key = `${s.subject}|${s.context.metric ?? ''}`;
    const sign = signKey(s);
    const before = this.shownSign.get(key);
    if (before === sign) return false;
    this.shownSign.set(key, sign);
    if (!unhealthy && (before === undefined || !this.wasUnhealthy(before))) {
      if (before === undefined) this.quietBaseline++;
      return false;
    }
    return true;
  }

  private wasUnhealthy(sign: string): boolean {
    return /DIVERGING|ERRATIC|DEGRADED|DEFECTIVE|DOWN|PRESSURE|OVERFLOW|FAIL|DENY|TIMEOUT|REJECT|EXPIRE|DISCONNECT|RECOURSE/.test(sign);
  }

  /** How many subjects started out healthy (not printed one by one). */
  get healthyStarts(): number {
    return this.quietBaseline;
  }

  phase(index: number, count: number, title: string, detail: string): void {
    this.print(phaseLines(this.o.painter, index, count, title, detail));
  }

  note(text: string): void {
    this.print(`  ${this.o.painter.paint('dim', text)}`);
  }

  /** Prints the tree as it stands (GetCell of the whole estate). */
  async tree(title: string): Promise<void> {
    try {
      const root = await this.client.getCell({ path: '', depth: 0, limit: 0, after: '' }, { signal: this.abort.signal });
      this.print(['', `  ${this.o.painter.paint('bold', title)}`, ...treeLines(this.o.painter, root), '']);
    } catch (e) {
      this.note(`(tree unavailable: ${(e as Error).message})`);
    }
  }

  async close(): Promise<void> {
    this.abort.abort();
    this.wake(true);
    await this.done;
    this.channel.close();
  }
}
