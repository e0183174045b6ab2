// Bench worker: the ceiling. A bare grpc-js server with only StreamSignals, which decodes each
// SignalBatch, counts it and acks it — what a process on this machine can take in at best with
// grpc-js and the generated decoder, with no validation, hierarchy, event log or subscribers.
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { Ack, SignalBatch } from '../proto/index.js';
import { HOST, nowMs, serveIpc } from './common.js';

let server: Server | undefined;
let signals = 0;
let batches = 0;
let streams = 0;

const service = {
  streamSignals: {
    path: '/kafkaobs.v1.SignalAggregator/StreamSignals',
    requestStream: true,
    responseStream: true,
    requestDeserialize: (b: Buffer) => SignalBatch.decode(b),
    requestSerialize: (m: SignalBatch) => Buffer.from(SignalBatch.encode(m).finish()),
    responseDeserialize: (b: Buffer) => Ack.decode(b),
    responseSerialize: (a: Ack) => Buffer.from(Ack.encode(a).finish()),
  },
};

function streamSignals(call: ServerDuplexStream<SignalBatch, Ack>): void {
  streams++;
  call.on('data', (batch: SignalBatch) => {
    const n = batch.signals.length;
    signals += n;
    batches++;
    const last = batch.signals[n - 1];
    call.write({ sourceId: last?.sourceId ?? '', ackedSeq: last?.seq ?? 0n, rejections: [], accepted: n, duplicates: 0 });
  });
  call.on('end', () => call.end());
  call.on('error', () => {});
}

serveIpc({
  listen(): Promise<{ port: number }> {
    server = new Server({ 'grpc.max_receive_message_length': 8 * 1024 * 1024 });
    server.addService(service, { streamSignals });
    return new Promise((resolve, reject) => {
      server!.bindAsync(`${HOST}:0`, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve({ port })));
    });
  },
  snap() {
    return { t: nowMs(), signals, batches, streams };
  },
  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (!server) return resolve();
      const timer = setTimeout(() => {
        server!.forceShutdown();
        resolve();
      }, 3000);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  },
});
