// producer-backpressure: a producer's buffer (buffer.memory) filling up — queue PRESSURE (≥ 80 %
// used) on two readings in a row, or OVERFLOW (≥ 95 %) or an exhaustion (counter with metric
// buffer-exhausted-total) at once — read together with its request latency. With latency
// DIVERGING the broker side is slow to take the records (the classic backpressure); with latency
// flat the producer outpaces its own sender (its settings). Which of the two it is goes into the
// finding's context ("latency": "diverging" | "flat") for the reporters' root cause.
import { Queue_Sign, Status_Condition, Status_Confidence, type Evidence, type Finding } from '../proto/index.js';
import type { HierarchyView } from '../hierarchy/manager.js';
import { Health } from './facts.js';
import { NO_FINDINGS, evidenceOf, finding, type Ids, type Observation, type Observer } from './observer.js';

export interface BackpressureSettings {
  /** PRESSURE readings in a row that make a finding (OVERFLOW needs one). */
  pressureReadings: number;
  /** Healthy buffer readings in a row that end it. */
  healthyReadings: number;
  /** Without a buffer reading for this long, the episode ends. */
  ttlNs: bigint;
}

interface ProducerState {
  pressureStreak: number;
  healthyStreak: number;
  overflow: boolean;
  overflowStreak: number;
  latency: Evidence | undefined;
  firstBuffer: Evidence | undefined;
  exhaustion: Evidence | undefined;
  lastAsserted: bigint;
  id: string;
  gist: string;
  open: boolean;
  lastUsed: string;
}

export class ProducerBackpressure implements Observer {
  readonly name = 'producer-backpressure';
  readonly kinds = ['client'] as const;
  private readonly producers = new Map<string, ProducerState>();
  /** Producers whose request latency is diverging, with the reading that said so first. */
  private readonly diverging = new Map<string, Evidence>();

  constructor(private readonly settings: BackpressureSettings, private readonly ids: Ids) {}

  observe(o: Observation, _tree: HierarchyView, now: bigint): readonly Finding[] {
    const f = o.fact;
    if (o.cell.info.role !== 'producer' || f.health === Health.Neutral) return NO_FINDINGS;
    const subject = o.signal.subject;
    let p = this.producers.get(subject);
    if (f.stage === 'producer-latency') {
      // Latency alone is the cascade's and broker-inferred's business; here it qualifies a buffer.
      if (f.health === Health.Unhealthy) {
        if (this.diverging.has(subject)) return NO_FINDINGS;
        this.diverging.set(subject, evidenceOf(o.signal, 'producer-latency'));
      } else if (!this.diverging.delete(subject)) {
        return NO_FINDINGS;
      }
      // Once the latency climbed during an episode it stays part of the story, recovery included.
      if (!p || p.latency) return NO_FINDINGS;
      p.latency = this.diverging.get(subject);
      return p.open && p.latency ? this.emit(subject, p) : NO_FINDINGS;
    }
    if (f.stage !== 'producer-buffer') return NO_FINDINGS;
    if (f.health === Health.Healthy) {
      if (!p) return NO_FINDINGS;
      p.pressureStreak = 0;
      p.overflowStreak = 0;
      p.healthyStreak++;
      if (p.healthyStreak < this.settings.healthyReadings && p.open) return NO_FINDINGS;
      this.producers.delete(subject);
      return p.open ? [this.findingOf(subject, p, true)] : NO_FINDINGS;
    }
    if (!p) {
      // Latency that was already diverging before the buffer filled is part of the story.
      p = { pressureStreak: 0, healthyStreak: 0, overflow: false, overflowStreak: 0, latency: this.diverging.get(subject), firstBuffer: undefined, exhaustion: undefined, lastAsserted: now, id: '', gist: '', open: false, lastUsed: '' };
      this.producers.set(subject, p);
    }
    p.healthyStreak = 0;
    p.lastAsserted = now;
    const overflow = (o.signal.queue !== undefined && o.signal.queue.sign === Queue_Sign.OVERFLOW) || o.signal.counter !== undefined;
    if (o.signal.counter !== undefined) p.exhaustion ??= evidenceOf(o.signal, 'producer-buffer');
    if (overflow) {
      p.overflow = true;
      p.overflowStreak++;
    } else {
      p.pressureStreak++;
    }
    p.firstBuffer ??= evidenceOf(o.signal, 'producer-buffer');
    const used = o.signal.context['buffer-used-pct'] ?? (o.signal.queue ? String(o.signal.queue.units) : '');
    if (used) p.lastUsed = used;
    if (!p.open && !p.overflow && p.pressureStreak < this.settings.pressureReadings) return NO_FINDINGS;
    return this.emit(subject, p);
  }

  tick(now: bigint): readonly Finding[] {
    let out: Finding[] | undefined;
    for (const [subject, e] of this.diverging) if (now - e.time >= this.settings.ttlNs * 4n && !this.producers.has(subject)) this.diverging.delete(subject);
    for (const [subject, p] of this.producers) {
      if (now - p.lastAsserted < this.settings.ttlNs) continue;
      this.producers.delete(subject);
      if (p.open) (out ??= []).push(this.findingOf(subject, p, true));
    }
    return out ?? NO_FINDINGS;
  }

  private emit(subject: string, p: ProducerState): readonly Finding[] {
    const gist = `${p.overflow}|${p.latency !== undefined}|${this.confidence(p)}`;
    if (gist === p.gist) return NO_FINDINGS;
    if (!p.open) p.id = this.ids.next(this.name);
    p.open = true;
    p.gist = gist;
    return [this.findingOf(subject, p, false)];
  }

  private confidence(p: ProducerState): Status_Confidence {
    // The whole pattern (a full buffer and a slow broker side), or a buffer full reading after reading.
    return (p.overflow && p.latency) || p.overflowStreak >= 2 || p.exhaustion ? Status_Confidence.CONFIRMED : Status_Confidence.MEASURED;
  }

  private findingOf(subject: string, p: ProducerState, resolved: boolean): Finding {
    const client = subject.slice(subject.lastIndexOf('/') + 1);
    const used = p.lastUsed ? ` (${p.lastUsed}% used)` : '';
    const state = p.overflow ? (p.exhaustion ? 'exhausted' : 'full') : 'filling';
    const why = p.latency ? 'while request latency climbs: the brokers take records slower than it sends' : 'while request latency stays flat: it produces faster than its sender drains';
    const evidence = [p.latency, p.firstBuffer, p.exhaustion].filter((e): e is Evidence => e !== undefined);
    return finding({
      id: p.id,
      observer: this.name,
      subject,
      condition: p.overflow ? Status_Condition.DEGRADED : Status_Condition.DIVERGING,
      confidence: this.confidence(p),
      summary: resolved ? `producer ${client}: buffer back to normal` : `producer ${client}: buffer ${state}${used} ${why}`,
      evidence,
      resolved,
      context: { latency: p.latency ? 'diverging' : 'flat', buffer: p.overflow ? 'overflow' : 'pressure', ...(p.lastUsed ? { 'buffer-used-pct': p.lastUsed } : {}) },
    });
  }
}
