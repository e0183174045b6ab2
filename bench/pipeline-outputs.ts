// The pipeline bench's stream, replayed once through the full pipeline, every event out written
// down as it is emitted: a check that a change made for speed changed nothing users read.
//
//   node dist/bench/pipeline-outputs.js [copies=2] [laps=2] [file] [--unnamed]
//
// --unnamed: every other copy's client signals name no cluster (context "cluster" dropped), so the
// symptom board holds episodes naming none, which every cluster's cascade may take in.
//
// Prints a SHA-256 of the outputs (and writes them, one JSON line an event, to `file` if given):
// run it before and after a change and compare. Events are serialized when emitted, so a later
// mutation of an emitted object would not hide (the event log keeps references to them).
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Pipeline } from '../aggregator/pipeline.js';
import { pipelineSettings } from '../aggregator/server.js';
import { AGGREGATOR_DEFAULTS } from '../aggregator/config.js';
import type { EventPayload } from '../aggregator/event-log.js';
import { EPOCH_NS, TICK_NS, buildEstate, instantiate } from './pipeline.js';

const args = process.argv.slice(2).filter((a) => a !== '--unnamed');
const unnamed = process.argv.includes('--unnamed');
const USAGE = 'usage: node dist/bench/pipeline-outputs.js [copies=2] [laps=2] [file] [--unnamed]';
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}
const copies = Number(args[0] ?? 2);
const laps = Number(args[1] ?? 2);
const file = args[2];
for (const [what, n] of [['copies', copies], ['laps', laps]] as const) {
  if (!Number.isInteger(n) || n < 1) {
    console.error(`${what} must be a whole number of at least 1, not "${what === 'copies' ? args[0] : args[1]}"\n${USAGE}`);
    process.exit(2);
  }
}

const estate = buildEstate(copies);
const pipeline = new Pipeline(pipelineSettings(AGGREGATOR_DEFAULTS, 'n-'));
const hash = createHash('sha256');
const sink = file ? createWriteStream(file) : undefined;
const out: EventPayload[] = [];
let events = 0;
const json = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));
const flush = (what: string): void => {
  for (const e of out) {
    const line = `${what} ${json(e)}\n`;
    hash.update(line);
    sink?.write(line);
    events++;
  }
  out.length = 0;
};
let lapBase = EPOCH_NS;
let nextTick = lapBase + TICK_NS;
const tick = (upTo: bigint): void => {
  while (nextTick <= upTo) {
    pipeline.tick(nextTick, out);
    flush(`tick ${nextTick}`);
    nextTick += TICK_NS;
  }
};
for (let lap = 0; lap < laps; lap++) {
  for (let i = 0; i < estate.size; i++) {
    const at = lapBase + estate.arrivalNs[i]!;
    tick(at);
    const s = instantiate(estate, i, lap, lapBase);
    if (unnamed && s.subject.startsWith('service/') && /c[13579]$/.test(s.sourceId)) delete s.context.cluster;
    pipeline.ingest(s, at, out);
    flush(`signal ${lap}/${i}`);
  }
  tick(lapBase + estate.lapNs);
  lapBase += estate.lapNs;
}
// What the API answers at the end too.
hash.update(json(pipeline.listNarratives({ includeResolved: true, limit: 0, subjectPrefix: "" })));
hash.update(json(pipeline.hierarchy.get('', 0)));
sink?.end();
console.log(`${hash.digest('hex')}  ${events} events, ${estate.size * laps} signals, ${pipeline.hierarchy.size} cells (${copies} copies, ${laps} laps${unnamed ? ', every other copy\'s clients naming no cluster' : ''})`);
