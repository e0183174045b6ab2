// Builds the agent's sensors from its settings. Each kind of source adds itself here.
import type { Logger } from 'pino';
import type { AgentConfig } from './config.js';
import type { Sensor } from './sensor.js';
import { jvmSources } from './sources/build.js';
import { kafkaSettings } from './kafka/settings.js';
import { KafkaSensor } from './kafka/sensor.js';
import { KafkaJsAdminClient } from './kafka/kafkajs-client.js';

/** Throws with a precise message on bad settings (the CLI prints it and exits 2). */
export function buildSensors(config: AgentConfig, _logger: Logger): Sensor[] {
  const sensors: Sensor[] = [...jvmSources(config)];
  const kafka = kafkaSettings(config.file.kafka, config.env, config.pollIntervalMs);
  if (kafka) sensors.push(new KafkaSensor(kafka, (logger) => new KafkaJsAdminClient(kafka, logger)));
  return sensors;
}
