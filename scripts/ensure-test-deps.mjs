// What the tests need beyond npm: librdkafka's mock cluster (Debian's librdkafka-dev), a
// Kafka-protocol broker stand-in (ARCHITECTURE.md §11). Installs the package when missing (as root,
// or through `sudo -n`), then compiles test/support/kafka-mock/mock-cluster.c into
// dist/test/support/kafka-mock/mock-cluster unless the binary is newer than its source.
// Exits non-zero with the reason, and what to run, when it cannot.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
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

ensureLibrdkafka();
buildLauncher();
