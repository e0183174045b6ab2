// Vector clocks: source id -> counter. They order evidence by happens-before, not by arrival.
export type VectorClock = { [source: string]: bigint };

export type Order = 'before' | 'after' | 'equal' | 'concurrent';

/** Raises each entry of `into` to at least the entry of `from` (in place). */
export function mergeClock(into: VectorClock, from: VectorClock): VectorClock {
  for (const k in from) {
    const v = from[k]!;
    const mine = into[k];
    if (mine === undefined || v > mine) into[k] = v;
  }
  return into;
}

/** How `a` relates to `b`: before (a happened-before b), after, equal, or concurrent. */
export function compareClocks(a: VectorClock, b: VectorClock): Order {
  let less = false;
  let greater = false;
  for (const k in a) {
    const av = a[k]!;
    const bv = b[k] ?? 0n;
    if (av < bv) less = true;
    else if (av > bv) greater = true;
  }
  for (const k in b) {
    if (k in a) continue;
    if (b[k]! > 0n) less = true;
  }
  if (less && greater) return 'concurrent';
  if (less) return 'before';
  if (greater) return 'after';
  return 'equal';
}

/**
 * Keeps at most `max` entries, always keeping `keep` (the owner's entry): the entries with the
 * highest counters are the freshest knowledge, so the lowest go first.
 */
export function boundClock(c: VectorClock, max: number, keep: string): VectorClock {
  const keys = Object.keys(c);
  if (keys.length <= max) return c;
  const others = keys.filter((k) => k !== keep).sort((x, y) => (c[y]! > c[x]! ? 1 : c[y]! < c[x]! ? -1 : 0));
  const out: VectorClock = {};
  if (c[keep] !== undefined) out[keep] = c[keep]!;
  for (const k of others.slice(0, max - Object.keys(out).length)) out[k] = c[k]!;
  return out;
}
