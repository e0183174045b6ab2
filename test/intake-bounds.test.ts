// The agent's intake is bounded (issue 14): each expensive input measured on the old intake is
// refused early, precisely and counted, against the real `kafka-obs agent` process.
//   before: a 100 MB POST was read to its end before the 413; a 4 MiB "[[[[..." body blocked the
//   agent for 0.9-2.8 s at 350-400 MB RSS; 2,000 slowloris sockets were all still open after 75 s.
// No fixed sleeps: every wait is for an event (a response, a 'close', a metric reaching a value).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { Client as GrpcClient, credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { ClientError, Status, createChannel, createClientFactory } from 'nice-grpc';
import { LocalAgentDefinition, Queue_Sign, directDefinition, type Signal } from '../proto/index.js';
import { agent, closedPort, until, type AgentProc } from './support/procs.js';

const test = suite('intake bounds');
const LIMIT = 4 * 1024 * 1024; // the default --intake-max-body-bytes
const IN_FLIGHT = 8;
const HEADERS_MS = 1000;
const REQUEST_MS = 2000;
const MAX_CONNECTIONS = 40;

/** Defaults, except a small in-flight cap. */
let main: AgentProc;
/** Short deadlines and a small connection cap (slowloris, slow bodies). */
let tight: AgentProc;

const okSignal = { subject: 'service/orders/pod/orders-1/producer/p1', queue: { sign: 'PRESSURE', units: 85 } };

async function metricsText(a: AgentProc): Promise<string> {
  return (await fetch(`http://127.0.0.1:${a.httpPort}/metrics`)).text();
}
async function refusals(a: AgentProc, channel: 'http' | 'grpc', reason: string): Promise<number> {
  const m = new RegExp(`^kafkaobs_agent_intake_refusals_total\\{channel="${channel}",reason="${reason}"\\} (\\d+)$`, 'm').exec(await metricsText(a));
  assert.ok(m, `kafkaobs_agent_intake_refusals_total{channel="${channel}",reason="${reason}"} is exported`);
  return Number(m![1]);
}
async function gauge(a: AgentProc, name: string): Promise<number> {
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(await metricsText(a))?.[1] ?? NaN);
}
/** The agent process's resident set now and its peak so far, in MiB (Linux /proc). */
function rss(a: AgentProc): { now: number; peak: number } {
  const s = readFileSync(`/proc/${a.child.pid}/status`, 'utf8');
  return { now: Number(/VmRSS:\s+(\d+)/.exec(s)![1]) / 1024, peak: Number(/VmHWM:\s+(\d+)/.exec(s)![1]) / 1024 };
}

