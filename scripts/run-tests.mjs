#!/usr/bin/env node
// The test runner behind `npm test`: every dist/test/*.test.js file in a process of its own, a few
// at a time, each with a time limit. Nothing bails: every file runs, and the summary at the end
// names every failure, so one broken test never hides the others (in CI too).
//
//   node scripts/run-tests.mjs [PATTERN ...]     only files whose name contains a PATTERN
//   TEST_JOBS=N       files run at once (default: 2, the size of CI's machine)
//   TEST_TIMEOUT_S=S  a file still running after S seconds is killed and counted failed (default 600)
//   TEST_VERBOSE=1    the tests' own debug output (processes' logs)
// A file's output is printed whole when it ends (no interleaving); the slowest files are listed.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'dist', 'test');
const patterns = process.argv.slice(2);
const jobs = Math.max(1, Number(process.env.TEST_JOBS) || 2);
const timeoutMs = Math.max(1, Number(process.env.TEST_TIMEOUT_S) || 600) * 1000;

const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => patterns.length === 0 || patterns.some((p) => f.includes(p)))
  .sort();
if (files.length === 0) {
  console.error(`run-tests: no test files in ${dir}${patterns.length ? ` matching ${patterns.join(', ')}` : ''} (is the build done?)`);
  process.exit(2);
}

// The heaviest files first, so the long ones do not start last and stretch the run.
const HEAVY = /^(e2e-|scenarios-jvm|kafka-)/;
files.sort((a, b) => Number(HEAVY.test(b)) - Number(HEAVY.test(a)) || a.localeCompare(b));

const started = Date.now();
const results = [];
let next = 0;
let running = 0;
const children = new Set();

function totals(text) {
  // uvu's summary of the file: "Total: N", "Passed: M".
  const plain = text.replace(/\u001b\[[0-9;]*m/g, '');
  const total = /Total:\s+(\d+)/.exec(plain);
  const passed = /Passed:\s+(\d+)/.exec(plain);
  return { total: total ? Number(total[1]) : 0, passed: passed ? Number(passed[1]) : 0 };
}

function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // the group is already gone
  }
}

function runOne(file) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    // Each file leads its own process group, so whatever it spawned (aggregators, agents, JVMs) goes with it,
    // even when the file itself is killed or dies before its cleanup runs.
    const child = spawn(process.execPath, [join(dir, file)], { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: process.stdout.isTTY ? '1' : '0' } });
    children.add(child);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      killGroup(child); // leftovers of a file that ended without reaping its children
      children.delete(child);
      const seconds = (Date.now() - t0) / 1000;
      const { total, passed } = totals(out);
      const ok = code === 0 && !timedOut && total > 0 && passed === total;
      const why = timedOut ? `killed after ${timeoutMs / 1000} s` : signal ? `ended by ${signal}` : code !== 0 ? `exit ${code}` : total === 0 ? 'ran no tests' : passed < total ? `${total - passed} failed` : '';
      process.stdout.write(`\n=== ${file}  ${ok ? 'ok' : `FAILED (${why})`}  ${passed}/${total} in ${seconds.toFixed(1)} s\n${out}`);
      resolve({ file, ok, why, total, passed, seconds });
    });
  });
}

async function worker() {
  while (next < files.length) {
    const file = files[next++];
    running++;
    results.push(await runOne(file));
    running--;
  }
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const c of children) killGroup(c);
    process.exit(130);
  });
}

console.log(`run-tests: ${files.length} files, ${jobs} at a time, ${timeoutMs / 1000} s limit each`);
await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, worker));

const failed = results.filter((r) => !r.ok);
const tests = results.reduce((n, r) => n + r.total, 0);
const passedTests = results.reduce((n, r) => n + r.passed, 0);
const slowest = [...results].sort((a, b) => b.seconds - a.seconds).slice(0, 8);
console.log('\n=== summary');
console.log(`slowest files: ${slowest.map((r) => `${r.file} ${r.seconds.toFixed(0)} s`).join(', ')}`);
console.log(`${passedTests}/${tests} tests passed in ${results.length} files, ${((Date.now() - started) / 1000).toFixed(0)} s`);
if (failed.length) {
  console.log(`FAILED files (${failed.length}):`);
  for (const r of failed) console.log(`  ${r.file}: ${r.why}`);
  process.exit(1);
}
console.log('all passed');
