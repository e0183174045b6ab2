// `kafka-obs replay`: re-runs a stored stretch of the journal through the current pipeline,
// offline, and prints the narratives it reaches — to reconstruct an incident, or to try a
// changed rule on last night's data. Signals are fed at the times the aggregator first heard
// them, with the pipeline's ticks in between (and at every time a tick produced something then),
// so the same rules reach the same conclusions. With --compare it also prints what the journal
// recorded for the same stretch and says whether they agree.
import { createChannel, createClientFactory } from 'nice-grpc';
import { EventKind, Narrative, Narrative_State, SignalAggregatorDefinition, Situation_Level, directDefinition, type Narrative as NarrativeT } from '../proto/index.js';
import { bearerToken, channelCredentials, channelOptions, parseTarget, type ClientTls } from '../agent/connection.js';
import { ByteWriter, writeEvent } from '../aggregator/journal/codec.js';
import { Pipeline } from '../aggregator/pipeline.js';
import { pipelineSettings } from '../aggregator/server.js';
import type { AggregatorConfig } from '../aggregator/config.js';
import { Journal, JournalError } from '../aggregator/journal/journal.js';
import { feedBlocks, tickThrough } from '../aggregator/recovery.js';
import { decodeFramed, indexEvents } from '../aggregator/journal/codec.js';
import { rfc3339 } from '../aggregator/api.js';

export interface ReplayOptions {
  dataDir: string;
  /** Read from a running aggregator's Replay call instead of a data directory. */
  url?: string;
  tls?: ClientTls;
  token?: string;
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

/** A running aggregator's journal through its Replay call, as blocks of framed events. */
async function replayOverGrpc(o: ReplayOptions): Promise<ReplayResult> {
  const t0 = performance.now();
  const target = parseTarget(o.url!);
  const tls = o.tls ?? {};
  const channel = createChannel(target.address, channelCredentials(target, tls), channelOptions(tls));
  const factory = o.token ? createClientFactory().use(bearerToken(o.token)) : createClientFactory();
  const client = factory.create(directDefinition(SignalAggregatorDefinition), channel);
  try {
    const request = { fromTime: o.fromNs, toTime: o.toNs, subjectPrefix: '', kinds: [] as EventKind[], fromOffset: 0n, toOffset: 0n, limit: 0 };
    async function* blocks(): AsyncGenerator<{ first: bigint; bytes: Uint8Array }> {
      const w = new ByteWriter();
      let first = -1n;
      let n = 0;
      for await (const e of client.replay(request)) {
        if (first < 0n) first = e.offset;
        writeEvent(w, e);
        if (++n === 2000) {
          yield { first, bytes: w.take() };
          first = -1n;
          n = 0;
        }
      }
      if (n > 0) yield { first, bytes: w.take() };
    }
    const recordedRequest = { ...request, kinds: [EventKind.NARRATIVE] };
    return await run(o, blocks(), async function* () {
      for await (const e of client.replay(recordedRequest)) yield e.narrative!;
    }, t0);
  } finally {
    channel.close();
  }
}

export async function replay(o: ReplayOptions): Promise<ReplayResult> {
  if (o.url) return replayOverGrpc(o);
  const t0 = performance.now();
  const journal = new Journal({ path: `${o.dataDir.replace(/\/$/, '')}/journal`, sync: 'os', retention: { signalsMs: 0, signalsBytes: 0, verdictsMs: 0, verdictsBytes: 0 }, mustExist: true });
  await journal.open();
  try {
    const from = o.fromNs > 0n ? await journal.offsetAtTime(o.fromNs) : journal.firstOffset;
    const where = `the journal at ${journal.path} (offsets ${journal.firstOffset} to ${journal.nextOffset - 1n})`;
    return await run(o, journal.blocksFrom(from), async function* () {
      for await (const v of journal.verdicts()) {
        const n = decodeFramed(v.framed, 0).narrative;
        if (n) yield n;
      }
    }, t0, where);
  } finally {
    await journal.close();
  }
}

/** Feeds `blocks` to a fresh pipeline and, with --compare, reads what was recorded. */
async function run(
  o: ReplayOptions,
  blocks: AsyncIterable<{ first: bigint; bytes: Uint8Array }>,
  recordedNarratives: () => AsyncIterable<NarrativeT>,
  t0: number,
  where = `the aggregator at ${o.url}`,
): Promise<ReplayResult> {
  const pipeline = new Pipeline(pipelineSettings(o.config, 'replay-'));
  const tickNs = BigInt(o.config.tickMs) * 1_000_000n;
  const last = new Map<string, NarrativeT>();
  const keep = (events: { narrative?: NarrativeT }[]): void => {
    for (const e of events) if (e.narrative) last.set(e.narrative.id, e.narrative);
  };
  const fed = await feedBlocks(blocks, pipeline, { tickNs, fromTime: o.fromNs, toTime: o.toNs, onOutput: keep });
  if (fed.signals === 0) throw new JournalError(`no signals in ${where} between ${o.fromNs > 0n ? rfc3339(o.fromNs) : 'its start'} and ${o.toNs > 0n ? rfc3339(o.toNs) : 'its end'}`, 'missing');
  // Time passes after the last signal: up to --to, or for the settle time.
  const end = o.toNs > 0n ? o.toNs : fed.lastTime + BigInt(o.settleMs) * 1_000_000n;
  tickThrough(pipeline, fed.nextTick ?? fed.lastTime, end, tickNs, keep);
  const narratives = [...last.values()].filter((n) => touches(n, o.prefix));
  let recorded: NarrativeT[] = [];
  let same: boolean | undefined;
  if (o.compare) {
    const rec = new Map<string, NarrativeT>();
    for await (const n of recordedNarratives()) {
      if (o.fromNs > 0n && n.updatedAt < o.fromNs) continue;
      if (n.updatedAt > end) continue;
      rec.set(n.id, n);
    }
    recorded = [...rec.values()].filter((n) => touches(n, o.prefix));
    const a = narratives.map(essence).sort();
    const b = recorded.map(essence).sort();
    same = a.length === b.length && a.every((x, i) => x === b[i]);
  }
  return { signals: fed.signals, narratives, recorded, same, ms: performance.now() - t0 };
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
