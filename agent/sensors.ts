// Builds the agent's sensors from its settings. Each kind of source adds itself here, and is
// loaded only when the settings name it: an agent without JMX or Prometheus targets loads no
// JVM-source code (nor the rules' YAML and zod), one without Kafka settings no kafkajs. A sidecar
// runs in every pod, so what it does not use should cost it nothing.
import type { Logger } from 'pino';
import type { AgentConfig } from './config.js';
import type { Sensor } from './sensor.js';

const set = (v: string | undefined): boolean => v !== undefined && v.trim() !== '';

/** Whether the settings name a JMX target or a Prometheus endpoint (agent/sources/config.ts reads them). */
export function wantsJvmSources(config: AgentConfig): boolean {
  const { file, env } = config;
  return (file.jmx?.length ?? 0) > 0 || (file.prometheus?.length ?? 0) > 0 || !!env.JMX_URL || !!env.KAFKA_JMX_URL || (env.PROMETHEUS_URL ?? '').split(',').some(set);
}

/** Whether the settings name Kafka at all (agent/kafka/settings.ts decides whether they are complete). */
export function wantsKafka(config: AgentConfig): boolean {
  return config.file.kafka !== undefined || set(config.env.KAFKA_BOOTSTRAP_SERVERS) || set(config.env.KAFKA_BROKER_URL);
}

/** Throws with a precise message on bad settings (the CLI prints it and exits 2). */
export async function buildSensors(config: AgentConfig, _logger: Logger): Promise<Sensor[]> {
  const sensors: Sensor[] = [];
  if (wantsJvmSources(config)) {
    const { jvmSources } = await import('./sources/build.js');
    sensors.push(...(await jvmSources(config)));
  }
  if (wantsKafka(config)) {
    const { kafkaSettings } = await import('./kafka/settings.js');
    const kafka = kafkaSettings(config.file.kafka, config.env, config.pollIntervalMs);
    if (kafka) {
      const [{ KafkaSensor }, { KafkaJsAdminClient }] = await Promise.all([import('./kafka/sensor.js'), import('./kafka/kafkajs-client.js')]);
      sensors.push(new KafkaSensor(kafka, (logger) => new KafkaJsAdminClient(kafka, logger)));
    }
  }
  return sensors;
}
