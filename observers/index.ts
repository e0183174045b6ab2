// The observers the aggregator runs, in the order they see each signal: the symptom board and
// the broker observers first, because the correlating ones (gc-pause, cascading-failure) read them.
import { BrokerHealth, type BrokerHealthSettings } from './broker-health.js';
import { BrokerInferrer, type BrokerInferenceSettings } from './broker-inferred.js';
import { CascadingFailure, type CascadeSettings } from './cascading-failure.js';
import { ContextNumbers } from './facts.js';
import { GcPause, type GcSettings } from './gc-pause.js';
import { Ids, type Observer } from './observer.js';
import { Oscillation, type OscillationSettings } from './oscillation.js';
import { ProducerBackpressure, type BackpressureSettings } from './producer-backpressure.js';
import { RebalanceStorm, type RebalanceSettings } from './rebalance-storm.js';
import { SlowConsumer, type SlowConsumerSettings } from './slow-consumer.js';
import { SymptomBoard, type SymptomSettings } from './symptoms.js';

export interface ObserverSettings {
  symptoms: SymptomSettings;
  brokerHealth: BrokerHealthSettings;
  brokerInference: BrokerInferenceSettings;
  backpressure: BackpressureSettings;
  slowConsumer: SlowConsumerSettings;
  rebalance: RebalanceSettings;
  gc: GcSettings;
  oscillation: OscillationSettings;
  cascade: CascadeSettings;
}

const s = (seconds: number): bigint => BigInt(seconds) * 1_000_000_000n;

/** Defaults sized for sensors polling every 10 s and re-sending unchanged conditions every minute or so. */
export const OBSERVER_DEFAULTS: ObserverSettings = {
  symptoms: { ttlNs: s(150) },
  brokerHealth: { ttlNs: s(150) },
  brokerInference: { windowNs: s(30), minClients: 3, measuredClients: 5, minFailures: 6, minShare: 0.6, defaultCluster: 'default' },
  backpressure: { pressureReadings: 2, healthyReadings: 2, ttlNs: s(150) },
  slowConsumer: { readings: 3, minSpanNs: s(20), minLag: 1000, minGrowth: 0.2, degradedLag: 10_000, ttlNs: s(150) },
  rebalance: { minRebalances: 3, windowNs: s(120), calmNs: s(90), defaultCluster: 'default' },
  gc: { toleranceNs: s(10), ttlNs: s(150) },
  oscillation: { minFlips: 6, measuredFlips: 10, windowNs: s(120), maxCells: 100_000 },
  cascade: { toleranceNs: s(15), perStage: 6 },
};

/**
 * The settings with every window (…Ns) multiplied by `factor`: demos and scenario tests play
 * incidents faster than life (an aggregator started with --time-scale 0.2 judges a slow consumer
 * over 4 s of evidence instead of 20 s). Counts and thresholds are unchanged.
 */
export function scaledObserverSettings(settings: ObserverSettings, factor: number): ObserverSettings {
  if (factor === 1) return settings;
  const scale = <T extends object>(o: T): T => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) out[k] = k.endsWith('Ns') && typeof v === 'bigint' ? BigInt(Math.max(1, Math.round(Number(v) * factor))) : v;
    return out as T;
  };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(settings)) out[k] = scale(v as object);
  return out as unknown as ObserverSettings;
}

export interface ObserverSet {
  /** In the order they see each signal. */
  observers: Observer[];
  /** Unreadable context values, by key (counted for /metrics). */
  numbers: ContextNumbers;
  brokerInferrer: BrokerInferrer;
}

export function buildObservers(settings: ObserverSettings, ids = new Ids()): ObserverSet {
  const numbers = new ContextNumbers();
  const board = new SymptomBoard(settings.symptoms);
  const health = new BrokerHealth(settings.brokerHealth, ids);
  const inferrer = new BrokerInferrer(settings.brokerInference, ids);
  const observers: Observer[] = [
    board,
    health,
    inferrer,
    new ProducerBackpressure(settings.backpressure, ids),
    new SlowConsumer(settings.slowConsumer, ids, numbers, board),
    new RebalanceStorm(settings.rebalance, ids),
    new GcPause(settings.gc, ids, board),
    new Oscillation(settings.oscillation, ids),
    new CascadingFailure(settings.cascade, ids, board, [health, inferrer]),
  ];
  return { observers, numbers, brokerInferrer: inferrer };
}

export { Ids, type Observer, type Observation } from './observer.js';
export { readFact, readAssessedFact, emptyFact, stageRank, STAGE_RANK, type Fact, type Stage } from './facts.js';
