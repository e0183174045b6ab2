// The shared language of kafka-obs: the generated contract and the helpers every side needs.
export * from './gen/kafkaobs/v1/signal.js';
export {
  Action,
  Action_Sign,
  Evidence,
  Finding,
  Narrative,
  Narrative_State,
  Situation,
  Situation_Level,
  Situation_Variability,
  action_SignFromJSON,
  action_SignToJSON,
  narrative_StateToJSON,
  situation_LevelFromJSON,
  situation_LevelToJSON,
} from './gen/kafkaobs/v1/verdict.js';
export {
  Cell,
  CellChange,
  Event,
  EventBatch,
  EventKind,
  eventKindFromJSON,
  eventKindToJSON,
  Gap,
  GetCellRequest,
  ListNarrativesRequest,
  ListNarrativesResponse,
  SignalAggregatorDefinition,
  SubscribeRequest,
  ReplayRequest,
  FederationAck,
  FederationBatch,
  type SignalAggregatorClient,
  type SignalAggregatorServiceImplementation,
} from './gen/kafkaobs/v1/aggregator.js';
export {
  HealthCheckRequest,
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
  HealthDefinition,
  HealthListResponse,
  type HealthServiceImplementation,
} from './gen/grpc/health/v1/health.js';
export { EmitReply, LocalAgentDefinition, type LocalAgentClient, type LocalAgentServiceImplementation } from './gen/kafkaobs/v1/agent.js';
export * from './signs.js';
export * from './vclock.js';
export * from './validate.js';
export * from './subject.js';
export * from './aspects.js';
export * from './json.js';
export * from './palette.js';
export { descriptorSet, SERVICE_NAMES } from './descriptor.js';
export { directDefinition, type DirectDefinition } from './service.js';
