// One naming scheme for every subject the agent's sensors emit (the README documents it):
//   clients    service/<SERVICE_NAME>/pod/<AGENT_ID>/<producer|consumer|admin>/<client-id>
//   the JVM    service/<SERVICE_NAME>/pod/<AGENT_ID>/jvm
//   a source   service/<SERVICE_NAME>/pod/<AGENT_ID>/agent/<sensor>     (the agent about itself)
//   brokers    cluster/<KAFKA_CLUSTER>/broker/<broker.id>
//   partitions cluster/<KAFKA_CLUSTER>/topic/<topic>/partition/<n>
//   groups     cluster/<KAFKA_CLUSTER>/group/<group>[/topic/<topic>[/partition/<n>]]
import type { SubjectNames } from './sensor.js';

/** A subject segment from any name: no "/", whitespace or control characters, at most 128 chars. */
export function segment(name: string): string {
  const s = name.replace(/[\s/\p{Cc}]+/gu, '_').slice(0, 128);
  return s === '' ? '_' : s;
}

export type ClientRole = 'producer' | 'consumer' | 'admin';

export const subjects = {
  pod: (n: SubjectNames) => `service/${segment(n.service)}/pod/${segment(n.pod)}`,
  client: (n: SubjectNames, role: ClientRole, clientId: string) => `${subjects.pod(n)}/${role}/${segment(clientId)}`,
  jvm: (n: SubjectNames) => `${subjects.pod(n)}/jvm`,
  source: (n: SubjectNames, sensor: string) => `${subjects.pod(n)}/agent/${segment(sensor)}`,
  cluster: (n: SubjectNames) => `cluster/${segment(n.cluster)}`,
  broker: (n: SubjectNames, brokerId: string | number) => `${subjects.cluster(n)}/broker/${segment(String(brokerId))}`,
  topic: (n: SubjectNames, topic: string) => `${subjects.cluster(n)}/topic/${segment(topic)}`,
  partition: (n: SubjectNames, topic: string, partition: number) => `${subjects.topic(n, topic)}/partition/${partition}`,
  group: (n: SubjectNames, group: string) => `${subjects.cluster(n)}/group/${segment(group)}`,
  groupTopic: (n: SubjectNames, group: string, topic: string) => `${subjects.group(n, group)}/topic/${segment(topic)}`,
  groupPartition: (n: SubjectNames, group: string, topic: string, partition: number) =>
    `${subjects.group(n, group)}/topic/${segment(topic)}/partition/${partition}`,
};
