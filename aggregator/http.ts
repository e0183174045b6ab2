// The aggregator's HTTP side: Prometheus /metrics, /healthz (alive), /readyz (taking signals,
// or why not), the JSON API under /api/ (api.ts), and GET /v1/cell and GET /v1/narratives.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gzip } from 'node:zlib';
import type { Registry } from 'prom-client';
import { Cell, ListNarrativesResponse } from '../proto/index.js';
import { handleApi, type ApiDeps } from './api.js';

/**
 * `notReady` says why signals are not taken (undefined when they are); `kafkaMetrics` renders the
 * Kafka and cell series that /metrics serves after the aggregator's own (exposition.ts).
 */
export function aggregatorHttpServer(registry: Registry, api: ApiDeps, notReady: () => string | undefined, kafkaMetrics?: (own: string) => { body: Buffer; done(): void }): Server {
  const { hierarchy, listNarratives } = api;
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (handleApi(api, req, res, url)) return;
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET') return send(405, 'only GET is served here\n');
    switch (url.pathname) {
      case '/metrics':
        registry.metrics().then((m) => sendMetrics(req, res, kafkaMetrics ? kafkaMetrics(m) : { body: Buffer.from(m), done: () => {} }, registry.contentType), (e: Error) => send(500, `${e.message}\n`));
        return;
      case '/healthz':
        return send(200, 'ok\n');
      case '/readyz':
      {
        const why = notReady();
        return why === undefined ? send(200, 'ready\n') : send(503, `not ready: ${why}\n`);
      }
      case '/v1/cell': {
        const path = url.searchParams.get('path') ?? '';
        const depth = Number(url.searchParams.get('depth') ?? '1');
        if (!Number.isInteger(depth) || depth < 0) return send(400, 'depth must be a non-negative integer\n');
        const cell = hierarchy.get(path, depth);
        if (!cell) return send(404, `no cell at path "${path}"\n`);
        return send(200, JSON.stringify(Cell.toJSON(cell)), 'application/json');
      }
      case '/v1/narratives': {
        const limit = Number(url.searchParams.get('limit') ?? '0');
        if (!Number.isInteger(limit) || limit < 0) return send(400, 'limit must be a non-negative integer\n');
        const includeResolved = ['1', 'true', 'yes'].includes(url.searchParams.get('resolved') ?? '');
        const list = listNarratives({ includeResolved, limit, subjectPrefix: url.searchParams.get('prefix') ?? '' });
        return send(200, JSON.stringify(ListNarrativesResponse.toJSON(list)), 'application/json');
      }
      default:
        return send(404, 'not found: try /api/openapi.json, /metrics, /healthz, /readyz, /v1/cell?path=&depth=, /v1/narratives?resolved=1&prefix=&limit=\n');
    }
  });
}

/** A scrape, gzipped when the scraper accepts it (Prometheus does): on the thread pool, so ingest goes on meanwhile. */
function sendMetrics(req: IncomingMessage, res: ServerResponse, scrape: { body: Buffer; done(): void }, contentType: string): void {
  if (!/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
    res.on('close', scrape.done);
    res.writeHead(200, { 'content-type': contentType, 'content-length': scrape.body.length });
    res.end(scrape.body);
    return;
  }
  gzip(scrape.body, { level: 1 }, (e, body) => {
    scrape.done();
    if (e) {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${e.message}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': contentType, 'content-encoding': 'gzip', vary: 'accept-encoding' });
    res.end(body);
  });
}
