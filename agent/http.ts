// The agent's HTTP side: POST /v1/signals (intake), GET /metrics, /healthz, /readyz, /v1/status.
// The probe server is the same minus intake and status: it may listen beyond the pod (kubelet
// probes and Prometheus come from outside), where the intake must not.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { SignalJsonError } from '../proto/index.js';
import { IntakeFullError, parseSignalBody, type Intake } from './intake.js';
import type { Readiness } from './readiness.js';
import { INTAKE_DEFAULTS } from './config.js';
import { IntakeGuard } from './intake-guard.js';
import { JsonTooDeepError, TooManySignalsError } from './json-reader.js';

/** `guard` bounds the intake (body size, JSON depth, requests in flight, deadlines, connections) and counts its refusals. */
export function agentHttpServer(intake: Intake, registry: Registry, status: () => Record<string, unknown>, ready: () => Readiness, guard = new IntakeGuard(INTAKE_DEFAULTS)): Server {
  const server = createServer(guard.httpServerOptions(), (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (code: number, body: unknown): void => {
      const text = typeof body === 'string' ? body : JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
      res.writeHead(code, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json' });
      res.end(typeof body === 'string' ? text : `${text}\n`);
    };
    if (req.method === 'POST' && url.pathname === '/v1/signals') {
      guard.receiveHttpBody(req, res, (body) => {
        let signals;
        try {
          signals = parseSignalBody(body, req.headers['content-type'] ?? '', guard.bounds);
        } catch (e) {
          if (e instanceof JsonTooDeepError) guard.refuse('http', 'too_deep', e.message, req.socket.remoteAddress);
          if (e instanceof TooManySignalsError) guard.refuse('http', 'too_many_signals', e.message, req.socket.remoteAddress);
          return send(e instanceof TooManySignalsError ? 413 : 400, { error: e instanceof SignalJsonError ? e.message : String(e) });
        }
        intake.emit(signals, 'http').then(
          (reply) => send(reply.accepted === 0 && reply.rejections.length > 0 ? 400 : 200, reply),
          (e: Error) => {
            if (!(e instanceof IntakeFullError)) return send(500, { error: e.message });
            // Full outbox (block policy): 503 while the aggregator is unreachable, 429 while it is just slower than the service.
            const connected = status().connected === true;
            res.setHeader('retry-after', connected ? '1' : '5');
            send(connected ? 429 : 503, { error: connected ? e.message : `the aggregator is unreachable and ${e.message}`, accepted: e.accepted, refused: e.total - e.accepted });
          },
        );
      });
      return;
    }
    if (req.method !== 'GET') return send(405, 'use POST /v1/signals, or GET /metrics, /healthz, /readyz, /v1/status\n');
    if (url.pathname === '/v1/status') return send(200, status());
    if (!probe(url.pathname, res, registry, ready)) send(404, 'not found: try POST /v1/signals, GET /metrics, /healthz, /readyz, /v1/status\n');
  });
  guard.watchHttp(server);
  return server;
}

/** GET /healthz, /readyz and /metrics only: what kubelet and Prometheus reach from outside the pod. */
export function agentProbeServer(registry: Registry, ready: () => Readiness): Server {
  return createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method === 'GET' && probe(path, res, registry, ready)) return;
    res.writeHead(req.method === 'GET' ? 404 : 405, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('this port serves GET /healthz, /readyz and /metrics only\n');
  });
}

/** Answers the probes and /metrics; false when the path is none of them. */
function probe(path: string, res: ServerResponse, registry: Registry, ready: () => Readiness): boolean {
  switch (path) {
    case '/metrics':
      registry.metrics().then((m) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(m);
      }, (e: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`${e.message}\n`);
      });
      return true;
    case '/healthz':
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('ok\n');
      return true;
    case '/readyz': {
      const r = ready();
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(r)}\n`);
      return true;
    }
    default:
      return false;
  }
}
