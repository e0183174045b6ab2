// KafkaAdminClient on kafkajs. kafkajs retries a few times quickly; the sensor's own backoff
// decides when to try again after that, so an unreachable cluster costs one short attempt per
// round, not kafkajs's default 30 s of retries. Its log lines go to the agent's logger at debug:
// the sensor reports failures itself, once per change, with the reason.
import { AssignerProtocol, Kafka, logLevel, type Admin, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import type { Logger } from 'pino';
import { KafkaCallError, type ClusterMetadata, type CommittedOffset, type GroupDescription, type KafkaAdminClient, type KafkaFailureReason, type LogEndOffset } from './client.js';
import type { KafkaSettings } from './settings.js';

interface KafkaJsErrorShape {
  name?: string;
  message?: string;
  type?: string;
  code?: string | number;
  cause?: unknown;
  originalError?: unknown;
}

const PERMISSION_TYPES = /AUTHORIZATION_FAILED$/;
const AUTH_TYPES = /^(SASL_AUTHENTICATION_FAILED|ILLEGAL_SASL_STATE|UNSUPPORTED_SASL_MECHANISM)$/;

/** Classifies a kafkajs error (unwrapping retries) into a reason and a message a user can act on. */
export function classifyKafkaError(e: unknown, call: string): KafkaCallError {
  if (e instanceof KafkaCallError) return e;
  // Walk the chain to the most specific error: retries wrap the one that counts.
  let err = e as KafkaJsErrorShape;
  for (let i = 0; i < 5; i++) {
    const inner = (err?.originalError ?? (err?.name === 'KafkaJSNumberOfRetriesExceeded' ? err.cause : undefined)) as KafkaJsErrorShape | undefined;
    if (!inner || inner === err) break;
    err = inner;
  }
  const name = err?.name ?? '';
  const message = err?.message ?? String(e);
  const type = err?.type ?? '';
  let reason: KafkaFailureReason = 'protocol';
  if (name === 'KafkaJSSASLAuthenticationError' || AUTH_TYPES.test(type)) reason = 'auth';
  else if (PERMISSION_TYPES.test(type)) reason = 'permission';
  else if (name === 'KafkaJSServerDoesNotSupportApiKey' || name === 'KafkaJSNotImplemented' || type === 'UNSUPPORTED_VERSION' || type === 'INVALID_REQUEST' || /does not support the requested API/i.test(message)) reason = 'unsupported';
  else if (type === 'UNKNOWN_TOPIC_OR_PARTITION' || type === 'GROUP_ID_NOT_FOUND') reason = 'not-found';
  else if (/certificate|self[- ]signed|SSL|TLS|wrong version number|handshake/i.test(message) || /^ERR_TLS|^(CERT|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED)/.test(String(err?.code ?? ''))) reason = 'ssl';
  else if (name === 'KafkaJSRequestTimeoutError' || name === 'KafkaJSTimeout' || name === 'KafkaJSLockTimeout' || /timed? ?out/i.test(message)) reason = 'timeout';
  else if (name === 'KafkaJSConnectionError' || name === 'KafkaJSConnectionClosedError' || name === 'KafkaJSBrokerNotFound' || name === 'KafkaJSNoBrokerAvailableError' || /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ECONNRESET|EAI_AGAIN|Connection error/i.test(message)) reason = 'unreachable';
  const hint: Record<KafkaFailureReason, string> = {
    unreachable: 'no broker answered (check KAFKA_BOOTSTRAP_SERVERS and that the listener is reachable from here)',
    auth: 'authentication failed (check KAFKA_SASL_MECHANISM, user name and password)',
    ssl: 'TLS failed (check KAFKA_SECURITY_PROTOCOL and the CA / client certificate files)',
    permission: `not allowed (${type}): the agent's principal needs Describe on the cluster, topics and groups`,
    timeout: 'the request timed out',
    unsupported: 'the broker does not serve this request',
    'not-found': 'not found',
    protocol: 'the broker answered with an error',
    internal: 'internal error',
  };
  return new KafkaCallError(reason, `${call}: ${hint[reason]}: ${message}`, call);
}

/** kafkajs's connection options from our settings. */
export function kafkaJsConfig(s: KafkaSettings, logger: Logger): KafkaConfig {
  const config: KafkaConfig = {
    clientId: s.clientId,
    brokers: s.brokers,
    connectionTimeout: s.connectionTimeoutMs,
    authenticationTimeout: s.connectionTimeoutMs,
    requestTimeout: s.requestTimeoutMs,
    retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 1_000 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      // The message and where; never the SASL configuration kafkajs may attach.
      const { message, broker, error } = entry.log as { message?: string; broker?: string; error?: string };
      logger.debug({ kafkajs: entry.namespace, broker, error }, message ?? 'kafkajs');
    },
  };
  if (s.tls) {
    const tls = s.tls;
    config.ssl = {
      ca: tls.ca ? [tls.ca] : undefined,
      cert: tls.cert,
      key: tls.key,
      passphrase: tls.passphrase,
      ...(tls.verifyHostname ? {} : { checkServerIdentity: () => undefined }),
    };
  }
  if (s.sasl) {
    const mechanism = s.sasl.mechanism.toLowerCase() as 'plain' | 'scram-sha-256' | 'scram-sha-512';
    config.sasl = { mechanism, username: s.sasl.username, password: s.sasl.password } as SASLOptions;
  }
  return config;
}

