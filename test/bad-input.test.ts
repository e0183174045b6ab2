// Bad input gets a precise answer and a counter, never a crash: a malformed frame, oversize
// batches, an unknown enum value, an empty subject, a missing or wrong token, a truncated frame,
// garbage for a unary call, a declared length of 2^31-1, invalid UTF-8. Meanwhile the
// aggregator keeps serving a well-behaved stream.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client as GrpcClient, credentials, Metadata as GrpcMetadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { ClientError, Metadata, Status, createChannel, createClientFactory } from 'nice-grpc';
import { HealthDefinition, HealthCheckResponse_ServingStatus, Queue_Sign, SignalAggregatorDefinition, SignalBatch, directDefinition, type Ack, type Signal } from '../proto/index.js';
import { connect as h2Connect } from 'node:http2';
import { aggregator, postJson, agent, until, type AggregatorProc } from './support/procs.js';
import { aggregatorClient, signal } from './support/client.js';

const test = suite('bad input');
const TOKEN = 's3cret-token-for-tests';
let agg: AggregatorProc;
let addr: string;

const metrics = async () => (await fetch(`http://127.0.0.1:${agg.httpPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
const metric = async (name: string): Promise<number> => {
  const m = new RegExp(`^${name.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\d+)`, 'm').exec(await metrics());
  return m ? Number(m[1]) : 0;
};
const authed = () => ({ metadata: Metadata({ authorization: `Bearer ${TOKEN}` }) });

/** Writes raw bytes as StreamSignals frames and returns how the stream ended. */
function rawStream(frames: Buffer[], token = TOKEN): Promise<ServiceError | undefined> {
  const client = new GrpcClient(addr, credentials.createInsecure());
  const md = new GrpcMetadata();
  md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve) => {
    const call = client.makeBidiStreamRequest('/kafkaobs.v1.SignalAggregator/StreamSignals', (b: Buffer) => b, (b: Buffer) => b, md);
    call.on('data', () => {});
    call.on('error', (e: ServiceError) => { client.close(); resolve(e); });
    call.on('end', () => { client.close(); resolve(undefined); });
    for (const f of frames) call.write(f);
  });
}

/** A well-behaved stream that stays open through the whole suite. */
let good: { send(s: Signal): Promise<Ack>; close(): void };

test.before(async () => {
  agg = await aggregator(['--max-batch-signals', '100', '--max-batch-bytes', '65536'], { KAFKA_OBS_TOKEN: TOKEN });
  addr = `127.0.0.1:${agg.grpcPort}`;
  const channel = createChannel(addr);
  const client = createClientFactory().create(directDefinition(SignalAggregatorDefinition), channel);
  const queue: SignalBatch[] = [];
  let wake: (() => void) | undefined;
  const pending: ((a: Ack) => void)[] = [];
  async function* requests() {
    for (;;) {
      while (queue.length === 0) await new Promise<void>((r) => (wake = r));
      yield queue.shift()!;
    }
  }
  const abort = new AbortController();
  void (async () => {
    for await (const ack of client.streamSignals(requests(), { ...authed(), signal: abort.signal })) pending.shift()?.(ack);
  })().catch(() => {});
  good = {
    send: (s) => new Promise((resolve) => { pending.push(resolve); queue.push({ signals: [s] }); wake?.(); }),
    close: () => { abort.abort(); channel.close(); },
  };
  assert.is((await good.send(signal({ sourceId: 'good' }))).accepted, 1);
});

test.after(async () => {
  good?.close();
  await agg?.kill();
});

test('a malformed frame: INVALID_ARGUMENT naming the problem, counted', async () => {
  const err = await rawStream([Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])]);
  assert.is(err?.code, GrpcStatus.INVALID_ARGUMENT);
  assert.match(err!.details, /malformed SignalBatch frame/);
  assert.is(await metric('kafkaobs_signals_rejected_total{reason="malformed_frame"}'), 1);
  assert.is((await good.send(signal({ sourceId: 'good' }))).accepted, 1, 'the other stream is still served');
});

test('an oversize batch, by count and by bytes: RESOURCE_EXHAUSTED with the limit, counted', async () => {
  const { client, channel } = aggregatorClient(addr);
  const many = Array.from({ length: 101 }, () => signal({ sourceId: 'big' }));
  const err = await client.streamSignals((async function* () { yield { signals: many }; })(), authed())[Symbol.asyncIterator]().next().then(() => undefined, (e: unknown) => e);
  assert.instance(err, ClientError);
  assert.is((err as ClientError).code, Status.RESOURCE_EXHAUSTED);
  assert.match((err as ClientError).details, /101 signals, more than the limit of 100/);
  const bytes = SignalBatch.encode({ signals: [signal({ sourceId: 'big', context: { blob: 'x'.repeat(1000) } })] }).finish();
  const huge = Buffer.concat(Array.from({ length: 70 }, () => Buffer.from(bytes)));
  const err2 = await rawStream([huge]);
  assert.is(err2?.code, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.match(err2!.details, /exceeds the limit of 65536 bytes/);
  assert.is(await metric('kafkaobs_signals_rejected_total{reason="oversize_batch"}'), 102);
  channel.close();
  assert.is((await good.send(signal({ sourceId: 'good' }))).accepted, 1, 'the other stream is still served');
});

test('an unknown enum value and an empty subject: rejected one by one in the Ack, with the reason', async () => {
  const badEnum = signal({ sourceId: 'good', queue: { sign: 99 as Queue_Sign, units: 1 } });
  const ack1 = await good.send(badEnum);
  assert.is(ack1.accepted, 0);
  assert.is(ack1.rejections[0]!.seq, badEnum.seq);
  assert.match(ack1.rejections[0]!.reason, /queue\.sign has unknown value 99 \(expected one of ENQUEUE, DEQUEUE, OVERFLOW, UNDERFLOW, PRESSURE\)/);
  assert.is(ack1.ackedSeq, badEnum.seq, 'a rejected signal is handled: it is acknowledged and not resent');
  const ack2 = await good.send(signal({ sourceId: 'good', subject: '' }));
  assert.match(ack2.rejections[0]!.reason, /subject is empty/);
  assert.is(await metric('kafkaobs_signals_rejected_total{reason="invalid_signal"}'), 2);
  assert.is((await good.send(signal({ sourceId: 'good' }))).accepted, 1);
});

test('a missing or wrong bearer token: UNAUTHENTICATED, counted; health stays open', async () => {
  const { client, channel } = aggregatorClient(addr);
  for (const [metadata, reason] of [[undefined, 'missing'], [Metadata({ authorization: 'Bearer nope' }), 'wrong']] as const) {
    const err = await client.getCell({ path: '', depth: 1, limit: 0, after: '' }, metadata ? { metadata } : {}).then(() => undefined, (e: unknown) => e);
    assert.instance(err, ClientError);
    assert.is((err as ClientError).code, Status.UNAUTHENTICATED);
    assert.is(await metric(`kafkaobs_auth_failures_total{reason="${reason}"}`), 1);
  }
  const cell = await client.getCell({ path: '', depth: 1, limit: 0, after: '' }, authed());
  assert.ok(cell.signals > 0n);
  const health = createClientFactory().create(directDefinition(HealthDefinition), channel);
  assert.is((await health.check({ service: '' })).status, HealthCheckResponse_ServingStatus.SERVING);
  channel.close();
  assert.not.match(agg.lines.map((l) => JSON.stringify(l)).join('\n'), TOKEN, 'the token is never logged');
});

/** One gRPC call written by hand over HTTP/2 (a body grpc-js would never send); the status it ends with. */
function rawCall(path: string, body: Buffer): Promise<{ status: number; message: string }> {
  return new Promise((resolve, reject) => {
    const session = h2Connect(`http://${addr}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', authorization: `Bearer ${TOKEN}` });
    let headers: Record<string, unknown> = {};
    req.on('response', (h) => (headers = h));
    req.on('trailers', (t) => (headers = { ...headers, ...t }));
    req.on('data', () => {});
    req.on('error', reject);
    req.on('close', () => {
      session.close();
      resolve({ status: Number(headers['grpc-status']), message: decodeURIComponent(String(headers['grpc-message'] ?? '')) });
    });
    req.end(body);
  });
}
const frame = (payload: Buffer, declared = payload.length): Buffer => {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(declared, 1);
  return Buffer.concat([head, payload]);
};

