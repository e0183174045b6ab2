// What the tests need beyond npm: librdkafka's mock cluster (Debian's librdkafka-dev), a
// Kafka-protocol broker stand-in (ARCHITECTURE.md §11). Installs the package when missing (as root,
// or through `sudo -n`), then compiles test/support/kafka-mock/mock-cluster.c into
// dist/test/support/kafka-mock/mock-cluster unless the binary is newer than its source.
// And Prometheus's promtool (checks and unit-tests the alert rules, lints the /metrics text): the
// one on the PATH, else taken out of Debian's `prometheus` package (apt-get download, dpkg-deb -x;
// nothing installed, no service started) into dist/test/support/prometheus/promtool.
// Exits non-zero with the reason, and what to run, when it cannot.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const HEADER = '/usr/include/librdkafka/rdkafka_mock.h';
const PACKAGE = 'librdkafka-dev';
const SOURCE = join(root, 'test/support/kafka-mock/mock-cluster.c');
const BINARY = join(root, 'dist/test/support/kafka-mock/mock-cluster');
const INSTALL = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${PACKAGE}`;

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
function aptInstall(prefix) {
  const apt = (...args) => {
    const [cmd, ...rest] = [...prefix, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args];
    return run(cmd, rest);
  };
  const install = () => apt('install', '-y', '--no-install-recommends', PACKAGE);
  if (install()) return true;
  console.log(`ensure-test-deps: installing ${PACKAGE} failed; refreshing the package lists (apt-get update) and retrying`);
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
ensurePromtool();
