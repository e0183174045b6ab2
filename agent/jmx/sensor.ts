// A JMX source: one target JVM, read through one JmxBridge helper process, mapped to the
// catalogue (Kafka producer/consumer/coordinator, JVM memory and GC, broker) and translated into
// signs. The helper is restarted with backoff if it dies; the target may come and go.
import type { Logger } from 'pino';
import { Status_Condition } from '../../proto/index.js';
import type { CheckResult, SensorContext } from '../sensor.js';
import type { RuleSet } from '../translate/index.js';
import {
  BROKER_BEANS,
  BROKER_ID_PATTERN,
  CLIENT_GROUPS,
  REQUEST_LATENCY_PATTERN,
  WATCHED_REQUESTS,
  brokerReading,
  clientPattern,
  clientReadings,
  gcReadings,
  heapReading,
  requestLatencyReading,
  nodePattern,
  nodeReading,
  type ClientGroup,
  type Reading,
} from '../sources/catalogue.js';
import type { CollectorName, JmxTarget } from '../sources/config.js';
import { PollingSensor, type PollOutcome } from '../sources/polling.js';
import { BRIDGE_JVM_OPTIONS, BridgeError, JmxBridgeProcess, bridgeBuilt, type BeanQuery, type BeanValues, type PollReply } from './bridge.js';

interface Gathered {
  readings: Reading[];
  brokerId?: string;
  brokerIdFrom?: string;
  /** Per query: what it found, for --check. */
  found: { label: string; pattern: string; required: boolean; beans: BeanValues[]; error?: string }[];
  attributeErrors: string[];
  values: number;
}

/** One ObjectName query of the plan and how its beans become readings. */
interface QuerySpec {
  label: CollectorName | 'custom';
  query: BeanQuery;
  /** Matching nothing is a problem (the user asked for it), not just absent. */
  required: boolean;
  map(beans: BeanValues[], into: Gathered): void;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'boolean' ? (v ? 1 : 0) : undefined);

function numbers(bean: BeanValues): Map<string, number> {
  const m = new Map<string, number>();
  for (const [k, v] of Object.entries(bean.values ?? {})) {
    const n = num(v);
    if (n !== undefined) m.set(k, n);
  }
  return m;
}

