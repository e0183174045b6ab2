// The images, without a Docker engine. First the Dockerfile against rules in the manner of
// hadolint (pinned bases, exec-form entrypoints, apt hygiene, lockfile installs, non-root users,
// stages that exist), parsed by dockerfile-ast. Then the images are assembled from the
// Dockerfile's own instructions, each stage in a directory standing for its root filesystem: its
// RUN commands executed as written (paths of the image mapped into that directory), its COPY lines
// applied, its ENV, USER, ENTRYPOINT and CMD used to start the real processes as uid 65532 with
// nothing writable but the aggregator's data directory. Not executed, and said here: the build
// stage's `npm ci` and `npm run build` (this machine's setup ran exactly those) and its
// `apt-get install` of a JDK (this machine has one).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { validate as dockerfileSyntax } from 'dockerfile-utils';
import { Proc, ROOT, closedPort, tempDir, until } from './support/procs.js';
import { FakeJvm } from './support/jvm.js';

const TEXT = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const dockerfile = DockerfileParser.parse(TEXT);
const TARGETS = ['aggregator', 'agent', 'agent-jmx'];
const NONROOT = 65532;

interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

const LINES = TEXT.split('\n');
/** An instruction's arguments as written, flags included (getArgumentsContent leaves flags out), continuations joined. */
function argsOf(i: Instruction): string {
  const r = i.getRange();
  const text = LINES.slice(r.start.line, r.end.line + 1).join('\n').replace(/\\\n/g, ' ');
  return text.trim().replace(/^\S+\s*/, '');
}

const args = new Map<string, string>();
const stages: Stage[] = [];
for (const i of dockerfile.getInstructions()) {
  const kw = i.getKeyword();
  const content = argsOf(i);
  if (kw === 'ARG' && stages.length === 0) {
    const [k, v] = content.split('=');
    args.set(k!, v ?? '');
  } else if (kw === 'FROM') {
    const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(content.trim())!;
    stages.push({ name: m[2] ?? `stage-${stages.length}`, from: m[1]!.replace(/\$\{(\w+)\}/g, (_, n: string) => args.get(n) ?? ''), instructions: [] });
  } else stages.at(-1)?.instructions.push(i);
}
const stage = (name: string): Stage => stages.find((s) => s.name === name)!;
/** The stages a stage is built on, itself last. */
const lineage = (name: string): Stage[] => {
  const s = stage(name);
  return stages.some((x) => x.name === s.from) ? [...lineage(s.from), s] : [s];
};
const of = (s: Stage, kw: string): string[] => s.instructions.filter((i) => i.getKeyword() === kw).map(argsOf);
const baseOf = (name: string): string => lineage(name)[0]!.from;

test('the Dockerfile parses cleanly and has the three targets', () => {
  assert.equal(dockerfileSyntax(TEXT), []);
  for (const t of TARGETS) assert.ok(stages.some((s) => s.name === t), `target ${t}`);
});

test('rules: pinned bases, exec-form ENTRYPOINT/CMD, COPY not ADD, absolute WORKDIRs, stages that exist', () => {
  const problems: string[] = [];
  for (const s of stages) {
    if (stages.some((x) => x.name === s.from)) continue;
    const [image, tag] = s.from.split(/:(?=[^/]+$)/);
    if (!tag || tag === 'latest') problems.push(`${s.name}: base ${s.from} is not pinned to a tag (DL3006/DL3007)`);
    if (image === 'node' && !/^\d+\.\d+\.\d+-/.test(tag ?? '')) problems.push(`${s.name}: node base ${s.from} should pin the full version`);
  }
  for (const i of dockerfile.getInstructions()) {
    const kw = i.getKeyword();
    const c = argsOf(i);
    if ((kw === 'ENTRYPOINT' || kw === 'CMD') && !c.startsWith('[')) problems.push(`${kw} ${c}: use the exec (JSON) form (DL3025)`);
    if (kw === 'ADD') problems.push(`ADD ${c}: use COPY (DL3020)`);
    if (kw === 'WORKDIR' && !c.startsWith('/')) problems.push(`WORKDIR ${c}: use an absolute path (DL3000)`);
    if (kw === 'COPY') {
      const from = /--from=(\S+)/.exec(c)?.[1];
      if (from && !stages.some((s) => s.name === from)) problems.push(`COPY --from=${from}: no such stage`);
    }
    if ((kw === 'ENV' || kw === 'ARG') && /(PASSWORD|TOKEN|SECRET|PRIVATE_KEY)\w*=/i.test(c)) problems.push(`${kw} ${c}: a secret in the image (DL3002-like)`);
  }
  assert.equal(problems, []);
});

