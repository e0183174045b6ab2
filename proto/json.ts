// The JSON form of a signal: proto3's canonical JSON of Signal. Parsing is strict (unknown field
// names and enum names are errors that say which) because a typo must not become silent loss.
import { Signal } from './gen/kafkaobs/v1/signal.js';
import { SIGN_FIELDS, SIGN_SETS, enumNames, type SignSet } from './signs.js';

const TOP_FIELDS = new Set<string>(['sourceId', 'source_id', 'seq', 'subject', 'timestamp', 'context', 'clock', ...SIGN_SETS]);

export class SignalJsonError extends Error {}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses one signal from its JSON object; throws SignalJsonError saying what is wrong. */
export function signalFromJson(value: unknown): Signal {
  if (!isPlainObject(value)) throw new SignalJsonError('a signal must be a JSON object');
  for (const k of Object.keys(value)) {
    if (!TOP_FIELDS.has(k)) throw new SignalJsonError(`unknown field "${k}" (known: subject, ${SIGN_SETS.join(', ')}, context, clock, sourceId, seq, timestamp)`);
  }
  for (const set of SIGN_SETS) if (value[set] !== undefined) checkSign(set, value[set]);
  for (const k of ['seq', 'timestamp'] as const) {
    const v = value[k];
    if (v !== undefined && !(typeof v === 'number' && Number.isInteger(v)) && !(typeof v === 'string' && /^\d+$/.test(v))) {
      throw new SignalJsonError(`${k} must be an integer (a number or a decimal string)`);
    }
  }
  for (const k of ['context', 'clock'] as const) {
    const v = value[k];
    if (v === undefined) continue;
    if (!isPlainObject(v)) throw new SignalJsonError(`${k} must be an object`);
    for (const [key, x] of Object.entries(v)) {
      if (k === 'context' && typeof x !== 'string') throw new SignalJsonError(`context["${key}"] must be a string`);
      if (k === 'clock' && !(typeof x === 'number' && Number.isInteger(x) && x >= 0) && !(typeof x === 'string' && /^\d+$/.test(x))) {
        throw new SignalJsonError(`clock["${key}"] must be a non-negative integer`);
      }
    }
  }
  if (value.subject !== undefined && typeof value.subject !== 'string') throw new SignalJsonError('subject must be a string');
  return Signal.fromJSON(value);
}

function checkSign(set: SignSet, v: unknown): void {
  if (!isPlainObject(v)) throw new SignalJsonError(`${set} must be an object`);
  const fields = SIGN_FIELDS[set];
  for (const [k, x] of Object.entries(v)) {
    const spec = fields[k];
    if (!spec) throw new SignalJsonError(`unknown field "${set}.${k}" (known: ${Object.keys(fields).join(', ')})`);
    if (spec === 'number') {
      if (typeof x !== 'number' || !Number.isFinite(x)) throw new SignalJsonError(`${set}.${k} must be a number`);
    } else if (typeof x === 'string') {
      if (!enumNames(spec.enum).includes(x)) {
        throw new SignalJsonError(`${set}.${k}: unknown value "${x}" (expected one of ${enumNames(spec.enum).join(', ')})`);
      }
    } else if (typeof x !== 'number') {
      throw new SignalJsonError(`${set}.${k} must be a name such as "${enumNames(spec.enum)[0]}"`);
    }
  }
}
