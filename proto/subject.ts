// The subject language: the one way to say what a signal is about. Agents build subjects with it,
// the aggregator validates and parses them with it, the hierarchy files cells by it, observers and
// reporters read entities and aspects from it. There is no second grammar (proto/README.md).
//
//   subject = entity [ "#" aspect ]
//   aspect  = name *( "/" name )            the metric or rule: "buffer", "gc/G1_Young_Generation"
//   name    = 1-128 characters, none of "/", "#", whitespace or control characters
//
// The entities (kind: path):
//   cluster          cluster/<cluster>
//   broker           cluster/<cluster>/broker/<broker-id>
//   topic            cluster/<cluster>/topic/<topic>
//   partition        cluster/<cluster>/topic/<topic>/partition/<n>
//   group            cluster/<cluster>/group/<group>
//   group-topic      cluster/<cluster>/group/<group>/topic/<topic>
//   group-partition  cluster/<cluster>/group/<group>/topic/<topic>/partition/<n>
//   service          service/<service>
//   pod              service/<service>/pod/<pod>
//   client           service/<service>/pod/<pod>/<producer|consumer|admin>/<client-id>
//   jvm              service/<service>/pod/<pod>/jvm
//   agent            service/<service>/pod/<pod>/agent            (the sidecar itself)
//
// A signal about the entity as a whole has no aspect (a broker the cluster stopped listing); a
// signal from one metric or rule names it as the aspect (cluster/prod/broker/1#under-replicated).
// A broker's own JVM is an aspect of the broker (cluster/prod/broker/1#gc/G1_Old_Generation), not
// a service. In the cell tree an aspect is a cell below its entity, named "#<aspect>"; the other
// cells are entities and the containers between them ("cluster/prod/broker" holds the brokers).
// Anything else is refused with the reason: an unknown shape is never filed as "other".

export type EntityKind =
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
  | 'agent';

/** Every entity kind, in the order the grammar lists them. */
export const ENTITY_KINDS: readonly EntityKind[] = ['cluster', 'broker', 'topic', 'partition', 'group', 'group-topic', 'group-partition', 'service', 'pod', 'client', 'jvm', 'agent'];

export type ClientRole = 'producer' | 'consumer' | 'admin';
export const CLIENT_ROLES: readonly ClientRole[] = ['producer', 'consumer', 'admin'];

/** A cell of the tree: an entity, an aspect of one, a container of entities, or the root. */
export type CellKind = EntityKind | 'container' | 'root';

/** What a subject (or a cell path) is about, read once. */
export interface SubjectInfo {
  /** The entity's kind; for a container, "container"; for the tree's root, "root". */
  readonly kind: CellKind;
  /** The whole subject (or cell path), aspect included. */
  readonly subject: string;
  /** The entity's path (the subject without "#aspect"). */
  readonly entity: string;
  /** The aspect ("" when the subject is the entity itself, or for containers). */
  readonly aspect: string;
  readonly cluster?: string;
  readonly broker?: string;
  readonly topic?: string;
  readonly partition?: string;
  readonly group?: string;
  readonly service?: string;
  readonly pod?: string;
  /** service/<s>/pod/<p>: the pod a client, JVM or agent lives in. */
  readonly podPath?: string;
  readonly role?: ClientRole;
  readonly clientId?: string;
}

/** A subject's info for an entity kind (never a container or the root). */
export type EntityInfo = SubjectInfo & { readonly kind: EntityKind };

export const SUBJECT_LIMITS = { chars: 512, nameChars: 128, aspectNames: 8 } as const;

