// The intake's pre-parse pass (agent/json-reader.ts): depth and signal count, outside strings only.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { JsonTooDeepError, TooManySignalsError, checkJsonDepth, scanJsonBody } from '../agent/json-reader.js';
import { parseSignalBody } from '../agent/intake.js';

const test = suite('json reader');
const b = (s: string): Uint8Array => Buffer.from(s, 'utf8');
const throwsDeep = (f: () => void, offset: number): void => {
  try {
    f();
  } catch (e) {
    assert.instance(e, JsonTooDeepError);
    assert.is((e as JsonTooDeepError).offset, offset);
    return;
  }
  assert.unreachable('no JsonTooDeepError');
};
const throwsMany = (f: () => void): void => assert.throws(f, (e: unknown) => e instanceof TooManySignalsError);

test('depth: refused at the first opener past the limit, with its byte', () => {
  scanJsonBody(b('[[[]]]'), 3, 10);
  throwsDeep(() => scanJsonBody(b('[[[[]]]]'), 3, 10), 3);
  throwsDeep(() => scanJsonBody(b('{"a":{"b":[{}]}}'), 3, 10), 11);
  scanJsonBody(b('[[[]]][[[]]]'), 3, 10); // closing brings it back down
  throwsDeep(() => scanJsonBody(b('"é" [[[['), 3, 10), 8); // bytes, not characters
});

test('depth: brackets inside strings (with escaped quotes) are data', () => {
  scanJsonBody(b('{"a":"[[[[{{{{"}'), 2, 10);
  scanJsonBody(b('{"a":"\\\\"}'), 1, 10);
  scanJsonBody(b('{"a":"x\\"[[[[[["}'), 1, 10);
  throwsDeep(() => scanJsonBody(b('{"a":"\\\\",[[['), 2, 10), 11);
});

test('NDJSON: each line its own document; a newline ends an unterminated string', () => {
  scanJsonBody(b('[[\n[[\n[['), 2, 10, true);
  throwsDeep(() => scanJsonBody(b('[[\n[[\n[['), 2, 10), 3);
  scanJsonBody(b('"[[[[\n[['), 2, 10, true);
});

test('signals are counted before parsing: top-level array, {"signals":[...]}, NDJSON lines', () => {
  scanJsonBody(b('[{},{},{}]'), 32, 3);
  throwsMany(() => scanJsonBody(b('[{},{},{},{}]'), 32, 3));
  scanJsonBody(b('{"signals":[{"a":1,"b":2},{}],"x":1}'), 32, 2);
  throwsMany(() => scanJsonBody(b('{"signals":[{},{},{}]}'), 32, 2));
  scanJsonBody(b('{"a":1,"b":{"c":2,"d":3}}'), 32, 1); // one signal, whatever its commas
  scanJsonBody(b('["a,b,c,d"]'), 32, 1); // commas in strings are data
  scanJsonBody(b('{}\n\n  \n{}\n'), 32, 2, true);
  throwsMany(() => scanJsonBody(b('{}\n{}\n{}'), 32, 2, true));
});

test('parseSignalBody refuses before JSON.parse; a file line is checked for depth', () => {
  assert.throws(() => parseSignalBody('['.repeat(100_000), 'application/json'), (e: unknown) => e instanceof JsonTooDeepError && /at byte 32/.test((e as Error).message));
  checkJsonDepth('{"a":[1]}', 2);
  assert.throws(() => checkJsonDepth('{"a":[[1]]}', 2), /JSON nested deeper than 2 levels at character 6/);
});

test('a 4 MiB nested body is refused in milliseconds', () => {
  const body = b('['.repeat(2 * 1024 * 1024) + ']'.repeat(2 * 1024 * 1024));
  const t0 = performance.now();
  throwsDeep(() => scanJsonBody(body, 32, 10_000), 32);
  const flat = b(`[${'{"subject":"service/a","queue":{"sign":"OVERFLOW","units":1}},'.repeat(60_000)}{}]`);
  assert.throws(() => scanJsonBody(flat, 32, 10_000), (e: unknown) => e instanceof TooManySignalsError);
  const plain = b(' '.repeat(4 * 1024 * 1024));
  scanJsonBody(plain, 32, 10_000); // the whole 4 MiB read
  const ms = performance.now() - t0;
  assert.ok(ms < 500, `${ms.toFixed(0)} ms`);
});

test.run();
