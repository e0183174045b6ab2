#!/usr/bin/env node
// `npm run demo [-- --fast --no-jvm ...]`: builds first when the build is missing or older than
// the sources, then runs `kafka-obs demo` with the arguments given. Ctrl-C goes to the demo, which
// stops what it started; this wrapper only waits and passes its exit status on.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'bin', 'kafka-obs.js');
const SOURCES = ['bin', 'proto', 'agent', 'aggregator', 'demo', 'tail', 'hierarchy', 'observers', 'reporters', 'actors', 'scripts'];

/** Newest modification time of the sources (TypeScript, proto, Java, YAML), node_modules and dist aside. */
function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name === 'gen') continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|proto|java|ya?ml|mjs)$/.test(e.name)) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const d of SOURCES) if (existsSync(join(root, d))) walk(join(root, d));
  return newest;
}

if (!existsSync(cli) || statSync(cli).mtimeMs < newestSource()) {
  console.log('demo: building first (npm run build)...');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const b = spawnSync(npm, ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}

const child = spawn(process.execPath, [cli, 'demo', ...process.argv.slice(2)], { stdio: 'inherit' });
// The terminal's Ctrl-C reaches the demo itself (npm also repeats it to this process): passing it
// on would make it a second Ctrl-C, which kills instead of stopping. A SIGTERM is passed on.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
