// The aggregator's HTTP side: Prometheus /metrics, /healthz (alive), /readyz (taking signals, or
// why not) and the JSON API under /api/ (api.ts). The same door as gRPC: with TLS configured it
// speaks HTTPS with the same certificate (and asks for client certificates under mutual TLS), and
// everything but the probes (and /metrics when --metrics-open) needs the same token or certificate.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
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

/** `notReady` says why signals are not taken (undefined when they are). */
export function aggregatorHttpServer(registry: Registry, api: ApiDeps, notReady: () => string | undefined, door: HttpDoor): Server {
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
        registry.metrics().then((m) => send(200, m, registry.contentType), (e: Error) => send(500, `${e.message}\n`));
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