async function postSignal(a: AgentProc, body: unknown = okSignal): Promise<{ status: number; json: { accepted?: number; error?: string } }> {
  const r = await fetch(`http://127.0.0.1:${a.httpPort}/v1/signals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as { accepted?: number; error?: string } };
}

interface UploadResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** Bytes the client had handed to its socket when the response arrived. */
  writtenAtResponse: number;
  /** Resolves when the server has closed the connection, with the bytes the client had written by then. */
  closed: Promise<number>;
}

/** Uploads `total` bytes of spaces (declared by Content-Length, or chunked) as fast as the socket takes them. */
function upload(a: AgentProc, total: number, chunked: boolean): Promise<UploadResult> {
  return new Promise((resolve, reject) => {
    const headers = chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(total) };
    const req = request({ host: '127.0.0.1', port: a.httpPort, method: 'POST', path: '/v1/signals', headers: { 'content-type': 'application/json', ...headers } });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let written = 0;
    let answered = false;
    const pump = (): void => {
      while (!answered && written < total) {
        written += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!answered) req.end();
    };
    req.on('socket', (socket: Socket) => {
      const closed = new Promise<number>((r) => socket.once('close', () => r(written)));
      req.on('response', (res) => {
        answered = true;
        const writtenAtResponse = written;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, writtenAtResponse, closed }));
      });
    });
    // Writing into a connection the server closed fails (EPIPE/ECONNRESET): expected once answered.
    req.on('error', (e) => { if (!answered) reject(e); });
    pump();
  });
}

/** A raw socket; `closed` resolves with how long after connecting the server closed it, and what it said. */
function rawSocket(port: number): { socket: Socket; connected: Promise<number>; closed: Promise<{ afterMs: number; text: string; connectedAt: number | undefined }> } {
  const socket = connect(port, '127.0.0.1');
  let connectedAt: number | undefined;
  let text = '';
  const connected = new Promise<number>((r) => socket.once('connect', () => r((connectedAt = performance.now()))));
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (text += d));
  socket.on('error', () => {});
  const closed = new Promise<{ afterMs: number; text: string; connectedAt: number | undefined }>((r) =>
    socket.once('close', () => r({ afterMs: connectedAt === undefined ? 0 : performance.now() - connectedAt, text, connectedAt })),
  );
  return { socket, connected, closed };
}

test.before(async () => {
  const nowhere = `grpc://127.0.0.1:${await closedPort()}`; // no aggregator: the intake answers on its own
  [main, tight] = await Promise.all([
    agent('intake-main', nowhere, ['--intake-max-in-flight', String(IN_FLIGHT)]),
    agent('intake-tight', nowhere, [
      '--intake-headers-timeout-ms', String(HEADERS_MS), '--intake-request-timeout-ms', String(REQUEST_MS),
      '--intake-max-connections', String(MAX_CONNECTIONS), '--intake-max-header-bytes', '8KiB',
    ]),
  ]);
});

test.after(async () => {
  await Promise.all([main?.kill(), tight?.kill()]);
});

test('a 4 MiB deeply nested body: 400 at the first level past 32, in milliseconds, RSS stays low', async () => {
  const depth = LIMIT / 2;
  const body = '['.repeat(depth) + ']'.repeat(depth);
  assert.is(Buffer.byteLength(body), LIMIT, 'as large as the intake takes: refused for its depth, not its size');
  const before = rss(main);
  const t0 = performance.now();
  const r = await fetch(`http://127.0.0.1:${main.httpPort}/v1/signals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const json = (await r.json()) as { error: string };
  const ms = performance.now() - t0;
  const after = rss(main);
  assert.is(r.status, 400);
  assert.is(json.error, 'JSON nested deeper than 32 levels at byte 32 (a signal is about 4 deep; the limit is --intake-max-depth)');
  assert.ok(ms < 1000, `refused in ${ms.toFixed(0)} ms (was 900-2800 ms of blocked event loop)`);
  assert.ok(after.peak - before.peak < 64, `peak RSS grew by ${(after.peak - before.peak).toFixed(0)} MiB (was +200-250 MiB)`);
  process.stderr.write(`  nested 4 MiB body refused in ${ms.toFixed(0)} ms; agent RSS ${before.now.toFixed(0)} -> peak ${after.peak.toFixed(0)} MiB\n`);

  // NDJSON: any line too deep refuses the body, with the byte of the body where it went too deep.
  const nd = await fetch(`http://127.0.0.1:${main.httpPort}/v1/signals`, {
    method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: `${JSON.stringify(okSignal)}\n${'{"a":'.repeat(40)}1${'}'.repeat(40)}\n`,
  });
  const ndLine = JSON.stringify(okSignal).length + 1;
  assert.is(nd.status, 400);
  assert.match(((await nd.json()) as { error: string }).error, `JSON nested deeper than 32 levels at byte ${ndLine + 5 * 32}`);
  // Brackets inside strings are data, not depth.
  const inString = await postSignal(main, { ...okSignal, context: { note: '[[[[{{{{'.repeat(10) } });
  assert.is(inString.status, 200);
  assert.is(inString.json.accepted, 1);
  assert.is(await refusals(main, 'http', 'too_deep'), 2);
});

