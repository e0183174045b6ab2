// The causal chain of a narrative: its evidence in the order things happened. Happens-before
// (vector clocks) decides where it can — a consumer whose clock has merged a producer's entry
// read what that producer sent, whatever the wall clocks say. Where clocks cannot tell (different
// agents that never exchanged clocks are concurrent), the causal story of a Kafka incident
// decides — broker, then client latency and errors, then buffers, rebalances, lag — and then time.
import { compareClocks, type Evidence } from '../proto/index.js';
import { stageRank } from '../observers/index.js';

const hasClock = (e: Evidence): boolean => {
  for (const _ in e.clock) return true;
  return false;
};

/** Orders evidence by happens-before, then stage, then time (a topological sort: chains are short). */
export function orderChain(items: Evidence[]): Evidence[] {
  const n = items.length;
  const before: number[][] = Array.from({ length: n }, () => []);
  const waiting = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    if (!hasClock(items[i]!)) continue;
    for (let j = i + 1; j < n; j++) {
      if (!hasClock(items[j]!)) continue;
      const o = compareClocks(items[i]!.clock, items[j]!.clock);
      if (o === 'before') {
        before[i]!.push(j);
        waiting[j]!++;
      } else if (o === 'after') {
        before[j]!.push(i);
        waiting[i]!++;
      }
    }
  }
  const ready = new Set<number>();
  for (let i = 0; i < n; i++) if (waiting[i] === 0) ready.add(i);
  const out: Evidence[] = [];
  while (out.length < n) {
    let pick = -1;
    for (const i of ready) if (pick < 0 || precedes(items[i]!, items[pick]!)) pick = i;
    if (pick < 0) {
      // A cycle cannot come from consistent clocks; should one arrive, fall back to the simple order.
      for (let i = 0; i < n; i++) if (!out.includes(items[i]!)) ready.add(i);
      continue;
    }
    ready.delete(pick);
    out.push(items[pick]!);
    for (const j of before[pick]!) if (--waiting[j]! === 0) ready.add(j);
  }
  return out;
}

function precedes(a: Evidence, b: Evidence): boolean {
  const ra = stageRank(a.stage);
  const rb = stageRank(b.stage);
  if (ra !== rb) return ra < rb;
  if (a.time !== b.time) return a.time < b.time;
  if (a.subject !== b.subject) return a.subject < b.subject;
  return a.seq < b.seq;
}
