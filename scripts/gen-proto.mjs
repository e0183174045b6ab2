#!/usr/bin/env node
// Generates the TypeScript for proto/ (ts-proto through buf, both pinned in package-lock.json)
// and the descriptor set that server reflection serves. Reproducible: same inputs, same output.
import { execFileSync } from 'node:child_process';
import { rmSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = join(root, 'proto');
const out = join(protoDir, 'gen');
const require = createRequire(import.meta.url);
const buf = join(dirname(require.resolve('@bufbuild/buf/package.json')), 'bin', 'buf');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const run = (args) => execFileSync(process.execPath, [buf, ...args], { cwd: protoDir, stdio: 'inherit' });
run(['generate', '--exclude-path', 'grpc/reflection']);
// Imports included: reflection must describe every type a method touches.
run(['build', '-o', join('gen', 'kafkaobs.binpb')]);
console.log('proto: generated proto/gen (TypeScript and descriptor set)');