// A name: no slash, no "#", no whitespace, no control characters.
const NAME = /^[^\s/#\p{Cc}]+$/u;
const ROLES = new Set<string>(CLIENT_ROLES);

/** Makes any string fit to be a name: "/", "#", whitespace and control characters become "_". */
export function segment(name: string): string {
  const s = name.replace(/[\s/#\p{Cc}]+/gu, '_').slice(0, SUBJECT_LIMITS.nameChars);
  return s === '' ? '_' : s;
}

/** Builders: the only way the project writes entity paths. Names are made fit with segment(). */
export const entity = {
  cluster: (cluster: string): string => `cluster/${segment(cluster)}`,
  broker: (cluster: string, brokerId: string | number): string => `${entity.cluster(cluster)}/broker/${segment(String(brokerId))}`,
  topic: (cluster: string, topic: string): string => `${entity.cluster(cluster)}/topic/${segment(topic)}`,
  partition: (cluster: string, topic: string, partition: number): string => `${entity.topic(cluster, topic)}/partition/${partition}`,
  group: (cluster: string, group: string): string => `${entity.cluster(cluster)}/group/${segment(group)}`,
  groupTopic: (cluster: string, group: string, topic: string): string => `${entity.group(cluster, group)}/topic/${segment(topic)}`,
  groupPartition: (cluster: string, group: string, topic: string, partition: number): string => `${entity.groupTopic(cluster, group, topic)}/partition/${partition}`,
  service: (service: string): string => `service/${segment(service)}`,
  pod: (service: string, pod: string): string => `${entity.service(service)}/pod/${segment(pod)}`,
  client: (service: string, pod: string, role: ClientRole, clientId: string): string => `${entity.pod(service, pod)}/${role}/${segment(clientId)}`,
  jvm: (service: string, pod: string): string => `${entity.pod(service, pod)}/jvm`,
  agent: (service: string, pod: string): string => `${entity.pod(service, pod)}/agent`,
};

/**
 * An aspect from a template and labels: "gc/{gc}" with {gc: "G1 Young Generation"} is
 * "gc/G1_Young_Generation". Each "/"-separated part is one name; a missing label is "_".
 */
export function aspect(template: string, labels?: { readonly [k: string]: string }): string {
  const filled = template.includes('{') ? template.replace(/\{([^}]+)\}/g, (_, k: string) => segment(labels?.[k] ?? '_')) : template;
  return filled.split('/').map(segment).join('/');
}

/** entity + "#" + aspect (the entity alone when the aspect is empty). */
export function subjectOf(entityPath: string, aspectName = ''): string {
  return aspectName === '' ? entityPath : `${entityPath}#${aspectName}`;
}

/** The entity path of a subject (without its aspect). */
export function entityOf(subject: string): string {
  const hash = subject.indexOf('#');
  return hash < 0 ? subject : subject.slice(0, hash);
}

/** The aspect of a subject ("" when none). */
export function aspectOf(subject: string): string {
  const hash = subject.indexOf('#');
  return hash < 0 ? '' : subject.slice(hash + 1);
}

/** Whether `subject` is `prefix` or lies below it in the tree (an aspect lies below its entity). */
export function isUnder(subject: string, prefix: string): boolean {
  if (prefix === '' || subject === prefix) return true;
  if (!subject.startsWith(prefix)) return false;
  if (prefix.endsWith('/')) return true;
  const next = subject.charCodeAt(prefix.length);
  return next === 47 /* / */ || (next === 35 /* # */ && !prefix.includes('#'));
}

export class SubjectError extends Error {}

/** Why `subject` is not a subject of the grammar, or undefined when it is. */
export function subjectProblem(subject: string): string | undefined {
  const r = read(subject, false);
  return typeof r === 'string' ? r : undefined;
}

/** The subject read; throws SubjectError with the reason when it does not parse. */
export function parseSubject(subject: string): EntityInfo {
  const r = read(subject, false);
  if (typeof r === 'string') throw new SubjectError(r);
  return r as EntityInfo;
}

/**
 * A cell path of the tree read: a subject, a container on the way to entities ("cluster/prod/
 * broker"), or "" (the root). Undefined when it cannot be a cell. `intern`, when given, is handed
 * each name (and the aspect, and a pod's path) and its answer is what the info holds: a holder of
 * many infos (the hierarchy) shares one copy of each name.
 */
export function parseCellPath(path: string, intern?: (name: string) => string): SubjectInfo | undefined {
  if (path === '') return ROOT;
  const r = read(path, true, intern);
  return typeof r === 'string' ? undefined : r;
}

const ROOT: SubjectInfo = Object.freeze({ kind: 'root', subject: '', entity: '', aspect: '' });

/** The shapes below cluster/<c> and service/<s>: which kind a path is after its first pair. */
function read(subject: string, containers: boolean, intern?: (name: string) => string): SubjectInfo | string {
  if (subject.length === 0) return 'subject is empty';
  if (subject.length > SUBJECT_LIMITS.chars) return `subject is ${subject.length} characters, more than ${SUBJECT_LIMITS.chars}`;
  const hash = subject.indexOf('#');
  const entityPath = hash < 0 ? subject : subject.slice(0, hash);
  const aspectName = hash < 0 ? '' : subject.slice(hash + 1);
  if (hash >= 0) {
    if (aspectName === '') return `subject "${subject}" ends in "#" with no aspect after it`;
    const names = aspectName.split('/');
    if (names.length > SUBJECT_LIMITS.aspectNames) return `aspect "${aspectName}" has ${names.length} parts, more than ${SUBJECT_LIMITS.aspectNames}`;
    for (const n of names) {
      const p = nameProblem(n, subject, 'aspect');
      if (p) return p;
    }
  }
  const read = entityPath.split('/');
  for (const n of read) {
    const p = nameProblem(n, subject, 'entity');
    if (p) return p;
  }
  const s = intern ? read.map(intern) : read;
  const info = entityInfo(s, entityPath, subject, intern ? intern(aspectName) : aspectName, intern);
  if (info) return info;
  if (containers && hash < 0 && s.length % 2 === 1) {
    // A container: a kind word after a valid entity (or the top: "cluster", "service").
    const parent = s.length === 1 ? undefined : entityInfo(s.slice(0, -1), s.slice(0, -1).join('/'), '', '');
    if (s.length === 1 ? s[0] === 'cluster' || s[0] === 'service' : parent && CONTAINERS[parent.kind as EntityKind]?.includes(s.at(-1)!)) {
      return { kind: 'container', subject, entity: entityPath, aspect: '', cluster: parent?.cluster, service: parent?.service };
    }
  }
  return `subject "${subject}" is not about a known entity: ${hint(s)}`;
}

/** Kind words each entity may hold below it (its containers). */
const CONTAINERS: Partial<Record<EntityKind, readonly string[]>> = {
  cluster: ['broker', 'topic', 'group'],
  topic: ['partition'],
  group: ['topic'],
  'group-topic': ['partition'],
  service: ['pod'],
  pod: ['producer', 'consumer', 'admin'],
};

function nameProblem(n: string, subject: string, part: 'entity' | 'aspect'): string | undefined {
  if (n.length === 0) return `subject "${subject}" has an empty name in its ${part} (leading, trailing or double "/")`;
  if (n.length > SUBJECT_LIMITS.nameChars) return `subject "${subject.slice(0, 80)}…" has a name of more than ${SUBJECT_LIMITS.nameChars} characters`;
  if (!NAME.test(n)) return `subject "${subject}" has the name "${n}" with whitespace, control characters${part === 'aspect' ? '' : ' or a second "#"'}`;
  return undefined;
}

// Object literals, not spreads: a literal's properties live in the object itself (a spread's added
// ones go to a separate property array, 40 bytes more a cell of the tree).
function entityInfo(s: string[], entity: string, whole: string, aspect: string, intern?: (name: string) => string): SubjectInfo | undefined {
  const n = s.length;
  const subject = whole || entity;
  if (s[0] === 'cluster' && n >= 2) {
    const cluster = s[1]!;
    if (n === 2) return { kind: 'cluster', subject, entity, aspect, cluster };
    if (s[2] === 'broker' && n === 4) return { kind: 'broker', subject, entity, aspect, cluster, broker: s[3]! };
    if (s[2] === 'topic' && n === 4) return { kind: 'topic', subject, entity, aspect, cluster, topic: s[3]! };
    if (s[2] === 'topic' && n === 6 && s[4] === 'partition' && isPartition(s[5]!)) return { kind: 'partition', subject, entity, aspect, cluster, topic: s[3]!, partition: s[5]! };
    if (s[2] === 'group' && n >= 4) {
      const group = s[3]!;
      if (n === 4) return { kind: 'group', subject, entity, aspect, cluster, group };
      if (s[4] === 'topic' && n === 6) return { kind: 'group-topic', subject, entity, aspect, cluster, group, topic: s[5]! };
      if (s[4] === 'topic' && n === 8 && s[6] === 'partition' && isPartition(s[7]!)) return { kind: 'group-partition', subject, entity, aspect, cluster, group, topic: s[5]!, partition: s[7]! };
    }
    return undefined;
  }
  if (s[0] === 'service' && n >= 2) {
    const service = s[1]!;
    if (n === 2) return { kind: 'service', subject, entity, aspect, service };
    if (s[2] !== 'pod' || n < 4) return undefined;
    const pod = s[3]!;
    const made = `service/${service}/pod/${pod}`;
    const podPath = intern ? intern(made) : made;
    if (n === 4) return { kind: 'pod', subject, entity, aspect, service, pod, podPath };
    if (n === 5 && s[4] === 'jvm') return { kind: 'jvm', subject, entity, aspect, service, pod, podPath };
    if (n === 5 && s[4] === 'agent') return { kind: 'agent', subject, entity, aspect, service, pod, podPath };
    if (n === 6 && ROLES.has(s[4]!)) return { kind: 'client', subject, entity, aspect, service, pod, podPath, role: s[4] as ClientRole, clientId: s[5]! };
  }
  return undefined;
}

function isPartition(s: string): boolean {
  return /^\d{1,9}$/.test(s);
}

/** What the closest shapes look like, for the refusal. */
function hint(s: string[]): string {
  const n = s.length;
  if (s[0] === 'cluster') {
    if (n === 5 && s[2] === 'broker') return `a broker is cluster/<c>/broker/<id>; put the metric after "#" (cluster/${s[1]}/broker/${s[3]}#${s[4]})`;
    if (s[2] === 'topic' && n >= 5) return 'a partition is cluster/<c>/topic/<t>/partition/<number>; an aspect goes after "#"';
    return 'expected cluster/<c>[/broker/<id> | /topic/<t>[/partition/<n>] | /group/<g>[/topic/<t>[/partition/<n>]]][#aspect]';
  }
  if (s[0] === 'service') {
    if (n >= 7 && ROLES.has(s[4]!)) return `a client is service/<s>/pod/<p>/${s[4]}/<client-id>; put the metric after "#" (${s.slice(0, 6).join('/')}#${s.slice(6).join('/')})`;
    if (n >= 6 && (s[4] === 'jvm' || s[4] === 'agent')) return `the ${s[4]} is service/<s>/pod/<p>/${s[4]}; put the rest after "#" (${s.slice(0, 5).join('/')}#${s.slice(5).join('/')})`;
    return 'expected service/<s>[/pod/<p>[/producer/<id> | /consumer/<id> | /admin/<id> | /jvm | /agent]][#aspect]';
  }
  return 'a subject starts with cluster/<name> or service/<name> (see proto/README.md)';
}
