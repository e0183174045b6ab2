// grpc.health.v1.Health: SERVING while the aggregator takes signals, NOT_SERVING while it drains.
import { ServerError, Status } from 'nice-grpc';
import { HealthCheckResponse_ServingStatus as Serving, type HealthCheckRequest, type HealthCheckResponse, type HealthListResponse } from '../proto/index.js';

export function healthService(services: readonly string[], serving: () => boolean, stopped: AbortSignal) {
  const statusOf = (service: string): Serving => {
    if (service !== '' && !services.includes(service)) return Serving.SERVICE_UNKNOWN;
    return serving() ? Serving.SERVING : Serving.NOT_SERVING;
  };
  return {
    async check(req: HealthCheckRequest): Promise<HealthCheckResponse> {
      const status = statusOf(req.service);
      if (status === Serving.SERVICE_UNKNOWN) throw new ServerError(Status.NOT_FOUND, `unknown service "${req.service}"`);
      return { status };
    },
    async list(): Promise<HealthListResponse> {
      const statuses: HealthListResponse['statuses'] = {};
      for (const s of ['', ...services]) statuses[s] = { status: statusOf(s) };
      return { statuses };
    },
    async *watch(req: HealthCheckRequest, context: { signal: AbortSignal }): AsyncIterable<HealthCheckResponse> {
      const stop = AbortSignal.any([context.signal, stopped]);
      let last: Serving | undefined;
      while (!stop.aborted) {
        const status = statusOf(req.service);
        if (status !== last) {
          last = status;
          yield { status };
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 1000);
          stop.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
        });
      }
    },
  };
}
