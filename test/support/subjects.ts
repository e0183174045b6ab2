// Subjects for the journal's tests, in the grammar of issue 10 (`<entity path>#<aspect>`), built
// in one place so they can follow the grammar if it changes.
export const brokerAspect = (cluster: string, broker: string | number, aspect: string): string => `cluster/${cluster}/broker/${broker}#${aspect}`;
export const producerAspect = (service: string, pod: string, client: string, aspect: string): string => `service/${service}/pod/${pod}/producer/${client}#${aspect}`;
