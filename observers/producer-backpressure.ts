// producer-backpressure: a producer's buffer (buffer.memory) filling up — its buffer aspect at
// PRESSURE (≥ 80 % used) on two readings in a row, or OVERFLOW (≥ 95 %), or an exhaustion (the
// buffer-exhausted aspect: sends that found the buffer full) at once — read together with its
// request latency. All of these are aspects of one client: one finding per producer, whatever
// number of its metrics speak. With latency DIVERGING the broker side is slow to take the records
// (the classic backpressure); with latency flat the producer outpaces its own sender (its
// settings). Which of the two it is goes into the finding's context ("latency": "diverging" |
// "flat") for the reporters. The finding's scope is the producer's service: its replicas filling
// up together are one story.
import { ASPECT, CTX, Queue_Sign, Status_Condition, Status_Confidence, entity, type Evidence, type Finding, type Signal } from '../proto/index.js';
import type { HierarchyView } from '../hierarchy/manager.js';
import { Health } from './facts.js';
import { NO_FINDINGS, evidenceOf, finding, type Ids, type Observation, type Observer } from './observer.js';

export interface BackpressureSettings {
  /** PRESSURE readings in a row that make a finding (OVERFLOW or an exhaustion needs one). */
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
  /** Sends that found the buffer full (the exhaustion counter's increases), over the episode. */
  exhaustions: number;
  /** The buffer's fullest reading in the episode, percent used. */
  usedPercent: number | undefined;
  /** Requests waiting in kafkajs' queue (the instrumentation's stand-in for a buffer), last reading. */
  queued: number | undefined;
  /** Whether the exhaustion aspect is still reporting exhaustions (its own episode part). */
  exhausting: boolean;
  lastAsserted: bigint;
  id: string;
  gist: string;
  open: boolean;
  service: string;
  clientId: string;
  pod: string;
  /** The cluster it produces to (its signals' context "cluster"), when the agent says. */
  cluster: string | undefined;
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
    const info = o.cell.info;
    if (info.role !== 'producer' || f.health === Health.Neutral) return NO_FINDINGS;
    const client = info.entity;
    let p = this.producers.get(client);
    if (f.stage === 'producer-latency') {
      // Latency alone is the cascade's and broker-inferred's business; here it qualifies a buffer.
      if (f.health === Health.Unhealthy) {
        if (this.diverging.has(client)) return NO_FINDINGS;
        this.diverging.set(client, evidenceOf(o.signal, 'producer-latency'));
      } else if (!this.diverging.delete(client)) {
        return NO_FINDINGS;
      }
      // Once the latency climbed during an episode it stays part of the story, recovery included.
      if (!p || p.latency) return NO_FINDINGS;
      p.latency = this.diverging.get(client);
      return p.open && p.latency ? this.emit(client, p) : NO_FINDINGS;
    }
    if (f.stage !== 'producer-buffer') return NO_FINDINGS;
    const exhaustion = f.aspect === ASPECT.bufferExhausted;
    if (f.health === Health.Healthy) {
      if (!p) return NO_FINDINGS;
      if (exhaustion) {
        // No new exhaustion since the last reading: that part is over, the buffer decides.
        p.exhausting = false;
        return NO_FINDINGS;
      }
      p.pressureStreak = 0;
      p.overflowStreak = 0;
      p.healthyStreak++;
      if ((p.healthyStreak < this.settings.healthyReadings || p.exhausting) && p.open) return NO_FINDINGS;
      this.producers.delete(client);
      return p.open ? [this.findingOf(client, p, true)] : NO_FINDINGS;
    }
    if (!p) {
      // Latency that was already diverging before the buffer filled is part of the story.
      p = {
        pressureStreak: 0, healthyStreak: 0, overflow: false, overflowStreak: 0, latency: this.diverging.get(client), firstBuffer: undefined, exhaustion: undefined,
        exhaustions: 0, usedPercent: undefined, queued: undefined, exhausting: false, lastAsserted: now, id: '', gist: '', open: false, service: info.service!, clientId: info.clientId!, pod: info.pod!, cluster: o.signal.context[CTX.cluster],
      };
      this.producers.set(client, p);
    }
    p.healthyStreak = 0;
    p.lastAsserted = now;
    if (exhaustion) {
      p.exhaustion ??= evidenceOf(o.signal, 'producer-buffer');
      p.exhausting = true;
      p.exhaustions += Math.max(0, Number(o.signal.context[CTX.value] ?? o.signal.queue?.units ?? 0) || 0);
      p.overflow = true;
      p.overflowStreak++;
    } else {
      // The buffer says how full it is; kafkajs' request queue (no buffer.memory) says how many wait.
      if (f.aspect === ASPECT.buffer) p.usedPercent = Math.max(p.usedPercent ?? 0, usedOf(o.signal) ?? 0);
      else p.queued = Math.max(p.queued ?? 0, usedOf(o.signal) ?? 0);
      if (o.signal.queue?.sign === Queue_Sign.OVERFLOW) {
        p.overflow = true;
        p.overflowStreak++;
      } else {
        p.pressureStreak++;
      }
      p.firstBuffer ??= evidenceOf(o.signal, 'producer-buffer');
    }
    if (!p.open && !p.overflow && p.pressureStreak < this.settings.pressureReadings) return NO_FINDINGS;
    return this.emit(client, p);
  }

  tick(now: bigint): readonly Finding[] {
    let out: Finding[] | undefined;
    // Cutoffs once a tick (not a subtraction an entry); forEach: no entry arrays.
    const forgotten = now - this.settings.ttlNs * 4n;
    const cutoff = now - this.settings.ttlNs;
    this.diverging.forEach((e, client) => {
      if (e.time <= forgotten && !this.producers.has(client)) this.diverging.delete(client);
    });
    this.producers.forEach((p, client) => {
      if (p.lastAsserted > cutoff) return;
      this.producers.delete(client);
      if (p.open) (out ??= []).push(this.findingOf(client, p, true));
    });
    return out ?? NO_FINDINGS;
  }

  private emit(client: string, p: ProducerState): readonly Finding[] {
    // Says something new when the state, the cause or the confidence moves, or the buffer fills 5 points further.
    const gist = `${p.overflow}|${p.exhaustion !== undefined}|${p.latency !== undefined}|${this.confidence(p)}|${Math.floor((p.usedPercent ?? 0) / 5)}`;
    if (gist === p.gist) return NO_FINDINGS;
    if (!p.open) p.id = this.ids.next(this.name);
    p.open = true;
    p.gist = gist;
    return [this.findingOf(client, p, false)];
  }

  private confidence(p: ProducerState): Status_Confidence {
    // The whole pattern (a full buffer and a slow broker side), or a buffer full reading after reading.
    return (p.overflow && p.latency) || p.overflowStreak >= 2 || p.exhaustion ? Status_Confidence.CONFIRMED : Status_Confidence.MEASURED;
  }

  private findingOf(client: string, p: ProducerState, resolved: boolean): Finding {
    const used = p.usedPercent !== undefined ? ` (up to ${Math.round(p.usedPercent)} % used)` : p.queued !== undefined ? ` (up to ${Math.round(p.queued)} requests queued)` : '';
    const state = p.exhaustion ? `exhausted${p.exhaustions > 0 ? `, ${p.exhaustions} send${p.exhaustions === 1 ? '' : 's'} finding it full` : ''}` : p.overflow ? 'full' : 'filling';
    const why = p.latency ? 'while request latency climbs: the brokers take records slower than it sends' : 'while request latency stays flat: it produces faster than its sender drains';
    const evidence = [p.latency, p.firstBuffer, p.exhaustion].filter((e): e is Evidence => e !== undefined);
    return finding({
      id: p.id,
      observer: this.name,
      subject: client,
      scope: entity.service(p.service),
      condition: p.overflow ? Status_Condition.DEGRADED : Status_Condition.DIVERGING,
      confidence: this.confidence(p),
      summary: resolved ? `producer ${p.clientId} (${p.service}, pod ${p.pod}): buffer back to normal` : `producer ${p.clientId} (${p.service}, pod ${p.pod}): buffer ${state}${used} ${why}`,
      evidence,
      resolved,
      context: {
        latency: p.latency ? 'diverging' : 'flat',
        buffer: p.exhaustion ? 'exhausted' : p.overflow ? 'overflow' : 'pressure',
        ...(p.usedPercent !== undefined ? { 'buffer-used-percent': String(Math.round(p.usedPercent)) } : {}),
        ...(p.exhaustions > 0 ? { exhaustions: String(p.exhaustions) } : {}),
        service: p.service,
        'client-id': p.clientId,
        pod: p.pod,
        ...(p.cluster !== undefined ? { cluster: p.cluster } : {}),
      },
    });
  }
}

/** Percent of the buffer used, from a buffer reading (the rule's value; a queue sign carries it as units). */
function usedOf(s: Signal): number | undefined {
  const v = Number(s.context[CTX.value] ?? s.queue?.units);
  return Number.isFinite(v) ? v : undefined;
}