/** What to ask the target for, from the collectors and custom beans configured. */
export function queryPlan(target: JmxTarget): QuerySpec[] {
  const plan: QuerySpec[] = [];
  const required = (c: CollectorName): boolean => target.explicit && target.collect.has(c);
  const clientGroup = (g: ClientGroup, label: CollectorName, req: boolean): QuerySpec => ({
    label,
    query: { pattern: clientPattern(g), attributes: [...CLIENT_GROUPS[g].attributes, ...CLIENT_GROUPS[g].extra] },
    required: req,
    map(beans, into) {
      for (const b of beans) {
        const clientId = b.props['client-id'];
        if (clientId) into.readings.push(...clientReadings(g, clientId, numbers(b)));
      }
    },
  });
  // Per-broker request latency: what lets the aggregator single out a broker nobody reads (managed Kafka).
  const nodeGroup = (role: 'producer' | 'consumer'): QuerySpec => ({
    label: role,
    query: { pattern: nodePattern(role), attributes: ['request-latency-avg'] },
    required: false,
    map(beans, into) {
      for (const b of beans) {
        const r = nodeReading(role, b.props['client-id'] ?? '', b.props['node-id'] ?? '', num(b.values?.['request-latency-avg']));
        if (r && b.props['client-id']) into.readings.push(r);
      }
    },
  });
  if (target.collect.has('producer')) {
    plan.push(clientGroup('producer', 'producer', required('producer')));
    plan.push(nodeGroup('producer'));
  }
  if (target.collect.has('consumer')) {
    plan.push(clientGroup('consumer-fetch', 'consumer', required('consumer')));
    plan.push(clientGroup('consumer-coordinator', 'consumer', false));
    plan.push(nodeGroup('consumer'));
  }
  if (target.collect.has('jvm')) {
    plan.push({
      label: 'jvm',
      query: { pattern: 'java.lang:type=Memory', attributes: ['HeapMemoryUsage.used', 'HeapMemoryUsage.max', 'HeapMemoryUsage.committed'] },
      required: required('jvm'),
      map(beans, into) {
        const v = beans[0] ? numbers(beans[0]) : undefined;
        const used = v?.get('HeapMemoryUsage.used');
        const max = v?.get('HeapMemoryUsage.max');
        if (used === undefined || max === undefined) return;
        const r = heapReading({ used, max, committed: v?.get('HeapMemoryUsage.committed') });
        if (r) into.readings.push(r);
      },
    });
    plan.push({
      label: 'jvm',
      query: { pattern: 'java.lang:type=GarbageCollector,name=*', attributes: ['CollectionTime', 'CollectionCount'] },
      required: false,
      map(beans, into) {
        for (const b of beans) {
          const v = numbers(b);
          into.readings.push(...gcReadings(b.props.name ?? b.name, v.get('CollectionTime'), v.get('CollectionCount')));
        }
      },
    });
  }
  if (target.collect.has('broker')) {
    plan.push({
      label: 'broker',
      query: { pattern: BROKER_ID_PATTERN, attributes: [], namesOnly: true },
      required: false,
      map(beans, into) {
        const id = beans[0]?.props.id;
        if (target.brokerId !== undefined) {
          into.brokerId = target.brokerId;
          into.brokerIdFrom = 'configuration (brokerId)';
        } else if (id !== undefined) {
          into.brokerId = id;
          into.brokerIdFrom = beans[0]!.name;
        }
      },
    });
    BROKER_BEANS.forEach((b, i) => {
      plan.push({
        label: 'broker',
        query: { pattern: b.bean, attributes: [b.attribute] },
        required: i === 0 && required('broker'),
        map(beans, into) {
          const v = beans[0] ? num(beans[0].values?.[b.attribute]) : undefined;
          if (v !== undefined) into.readings.push(brokerReading(b.metric, v * (b.scale ?? 1)));
        },
      });
    });
    plan.push({
      label: 'broker',
      query: { pattern: REQUEST_LATENCY_PATTERN, attributes: ['99thPercentile'] },
      required: false,
      map(beans, into) {
        for (const b of beans) {
          const request = b.props.request;
          const v = num(b.values?.['99thPercentile']);
          if (request && v !== undefined && (WATCHED_REQUESTS as readonly string[]).includes(request)) into.readings.push(requestLatencyReading(request, v));
        }
      },
    });
  }
  for (const custom of target.beans) {
    plan.push({
      label: 'custom',
      query: { pattern: custom.pattern, attributes: Object.keys(custom.attributes) },
      required: true,
      map(beans, into) {
        for (const b of beans) {
          // The bean's key properties fill the rule's aspect template ("acme-queue/{name}").
          for (const [attr, metric] of Object.entries(custom.attributes)) {
            const v = num(b.values?.[attr]);
            if (v !== undefined) into.readings.push({ scope: { kind: 'pod' }, metric, value: v, context: { ...b.props, bean: b.name, attribute: attr } });
          }
        }
      },
    });
  }
  return plan;
}

/** Maps a bridge reply to readings (and what each query found). */
export function gather(plan: QuerySpec[], reply: Extract<PollReply, { ok: true }>): Gathered {
  const g: Gathered = { readings: [], found: [], attributeErrors: [], values: 0 };
  plan.forEach((spec, i) => {
    const r = reply.results[i] ?? {};
    const beans = r.beans ?? [];
    g.found.push({ label: spec.label, pattern: spec.query.pattern, required: spec.required, beans, error: r.error });
    for (const b of beans) {
      g.values += Object.keys(b.values ?? {}).length;
      for (const [attr, why] of Object.entries(b.errors ?? {})) g.attributeErrors.push(`${b.name} ${attr}: ${why}`);
    }
    spec.map(beans, g);
  });
  return g;
}

/** A failure as a person would want to read it: what, where, and the likely fix. */
export function describeFailure(kind: string, message: string, target: JmxTarget): string {
  switch (kind) {
    case 'unreachable':
      return `cannot connect to ${target.url}: ${message} (is the JVM running with remote JMX on that port? e.g. -Dcom.sun.management.jmxremote.port=9999 -Dcom.sun.management.jmxremote.rmi.port=9999)`;
    case 'auth':
      return target.username
        ? `authentication failed for user "${target.username}" at ${target.url} (wrong username or password?): ${message}`
        : `${target.url} requires a username and password (set JMX_USERNAME and JMX_PASSWORD or JMX_PASSWORD_FILE): ${message}`;
    case 'ssl':
      return `TLS with ${target.url} failed: ${message} (trust the target's certificate with a truststore: truststore / JMX_TRUSTSTORE; if its RMI registry uses TLS too, set registrySsl / JMX_REGISTRY_SSL)`;
    case 'timeout':
      return `${target.url} did not answer within ${target.timeoutMs} ms: ${message}`;
    case 'not-found':
      return `no JMX connector is registered at ${target.url}: ${message} (the name after the port is usually /jmxrmi)`;
    case 'bad-url':
      return `bad JMX URL ${target.url}: ${message}`;
    default:
      return `${target.url}: ${message}`;
  }
}

let javaMissingSaid = false;

