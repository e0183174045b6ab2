// The config file's schemas for the JVM sources (zod): its `jmx:` and `prometheus:` lists. Apart
// from sources/config.ts so that an agent configured by its environment alone builds no schema.
import { z } from 'zod';
import { COLLECTORS } from './config.js';

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'letters, digits, ".", "_", ":" and "-"');

export const CustomBeanSchema = z
  .object({
    /** ObjectName pattern, e.g. "com.acme:type=Orders,name=*". */
    pattern: z.string().min(1),
    /**
     * Attribute -> catalogue metric name your rules file knows, e.g. {QueueDepth: acme.queue-depth}.
     * Readings are about the pod; your rule names the aspect, and the bean's key properties fill
     * its template (aspect: "acme-queue/{name}").
     */
    attributes: z.record(z.string().min(1), z.string().min(1)),
  })
  .strict();
export type CustomBean = z.infer<typeof CustomBeanSchema>;

export const JmxTargetSchema = z
  .object({
    name: name.optional(),
    /** service:jmx:rmi:///jndi/rmi://host:port/jmxrmi, or host:port. */
    url: z.string().min(1),
    username: z.string().min(1).optional(),
    /** The password: from a file (trailing newline trimmed) or an environment variable, never inline. */
    passwordFile: z.string().min(1).optional(),
    passwordEnv: z.string().min(1).optional(),
    /**
     * TLS: a connector over TLS (com.sun.management.jmxremote.ssl=true) only needs its
     * certificate trusted (truststore, or the JVM's default cacerts); registrySsl when the RMI
     * registry uses TLS as well (com.sun.management.jmxremote.registry.ssl=true).
     */
    registrySsl: z.boolean().optional(),
    truststore: z.string().min(1).optional(),
    truststorePasswordFile: z.string().min(1).optional(),
    truststorePasswordEnv: z.string().min(1).optional(),
    pollIntervalMs: z.number().int().min(100).optional(),
    /** How long one JMX call may take before the target counts as not answering. */
    timeoutMs: z.number().int().min(100).optional(),
    /** What to read; default all, and then a group that is absent is not an error. */
    collect: z.array(z.enum(COLLECTORS)).min(1).optional(),
    /** When the broker has no kafka.server:type=app-info,id=* bean (or to override it). */
    brokerId: z.union([z.string().min(1), z.number().int()]).optional(),
    beans: z.array(CustomBeanSchema).optional(),
  })
  .strict();

export const PrometheusTargetSchema = z
  .object({
    name: name.optional(),
    /** The exporter's page, e.g. http://localhost:9404/metrics. */
    url: z.url({ protocol: /^https?$/ }),
    pollIntervalMs: z.number().int().min(100).optional(),
    timeoutMs: z.number().int().min(100).optional(),
    collect: z.array(z.enum(COLLECTORS)).min(1).optional(),
    /** Strimzi's exporter rules do not export the broker id: give it here (else the host is used). */
    brokerId: z.union([z.string().min(1), z.number().int()]).optional(),
    bearerTokenFile: z.string().min(1).optional(),
  })
  .strict();

export type JmxTargetConfig = z.infer<typeof JmxTargetSchema>;
export type PrometheusTargetConfig = z.infer<typeof PrometheusTargetSchema>;
