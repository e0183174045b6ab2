// Bounds on JSON read from the service beside the agent, checked BEFORE JSON.parse.
//
// A signal is about 4 levels deep ({"signals":[{"queue":{...}}]}); a body nested thousands of
// levels deep is never a signal, and parsing it costs the event loop seconds and hundreds of MB
// (measured: a 4 MiB "[[[[..." body blocked the agent for 0.9-2.8 s at 350-400 MB RSS). Nor is a
// body of a million tiny values: 4 MiB of "{}," cost 4.2 s and 1 GB (a rejection for each, a
// 90 MB answer). One linear pass that counts [ and { outside strings, and the elements of the
// signal list, refuses both after reading at most as far as the excess. It allocates nothing but
// a few bytes and is a few milliseconds for the largest body the intake takes.
import { SignalJsonError } from '../proto/index.js';

/** JSON nested deeper than the intake takes; `offset` is the 0-based byte (or character) of the opener past the limit. */
export class JsonTooDeepError extends SignalJsonError {
  constructor(readonly maxDepth: number, readonly offset: number, unit: 'byte' | 'character' = 'byte') {
    super(`JSON nested deeper than ${maxDepth} levels at ${unit} ${offset} (a signal is about 4 deep; the limit is --intake-max-depth)`);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;
const NEWLINE = 0x0a;
const COMMA = 0x2c;

/** More signals in one request than the intake takes (counted before parsing). */
export class TooManySignalsError extends SignalJsonError {
  constructor(readonly maxSignals: number) {
    super(`more than ${maxSignals} signals in one request (the limit is --intake-max-signals); send smaller batches`);
  }
}

const isSpace = (c: number): boolean => c === 0x20 || c === NEWLINE || c === 0x0d || c === 0x09;

/**
 * One pass over a request body, before JSON.parse: throws JsonTooDeepError when it opens more
 * than `maxDepth` arrays/objects at once outside strings, TooManySignalsError when it holds more
 * than `maxSignals` signals. It does not validate: malformed JSON is left to JSON.parse, which
 * reports it precisely. Signals are counted as the elements of the top-level array or of an array
 * in the top-level object ({"signals":[...]}): commas directly inside such an array, plus one;
 * with `lines` (NDJSON), as the lines that are not blank. Every line of NDJSON is a document of
 * its own: a newline outside a string resets the depth (raw newlines cannot occur inside JSON
 * strings, so an unterminated string ends there too). Bytes are scanned as bytes: UTF-8
 * continuation bytes are >= 0x80 and never look like [ { " \ , or a newline. Nothing is allocated
 * but `maxDepth + 2` bytes; it stops at the first excess.
 */
export function scanJsonBody(text: Uint8Array, maxDepth: number, maxSignals: number, lines = false): void {
  const isArray = new Uint8Array(maxDepth + 2);
  let depth = 0;
  let inString = false;
  let signals = 0;
  let lineHasValue = false;
  for (let i = 0, n = text.length; i < n; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
      else if (c === NEWLINE && lines) {
        inString = false;
        depth = 0;
        if (++signals > maxSignals) throw new TooManySignalsError(maxSignals);
        lineHasValue = false;
      }
      continue;
    }
    if (c === NEWLINE && lines) {
      depth = 0;
      if (lineHasValue && ++signals > maxSignals) throw new TooManySignalsError(maxSignals);
      lineHasValue = false;
      continue;
    }
    if (isSpace(c)) continue;
    lineHasValue = true;
    if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > maxDepth) throw new JsonTooDeepError(maxDepth, i);
      isArray[depth] = c === OPEN_BRACKET ? 1 : 0;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      if (depth > 0) depth--;
    } else if (c === COMMA && depth <= 2 && isArray[depth] === 1 && !lines) {
      // One more element in the top-level list: commas + 1 signals.
      if (++signals + 1 > maxSignals) throw new TooManySignalsError(maxSignals);
    }
  }
  if (lines && lineHasValue && ++signals > maxSignals) throw new TooManySignalsError(maxSignals);
}

/**
 * Throws JsonTooDeepError when `text` (a line of an NDJSON file) opens more than `maxDepth`
 * arrays/objects at once outside strings; the offset counts UTF-16 characters.
 */
export function checkJsonDepth(text: string, maxDepth: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0, n = text.length; i < n; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
      continue;
    }
    if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > maxDepth) throw new JsonTooDeepError(maxDepth, i, 'character');
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      if (depth > 0) depth--;
    }
  }
}
