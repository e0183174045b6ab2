// Is a broker answering? Metadata lists the brokers the controller believes alive, which lags a
// broker that has just died or is cut off from us. So each round the sensor asks every listed
// broker for its ApiVersions (the one request every broker answers before authentication, over
// the listener's TLS when it has it) on a fresh connection. A broker that accepts the connection
// but drops it, or does not answer within the timeout, is not answering.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { BrokerInfo } from './client.js';
import type { KafkaSettings } from './settings.js';

/** ApiVersions v0 with correlation id 1 and client id "kafka-obs-probe". */
function apiVersionsRequest(): Buffer {
  const clientId = Buffer.from('kafka-obs-probe');
  const b = Buffer.alloc(4 + 2 + 2 + 4 + 2 + clientId.length);
  let o = b.writeInt32BE(b.length - 4, 0);
  o = b.writeInt16BE(18, o);
  o = b.writeInt16BE(0, o);
  o = b.writeInt32BE(1, o);
  o = b.writeInt16BE(clientId.length, o);
  clientId.copy(b, o);
  return b;
}

export function probeBroker(b: BrokerInfo, settings: Pick<KafkaSettings, 'tls'>, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let socket: Socket;
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    const send = (): void => {
      socket.write(apiVersionsRequest());
    };
    const tls = settings.tls;
    socket = tls
      ? tlsConnect({ host: b.host, port: b.port, ca: tls.ca ? [tls.ca] : undefined, cert: tls.cert, key: tls.key, passphrase: tls.passphrase, servername: b.host, ...(tls.verifyHostname ? {} : { checkServerIdentity: () => undefined }) }, send)
      : netConnect({ host: b.host, port: b.port }, send);
    let got = 0;
    socket.on('data', (d: Buffer) => {
      got += d.length;
      // Size and correlation id back: the broker is serving requests.
      if (got >= 8) finish(true);
    });
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
  });
}
