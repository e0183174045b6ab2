// KafkaAdminClient on kafkajs. kafkajs retries a few times quickly; the sensor's own backoff
// decides when to try again after that, so an unreachable cluster costs one short attempt per
// round, not kafkajs's default 30 s of retries. Its log lines go to the agent's logger at debug:
// the sensor reports failures itself, once per change, with the reason.
import { AssignerProtocol, Kafka, logLevel, type Admin, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import type { Logger } from 'pino';
import { KafkaCallError, type ClusterMetadata, type CommittedOffset, type GroupDescription, type KafkaAdminClient, type KafkaFailureReason, type LogEndOffset } from './client.js';
import { decodeFetch, encodeFetch, outcomeOf, waves, type RecordRead, type RecordTime } from './record-fetch.js';
import type { KafkaSettings } from './settings.js';
import { OAuthTokenSource, TokenError, mskIamMechanism } from './sasl.js';

// The few kafkajs 2.2.4 internals the record-timestamp read uses (kafkajs has no public "fetch one
// record at an offset" outside a consumer group, and a consumer would join a group and show up
// as one). A Kafka client keeps its cluster factory under a private symbol; a cluster finds
// partition leaders and connected brokers (with the client's own TLS and SASL); a broker's
// connection pool sends a request we encode and returns the raw answer we decode. Checked at
// first use: anything else is 'unsupported' and lag in seconds stays interpolated.
interface KjsBroker {
  versions: Record<number, { minVersion: number; maxVersion: number }> | null;
  connectionPool: { send(request: KjsProtocolRequest): Promise<unknown> };
}
interface KjsProtocolRequest {
  request: { apiKey: number; apiVersion: number; apiName: string; encode(): Promise<{ buf: Buffer; buffer: Buffer }> };
  response: { decode(raw: Buffer): Promise<Buffer>; parse(raw: Buffer): Promise<Buffer> };
  requestTimeout: number;
}
interface KjsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  isConnected(): boolean;
  addMultipleTargetTopics(topics: string[]): Promise<void>;
  refreshMetadata(): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(q: { nodeId: string }): Promise<KjsBroker>;
}
type ClusterFactory = (o: { metadataMaxAge?: number; allowAutoTopicCreation?: boolean }) => KjsCluster;

const FETCH = 1;

function clusterFactoryOf(kafka: Kafka): ClusterFactory {
  const sym = Object.getOwnPropertySymbols(kafka).find((x) => x.description === 'private:Kafka:createCluster');
  const f = sym ? (kafka as unknown as Record<symbol, unknown>)[sym] : undefined;
  if (typeof f !== 'function') throw new KafkaCallError('unsupported', 'record timestamps: this kafkajs offers no cluster to fetch with (kafkajs 2.2.4 expected)', 'record timestamps');
  return f as ClusterFactory;
}

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

/** What to check when a login fails, per mechanism. */
function authHint(mechanism: string | undefined): string {
  switch (mechanism) {
    case 'OAUTHBEARER':
      return 'the broker refused the OAUTHBEARER token (expired? issued for another audience or issuer? check the token file or command, and KAFKA_SASL_OAUTHBEARER_EXTENSIONS)';
    case 'AWS_MSK_IAM':
      return "the broker refused the IAM login (check that the role's policy allows kafka-cluster:Connect on this cluster, the region, and this machine's clock)";
    default:
      return 'authentication failed (check KAFKA_SASL_MECHANISM, user name and password)';
  }
}

