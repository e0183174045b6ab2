// `kafka-obs replay`: re-runs a stored stretch of the journal through the current pipeline,
// offline, and prints the narratives it reaches — to reconstruct an incident, or to try a
// changed rule on last night's data. Signals are fed at the times the aggregator first heard
// them, with the pipeline's ticks in between (and at every time a tick produced something then),
// so the same rules reach the same conclusions. With --compare it also prints what the journal
// recorded for the same stretch and says whether they agree.
import { Narrative, Narrative_State, Situation_Level, type Narrative as NarrativeT } from '../proto/index.js';
import { Pipeline } from '../aggregator/pipeline.js';
import { pipelineSettings } from '../aggregator/server.js';
import type { AggregatorConfig } from '../aggregator/config.js';
import { Journal, JournalError } from '../aggregator/journal/journal.js';
import { feedBlocks, tickThrough } from '../aggregator/recovery.js';
import { decodeFramed, indexEvents } from '../aggregator/journal/codec.js';
import { rfc3339 } from '../aggregator/api.js';

export interface ReplayOptions {
  dataDir: string;
  /** Unix nanos; 0 = from the start / to the end of the journal. */
  fromNs: bigint;
  toNs: bigint;
  /** Only narratives whose root or chain is under this path. */
  prefix: string;
  /** Time to let pass after the last signal when no --to is given (narratives resolve, causes are waited for). */
  settleMs: number;
  json: boolean;
  compare: boolean;
  config: AggregatorConfig;
}

export interface ReplayResult {
  signals: number;
  narratives: NarrativeT[];
  recorded: NarrativeT[];
  same: boolean | undefined;
  ms: number;
}

const under = (s: string, p: string): boolean => p === '' || s === p || (s.startsWith(p) && (s[p.length] === '/' || s[p.length] === '#'));
const touches = (n: NarrativeT, p: string): boolean => under(n.rootSubject, p) || n.causalChain.some((e) => under(e.subject, p));

/** What makes two narratives "the same incident, told the same way". */
function essence(n: NarrativeT): string {
  return JSON.stringify({ root: n.rootSubject, rootCause: n.rootCause, situation: n.situation, level: n.level, resolved: n.state === Narrative_State.RESOLVED, chain: [...new Set(n.causalChain.map((e) => `${e.subject} ${e.stage}`))].sort() });
}

export async function replay(o: ReplayOptions): Promise<ReplayResult> {
  const t0 = performance.now();
  const journal = new Journal({ path: `${o.dataDir.replace(/\/$/, '')}/journal`, sync: 'os', retention: { signalsMs: 0, signalsBytes: 0, verdictsMs: 0, verdictsBytes: 0 }, mustExist: true });
  await journal.open();
  try {
    const pipeline = new Pipeline(pipelineSettings(o.config, 'replay-'));
    const tickNs = BigInt(o.config.tickMs) * 1_000_000n;
    const last = new Map<string, NarrativeT>();
    const keep = (events: { narrative?: NarrativeT }[]): void => {
      for (const e of events) if (e.narrative) last.set(e.narrative.id, e.narrative);
    };
    const from = o.fromNs > 0n ? await journal.offsetAtTime(o.fromNs) : journal.firstOffset;
    const fed = await feedBlocks(journal.blocksFrom(from), pipeline, { tickNs, fromTime: o.fromNs, toTime: o.toNs, onOutput: keep });
    if (fed.signals === 0) throw new JournalError(`no signals in the journal at ${journal.path} between ${o.fromNs > 0n ? rfc3339(o.fromNs) : 'its start'} and ${o.toNs > 0n ? rfc3339(o.toNs) : 'its end'} (it holds offsets ${journal.firstOffset} to ${journal.nextOffset - 1n})`, 'missing');
    // Time passes after the last signal: up to --to, or for the settle time.
    const end = o.toNs > 0n ? o.toNs : fed.lastTime + BigInt(o.settleMs) * 1_000_000n;
    tickThrough(pipeline, fed.nextTick ?? fed.lastTime, end, tickNs, keep);
    const narratives = [...last.values()].filter((n) => touches(n, o.prefix));
    let recorded: NarrativeT[] = [];
    let same: boolean | undefined;
    if (o.compare) {
      const rec = new Map<string, NarrativeT>();
      for await (const v of journal.verdicts()) {
        const idx = indexEvents(v.framed);
        const t = idx.times[0]!;
        if (o.fromNs > 0n && t < o.fromNs) continue;
        if (t > end) break;
        const n = decodeFramed(v.framed, 0).narrative;
        if (n) rec.set(n.id, n);
      }
      recorded = [...rec.values()].filter((n) => touches(n, o.prefix));
      const a = narratives.map(essence).sort();
      const b = recorded.map(essence).sort();
      same = a.length === b.length && a.every((x, i) => x === b[i]);
    }
    return { signals: fed.signals, narratives, recorded, same, ms: performance.now() - t0 };
  } finally {
    await journal.close();
  }
}

/** A narrative as text, as `kafka-obs tail` shows one. */
export function narrativeText(n: NarrativeT): string {
  const state = Narrative_State[n.state] ?? String(n.state);
  const lines = [
    `== ${state} ${n.id}  revision ${n.revision}  (${Situation_Level[n.level] ?? n.level})`,
    `  situation:       ${n.situation}`,
    `  root cause:      ${n.rootCause}`,
    `  root subject:    ${n.rootSubject}`,
    `  recommendation:  ${n.recommendation}`,
    `  opened ${rfc3339(n.openedAt)}${n.resolvedAt ? `, resolved ${rfc3339(n.resolvedAt)}` : ''}`,
    '  causal chain:',
    ...n.causalChain.map((e, i) => `    ${String(i + 1).padStart(2)}. ${rfc3339(e.time)}  ${e.subject}  ${e.sign}${e.detail ? `  (${e.detail})` : ''}`),
  ];
  return lines.join('\n');
}

export function printReplay(r: ReplayResult, o: ReplayOptions, write: (s: string) => void): void {
  if (o.json) {
    for (const n of r.narratives) write(`${JSON.stringify({ replayed: Narrative.toJSON(n) })}\n`);
    for (const n of r.recorded) write(`${JSON.stringify({ recorded: Narrative.toJSON(n) })}\n`);
    if (o.compare) write(`${JSON.stringify({ same: r.same })}\n`);
    return;
  }
  write(`replayed ${r.signals} signals in ${Math.round(r.ms)} ms: ${r.narratives.length} narrative(s)\n`);
  for (const n of r.narratives) write(`${narrativeText(n)}\n`);
  if (o.compare) {
    write(`\nrecorded in the journal: ${r.recorded.length} narrative(s)\n`);
    for (const n of r.recorded) write(`${narrativeText(n)}\n`);
    write(`\n${r.same ? 'SAME: the replay reaches the narratives the journal recorded' : 'DIFFERENT: the replay does not reach what the journal recorded'}\n`);
  }
}
