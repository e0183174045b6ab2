// A Prometheus text source: scrapes an exporter's page (the JMX exporter java agent, as on
// Strimzi), maps its names to the catalogue and feeds the same translators as JMX — a sidecar
// then needs no JVM of its own.
import type { CheckResult } from '../sensor.js';
import type { RuleSet } from '../translate/index.js';
import type { CollectorName, PrometheusTarget } from '../sources/config.js';
import { PollingSensor, type PollOutcome } from '../sources/polling.js';
import { parsePrometheusText, type ParsedPage } from './parse.js';
import { mapSamples, type MappedPage } from './mapping.js';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** Largest page read: a broker with thousands of partitions exports a few MB; more is a mistake. */
const MAX_PAGE_BYTES = 64 * 1024 * 1024;

/** GET with a deadline for the whole answer (node:http: fetch refuses some ports, e.g. 6000). */
function getText(url: string, timeoutMs: number, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, { headers }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_PAGE_BYTES) req.destroy(Object.assign(new Error(`the page is larger than ${MAX_PAGE_BYTES / 1024 / 1024} MiB`), { code: 'ETOOBIG' }));
        else chunks.push(c);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', (e) => reject(e));
    });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end();
  });
}

type Scrape = { ok: true; page: ParsedPage; bytes: number; tookMs: number } | { ok: false; reason: string; message: string };

export class PrometheusSensor extends PollingSensor {
  private counters?: Map<string, number>;
  private countersAt = 0;

  constructor(readonly target: PrometheusTarget, rules: RuleSet) {
    super(target.name, { intervalMs: target.intervalMs, rules, description: target.url, answerWithinMs: target.timeoutMs });
  }

  private async scrape(): Promise<Scrape> {
    const t0 = performance.now();
    let res: { status: number; body: string };
    try {
      res = await getText(this.target.url, this.target.timeoutMs, {
        accept: 'text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5,*/*;q=0.1',
        ...(this.target.bearerToken ? { authorization: `Bearer ${this.target.bearerToken}` } : {}),
      });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ETIMEDOUT') return { ok: false, reason: 'timeout', message: `${this.target.url} did not answer within ${this.target.timeoutMs} ms` };
      if (err.code === 'ETOOBIG') return { ok: false, reason: 'bad-response', message: `${this.target.url}: ${err.message}` };
      return { ok: false, reason: 'unreachable', message: `cannot fetch ${this.target.url}: ${err.code ?? err.message} (is the exporter running, and is this its port?)` };
    }
    const body = res.body;
    if (res.status === 401 || res.status === 403) return { ok: false, reason: 'auth', message: `${this.target.url} answered HTTP ${res.status} (a bearer token is needed, or the one given is wrong)` };
    if (res.status !== 200) return { ok: false, reason: 'bad-response', message: `${this.target.url} answered HTTP ${res.status} (is this the exporter's metrics path?)` };
    const page = parsePrometheusText(body);
    if (page.samples.length === 0 && page.badLines > 0) return { ok: false, reason: 'bad-response', message: `${this.target.url} is not in the Prometheus text format: ${page.errors.slice(0, 3).join('; ')}` };
    return { ok: true, page, bytes: body.length, tookMs: performance.now() - t0 };
  }

  private map(page: ParsedPage, now: number): MappedPage {
    const mapped = mapSamples(page.samples, this.target.collect, this.counters, now - this.countersAt);
    this.counters = mapped.counters;
    this.countersAt = now;
    if (this.target.brokerId !== undefined) {
      mapped.brokerId = this.target.brokerId;
      mapped.brokerIdFrom = 'configuration (brokerId)';
    } else if (mapped.brokerId === undefined && mapped.found.broker.length > 0) {
      mapped.brokerId = new URL(this.target.url).hostname.split('.')[0]!;
      mapped.brokerIdFrom = 'the endpoint\'s host name (set brokerId to name it)';
    }
    return mapped;
  }

  private problems(mapped: MappedPage, page: ParsedPage): string[] {
    const problems: string[] = [];
    if (this.target.explicit) {
      for (const c of this.target.collect) if (mapped.found[c].length === 0) problems.push(`no ${c} metrics on ${this.target.url} (collect: ${c} was asked for)`);
    } else if (mapped.readings.length === 0 && page.samples.length > 0) {
      problems.push(`no Kafka or JVM metrics on ${this.target.url} among ${page.samples.length} samples (is it the JMX exporter's endpoint?)`);
    }
    if (page.badLines > 0) problems.push(`${page.badLines} unparsable line(s), e.g. ${page.errors[0]}`);
    return problems;
  }

  protected async poll(): Promise<PollOutcome> {
    const s = await this.scrape();
    if (!s.ok) return s;
    const mapped = this.map(s.page, Date.now());
    return { ok: true, readings: mapped.readings, brokerId: mapped.brokerId, problems: this.problems(mapped, s.page), values: s.page.samples.length };
  }

  async check(): Promise<CheckResult> {
    const source = `${this.name} (${this.target.url})`;
    const s = await this.scrape();
    if (!s.ok) return { source, ok: false, facts: [], errors: [s.message] };
    const mapped = this.map(s.page, Date.now());
    const facts = [`fetched ${s.page.samples.length} samples (${Math.round(s.bytes / 1024)} KiB) in ${Math.round(s.tookMs)} ms`];
    for (const c of ['producer', 'consumer', 'jvm', 'broker'] as CollectorName[]) {
      if (!this.target.collect.has(c)) continue;
      const f = [...new Set(mapped.found[c])];
      facts.push(`${c}: ${f.length ? f.slice(0, 10).join(', ') + (f.length > 10 ? ', ...' : '') : 'nothing'}`);
    }
    if (mapped.brokerId !== undefined) facts.push(`broker id ${mapped.brokerId} (from ${mapped.brokerIdFrom})`);
    const metrics = [...new Set(mapped.readings.map((r) => r.metric))];
    const mappedMetrics = metrics.filter((m) => this.translator.rulesFor(m).length > 0).sort();
    facts.push(`${mappedMetrics.length} metrics mapped to rules: ${mappedMetrics.join(', ') || 'none'}`);
    if (mapped.found.broker.some((b) => b.endsWith('-per-sec'))) facts.push('broker rates need two scrapes: they are sent from the second poll on');
    return { source, ok: this.problems(mapped, s.page).length === 0, facts, errors: this.problems(mapped, s.page) };
  }
}