/** Classifies a kafkajs error (unwrapping retries) into a reason and a message a user can act on. */
export function classifyKafkaError(e: unknown, call: string, mechanism?: string): KafkaCallError {
  if (e instanceof KafkaCallError) return e;
  // The login's own secrets could not be had: said as such (never the secret).
  const chain: KafkaJsErrorShape[] = [];
  for (let x = e as KafkaJsErrorShape | undefined, i = 0; x && i < 6; i++, x = (x.originalError ?? x.cause) as KafkaJsErrorShape | undefined) chain.push(x);
  const token = chain.find((x) => x instanceof TokenError);
  if (token) return new KafkaCallError('auth', `${call}: the OAUTHBEARER token could not be had: ${token.message}`, call);
  const aws = chain.find((x) => x.name === 'CredentialsProviderError' || (mechanism === 'AWS_MSK_IAM' && /Could not load credentials|credential/i.test(x.message ?? '')));
  if (aws) return new KafkaCallError('auth', `${call}: AWS credentials could not be loaded for AWS_MSK_IAM (the default chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a web identity token (IRSA), the container endpoint, instance metadata): ${aws.message}`, call);
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
  // The listener does not offer the mechanism asked for (a wrong port, or SASL not set up there).
  const unoffered = type === 'UNSUPPORTED_SASL_MECHANISM' || /mechanism is not supported by the server|does not support the requested SASL mechanism/i.test(message);
  const hint: Record<KafkaFailureReason, string> = {
    unreachable: 'no broker answered (check KAFKA_BOOTSTRAP_SERVERS and that the listener is reachable from here)',
    auth: unoffered
      ? `the broker does not offer SASL ${mechanism ?? 'mechanism'} on this listener (check KAFKA_SASL_MECHANISM and the port: on MSK, IAM is 9098 (9198 public), SCRAM 9096 (9196), TLS 9094)`
      : authHint(mechanism),
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
  const sasl = s.sasl;
  if (sasl?.mechanism === 'OAUTHBEARER') {
    const tokens = new OAuthTokenSource(sasl, logger);
    config.sasl = { mechanism: 'oauthbearer', oauthBearerProvider: () => tokens.bearer() };
  } else if (sasl?.mechanism === 'AWS_MSK_IAM') {
    config.sasl = mskIamMechanism(sasl, `kafka-obs/${s.clientId}`);
  } else if (sasl) {
    const mechanism = sasl.mechanism.toLowerCase() as 'plain' | 'scram-sha-256' | 'scram-sha-512';
    config.sasl = { mechanism, username: sasl.username, password: sasl.password } as SASLOptions;
  }
  return config;
}

export class KafkaJsAdminClient implements KafkaAdminClient {
  private readonly kafka: Kafka;
  private readonly admin: Admin;
  private connected = false;
  /** A cluster of its own for record-timestamp reads, made at the first one. */
  private fetcher?: KjsCluster;
  private staleLeaders = false;

  constructor(private readonly settings: KafkaSettings, logger: Logger) {
    this.kafka = new Kafka(kafkaJsConfig(settings, logger));
    this.admin = this.kafka.admin();
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
      throw classifyKafkaError(e, name, this.settings.sasl?.mechanism);
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
      return offsets.map((o) => {
        const low = Number(o.low);
        return { partition: o.partition, offset: Number(o.high), ...(Number.isFinite(low) && low >= 0 ? { start: low } : {}) };
      });
    });
  }

  recordTimes(reads: readonly RecordRead[]): Promise<RecordTime[]> {
    return this.call('record timestamps', async () => {
      if (!this.fetcher) {
        const f = clusterFactoryOf(this.kafka)({ metadataMaxAge: 60_000, allowAutoTopicCreation: false });
        if (typeof f.findLeaderForPartitions !== 'function' || typeof f.findBroker !== 'function') throw new KafkaCallError('unsupported', 'record timestamps: unexpected kafkajs cluster shape', 'record timestamps');
        this.fetcher = f;
      }
      const cluster = this.fetcher;
      if (!cluster.isConnected()) await cluster.connect();
      await cluster.addMultipleTargetTopics([...new Set(reads.map((r) => r.topic))]);
      if (this.staleLeaders) {
        this.staleLeaders = false;
        await cluster.refreshMetadata();
      }
      const out = new Map<RecordRead, RecordTime>();
      // Reads by leader broker; each wave names a partition once.
      const byLeader = new Map<string, RecordRead[]>();
      const byTopic = new Map<string, RecordRead[]>();
      for (const r of reads) {
        let l = byTopic.get(r.topic);
        if (!l) byTopic.set(r.topic, (l = []));
        l.push(r);
      }
      for (const [topic, rs] of byTopic) {
        const leaders = cluster.findLeaderForPartitions(topic, [...new Set(rs.map((r) => r.partition))]);
        const leaderOf = new Map<number, string>();
        for (const [id, ps] of Object.entries(leaders)) for (const p of ps) leaderOf.set(p, id);
        for (const r of rs) {
          const id = leaderOf.get(r.partition);
          if (id === undefined || Number(id) < 0) {
            out.set(r, { ...r, outcome: { kind: 'failed', reason: 'not-found', message: `partition ${topic}/${r.partition}: no leader known` } });
            continue;
          }
          let l = byLeader.get(id);
          if (!l) byLeader.set(id, (l = []));
          l.push(r);
        }
      }
      await Promise.all(
        [...byLeader].map(async ([nodeId, rs]) => {
          try {
            await this.fetchFrom(cluster, nodeId, rs, out);
          } catch (e) {
            // One broker's failure (down, timing out) fails its reads only.
            const err = classifyKafkaError(e, `record timestamps from broker ${nodeId}`, this.settings.sasl?.mechanism);
            this.staleLeaders = true;
            for (const r of rs) if (!out.has(r)) out.set(r, { ...r, outcome: { kind: 'failed', reason: err.reason, message: err.message } });
          }
        }),
      );
      return reads.map((r) => out.get(r)!);
    });
  }

  /** One Fetch per wave to one leader broker; outcomes into `out`. */
  private async fetchFrom(cluster: KjsCluster, nodeId: string, rs: RecordRead[], out: Map<RecordRead, RecordTime>): Promise<void> {
    const broker = await cluster.findBroker({ nodeId });
    const max = broker.versions?.[FETCH]?.maxVersion ?? -1;
    if (max < 4) {
      for (const r of rs) out.set(r, { ...r, outcome: { kind: 'failed', reason: 'unsupported', message: `broker ${nodeId} serves Fetch up to v${max} only (v4, Kafka 0.11, needed)` } });
      return;
    }
    const version: 4 | 5 = max >= 5 ? 5 : 4;
    for (const wave of waves(rs)) {
      const body = encodeFetch(version, wave);
      const raw = (await broker.connectionPool.send({
        request: { apiKey: FETCH, apiVersion: version, apiName: 'Fetch', encode: async () => ({ buf: body, buffer: body }) },
        response: { decode: async (b: Buffer) => b, parse: async (b: Buffer) => b },
        requestTimeout: this.settings.requestTimeoutMs,
      })) as Buffer;
      const answered = decodeFetch(version, raw);
      for (const r of wave) {
        const p = answered.find((x) => x.topic === r.topic && x.partition === r.partition);
        if (!p) {
          out.set(r, { ...r, outcome: { kind: 'failed', reason: 'protocol', message: `partition ${r.topic}/${r.partition}: not in the Fetch answer` } });
          continue;
        }
        const { outcome, stale } = outcomeOf(p, r.offset);
        if (stale) this.staleLeaders = true;
        out.set(r, { ...r, outcome, ...(p.logStart !== undefined ? { logStart: p.logStart } : {}) });
      }
    }
  }

  async disconnect(): Promise<void> {
    this.connected = false;
    await this.admin.disconnect().catch(() => undefined);
    await this.fetcher?.disconnect().catch(() => undefined);
    this.fetcher = undefined;
  }
}
