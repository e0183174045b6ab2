// Subjects for the journal's tests, built with the grammar's own builders (proto/subject.ts).
import { entity, subjectOf } from '../../proto/index.js';

export const brokerAspect = (cluster: string, broker: string | number, aspect: string): string => subjectOf(entity.broker(cluster, broker), aspect);
export const producerAspect = (service: string, pod: string, client: string, aspect: string): string => subjectOf(entity.client(service, pod, 'producer', client), aspect);