test('a truncated frame (the stream ends inside a message): INVALID_ARGUMENT, not OK; counted', async () => {
  const whole = Buffer.from(SignalBatch.encode({ signals: [signal({ sourceId: 'cut' })] }).finish());
  const acceptedBefore = await metric('kafkaobs_signals_accepted_total');
  const r = await rawCall('/kafkaobs.v1.SignalAggregator/StreamSignals', frame(whole.subarray(0, 10), whole.length));
  assert.is(r.status, GrpcStatus.INVALID_ARGUMENT);
  assert.match(r.message, new RegExp(`truncated frame: the request stream ended inside a message \\(10 of ${whole.length} bytes\\); nothing of it was taken`));
  assert.is(await metric('kafkaobs_refusals_total{door="grpc",reason="truncated_frame"}'), 1);
  assert.is(await metric('kafkaobs_signals_accepted_total'), acceptedBefore, 'nothing of it taken');
});

test('garbage for GetCell: INVALID_ARGUMENT naming the method, counted (grpc-js says INTERNAL)', async () => {
  const r = await rawCall('/kafkaobs.v1.SignalAggregator/GetCell', frame(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])));
  assert.is(r.status, GrpcStatus.INVALID_ARGUMENT);
  assert.match(r.message, /^malformed GetCell request \(12 bytes\): /);
  assert.is(await metric('kafkaobs_refusals_total{door="grpc",reason="malformed_request"}'), 1);
  assert.is(await metric('kafkaobs_grpc_server_handled_total{grpc_service="kafkaobs.v1.SignalAggregator",grpc_method="GetCell",grpc_code="INVALID_ARGUMENT"}'), 1);
});

