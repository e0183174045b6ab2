// The aggregator's HTTP side: Prometheus /metrics, /healthz (alive), /readyz (taking signals,
// or why not), the JSON API under /api/ (api.ts), and GET /v1/cell and GET /v1/narratives.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { Cell, ListNarrativesResponse } from '../proto/index.js';
import { handleApi, type ApiDeps } from './api.js';

/** `notReady` says why signals are not taken (undefined when they are). */
export function aggregatorHttpServer(registry: Registry, api: ApiDeps, notReady: () => string | undefined): Server {
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
        registry.metrics().then((m) => send(200, m, registry.contentType), (e: Error) => send(500, `${e.message}\n`));
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