test('a body of a million tiny values: 413 before parsing (was 4.2 s and 1 GB RSS); gRPC alike', async () => {
  const n = Math.floor((LIMIT - 2) / 3);
  const body = `[${Array(n).fill('{}').join(',')}]`;
  const before = rss(main);
  const t0 = performance.now();
  const r = await fetch(`http://127.0.0.1:${main.httpPort}/v1/signals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const json = (await r.json()) as { error: string };
  const ms = performance.now() - t0;
  assert.is(r.status, 413);
  assert.is(json.error, 'more than 10000 signals in one request (the limit is --intake-max-signals); send smaller batches');
  assert.ok(ms < 1000, `refused in ${ms.toFixed(0)} ms`);
  assert.ok(rss(main).peak - before.peak < 64, 'RSS stays low');
  assert.is(await refusals(main, 'http', 'too_many_signals'), 1);
  // NDJSON: lines are counted.
  const nd = await fetch(`http://127.0.0.1:${main.httpPort}/v1/signals`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: '{}\n'.repeat(10_001) });
  assert.is(nd.status, 413);
  assert.is(await refusals(main, 'http', 'too_many_signals'), 2);
  // gRPC: 1.5 million empty signals (3 MiB, under the byte limit) are counted, not decoded.
  const raw = new GrpcClient(`127.0.0.1:${main.grpcPort}`, credentials.createInsecure());
  const err = await new Promise<ServiceError | null>((resolve) => {
    raw.makeUnaryRequest('/kafkaobs.v1.LocalAgent/Emit', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(3_000_000, Buffer.from([0x0a, 0x00])), (e) => resolve(e));
  });
  raw.close();
  assert.is(err?.code, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.is(err!.details, 'more than 10000 signals in one call (the limit is --intake-max-signals); send smaller batches');
  assert.is(await refusals(main, 'grpc', 'too_many_signals'), 1);
  // Exactly at the limit is taken.
  const atLimit = await fetch(`http://127.0.0.1:${main.httpPort}/v1/signals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ signals: Array(10_000).fill(okSignal) }) });
  assert.is(atLimit.status, 200);
  assert.is(((await atLimit.json()) as { accepted: number }).accepted, 10_000);
});

test('a 100 MB POST declared by Content-Length: 413 before the client has sent a fifth of it, connection closed', async () => {
  const total = 100 * 1024 * 1024;
  const t0 = performance.now();
  const r = await upload(main, total, false);
  const ms = performance.now() - t0;
  assert.is(r.status, 413);
  assert.is(r.headers.connection, 'close');
  assert.equal(JSON.parse(r.body), { error: `body of ${total} bytes (Content-Length) is more than the intake's limit of ${LIMIT} bytes (4 MiB, --intake-max-body-bytes); send smaller requests` });
  assert.ok(r.writtenAtResponse < total / 5, `the answer came while the upload was going: ${(r.writtenAtResponse / 2 ** 20).toFixed(1)} MiB of 100 written`);
  const writtenAtClose = await r.closed;
  assert.ok(writtenAtClose < total / 5, `the rest was not read: ${(writtenAtClose / 2 ** 20).toFixed(1)} MiB of 100 written when the connection closed`);
  process.stderr.write(`  100 MB declared: 413 after ${ms.toFixed(0)} ms, ${(r.writtenAtResponse / 2 ** 20).toFixed(1)} MiB written by then, ${(writtenAtClose / 2 ** 20).toFixed(1)} MiB when closed\n`);
  assert.is(await refusals(main, 'http', 'body_too_large'), 1);
});

test('a chunked body past the limit is cut at the limit: 413, connection closed', async () => {
  const total = 100 * 1024 * 1024;
  const r = await upload(main, total, true);
  assert.is(r.status, 413);
  assert.is(r.headers.connection, 'close');
  const m = /^body is more than the intake's limit of 4194304 bytes \(4 MiB, --intake-max-body-bytes\): cut after (\d+) bytes; send smaller requests$/.exec(JSON.parse(r.body).error);
  assert.ok(m, r.body);
  assert.ok(Number(m![1]) > LIMIT && Number(m![1]) <= LIMIT + 1024 * 1024, `cut just past the limit (${m![1]} bytes read)`);
  assert.ok(r.writtenAtResponse < total / 5, `${(r.writtenAtResponse / 2 ** 20).toFixed(1)} MiB of 100 written when the answer came`);
  assert.ok((await r.closed) < total / 5, 'the rest was not read');
  assert.is(await refusals(main, 'http', 'body_too_large'), 2);
  // A body at the limit is still read (and then judged as JSON).
  const atLimit = await fetch(`http://127.0.0.1:${main.httpPort}/v1/signals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ' '.repeat(LIMIT) });
  assert.is(atLimit.status, 400);
  assert.match(((await atLimit.json()) as { error: string }).error, /not valid JSON/);
});

test('more requests than --intake-max-in-flight: 503 with Retry-After for the excess (gRPC: RESOURCE_EXHAUSTED); then served again', async () => {
  // IN_FLIGHT requests held in flight: headers sent, body not finished.
  const held = Array.from({ length: IN_FLIGHT }, () => rawSocket(main.httpPort));
  for (const h of held) {
    await h.connected;
    h.socket.write(`POST /v1/signals HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${JSON.stringify(okSignal).length}\r\n\r\n{`);
  }
  await until(async () => (await gauge(main, 'kafkaobs_agent_intake_in_flight')) === IN_FLIGHT, `${IN_FLIGHT} requests in flight`);
  const excess = await Promise.all(Array.from({ length: 5 }, async () => {
    const r = await fetch(`http://127.0.0.1:${main.httpPort}/v1/signals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(okSignal) });
    return { status: r.status, retryAfter: r.headers.get('retry-after'), json: (await r.json()) as { error: string } };
  }));
  for (const r of excess) {
    assert.is(r.status, 503);
    assert.is(r.retryAfter, '1');
    assert.is(r.json.error, `the intake is handling ${IN_FLIGHT} requests already (--intake-max-in-flight); retry after a second`);
  }
  const channel = createChannel(`127.0.0.1:${main.grpcPort}`);
  const local = createClientFactory().create(directDefinition(LocalAgentDefinition), channel);
  const err = await local.emit({ signals: [localSignal()] }).then(() => undefined, (e: unknown) => e);
  assert.instance(err, ClientError);
  assert.is((err as ClientError).code, Status.RESOURCE_EXHAUSTED);
  assert.match((err as ClientError).details, `the intake is handling ${IN_FLIGHT} requests already`);
  assert.is(await refusals(main, 'http', 'too_many_requests'), 5);
  assert.is(await refusals(main, 'grpc', 'too_many_requests'), 1);

  // The held requests finish and are answered; the slots are free again.
  for (const h of held) h.socket.end(JSON.stringify(okSignal).slice(1));
  for (const h of held) assert.match((await h.closed).text, /^HTTP\/1\.1 200 OK/);
  await until(async () => (await gauge(main, 'kafkaobs_agent_intake_in_flight')) === 0, 'no request in flight');
  const ok = await postSignal(main);
  assert.is(ok.status, 200);
  assert.is(ok.json.accepted, 1);
  assert.is((await local.emit({ signals: [localSignal()] })).accepted, 1);
  channel.close();
});

test('gRPC: a message over the limit is refused from its length prefix, a malformed one INVALID_ARGUMENT; both counted', async () => {
  const channel = createChannel(`127.0.0.1:${main.grpcPort}`);
  const local = createClientFactory().create(directDefinition(LocalAgentDefinition), channel);
  const big = Array.from({ length: 5 }, () => localSignal({ context: { blob: 'x'.repeat(1024 * 1024) } }));
  const err = await local.emit({ signals: big }).then(() => undefined, (e: unknown) => e);
  assert.instance(err, ClientError);
  assert.is((err as ClientError).code, Status.RESOURCE_EXHAUSTED);
  assert.match((err as ClientError).details, /^SignalBatch of \d+ bytes is more than the intake's limit of 4194304 bytes \(4 MiB, --intake-max-body-bytes\); send smaller batches$/);
  assert.is(await refusals(main, 'grpc', 'body_too_large'), 1);

  const raw = new GrpcClient(`127.0.0.1:${main.grpcPort}`, credentials.createInsecure());
  const bad = await new Promise<ServiceError | null>((resolve) => {
    raw.makeUnaryRequest('/kafkaobs.v1.LocalAgent/Emit', (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), (e) => resolve(e));
  });
  raw.close();
  assert.is(bad?.code, GrpcStatus.INVALID_ARGUMENT);
  assert.match(bad!.details, /^malformed SignalBatch \(12 bytes\): /);
  assert.is(await refusals(main, 'grpc', 'malformed'), 1);
  assert.is((await local.emit({ signals: [localSignal()] })).accepted, 1, 'the next call is served');
  channel.close();
});

test('slowloris: sockets trickling partial headers are all closed at the headers timeout (408); over the connection cap, closed at once', async () => {
  const N = 30;
  const socks = Array.from({ length: N }, () => rawSocket(tight.httpPort));
  const timers: NodeJS.Timeout[] = [];
  for (const s of socks) {
    await s.connected;
    s.socket.write('POST /v1/signals HTTP/1.1\r\nHost: x\r\n');
    timers.push(setInterval(() => s.socket.writable && s.socket.write('X-Trickle: 1\r\n'), 200));
  }
  // More connections than the cap: the excess is closed at once, without an answer.
  const excess = Array.from({ length: MAX_CONNECTIONS - N + 5 }, () => rawSocket(tight.httpPort));
  const closed = await Promise.all(socks.map((s) => s.closed));
  const excessClosed = await Promise.all(excess.map((s) => s.closed));
  timers.forEach(clearInterval);
  for (const c of closed) {
    assert.ok(c.afterMs > HEADERS_MS * 0.8 && c.afterMs < HEADERS_MS + 8000, `closed ${c.afterMs.toFixed(0)} ms after connecting (headers timeout ${HEADERS_MS} ms)`);
    assert.match(c.text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(c.text, /Connection: close\r\n/);
    assert.ok(c.text.endsWith(`{"error":"the request's headers did not arrive within ${HEADERS_MS} ms (--intake-headers-timeout-ms)"}\n`), c.text);
  }
  const dropped = excessClosed.filter((c) => c.text === '' && c.afterMs < HEADERS_MS * 0.8).length;
  assert.ok(dropped >= 5, `${dropped} connections over the cap closed at once`);
  process.stderr.write(`  ${N} slowloris sockets closed ${Math.min(...closed.map((c) => c.afterMs)).toFixed(0)}-${Math.max(...closed.map((c) => c.afterMs)).toFixed(0)} ms after connecting; ${dropped} over the cap closed at once\n`);
  assert.ok((await refusals(tight, 'http', 'header_timeout')) >= N);
  assert.is(await refusals(tight, 'http', 'too_many_connections'), dropped);
});

test('a body that trickles: closed at the request timeout (408, body_timeout); gRPC: DEADLINE_EXCEEDED', async () => {
  const s = rawSocket(tight.httpPort);
  await s.connected;
  s.socket.write('POST /v1/signals HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[');
  const t = setInterval(() => s.socket.writable && s.socket.write(' '), 100);
  const c = await s.closed;
  clearInterval(t);
  assert.ok(c.afterMs > REQUEST_MS * 0.8 && c.afterMs < REQUEST_MS + 8000, `closed ${c.afterMs.toFixed(0)} ms after connecting`);
  assert.match(c.text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
  assert.ok(c.text.endsWith(`{"error":"the request's body did not arrive within ${REQUEST_MS} ms of its start (--intake-request-timeout-ms)"}\n`), c.text);
  assert.is(await refusals(tight, 'http', 'body_timeout'), 1);

  // gRPC: a call whose message never completes (5-byte prefix declares 100 bytes, 3 arrive).
  const session = http2Connect(`http://127.0.0.1:${tight.grpcPort}`);
  session.on('error', () => {});
  const stream = session.request({ ':method': 'POST', ':path': '/kafkaobs.v1.LocalAgent/Emit', 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => {});
  stream.write(Buffer.from([0, 0, 0, 0, 100, 0x0a, 0x01, 0x02]));
  const t0 = performance.now();
  const status = await new Promise<{ code: string; message: string }>((resolve) => {
    const pick = (h: Record<string, unknown>): void => {
      if (h['grpc-status'] !== undefined) resolve({ code: String(h['grpc-status']), message: decodeURIComponent(String(h['grpc-message'] ?? '')) });
    };
    stream.on('response', pick);
    stream.on('trailers', pick);
  });
  const ms = performance.now() - t0;
  session.close();
  assert.is(Number(status.code), GrpcStatus.DEADLINE_EXCEEDED);
  assert.is(status.message, `the call's message did not arrive within ${REQUEST_MS} ms (--intake-request-timeout-ms)`);
  assert.ok(ms > REQUEST_MS * 0.8, `after ${ms.toFixed(0)} ms`);
  assert.is(await refusals(tight, 'grpc', 'body_timeout'), 1);
});

test('headers too large (431) and a request that is not HTTP (400): answered, counted; a normal request still works', async () => {
  const big = rawSocket(tight.httpPort);
  await big.connected;
  big.socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(9000)}\r\n\r\n`);
  assert.match((await big.closed).text, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n[\s\S]*"error":"the request line and headers are larger than 8 KiB \(--intake-max-header-bytes\)"/);
  const junk = rawSocket(tight.httpPort);
  await junk.connected;
  junk.socket.write('HELLO THERE\r\n\r\n');
  assert.match((await junk.closed).text, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*not a valid HTTP\/1\.1 request \(HPE_/);
  assert.is(await refusals(tight, 'http', 'header_too_large'), 1);
  assert.is(await refusals(tight, 'http', 'bad_request'), 1);
  for (const a of [tight, main]) {
    const ok = await postSignal(a);
    assert.is(ok.status, 200);
    assert.is(ok.json.accepted, 1);
  }
  // Every reason of each channel is exported, at 0 until it happens.
  const m = await metricsText(main);
  for (const reason of ['body_too_large', 'too_deep', 'too_many_signals', 'too_many_requests', 'header_timeout', 'body_timeout', 'too_many_connections', 'header_too_large', 'bad_request']) {
    assert.match(m, `kafkaobs_agent_intake_refusals_total{channel="http",reason="${reason}"}`);
  }
  // Refusals are logged, at most once per reason per 10 s, without the request's content.
  const logged = main.lines.filter((l) => l.msg.startsWith('intake refused a request'));
  assert.ok(logged.length > 0 && logged.length <= 12, `${logged.length} refusal log lines`);
  assert.is(main.lines.filter((l) => l.msg.startsWith('intake refused a request') && l.channel === 'http' && l.reason === 'too_many_requests').length, 1, 'five 503s in a row: one log line');
  assert.not.match(JSON.stringify(main.lines), /X-Trickle|\[\[\[\[\[\[\[\[/);
});

let n = 0;
function localSignal(over: Partial<Signal> = {}): Signal {
  return {
    sourceId: '', seq: 0n, subject: `service/orders/pod/orders-1/producer/p${n++ % 3}`, timestamp: 0n,
    queue: { sign: Queue_Sign.PRESSURE, units: 85 }, context: {}, clock: {}, ...over,
  };
}

test.run();
