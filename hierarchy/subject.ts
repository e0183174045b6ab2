// What a subject path is about, read once per cell from the naming scheme (agent/subjects.ts):
//   cluster/<c>/broker/<id>
//   cluster/<c>/topic/<t>[/partition/<n>]
//   cluster/<c>/group/<g>[/topic/<t>[/partition/<n>]]
//   service/<s>/pod/<p>/<producer|consumer|admin>/<client-id>[/<metric>]
//   service/<s>/pod/<p>/jvm
//   service/<s>/pod/<p>/agent/<sensor>
// Paths alternate a kind ("cluster", "broker", "pod"...) and a name; anything else is "other".

export type SubjectKind =
  | 'cluster'
  | 'broker'
  | 'topic'
  | 'partition'
  | 'group'
  | 'group-topic'
  | 'group-partition'
  | 'service'
  | 'pod'
  | 'client'
  | 'jvm'
  | 'agent'
  | 'container'
  | 'other';

export type ClientRole = 'producer' | 'consumer' | 'admin';

export interface SubjectInfo {
  readonly kind: SubjectKind;
  readonly path: string;
  readonly cluster?: string;
  readonly broker?: string;
  readonly topic?: string;
  readonly partition?: string;
  readonly group?: string;
  readonly service?: string;
  readonly pod?: string;
  /** service/<s>/pod/<p>: where a client or JVM lives. */
  readonly podPath?: string;
  readonly role?: ClientRole;
  readonly clientId?: string;
  /** A metric cell below a client (service/.../producer/<id>/<metric>). */
  readonly metric?: string;
}

const ROLES = new Set<string>(['producer', 'consumer', 'admin']);

export function parseSubject(path: string): SubjectInfo {
  const s = path.split('/');
  const n = s.length;
  if (s[0] === 'cluster' && n >= 2) {
    const cluster = s[1]!;
    if (n === 2) return { kind: 'cluster', path, cluster };
    if (s[2] === 'broker' && n === 4) return { kind: 'broker', path, cluster, broker: s[3]! };
    if (s[2] === 'topic' && n >= 4) {
      if (n === 4) return { kind: 'topic', path, cluster, topic: s[3]! };
      if (n === 6 && s[4] === 'partition') return { kind: 'partition', path, cluster, topic: s[3]!, partition: s[5]! };
    }
    if (s[2] === 'group' && n >= 4) {
      const group = s[3]!;
      if (n === 4) return { kind: 'group', path, cluster, group };
      if (s[4] === 'topic' && n === 6) return { kind: 'group-topic', path, cluster, group, topic: s[5]! };
      if (s[4] === 'topic' && n === 8 && s[6] === 'partition') return { kind: 'group-partition', path, cluster, group, topic: s[5]!, partition: s[7]! };
    }
    return { kind: n % 2 === 1 ? 'container' : 'other', path, cluster };
  }
  if (s[0] === 'service' && n >= 2) {
    const service = s[1]!;
    if (n === 2) return { kind: 'service', path, service };
    if (s[2] === 'pod' && n >= 4) {
      const pod = s[3]!;
      const podPath = `service/${service}/pod/${pod}`;
      if (n === 4) return { kind: 'pod', path, service, pod, podPath };
      if (n === 5 && s[4] === 'jvm') return { kind: 'jvm', path, service, pod, podPath };
      if (ROLES.has(s[4]!) && (n === 6 || n === 7)) {
        return { kind: 'client', path, service, pod, podPath, role: s[4] as ClientRole, clientId: s[5]!, metric: n === 7 ? s[6] : undefined };
      }
      if (s[4] === 'agent' && n === 6) return { kind: 'agent', path, service, pod, podPath };
    }
    return { kind: n % 2 === 1 ? 'container' : 'other', path, service };
  }
  return { kind: n % 2 === 1 ? 'container' : 'other', path };
}

/**
 * Whether the children of the cell at `path` are a population of peers (the brokers, the pods,
 * the partitions: a path with an odd number of segments ends in a kind) rather than aspects of
 * one thing (a pod's producer, consumer and JVM: an even number, the root included).
 */
export function holdsPopulation(path: string): boolean {
  if (path === '') return false;
  let segments = 1;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47 /* / */) segments++;
  return segments % 2 === 1;
}

/** A name made fit for a subject segment: no "/", whitespace or control characters. */
export function segmentOf(name: string): string {
  const s = name.replace(/[\s/\p{Cc}]+/gu, '_').slice(0, 128);
  return s === '' ? '_' : s;
}