test('rules: apt-get update and install together, -y --no-install-recommends, lists removed; npm installs from the lockfile', () => {
  const problems: string[] = [];
  for (const s of stages) for (const run of of(s, 'RUN')) {
    if (/apt-get\s+install/.test(run)) {
      if (!/apt-get update/.test(run)) problems.push(`${s.name}: apt-get install without apt-get update in the same RUN (DL3009)`);
      if (!/-y\b/.test(run) || !/--no-install-recommends/.test(run)) problems.push(`${s.name}: apt-get install needs -y --no-install-recommends (DL3014/DL3015)`);
      if (!/rm -rf \/var\/lib\/apt\/lists/.test(run)) problems.push(`${s.name}: apt lists not removed (DL3009)`);
    }
    if (/\bnpm (install|i)\b/.test(run)) problems.push(`${s.name}: npm install; use npm ci (the lockfile)`);
    if (/\bsudo\b/.test(run)) problems.push(`${s.name}: sudo in RUN (DL3004)`);
  }
  assert.equal(problems, []);
});

test('rules: every target runs as a non-root numeric user on the distroless base, with production dependencies only, and builds no tests in', () => {
  for (const t of TARGETS) {
    const users = lineage(t).flatMap((s) => of(s, 'USER'));
    const user = users.at(-1) ?? 'root';
    assert.match(user, /^[1-9]\d*(:[1-9]\d*)?$/, `${t} runs as ${user}`);
    assert.match(baseOf(t), /^gcr\.io\/distroless\/nodejs20-debian12:nonroot$/);
    // No shell in distroless: a RUN there would fail to build.
    assert.equal(lineage(t).filter((s) => s.from === baseOf(t) || stages.some((x) => x.name === s.from)).flatMap((s) => of(s, 'RUN')), [], `${t} has no RUN`);
    const copies = lineage(t).flatMap((s) => of(s, 'COPY'));
    assert.ok(copies.some((c) => /--from=deps \/app\/node_modules/.test(c)), `${t} takes node_modules from deps`);
    assert.not.ok(copies.some((c) => /--from=build \S*node_modules/.test(c)), `${t} takes no dev dependencies`);
  }
  assert.match(of(stage('deps'), 'RUN').join('\n'), /npm ci --omit=dev/);
  assert.match(of(stage('build'), 'RUN').join('\n'), /rm -rf dist\/test dist\/bench/);
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  for (const p of ['node_modules', 'dist', '.git']) assert.ok(ignore.includes(p), `.dockerignore has ${p}`);
});

// ---- the images assembled and run ----

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const img = isRoot ? tempDir('img-') : '';
/** Each stage's root filesystem; a stage built on another shares its root. */
const rootOf = (name: string): string => join(img, lineage(name)[0]!.name);
/** Paths the Dockerfile writes, mapped into a stage's root (system paths it only reads are left alone). */
const IMAGE_PATHS = ['/src', '/app', '/opt/jre', '/data-dir', '/var/lib/kafka-obs'];
const mapPaths = (text: string, root: string): string => text.replace(new RegExp(`(^|[\\s"'=:])(${IMAGE_PATHS.join('|')})(?=[/\\s"':]|$)`, 'g'), (_, pre: string, p: string) => `${pre}${root}${p}`);
const SKIPPED = [/npm ci --ignore-scripts/, /npm run build/, /apt-get/];
let procs: Proc[] = [];
let jvm: FakeJvm | undefined;

test.after(async () => {
  for (const p of procs) await p.kill();
  await jvm?.kill();
  if (img) rmSync(img, { recursive: true, force: true });
});

