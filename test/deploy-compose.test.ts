// The Compose stack, validated by Debian's docker-compose (`config -q`, no engine needed), then
// read as Compose resolved it: every kafka-obs service is built from a target the Dockerfile has;
// every sidecar shares its service's network and reads the JMX port that service opens; every
// agent reaches the aggregator at a port it publishes; the aggregator keeps its data on a volume
// at its --data-dir; and every variable given to kafka-obs is one its --help names.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CLI, ROOT } from './support/procs.js';

interface Service {
  image?: string;
  build?: { context: string; target?: string };
  environment?: Record<string, string | null>;
  network_mode?: string;
  volumes?: string[];
  read_only?: boolean;
  ports?: { target: number; published: number }[];
  entrypoint?: string[];
  profiles?: string[];
}

const compose = (args: string[]) => spawnSync('docker-compose', ['-f', join(ROOT, 'docker-compose.yml'), ...args], { encoding: 'utf8', cwd: ROOT });
let services: Record<string, Service>;

test('docker-compose config -q accepts the file', () => {
  const r = compose(['config', '-q']);
  assert.is(r.status, 0, r.stderr);
  const full = compose(['config']);
  assert.is(full.status, 0, full.stderr);
  services = (parse(full.stdout) as { services: Record<string, Service> }).services;
  for (const s of ['kafka', 'aggregator', 'broker-agent', 'cluster-sensor', 'demo-producer', 'demo-producer-agent', 'demo-consumer', 'demo-consumer-agent']) assert.ok(services[s], `service ${s}`);
});

const KAFKA_OBS = (s: Service): boolean => (s.image ?? '').startsWith('kafka-obs/');

test('kafka-obs services are built from the Dockerfile\'s targets and run read-only', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const targets = new Set([...dockerfile.matchAll(/^FROM \S+ AS (\S+)$/gm)].map((m) => m[1]!));
  for (const [name, s] of Object.entries(services)) {
    if (!KAFKA_OBS(s)) continue;
    if (s.build) {
      assert.ok(targets.has(s.build.target ?? ""), `${name}: target ${s.build.target} is in the Dockerfile`);
      assert.match(s.image!, new RegExp(`^kafka-obs/${s.build.target}:`), `${name}: the image is named after its target`);
    }
    if (!s.profiles) assert.is(s.read_only, true, `${name} runs with a read-only root`);
  }
});

test('each sidecar shares its service\'s network namespace and reads the JMX port that service opens', () => {
  const sidecars = Object.entries(services).filter(([, s]) => s.network_mode?.startsWith('service:'));
  assert.is(sidecars.length, 3);
  for (const [name, s] of sidecars) {
    const host = services[s.network_mode!.slice('service:'.length)]!;
    const jmx = s.environment!.JMX_URL!;
    assert.match(jmx, /^localhost:\d+$/, name);
    const port = jmx.split(':')[1]!;
    const opened = `${host.environment?.KAFKA_JMX_PORT ?? ''} ${host.environment?.KAFKA_JMX_OPTS ?? ''}`;
    assert.ok(opened.includes(`jmxremote.port=${port}`) || String(host.environment?.KAFKA_JMX_PORT) === port, `${name}: ${host.image} opens JMX on ${port}`);
  }
});

test('every agent reaches the aggregator at its gRPC port; the aggregator keeps its data on a volume at its data directory', () => {
  const agg = services.aggregator!;
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const cmd = /FROM runtime AS aggregator[\s\S]*?CMD (\[.*\])/.exec(dockerfile)![1]!;
  const dataDir = (JSON.parse(cmd) as string[])[2];
  assert.ok(agg.volumes!.some((v) => v.startsWith('aggregator-data:') && v.split(':')[1] === dataDir), `a volume at ${dataDir}`);
  assert.ok(agg.ports!.some((p) => p.target === 50051));
  for (const [name, s] of Object.entries(services)) {
    const url = s.environment?.AGGREGATOR_URL;
    if (url) assert.is(url, 'grpc://aggregator:50051', name);
  }
  // The cluster sensor speaks to Kafka's internal listener under seed 002's name.
  assert.is(services['cluster-sensor']!.environment!.KAFKA_BROKER_URL, 'kafka:29092');
});

test('every variable given to kafka-obs is one it knows (its --help names it)', () => {
  const help = ['aggregator', 'agent'].map((c) => spawnSync(process.execPath, [CLI, c, '--help'], { encoding: 'utf8' }).stdout).join('\n');
  const known = new Set([...help.matchAll(/\b([A-Z][A-Z0-9_]{2,})\b/g)].map((m) => m[1]!));
  known.add('LOG_LEVEL'); // read by every command's logger
  const unknown: string[] = [];
  for (const [name, s] of Object.entries(services)) {
    if (!KAFKA_OBS(s)) continue;
    for (const v of Object.keys(s.environment ?? {})) if (!known.has(v)) unknown.push(`${name}: ${v}`);
  }
  assert.equal(unknown, []);
});

test.run();
