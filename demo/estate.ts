// An incident's estate, started as a user would run it: one scripted Kafka JVM per pod
// (FakeKafkaJvm), set to its healthy baseline, and beside each a `kafka-obs agent` reading it over
// JMX, with a config file as users write them. Resolves once every agent reports reading its JVM.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ASPECT, Status_Condition, entity, subjectOf } from '../proto/index.js';
import { CLUSTER, baseline, type Incident, type Member } from './incidents.js';
import type { AgentHandle, Processes, ScriptedJvm } from './processes.js';
import type { DemoView } from './view.js';

export interface Timing {
  /** How often the agents poll their JVM. */
  pollIntervalMs: number;
  /** The time scale of the agents' rules and the aggregator's observers (`--time-scale`). */
  timeScale: number;
  /** The aggregator's narrative hysteresis, in ms: cause wait, resolve after, situation hold. */
  causeWaitMs: number;
  resolveAfterMs: number;
  situationHoldMs: number;
  /** How long the agents wait for a JMX answer (a frozen broker must go silent quickly). */
  jmxTimeoutMs: number;
}

/**
 * Incidents play minutes of life in seconds: the agents poll every 500 ms and every window of the
 * rules and observers is shortened fivefold (`--time-scale 0.2`); --fast halves it again.
 */
export const TIMING: { normal: Timing; fast: Timing } = {
  normal: { pollIntervalMs: 500, timeScale: 0.2, causeWaitMs: 3000, resolveAfterMs: 5000, situationHoldMs: 5000, jmxTimeoutMs: 1000 },
  fast: { pollIntervalMs: 250, timeScale: 0.08, causeWaitMs: 1500, resolveAfterMs: 2000, situationHoldMs: 2000, jmxTimeoutMs: 800 },
};

/** The aggregator's arguments for an incident's pace. */
export function aggregatorArgs(t: Timing): string[] {
  return ['--default-cluster', CLUSTER, '--time-scale', String(t.timeScale), '--resolve-after-ms', String(t.resolveAfterMs), '--situation-hold-ms', String(t.situationHoldMs), '--cause-wait-ms', String(t.causeWaitMs)];
}

export interface Estate {
  jvms: Map<string, ScriptedJvm>;
  agents: AgentHandle[];
  /** Who is who, for the banner. */
  description: string[];
}

/** The subject an agent reports its JMX source under (the source is named "jmx" in its config). */
export const sourceSubject = (m: Member): string => subjectOf(entity.agent(m.service, m.id), `${ASPECT.source}/jmx`);

function collects(m: Member): string[] {
  if (m.broker !== undefined) return ['broker', 'jvm'];
  return [...(m.producers?.length ? ['producer'] : []), ...(m.consumers?.length ? ['consumer'] : []), 'jvm'];
}

function agentConfig(m: Member, port: number, t: Timing): string {
  return [
    `serviceName: ${m.service}`,
    `cluster: ${CLUSTER}`,
    `pollIntervalMs: ${t.pollIntervalMs}`,
    'jmx:',
    `  - { name: jmx, url: "127.0.0.1:${port}", collect: [${collects(m).join(', ')}], timeoutMs: ${t.jmxTimeoutMs} }`,
    '',
  ].join('\n');
}

function describe(m: Member): string {
  const what =
    m.broker !== undefined
      ? `broker ${m.broker}'s JVM (kafka.server, kafka.network, kafka.controller${m.scriptedGc ? ', a scripted collector' : ''})`
      : [m.producers?.length ? `producer ${m.producers.join(', ')}` : '', m.consumers?.length ? `consumer ${m.consumers.join(', ')}${m.era22 ? ' (Kafka 2.2 client metrics)' : ''}` : ''].filter(Boolean).join(', ');
  return `${m.id.padEnd(11)} ${m.service.padEnd(17)} ${what}`;
}

/** Starts the incident's JVMs and their agents, healthy; resolves once every agent reads its JVM. */
export async function startEstate(processes: Processes, aggregatorUrl: string, dir: string, inc: Incident, t: Timing, view: DemoView, note: (s: string) => void): Promise<Estate> {
  note(`starting ${inc.members.length} JVMs with Kafka MBeans (FakeKafkaJvm over the JDK's RMI connector)...`);
  const jvms = new Map<string, ScriptedJvm>();
  await Promise.all(
    inc.members.map(async (m) => {
      const jvm = await processes.jvm(`jvm ${m.id}`, { brokerId: m.broker });
      await baseline(m, jvm);
      jvms.set(m.id, jvm);
    }),
  );
  note(`starting ${inc.members.length} agents, each reading its JVM over JMX every ${t.pollIntervalMs} ms (--time-scale ${t.timeScale})...`);
  const agents = await Promise.all(
    inc.members.map((m) => {
      const config = join(dir, `agent-${m.id}.yaml`);
      writeFileSync(config, agentConfig(m, jvms.get(m.id)!.port, t));
      return processes.agent(m.id, aggregatorUrl, ['--config', config, '--time-scale', String(t.timeScale)]);
    }),
  );
  const reading = (m: Member): boolean => view.latest.get(sourceSubject(m))?.status?.condition === Status_Condition.STABLE;
  if (!(await view.until(() => inc.members.every(reading), 60_000))) {
    throw new Error(`the agents of ${inc.members.filter((m) => !reading(m)).map((m) => m.id).join(', ')} did not report reading their JVM within 60 s`);
  }
  return { jvms, agents, description: inc.members.map(describe) };
}
