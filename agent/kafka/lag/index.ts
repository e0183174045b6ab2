// Consumer-lag evaluation (ARCHITECTURE.md §5): the pure core of the Admin-API lag sensor.
// Stable API: LagEvaluator, LagSettings, LAG_DEFAULTS, resolveLagSettings and the verdict types.
export { LagEvaluator } from './evaluator.js';
export { LAG_DEFAULTS, resolveLagSettings, type LagSettings } from './settings.js';
export type {
  GroupEvent,
  GroupMembers,
  GroupState,
  GroupStatus,
  GroupVerdict,
  LagEvaluatorStats,
  LagSecondsFrom,
  PartitionStatus,
  PartitionVerdict,
  RetentionState,
  TopicLag,
} from './types.js';
