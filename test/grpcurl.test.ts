// Users call the aggregator with grpcurl; here `buf curl` stands in for it. Through server
// reflection it lists the services, describes kafkaobs.v1.Signal (map and oneof fields), calls
// GetCell, and streams Subscribe; and does the same through reflection v1alpha, the protocol
// grpcui, Postman and evans speak.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Status_Condition, Status_Confidence } from '../proto/index.js';
import { aggregator, ROOT, type AggregatorProc } from './support/procs.js';
import { aggregatorClient, signal, streamSignals } from './support/client.js';

const test = suite('grpcurl (buf curl) against the aggregator');
const BUF = join(ROOT, 'node_modules', '@bufbuild', 'buf', 'bin', 'buf');
let agg: AggregatorProc;
let base: string;

const bufCurl = async (...args: string[]): Promise<string> => {
  const { stdout } = await promisify(execFile)(process.execPath, [BUF, 'curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--timeout', '20s', ...args]);
  return stdout;
};

test.before(async () => {
  agg = await aggregator();
  base = `http://127.0.0.1:${agg.grpcPort}`;
  const { client, channel } = aggregatorClient(agg.url);
  await streamSignals(client, [[signal({ subject: 'cluster/prod/broker/1', queue: undefined, status: { condition: Status_Condition.DEGRADED, confidence: Status_Confidence.MEASURED }, context: { 'broker.id': '1' } })]]);
  channel.close();
});
test.after(async () => {
  await agg?.kill();
});

test('lists services and methods through reflection', async () => {
  const services = (await bufCurl('--list-services', base)).split('\n').filter(Boolean);
  for (const s of ['kafkaobs.v1.SignalAggregator', 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection']) assert.ok(services.includes(s), `${s} listed: ${services}`);
  const methods = await bufCurl('--list-methods', base);
  for (const m of ['kafkaobs.v1.SignalAggregator/StreamSignals', 'kafkaobs.v1.SignalAggregator/Subscribe', 'kafkaobs.v1.SignalAggregator/GetCell']) assert.ok(methods.includes(m), m);
});

test('describes kafkaobs.v1.Signal, map and imported types included', async () => {
  const out = await bufCurl('-d', '{"fileContainingSymbol":"kafkaobs.v1.Signal"}', `${base}/grpc.reflection.v1.ServerReflection/ServerReflectionInfo`);
  const reply = JSON.parse(out) as { fileDescriptorResponse: { fileDescriptorProto: string[] } };
  const files = reply.fileDescriptorResponse.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, Buffer.from(b, 'base64')));
  const file = files.find((f) => f.name === 'kafkaobs/v1/signal.proto')!;
  assert.ok(file, 'signal.proto served');
  const msg = file.messageType.find((m) => m.name === 'Signal')!;
  const fields = Object.fromEntries(msg.field.map((f) => [f.name, f]));
  for (const name of ['source_id', 'seq', 'subject', 'timestamp', 'status', 'queue', 'service', 'probe', 'resource', 'gauge', 'counter', 'context', 'clock']) assert.ok(fields[name], `field ${name}`);
  assert.is(msg.oneofDecl[0]!.name, 'sign');
  assert.is(fields.context!.typeName, '.kafkaobs.v1.Signal.ContextEntry', 'context is a map');
});

test('reflection v1alpha (grpcui, Postman, evans): lists, describes and calls through it alone', async () => {
  const alpha = ['--reflect-protocol', 'grpc-v1alpha'];
  const services = (await bufCurl(...alpha, '--list-services', base)).split('\n').filter(Boolean);
  for (const s of ['kafkaobs.v1.SignalAggregator', 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection']) assert.ok(services.includes(s), `${s} listed: ${services}`);
  const methods = await bufCurl(...alpha, '--list-methods', base);
  assert.ok(methods.includes('kafkaobs.v1.SignalAggregator/GetCell'), methods);
  assert.ok(methods.includes('grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo'), methods);
  // describe: the v1alpha service itself answers a file_containing_symbol request.
  const out = await bufCurl(...alpha, '-d', '{"fileContainingSymbol":"kafkaobs.v1.Signal"}', `${base}/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo`);
  const reply = JSON.parse(out) as { fileDescriptorResponse: { fileDescriptorProto: string[] } };
  const file = reply.fileDescriptorResponse.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, Buffer.from(b, 'base64'))).find((f) => f.name === 'kafkaobs/v1/signal.proto');
  assert.ok(file?.messageType.some((m) => m.name === 'Signal'), 'kafkaobs.v1.Signal described through v1alpha');
  const cell = JSON.parse(await bufCurl(...alpha, '-d', '{"path":"cluster/prod/broker/1","depth":1}', `${base}/kafkaobs.v1.SignalAggregator/GetCell`));
  assert.is(cell.condition, 'DEGRADED');
  const health = JSON.parse(await bufCurl(...alpha, `${base}/grpc.health.v1.Health/Check`));
  assert.is(health.status, 'SERVING');
});

test('calls GetCell', async () => {
  const cell = JSON.parse(await bufCurl('-d', '{"path":"cluster/prod","depth":0}', `${base}/kafkaobs.v1.SignalAggregator/GetCell`));
  assert.is(cell.condition, 'DEGRADED');
  assert.is(cell.children[0].name, 'broker');
  assert.is(cell.children[0].children[0].path, 'cluster/prod/broker/1');
  assert.is(cell.children[0].children[0].confidence, 'MEASURED');
});

test('streams Subscribe', async () => {
  const child = spawn(process.execPath, [BUF, 'curl', '--protocol', 'grpc', '--http2-prior-knowledge', '-d', '{"fromOffset":"0","kinds":["SIGNAL"]}', `${base}/kafkaobs.v1.SignalAggregator/Subscribe`]);
  // buf curl prints each streamed message as a pretty JSON document; gather until the first closes.
  let text = '';
  const first = await new Promise<Record<string, any>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no event from buf curl: ${text}`)), 20_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      text += `${line}\n`;
      if (line === '}') {
        clearTimeout(timer);
        resolve(JSON.parse(text));
      }
    });
  });
  child.kill();
  assert.is(first.signal.subject, 'cluster/prod/broker/1');
  assert.equal(first.signal.status, { condition: 'DEGRADED', confidence: 'MEASURED' });
  assert.is(first.signal.context['broker.id'], '1');
});

test.run();
