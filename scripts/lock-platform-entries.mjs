#!/usr/bin/env node
// The registry reachable here carries only the linux builds of buf's per-platform binaries, so
// `npm install` leaves the other platforms out of package-lock.json and `npm ci` then refuses
// the lock as out of sync. This records them as the optional, platform-bound packages they are
// (never installed on linux, so never fetched). Run it after `npm install` changes the lock.
import { readFileSync, writeFileSync } from 'node:fs';

const LOCK = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(LOCK, 'utf8'));
const PLATFORMS = { 'darwin-arm64': ['darwin', 'arm64'], 'darwin-x64': ['darwin', 'x64'], 'linux-aarch64': ['linux', 'arm64'], 'linux-armv7': ['linux', 'arm'], 'linux-x64': ['linux', 'x64'], 'win32-arm64': ['win32', 'arm64'], 'win32-x64': ['win32', 'x64'] };
let added = 0;
for (const [path, pkg] of Object.entries(lock.packages)) {
  if (!path.endsWith('node_modules/@bufbuild/buf')) continue;
  for (const dep of Object.keys(pkg.optionalDependencies ?? {})) {
    const key = `${path}-${dep.slice('@bufbuild/buf-'.length)}`;
    if (lock.packages[key]) continue;
    const [os, cpu] = PLATFORMS[dep.slice('@bufbuild/buf-'.length)] ?? [];
    if (!os) continue;
    lock.packages[key] = { version: pkg.optionalDependencies[dep], cpu: [cpu], dev: true, license: 'Apache-2.0', optional: true, os: [os] };
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)));
writeFileSync(LOCK, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`package-lock.json: ${added} platform entries for buf recorded`);
