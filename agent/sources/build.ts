// The JVM sources the settings ask for: a JmxSensor per JMX target and a PrometheusSensor per
// exporter endpoint, all translating with one rule set (the defaults, overridden by the file
// named in the config's `rules:` or KAFKA_OBS_RULES).
import type { AgentConfig } from '../config.js';
import type { Sensor } from '../sensor.js';
import { loadRules, RuleFileError, scaleRules } from '../translate/index.js';
import { BRIDGE_JVM_OPTIONS, findJava } from '../jmx/bridge.js';
import { JmxSensor } from '../jmx/sensor.js';
import { PrometheusSensor } from '../prometheus/sensor.js';
import { jmxTargets, prometheusTargets, SourceConfigError } from './config.js';

export function jvmSources(config: AgentConfig): Sensor[] {
  const jmx = jmxTargets(config.file.jmx, config.env, config.pollIntervalMs);
  const prom = prometheusTargets(config.file.prometheus, config.env, config.pollIntervalMs);
  if (jmx.length === 0 && prom.length === 0) return [];
  const rulesFile = config.file.rules ?? config.env.KAFKA_OBS_RULES;
  let rules;
  try {
    rules = scaleRules(loadRules(rulesFile || undefined), config.timeScale);
  } catch (e) {
    if (e instanceof RuleFileError) throw new SourceConfigError(e.message);
    throw e;
  }
  const java = jmx.length ? findJava(config.env) : undefined;
  const jvmOptions = config.env.KAFKA_OBS_JMX_JAVA_OPTS?.trim() ? config.env.KAFKA_OBS_JMX_JAVA_OPTS.trim().split(/\s+/) : BRIDGE_JVM_OPTIONS;
  return [...jmx.map((t) => new JmxSensor(t, rules, java, jvmOptions)), ...prom.map((t) => new PrometheusSensor(t, rules))];
}
