// nice-grpc definitions that encode messages as they are. nice-grpc's own conversion of ts-proto
// definitions runs every outgoing message through fromPartial (a deep copy) before encoding;
// on the signal path that copy costs as much as the encoding itself.
import type { MethodDefinition, TsProtoServiceDefinition } from 'nice-grpc';

type MessageOf<T> = T extends { decode(input: Uint8Array): infer M } ? M : never;

export type DirectDefinition<D extends TsProtoServiceDefinition> = {
  [K in keyof D['methods']]: MethodDefinition<
    MessageOf<D['methods'][K]['requestType']>,
    MessageOf<D['methods'][K]['requestType']>,
    MessageOf<D['methods'][K]['responseType']>,
    MessageOf<D['methods'][K]['responseType']>,
    D['methods'][K]['requestStream'],
    D['methods'][K]['responseStream']
  >;
};

/** Request decoders to use instead of the generated ones (e.g. one that reports malformed frames as data). */
export type DecoderOverrides<D extends TsProtoServiceDefinition> = {
  [K in keyof D['methods']]?: (bytes: Uint8Array) => MessageOf<D['methods'][K]['requestType']>;
};

export function directDefinition<D extends TsProtoServiceDefinition>(def: D, decoders: DecoderOverrides<D> = {}): DirectDefinition<D> {
  const out: Record<string, MethodDefinition<unknown, unknown, unknown, unknown>> = {};
  for (const [key, m] of Object.entries(def.methods)) {
    const req = m.requestType;
    const res = m.responseType;
    const decode = (decoders as Record<string, ((b: Uint8Array) => unknown) | undefined>)[key];
    out[key] = {
      path: `/${def.fullName}/${m.name}`,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      requestSerialize: (v) => req.encode(v).finish(),
      requestDeserialize: decode ?? ((b) => req.decode(b)),
      responseSerialize: (v) => res.encode(v).finish(),
      responseDeserialize: (b) => res.decode(b),
      options: m.options,
    };
  }
  return out as DirectDefinition<D>;
}