function applyStage(name: string): void {
  const s = stage(name);
  const root = rootOf(name);
  let workdir = '/';
  for (const i of s.instructions) {
    const kw = i.getKeyword();
    const c = argsOf(i);
    if (kw === 'WORKDIR') {
      workdir = c;
      mkdirSync(join(root, c), { recursive: true });
    } else if (kw === 'COPY') {
      const parts = c.split(/\s+/);
      const from = parts.find((p) => p.startsWith('--from='))?.slice(7);
      const chown = parts.find((p) => p.startsWith('--chown='))?.slice(8);
      const paths = parts.filter((p) => !p.startsWith('--'));
      const dest = paths.pop()!;
      const destPath = dest.startsWith('/') ? join(root, dest) : join(root, workdir, dest);
      for (const src of paths) {
        if (!from && src === '.') continue; // the build context: the build stage's result is taken from this checkout below
        const source = from ? join(rootOf(from), src) : join(ROOT, src);
        const target = dest.endsWith('/') ? join(destPath, src.split('/').pop()!) : destPath;
        mkdirSync(dirname(target), { recursive: true });
        cpSync(source, target, { recursive: true });
        if (chown) chownSync(target, Number(chown.split(':')[0]), Number(chown.split(':')[1]));
      }
    } else if (kw === 'RUN') {
      if (SKIPPED.some((r) => r.test(c))) continue;
      const cmd = mapPaths(c, root) + (/^npm ci/.test(c) ? ' --prefer-offline' : '');
      const r = spawnSync('sh', ['-c', cmd], { cwd: join(root, workdir), encoding: 'utf8' });
      assert.is(r.status, 0, `RUN ${cmd}\n${r.stdout}${r.stderr}`);
    }
  }
}

interface ImageRun {
  argv: string[];
  env: Record<string, string>;
}

/** ENTRYPOINT + CMD and ENV of a target, with the image's paths mapped and its node replaced by this one. */
function imageRun(target: string): ImageRun {
  const root = rootOf(target);
  const layers = lineage(target);
  const json = (kw: string): string[] => JSON.parse(layers.flatMap((s) => of(s, kw)).at(-1) ?? '[]') as string[];
  const argv = [...json('ENTRYPOINT'), ...json('CMD')].map((a) => (a === '/nodejs/bin/node' ? process.execPath : mapPaths(a, root)));
  const env: Record<string, string> = {};
  for (const e of layers.flatMap((s) => of(s, 'ENV'))) for (const m of e.matchAll(/(\w+)=(\S+)/g)) env[m[1]!] = mapPaths(m[2]!, root);
  return { argv, env };
}

