// The aggregator's HTTP side: Prometheus /metrics, /healthz (alive), /readyz (taking signals, or
// why not) and the JSON API under /api/ (api.ts). The same door as gRPC: with TLS configured it
// speaks HTTPS with the same certificate (and asks for client certificates under mutual TLS), and
// everything but the probes (and /metrics when --metrics-open) needs the same token or certificate.
// /metrics serves the aggregator's own series, then Kafka's and the cells' (exposition.ts).
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { gzip } from 'node:zlib';
import type { Registry } from 'prom-client';
import { handleApi, type ApiDeps } from './api.js';
import { identify, type AuthSettings } from './auth.js';
import { certificateNames } from './grpc-door.js';

export interface HttpDoor {
  auth: AuthSettings;
  /** /metrics answers without a token. */
  metricsOpen: boolean;
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
  refused(reason: string): void;
}

const PROBES = new Set(['/healthz', '/readyz']);
/** Moved to the API; said plainly rather than a bare 404. */
const MOVED: Record<string, string> = { '/v1/cell': '/api/cells/<path>?depth=&limit=&after=', '/v1/narratives': '/api/narratives/latest' };

/**
 * `notReady` says why signals are not taken (undefined when they are); `kafkaMetrics` renders the
 * Kafka and cell series that /metrics serves after the aggregator's own (exposition.ts).
 */
export function aggregatorHttpServer(
  registry: Registry,
  api: ApiDeps,
  notReady: () => string | undefined,
  door: HttpDoor,
  kafkaMetrics?: (own: string) => { body: Buffer; done(): void },
): Server {
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    const open = PROBES.has(url.pathname) || (door.metricsOpen && url.pathname === '/metrics');
    if (!open) {
      const socket = req.socket as Partial<TLSSocket>;
      const names = socket.authorized === true && socket.getPeerCertificate ? certificateNames(socket.getPeerCertificate()) : undefined;
      const who = identify(door.auth, names, req.headers.authorization);
      if ('failure' in who) {
        door.refused(`unauthenticated_${who.failure}`);
        res.setHeader('www-authenticate', 'Bearer realm="kafka-obs"');
        return send(401, `${who.message}\n`);
      }
    }
    if (handleApi(api, req, res, url)) return;
    if (req.method !== 'GET') return send(405, 'only GET is served here\n');
    switch (url.pathname) {
      case '/metrics':
        registry.metrics().then((m) => sendMetrics(req, res, kafkaMetrics ? kafkaMetrics(m) : { body: Buffer.from(m), done: () => {} }, registry.contentType), (e: Error) => send(500, `${e.message}\n`));
        return;
      case '/healthz':
        return send(200, 'ok\n');
      case '/readyz': {
        const why = notReady();
        return why === undefined ? send(200, 'ready\n') : send(503, `not ready: ${why}\n`);
      }
      default:
        if (MOVED[url.pathname]) return send(410, `${url.pathname} is gone: use ${MOVED[url.pathname]} (described in /api/openapi.json)\n`);
        return send(404, 'not found: try /api/openapi.json, /metrics, /healthz, /readyz\n');
    }
  };
  // Client certificates are asked for, not required: probes (kubelet) come without one.
  const server = door.tls
    ? createHttpsServer({ cert: door.tls.cert, key: door.tls.key, ca: door.tls.ca, requestCert: door.tls.ca !== undefined, rejectUnauthorized: false }, handler)
    : createHttpServer(handler);
  // Slow or idle clients do not keep sockets: headers within 10 s, a whole request within 30 s.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.maxConnections = 1_000;
  return server;
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