export class JmxSensor extends PollingSensor {
  private bridge?: JmxBridgeProcess;
  private readonly plan: QuerySpec[];
  private backoffMs = 1000;
  private restartAt = 0;
  private starts = 0;

  constructor(readonly target: JmxTarget, rules: RuleSet, private readonly java: string | undefined, private readonly jvmOptions: string[] = BRIDGE_JVM_OPTIONS) {
    super(target.name, { intervalMs: target.intervalMs, rules, description: `${target.url}${target.username ? ` as ${target.username}` : ''}`, answerWithinMs: target.timeoutMs });
    this.plan = queryPlan(target);
  }

  private unavailable(): string | undefined {
    if (!this.java) return 'java not found: JMX sources disabled (install a JRE, set JAVA_HOME, or use a Prometheus exporter endpoint instead)';
    if (!bridgeBuilt()) return 'the JMX bridge is not built: JMX sources disabled (run `npm run build` with a JDK installed)';
    return undefined;
  }

  protected override async open(): Promise<boolean> {
    const why = this.unavailable();
    if (!why) return true;
    if (!javaMissingSaid) {
      javaMissingSaid = true;
      this.ctx!.logger.warn(why.startsWith('java not found') ? 'java not found: JMX sources disabled' : why);
    }
    await this.report(Status_Condition.DOWN, this.java ? 'bridge-missing' : 'java-missing', why, Date.now());
    this.metrics!.errors.inc({ source: this.name, reason: this.java ? 'bridge-missing' : 'java-missing' });
    return false;
  }

  protected override async close(): Promise<void> {
    await this.bridge?.stop();
  }

  override status(): Record<string, unknown> {
    return { ...super.status(), bridgePid: this.bridge?.alive ? this.bridge.pid : undefined, bridgeStarts: this.starts };
  }

  private newBridge(log?: Logger): JmxBridgeProcess {
    const t = this.target;
    return new JmxBridgeProcess(
      this.java!,
      { url: t.url, username: t.username, password: t.password, registrySsl: t.registrySsl, truststore: t.truststore, truststorePassword: t.truststorePassword, timeoutMs: t.timeoutMs, intervalMs: t.intervalMs },
      this.jvmOptions,
      (why) => log?.warn({ source: this.options.description, why }, 'JMX bridge exited'),
    );
  }

  /** The running helper, (re)started if needed; undefined while waiting out the restart backoff. */
  private async ensureBridge(): Promise<JmxBridgeProcess | { waitMs: number }> {
    if (this.bridge?.alive) return this.bridge;
    const now = Date.now();
    if (now < this.restartAt) return { waitMs: this.restartAt - now };
    const log = this.ctx!.logger;
    const b = this.newBridge(log);
    this.bridge = b;
    this.starts++;
    if (this.starts > 1) this.metrics!.restarts.inc({ source: this.name });
    // Back off before the next start unless this one proves healthy (a successful poll resets it).
    this.restartAt = now + this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
    await b.start();
    log.info({ bridgePid: b.pid, source: this.options.description, start: this.starts }, 'JMX bridge started');
    return b;
  }

  protected async poll(): Promise<PollOutcome> {
    let reply: PollReply;
    try {
      const b = await this.ensureBridge();
      if (!(b instanceof JmxBridgeProcess)) return { ok: false, reason: 'bridge', message: `the JMX bridge exited; restarting it in ${b.waitMs} ms` };
      reply = await b.poll(this.plan.map((s) => s.query), this.target.timeoutMs * 3 + 2000);
    } catch (e) {
      const kind = e instanceof BridgeError ? e.kind : 'bridge';
      return { ok: false, reason: kind, message: (e as Error).message };
    }
    if (!reply.ok) return { ok: false, reason: reply.error.kind, message: describeFailure(reply.error.kind, reply.error.message, this.target) };
    this.backoffMs = 1000;
    this.restartAt = 0;
    const g = gather(this.plan, reply);
    const problems: string[] = [];
    for (const f of g.found) {
      if (f.error) problems.push(f.error);
      else if (f.required && f.beans.length === 0) problems.push(`pattern ${f.pattern} matches no bean`);
    }
    if (this.target.collect.has('broker') && this.target.explicit && g.brokerId === undefined && g.readings.some((r) => r.scope.kind === 'broker')) {
      problems.push(`broker beans found but no ${BROKER_ID_PATTERN} bean to name the broker: set brokerId`);
    }
    return { ok: true, readings: g.readings, brokerId: g.brokerId, problems, values: g.values, sourceMs: reply.tookMs };
  }

