// The shape of the house (ARCHITECTURE.md §2): each room imports only the rooms it may, so arrows
// point inward toward proto/, the OODA middle stays pure, and the tools that are not the server
// (demo/, tail/, replay/) are imported by bin/ alone. Read from the sources, not from a list kept by hand.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT } from './support/procs.js';

/** Who may import whom; a room may always import itself. */
const MAY: Record<string, readonly string[]> = {
  proto: [],
  agent: ['proto'],
  hierarchy: ['proto'],
  observers: ['proto', 'hierarchy'],
  reporters: ['proto', 'hierarchy', 'observers'],
  actors: ['proto', 'reporters'],
  aggregator: ['proto', 'agent', 'hierarchy', 'observers', 'reporters', 'actors'],
  // Tools that are not the server: rooms of their own, which only bin/ imports.
  demo: ['proto', 'agent'],
  tail: ['proto'],
  replay: ['proto', 'agent', 'aggregator'],
  bin: ['proto', 'agent', 'aggregator', 'actors', 'demo', 'tail', 'replay'],
};
/** The pure middle: no I/O, no clock of its own. */
const PURE = ['hierarchy', 'observers', 'reporters'];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    if (e === 'gen' || e === 'node_modules') continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (e.endsWith('.ts')) out.push(p);
  }
  return out;
}

test('every room imports only the rooms ARCHITECTURE.md §2 allows', () => {
  const wrong: string[] = [];
  for (const [room, allowed] of Object.entries(MAY)) {
    for (const file of sources(join(ROOT, room))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
        const target = relative(ROOT, resolve(dirname(file), m[1]!)).split('/')[0]!;
        if (target !== room && !allowed.includes(target)) wrong.push(`${relative(ROOT, file)} imports ${m[1]} (${target}/)`);
      }
    }
  }
  assert.equal(wrong, []);
});

test('the pure middle does no I/O and reads no clock', () => {
  const wrong: string[] = [];
  for (const room of PURE) {
    for (const file of sources(join(ROOT, room))) {
      const text = readFileSync(file, 'utf8');
      for (const bad of [/from 'node:/, /Date\.now\(/, /performance\.now\(/, /process\.hrtime/, /setTimeout\(/, /setInterval\(/]) {
        if (bad.test(text)) wrong.push(`${relative(ROOT, file)}: ${bad}`);
      }
    }
  }
  assert.equal(wrong, []);
});

test.run();
