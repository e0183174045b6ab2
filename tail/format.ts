// `kafka-obs tail`: subscribe and print each event on one line (coloured on a terminal) — a
// narrative as a short block a person can read: situation, root cause, chain, what to do — or as
// canonical JSON with --json.
import { styleText } from 'node:util';
import {
  CONDITION_STYLE,
  LEVEL_STYLE,
  Action_Sign,
  Narrative_State,
  Situation_Level,
  Situation_Variability,
  Status_Condition,
  Status_Confidence as Confidence,
  describeSign,
  Event,
  type Narrative,
} from '../proto/index.js';

type Style = Parameters<typeof styleText>[0];

export function formatTime(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString().slice(11, 23);
}

const condName = (c: Status_Condition): string => (c === Status_Condition.CONDITION_UNSPECIFIED ? 'UNKNOWN' : Status_Condition[c] ?? String(c));
const confName = (c: Confidence): string => (c === Confidence.CONFIDENCE_UNSPECIFIED ? '' : ` (${Confidence[c]})`);

const levelName = (l: Situation_Level): string => Situation_Level[l] ?? String(l);

/** One readable line per event; a narrative is a block of lines (wrapped at `width`). */
export function formatEvent(e: Event, color: boolean, width = 100): string {
  const paint = (style: Style | undefined, text: string): string => (color && style ? styleText(style, text) : text);
  // An event a leaf aggregator forwarded (federation) says which leaf decided it.
  const head = `${paint('dim', `#${e.offset}`)} ${paint('dim', formatTime(e.time))}${e.leaf ? ` ${paint('dim', `[leaf ${e.leaf}]`)}` : ''}`;
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
  if (e.finding) {
    const f = e.finding;
    const state = f.resolved ? paint('green', 'over') : paint(CONDITION_STYLE[f.condition], condName(f.condition));
    return `${head} ${paint('cyan', 'finding')} ${f.observer} ${f.subject} ${state}${f.resolved ? '' : confName(f.confidence)} ${paint('dim', f.id)}: ${f.summary}`;
  }
  if (e.situation) {
    const s = e.situation;
    const variability = s.variability === Situation_Variability.VARIABILITY_UNSPECIFIED ? '' : ` (${Situation_Variability[s.variability]})`;
    return `${head} ${paint('cyan', 'situation')} ${s.subject} ${paint(LEVEL_STYLE[s.previous], levelName(s.previous))} -> ${paint(LEVEL_STYLE[s.current], levelName(s.current))}${variability}${s.reason ? `: ${s.reason}` : ''}`;
  }
  if (e.narrative) return formatNarrative(head, e.narrative, paint, width);
  if (e.action) {
    const a = e.action;
    return `${head} ${paint('cyan', 'action')} ${a.actor} ${Action_Sign[a.sign] ?? a.sign} narrative ${a.narrativeId}${a.target ? ` -> ${a.target}` : ''}${a.dryRun ? ' (dry run)' : ''}${a.attempt > 1 ? ` attempt ${a.attempt}` : ''}${a.detail ? `: ${a.detail}` : ''}`;
  }
  return `${head} (unknown event)`;
}

type Paint = (style: Style | undefined, text: string) => string;

/**
 * A narrative as a person reads it: what is happening, what started it, in which order, what to
 * do. Opening and updates print it whole; resolution prints what it was and how long it lasted.
 */
function formatNarrative(head: string, n: Narrative, paint: Paint, width: number): string {
  const state = Narrative_State[n.state] ?? String(n.state);
  const resolved = n.state === Narrative_State.RESOLVED;
  const lines = [
    `${head} ${paint(['magenta', 'bold'], 'narrative')} ${paint(resolved ? 'green' : LEVEL_STYLE[n.level], state)} ${n.id} (rev ${n.revision}) ${paint(LEVEL_STYLE[n.level], levelName(n.level))}, confidence ${Confidence[n.confidence] ?? n.confidence}${resolved && n.openedAt > 0n ? `, lasted ${duration(n.resolvedAt - n.openedAt)}` : ''}`,
  ];
  const field = (name: string, text: string): void => {
    const label = `  ${name.padEnd(15)} `;
    const wrapped = wrap(text, Math.max(40, width - label.length));
    lines.push(`${paint('bold', label)}${wrapped[0] ?? ''}`);
    for (const w of wrapped.slice(1)) lines.push(`${' '.repeat(label.length)}${w}`);
  };
  field('situation', n.situation);
  field('root cause', n.rootCause);
  if (!resolved) {
    n.causalChain.forEach((c, i) => field(i === 0 ? 'causal chain' : '', `${i + 1}. ${formatTime(c.time)} ${c.subject} ${c.sign}${c.detail ? ` (${c.detail})` : ''}`));
    field('recommendation', n.recommendation);
  }
  return lines.join('\n');
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) out.push(line);
  return out;
}

function duration(ns: bigint): string {
  const s = Number(ns / 1_000_000_000n);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export function eventJson(e: Event): string {
  return JSON.stringify(Event.toJSON(e));
}
