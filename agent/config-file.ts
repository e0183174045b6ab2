// The agent's optional config file (YAML or JSON, --config / KAFKA_OBS_AGENT_CONFIG): what the
// environment cannot say compactly, such as several JMX targets. Validated strictly: a misspelt
// key is an error that names it, not a setting silently ignored.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { JmxTargetSchema, PrometheusTargetSchema } from './sources/schemas.js';

export const AgentFileSchema = z
  .object({
    serviceName: z.string().min(1).optional(),
    cluster: z.string().min(1).optional(),
    pollIntervalMs: z.number().int().min(100).optional(),
    // Sections owned by the sensors that read them.
    jmx: z.array(JmxTargetSchema).optional(),
    prometheus: z.array(PrometheusTargetSchema).optional(),
    /** A rules file laid over the default translation rules (agent/translate/default-rules.yaml). */
    rules: z.string().optional(),
    kafka: z.unknown().optional(),
  })
  .strict();

export type AgentFile = z.infer<typeof AgentFileSchema>;

export class ConfigFileError extends Error {}

/** Reads and validates a config file; every problem is listed with its path in the file. */
export function readAgentFile(path: string): AgentFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigFileError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    throw new ConfigFileError(`config file ${path} is not valid YAML/JSON: ${(e as Error).message}`);
  }
  return parseSection(AgentFileSchema, data ?? {}, `config file ${path}`);
}

/** Validates one section with its schema; the error lists each problem as "at a.b[2].c: ...". */
export function parseSection<T>(schema: z.ZodType<T>, data: unknown, where: string): T {
  const r = schema.safeParse(data);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `at ${i.path.length ? i.path.map(String).join('.') : '(top)'}: ${i.message}`);
  throw new ConfigFileError(`${where} is not valid:\n  ${problems.join('\n  ')}`);
}