  async check(): Promise<CheckResult> {
    const source = `${this.name} (${this.options.description})`;
    const why = this.unavailable();
    if (why) return { source, ok: false, facts: [], errors: [why] };
    const b = this.newBridge();
    const facts: string[] = [];
    const errors: string[] = [];
    try {
      await b.start();
      const reply = await b.poll(this.plan.map((s) => s.query), this.target.timeoutMs * 3 + 2000);
      if (!reply.ok) {
        errors.push(describeFailure(reply.error.kind, reply.error.message, this.target));
        return { source, ok: false, facts, errors };
      }
      facts.push(`connected in ${Math.round(reply.tookMs)} ms${this.target.username ? ` as ${this.target.username}` : ''}${this.target.truststore ? ` (trusting ${this.target.truststore})` : ''}`);
      const g = gather(this.plan, reply);
      facts.push(...checkFacts(g, this.target, (metric) => this.translator.rulesFor(metric).map((r) => r.name)));
      for (const f of g.found) {
        if (f.error) errors.push(f.error);
        else if (f.required && f.beans.length === 0) errors.push(`pattern ${f.pattern} matches no bean${f.label === 'custom' ? '' : ` (collect: ${f.label} was asked for)`}`);
      }
      for (const a of g.attributeErrors.slice(0, 10)) facts.push(`note: ${a}`);
      if (g.attributeErrors.length > 10) facts.push(`note: ${g.attributeErrors.length - 10} more attributes could not be read`);
      return { source, ok: errors.length === 0, facts, errors };
    } catch (e) {
      errors.push((e as Error).message);
      return { source, ok: false, facts, errors };
    } finally {
      await b.stop();
    }
  }
}

/** --check lines: per collector, the beans found and the metrics that have rules. */
function checkFacts(g: Gathered, target: JmxTarget, rulesFor: (metric: string) => string[]): string[] {
  const facts: string[] = [];
  const byLabel = new Map<string, typeof g.found>();
  for (const f of g.found) byLabel.set(f.label, [...(byLabel.get(f.label) ?? []), f]);
  for (const [label, found] of byLabel) {
    if (label === 'broker') {
      // Many single-bean patterns: say how many were found and which are missing.
      const fixed = found.filter((f) => !f.pattern.includes('*'));
      const present = fixed.filter((f) => f.beans.length > 0).length;
      const missing = fixed.filter((f) => f.beans.length === 0).map((f) => f.pattern);
      const requests = found.find((f) => f.pattern === REQUEST_LATENCY_PATTERN)?.beans.map((b) => b.props.request).filter((r) => (WATCHED_REQUESTS as readonly string[]).includes(r ?? '')) ?? [];
      const ids = found.find((f) => f.pattern === BROKER_ID_PATTERN)?.beans.length ?? 0;
      if (present === 0 && ids === 0 && !target.explicit) facts.push('broker: no broker beans (not a broker)');
      else facts.push(`broker: ${present} of ${fixed.length} broker beans found${missing.length && present ? ` (missing: ${missing.join(', ')})` : ''}; request latency for ${requests.length ? requests.join(', ') : 'no request type'}`);
      continue;
    }
    const parts = found.map((f) => {
      const ids = f.beans.map((b) => b.props['client-id'] ?? b.props.name ?? b.props.id).filter(Boolean);
      return `${f.beans.length} ${f.beans.length === 1 ? 'bean matches' : 'beans match'} ${f.pattern}${ids.length ? ` (${ids.slice(0, 8).join(', ')}${ids.length > 8 ? ', ...' : ''})` : ''}`;
    });
    facts.push(`${label}: ${parts.join('; ')}`);
  }
  if (target.collect.has('broker')) {
    const brokerReadings = g.readings.filter((r) => r.scope.kind === 'broker').length;
    if (g.brokerId !== undefined) facts.push(`broker id ${g.brokerId} (from ${g.brokerIdFrom})`);
    else if (brokerReadings > 0) facts.push(`broker beans found but no ${BROKER_ID_PATTERN} bean and no brokerId: broker metrics are not sent`);
  }
  const metrics = new Map<string, number>();
  for (const r of g.readings) metrics.set(r.metric, (metrics.get(r.metric) ?? 0) + 1);
  const mapped = [...metrics.keys()].filter((m) => rulesFor(m).length > 0);
  const unmapped = [...metrics.keys()].filter((m) => rulesFor(m).length === 0);
  facts.push(`${g.values} values read; ${mapped.length} metrics mapped to rules: ${mapped.sort().join(', ') || 'none'}`);
  if (unmapped.length) facts.push(`metrics with no rule (ignored): ${unmapped.sort().join(', ')}`);
  if (!g.readings.some((r) => r.scope.kind === 'client' || r.scope.kind === 'broker') && !target.explicit) {
    facts.push('no Kafka client or broker beans (yet): clients register theirs when they are created');
  }
  return facts;
}
