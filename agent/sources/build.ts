// The JVM sources the settings ask for: a JmxSensor per JMX target and a PrometheusSensor per
// exporter endpoint, all translating with one rule set (the defaults, overridden by the file
// named in the config's `rules:` or KAFKA_OBS_RULES; the defaults alone come from the build's
// default-rules.json, without the YAML parser and zod).
import type { AgentConfig } from '../config.js';
import type { Sensor } from '../sensor.js';
import { loadDefaultRules, scaleRules } from '../translate/defaults.js';
import { BRIDGE_JVM_OPTIONS, findJava } from '../jmx/bridge.js';
import { JmxSensor } from '../jmx/sensor.js';
import { PrometheusSensor } from '../prometheus/sensor.js';
import { jmxTargets, prometheusTargets, SourceConfigError } from './config.js';

export async function jvmSources(config: AgentConfig): Promise<Sensor[]> {
  const jmx = jmxTargets(config.file.jmx, config.env, config.pollIntervalMs);
  const prom = prometheusTargets(config.file.prometheus, config.env, config.pollIntervalMs);
  if (jmx.length === 0 && prom.length === 0) return [];
  const rulesFile = config.file.rules ?? config.env.KAFKA_OBS_RULES;
  let rules;
  if (rulesFile) {
    // A rules file of the user's: read and validated (YAML, zod) only then.
    const { RuleFileError, loadRules } = await import('../translate/rules.js');
    try {
      rules = loadRules(rulesFile);
    } catch (e) {
      if (e instanceof RuleFileError) throw new SourceConfigError(e.message);
      throw e;
    }
  } else {
    rules = await loadDefaultRules();
  }
  rules = scaleRules(rules, config.timeScale);
  const java = jmx.length ? findJava(config.env) : undefined;
  const jvmOptions = config.env.KAFKA_OBS_JMX_JAVA_OPTS?.trim() ? config.env.KAFKA_OBS_JMX_JAVA_OPTS.trim().split(/\s+/) : BRIDGE_JVM_OPTIONS;
  return [...jmx.map((t) => new JmxSensor(t, rules, java, jvmOptions)), ...prom.map((t) => new PrometheusSensor(t, rules))];
}
