// `kafka-obs tail`: subscribe and print each event on one line (coloured on a terminal), or as
// canonical JSON with --json.
import { styleText } from 'node:util';
import { Status_Condition, Status_Confidence as Confidence, describeSign, Event } from '../proto/index.js';

type Style = Parameters<typeof styleText>[0];

const CONDITION_STYLE: Partial<Record<Status_Condition, Style>> = {
  [Status_Condition.STABLE]: 'green',
  [Status_Condition.CONVERGING]: 'cyan',
  [Status_Condition.DIVERGING]: 'yellow',
  [Status_Condition.ERRATIC]: 'yellow',
  [Status_Condition.DEGRADED]: 'red',
  [Status_Condition.DEFECTIVE]: ['red', 'bold'],
  [Status_Condition.DOWN]: ['red', 'bold', 'inverse'],
};

export function formatTime(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString().slice(11, 23);
}

const condName = (c: Status_Condition): string => (c === Status_Condition.CONDITION_UNSPECIFIED ? 'UNKNOWN' : Status_Condition[c] ?? String(c));
const confName = (c: Confidence): string => (c === Confidence.CONFIDENCE_UNSPECIFIED ? '' : ` (${Confidence[c]})`);

/** One readable line per event. */
export function formatEvent(e: Event, color: boolean): string {
  const paint = (style: Style | undefined, text: string): string => (color && style ? styleText(style, text) : text);
  const head = `${paint('dim', `#${e.offset}`)} ${paint('dim', formatTime(e.time))}`;
  if (e.signal) {
    const s = e.signal;
    const ctx = Object.entries(s.context).map(([k, v]) => `${k}=${v}`).join(' ');
    const cond = s.status ? CONDITION_STYLE[s.status.condition] : undefined;
    return `${head} ${paint('blue', 'signal')} ${s.subject} ${paint(cond ?? 'bold', describeSign(s))}${ctx ? ` ${paint('dim', ctx)}` : ''} ${paint('dim', `[${s.sourceId}#${s.seq}]`)}`;
  }
  if (e.cellChange) {
    const c = e.cellChange;
    return `${head} ${paint('magenta', 'cell')}   ${c.path || '(root)'} ${paint(CONDITION_STYLE[c.previous], condName(c.previous))} -> ${paint(CONDITION_STYLE[c.current], condName(c.current))}${confName(c.confidence)}`;
  }
  if (e.gap) {
    const g = e.gap;
    return `${head} ${paint(['yellow', 'bold'], 'gap')}    missed ${g.missed} events (#${g.fromOffset}..#${g.toOffset}): ${g.reason}`;
  }
  return `${head} (unknown event)`;
}

export function eventJson(e: Event): string {
  return JSON.stringify(Event.toJSON(e));
}