test('a declared length of 2^31-1: RESOURCE_EXHAUSTED before a byte of it is read, counted', async () => {
  const r = await rawCall('/kafkaobs.v1.SignalAggregator/StreamSignals', frame(Buffer.from([0x0a, 0x00]), 2 ** 31 - 1));
  assert.is(r.status, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.match(r.message, /larger than max \(2147483647 vs \d+\)/);
  await until(async () => (await metric('kafkaobs_refusals_total{door="grpc",reason="message_too_large"}')) === 1, 'the refusal counted');
  assert.is(await metric('kafkaobs_grpc_server_handled_total{grpc_service="kafkaobs.v1.SignalAggregator",grpc_method="StreamSignals",grpc_code="RESOURCE_EXHAUSTED"}'), 3, 'with the two oversize batches refused earlier');
  assert.is((await good.send(signal({ sourceId: 'good' }))).accepted, 1, 'the other stream is still served');
});

test('invalid UTF-8 in a subject: refused with the byte\'s offset, never replaced with U+FFFD', async () => {
  const encoded = Buffer.from(SignalBatch.encode({ signals: [signal({ sourceId: 'utf8', subject: 'service/orders/pod/AAAA/producer/p#sends', queue: undefined, counter: { sign: 1, value: 1 } })] }).finish());
  const at = encoded.indexOf('AAAA');
  encoded[at + 1] = 0xff; // "A\xffAA"
  const r = await rawCall('/kafkaobs.v1.SignalAggregator/StreamSignals', frame(encoded));
  assert.is(r.status, GrpcStatus.INVALID_ARGUMENT);
  assert.match(r.message, new RegExp(`SignalBatch holds a string that is not UTF-8: invalid byte at offset ${at + 1} of the ${encoded.length}-byte message`));
  assert.is(await metric('kafkaobs_signals_rejected_total{reason="invalid_utf8"}'), 1);
});

test('the agent refuses bad JSON with a clear error and keeps going', async () => {
  const a = await agent('json-check', `grpc://${addr}`, [], { AGGREGATOR_TOKEN: TOKEN });
  try {
    const url = `http://127.0.0.1:${a.httpPort}/v1/signals`;
    const r1 = await postJson(url, '{"subject": "x", "queue": {');
    assert.is(r1.status, 400);
    assert.match(r1.json.error, /not valid JSON/);
    const r2 = await postJson(url, { subject: 'service/x', queue: { sign: 'OVERFLOW', unit: 3 } });
    assert.match(r2.json.rejections[0].reason, /unknown field "queue\.unit" \(known: sign, units\)/);
    const r3 = await postJson(url, { subject: 'service/x', qeueu: { sign: 'OVERFLOW' } });
    assert.match(r3.json.rejections[0].reason, /unknown field "qeueu"/);
    const r4 = await postJson(url, { subject: 'service/x', queue: { sign: 'OVERFLOW', units: 3 } });
    assert.is(r4.json.accepted, 1);
    // The agent refuses what the aggregator would refuse, with the same words: a timestamp in
    // seconds, a subject outside the grammar (with the one meant).
    const seconds = Math.floor(Date.now() / 1000);
    const r5 = await postJson(url, { subject: 'service/x', timestamp: String(seconds), queue: { sign: 'OVERFLOW', units: 3 } });
    assert.is(r5.json.accepted, 0);
    assert.match(r5.json.rejections[0].reason, /is not unix nanoseconds \(before 2000-01-01\): it reads as seconds; multiply by 1e9, or send 0 and the agent stamps it/);
    const r6 = await postJson(url, { subject: 'service/x/pod/p/producer/p1/buffer', queue: { sign: 'OVERFLOW', units: 3 } });
    assert.match(r6.json.rejections[0].reason, /put the metric after "#" \(service\/x\/pod\/p\/producer\/p1#buffer\)/);
    const m = await (await fetch(`http://127.0.0.1:${a.httpPort}/metrics`)).text();
    assert.match(m, /kafkaobs_agent_signals_refused_total\{channel="http"\} 4/);
  } finally {
    assert.is(await a.kill(), 0);
  }
});

test.run();