export class KafkaJsAdminClient implements KafkaAdminClient {
  private readonly admin: Admin;
  private connected = false;

  constructor(settings: KafkaSettings, logger: Logger) {
    this.admin = new Kafka(kafkaJsConfig(settings, logger)).admin();
    this.admin.on(this.admin.events.DISCONNECT, () => {
      this.connected = false;
    });
  }

  private async call<T>(name: string, f: () => Promise<T>): Promise<T> {
    try {
      if (!this.connected) {
        await this.admin.connect();
        this.connected = true;
      }
      return await f();
    } catch (e) {
      throw classifyKafkaError(e, name);
    }
  }

  connect(): Promise<void> {
    return this.call('connect', async () => undefined);
  }

  metadata(): Promise<ClusterMetadata> {
    return this.call('metadata', async () => {
      const cluster = await this.admin.describeCluster();
      const { topics } = await this.admin.fetchTopicMetadata();
      return {
        brokers: cluster.brokers.map((b) => ({ id: b.nodeId, host: b.host, port: b.port })),
        controller: cluster.controller ?? undefined,
        topics: topics.map((t) => ({
          name: t.name,
          partitions: t.partitions.map((p) => ({
            partition: p.partitionId,
            leader: p.leader,
            replicas: p.replicas ?? [],
            isr: p.isr ?? [],
            offlineReplicas: (p as { offlineReplicas?: number[] }).offlineReplicas ?? [],
            ...(p.partitionErrorCode ? { error: `error code ${p.partitionErrorCode}` } : {}),
          })),
        })),
      };
    });
  }

  listGroups(): Promise<string[]> {
    return this.call('list groups', async () => {
      const { groups } = await this.admin.listGroups();
      // Only consumer groups have offsets to evaluate (Connect workers etc. use other protocols).
      return groups.filter((g) => g.protocolType === 'consumer' || g.protocolType === '').map((g) => g.groupId);
    });
  }

  describeGroups(groups: string[]): Promise<GroupDescription[]> {
    return this.call('describe groups', async () => {
      const { groups: described } = await this.admin.describeGroups(groups);
      return described.map((g) => ({
        group: g.groupId,
        state: g.state,
        members: g.members.map((m) => {
          const assignment = new Map<string, number[]>();
          if (g.protocolType === 'consumer' && m.memberAssignment.length > 0) {
            try {
              const decoded = AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
              for (const [topic, partitions] of Object.entries(decoded?.assignment ?? {})) assignment.set(topic, partitions);
            } catch {
              // An assignment we cannot read: the member still counts, its partitions are unknown.
            }
          }
          return { memberId: m.memberId, clientId: m.clientId, host: m.clientHost, assignment };
        }),
      }));
    });
  }

  committedOffsets(group: string, names?: string[]): Promise<CommittedOffset[]> {
    return this.call(`committed offsets of group ${group}`, async () => {
      const topics = await this.admin.fetchOffsets(names ? { groupId: group, topics: names } : { groupId: group });
      const out: CommittedOffset[] = [];
      for (const t of topics) {
        for (const p of t.partitions) {
          const n = Number(p.offset);
          out.push({ topic: t.topic, partition: p.partition, offset: Number.isFinite(n) && n >= 0 ? n : undefined });
        }
      }
      return out;
    });
  }

  logEndOffsets(topic: string): Promise<LogEndOffset[]> {
    return this.call(`log-end offsets of topic ${topic}`, async () => {
      const offsets = await this.admin.fetchTopicOffsets(topic);
      return offsets.map((o) => ({ partition: o.partition, offset: Number(o.high) }));
    });
  }

  async disconnect(): Promise<void> {
    this.connected = false;
    await this.admin.disconnect().catch(() => undefined);
  }
}