function start(target: string, extraEnv: Record<string, string>): Proc {
  const { argv, env } = imageRun(target);
  const child = spawn(argv[0]!, argv.slice(1), { uid: NONROOT, gid: NONROOT, cwd: join(rootOf(target), 'app'), env: { PATH: '/nonexistent', LOG_LEVEL: 'info', ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  const p = new Proc(child, target);
  procs.push(p);
  return p;
}

test('the stages assemble: production dependencies, the built app without tests, a jlinked JRE with its libraries', () => {
  if (!isRoot) return void console.log('  (not root: the images are not assembled and run here)');
  chmodSync(img, 0o755);
  // The build stage's own result: this checkout's `npm run build`.
  mkdirSync(join(rootOf('build'), 'src'), { recursive: true });
  for (const p of ['dist', 'package.json', 'package-lock.json', 'proto']) cpSync(join(ROOT, p), join(rootOf('build'), 'src', p), { recursive: true });
  for (const s of ['build', 'deps', 'jre', 'runtime', 'aggregator', 'agent', 'agent-jmx']) applyStage(s);
  const app = join(rootOf('runtime'), 'app');
  assert.not.ok(existsSync(join(app, 'dist/test')), 'no tests in the image');
  assert.not.ok(existsSync(join(app, 'dist/bench')), 'no benchmarks in the image');
  assert.ok(existsSync(join(app, 'dist/jmx/JmxBridge.class')));
  const deps = readdirSync(join(app, 'node_modules'));
  for (const dev of ['typescript', 'ts-proto', '@bufbuild/buf', 'uvu', 'kubernetes-models']) assert.not.ok(deps.includes(dev.split('/')[0]!) && existsSync(join(app, 'node_modules', dev)), `${dev} is not in the image`);
  assert.is(statSync(join(rootOf('runtime'), 'var/lib/kafka-obs')).uid, NONROOT);
  // Every shared library the JRE needs is in the distroless base (glibc, libgcc, libstdc++) or copied beside it.
  const jre = join(rootOf('runtime'), 'opt/jre');
  const libs = new Set<string>();
  for (const f of [join(jre, 'bin/java'), ...readdirSync(join(jre, 'lib')).filter((x) => x.endsWith('.so')).map((x) => join(jre, 'lib', x)), join(jre, 'lib/server/libjvm.so')]) {
    const r = spawnSync('ldd', [f], { encoding: 'utf8', env: { LD_LIBRARY_PATH: `${join(jre, 'lib')}:${join(jre, 'lib/server')}` } });
    for (const m of r.stdout.matchAll(/^\s*(\S+)(?:\s+=>\s+(\S+))?/gm)) if (!m[2]?.startsWith(jre)) libs.add(m[1]!);
  }
  const DISTROLESS_CC = /^(linux-vdso\.so\.1|\/lib64\/ld-linux-x86-64\.so\.2|\/lib\/ld-linux-aarch64\.so\.1|libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libgcc_s\.so\.1|libstdc\+\+\.so\.6)$/;
  assert.equal([...libs].filter((l) => !DISTROLESS_CC.test(l)), [], 'libraries outside distroless cc and not in the JRE');
  // Nothing is writable by the image's user but the data directory.
  for (const dir of [app, join(app, 'dist'), jre]) assert.is(statSync(dir).mode & 0o002, 0);
});

let aggUrl = '';

test('aggregator image: starts as uid 65532 with a read-only filesystem but its data directory, and is ready', async () => {
  if (!isRoot) return;
  const agg = start('aggregator', { KAFKA_OBS_GRPC_HOST: '127.0.0.1', KAFKA_OBS_GRPC_PORT: '0', KAFKA_OBS_HTTP_HOST: '127.0.0.1', KAFKA_OBS_HTTP_PORT: '0' });
  const l = await agg.waitForLog((x) => x.msg === 'aggregator listening', 30_000);
  assert.is(l.dataDir, join(rootOf('runtime'), 'var/lib/kafka-obs'));
  const http = String(l.http).split(':').pop();
  assert.is((await fetch(`http://127.0.0.1:${http}/readyz`)).status, 200);
  aggUrl = `grpc://127.0.0.1:${String(l.grpc).split(':').pop()}`;
});

test('agent-jmx image: its jlinked JRE reads a real JVM over JMX as uid 65532; the agent is ready', async () => {
  if (!isRoot) return;
  jvm = await FakeJvm.start({ profile: 'client' });
  const health = await closedPort();
  const a = start('agent-jmx', { AGGREGATOR_URL: aggUrl, AGENT_ID: 'img-jmx', JMX_URL: `127.0.0.1:${jvm.port}`, AGENT_HTTP_PORT: '0', AGENT_GRPC_PORT: '0', AGENT_HEALTH_PORT: String(health), AGENT_HEALTH_HOST: '127.0.0.1', POLL_INTERVAL_MS: '500' });
  await a.waitForLog((x) => x.msg === 'agent started', 30_000);
  const r = await until(async () => {
    const res = await fetch(`http://127.0.0.1:${health}/readyz`);
    return res.status === 200 ? ((await res.json()) as { sources: { name: string }[] }) : undefined;
  }, 'the agent-jmx image to be ready', 45_000);
  assert.match(r.sources[0]!.name, /^jmx:/);
});

test('agent image (no JRE): runs, and says a JMX source needs the agent-jmx image or an exporter page', async () => {
  if (!isRoot) return;
  const health = await closedPort();
  const a = start('agent', { AGGREGATOR_URL: aggUrl, AGENT_ID: 'img-plain', JMX_URL: `127.0.0.1:${jvm!.port}`, AGENT_HTTP_PORT: '0', AGENT_GRPC_PORT: '0', AGENT_HEALTH_PORT: String(health), AGENT_HEALTH_HOST: '127.0.0.1', POLL_INTERVAL_MS: '500' });
  await a.waitForLog((x) => x.msg === 'agent started', 30_000);
  const body = await until(async () => {
    const res = await fetch(`http://127.0.0.1:${health}/readyz`);
    const j = (await res.json()) as { reasons: string[] };
    return j.reasons.some((x) => /java-missing/.test(x)) ? j : undefined;
  }, 'the agent image to report the missing JRE', 30_000);
  assert.match(body.reasons.join('\n'), /DOWN \(java-missing\)/);
});

test.run();
