// Where and how the agent (or any client, such as `kafka-obs tail`) reaches the aggregator:
// grpc://host:port is plaintext, grpcs://host:port is TLS (mutual when a client cert is given).
import { readFileSync } from 'node:fs';
import { ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { Metadata, type CallOptions, type ClientMiddleware } from 'nice-grpc';

export interface ClientTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  serverName?: string;
}

export interface Target {
  address: string;
  tls: boolean;
}

export class TargetError extends Error {}

export function parseTarget(url: string): Target {
  const m = /^(?:(grpcs?|https?):\/\/)?([^/\s]+?)\/?$/.exec(url.trim());
  if (!m) throw new TargetError(`cannot read aggregator URL "${url}": expected grpc://host:port or grpcs://host:port`);
  const scheme = m[1] ?? 'grpc';
  const hostPort = m[2]!;
  const tls = scheme === 'grpcs' || scheme === 'https';
  const hasPort = /:\d+$/.test(hostPort) && !/^\[[^\]]*\]$/.test(hostPort);
  return { address: hasPort ? hostPort : `${hostPort}:${tls ? 443 : 50051}`, tls };
}

export function channelCredentials(target: Target, tls: ClientTls): ChannelCredentials {
  if (!target.tls) {
    if (tls.caFile || tls.certFile) throw new TargetError('TLS files were given but the URL is plaintext: use grpcs://');
    return ChannelCredentials.createInsecure();
  }
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) throw new TargetError('a client certificate needs both --tls-cert and --tls-key');
  return ChannelCredentials.createSsl(
    tls.caFile ? readFileSync(tls.caFile) : null,
    tls.keyFile ? readFileSync(tls.keyFile) : null,
    tls.certFile ? readFileSync(tls.certFile) : null,
  );
}

export function channelOptions(tls: ClientTls): ChannelOptions {
  return {
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
    // A larger HTTP/2 receive window: a subscriber of a busy aggregator otherwise gets one
    // 64 KiB window per round trip, and each round trip waits for the aggregator's event loop.
    'grpc-node.flow_control_window': 8 * 1024 * 1024,
    ...(tls.serverName ? { 'grpc.ssl_target_name_override': tls.serverName } : {}),
  };
}

/** Adds "authorization: Bearer <token>" to every call. */
export function bearerToken(token: string): ClientMiddleware {
  return async function* (call, options: CallOptions) {
    const metadata = Metadata(options.metadata).set('authorization', `Bearer ${token}`);
    return yield* call.next(call.request, { ...options, metadata });
  };
}
