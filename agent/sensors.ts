// Builds the agent's sensors from its settings. Each kind of source adds itself here.
import type { Logger } from 'pino';
import type { AgentConfig } from './config.js';
import type { Sensor } from './sensor.js';
import { jvmSources } from './sources/build.js';

/** Throws with a precise message on bad settings (the CLI prints it and exits 2). */
export function buildSensors(config: AgentConfig, _logger: Logger): Sensor[] {
  return [...jvmSources(config)];
}
