// One atomic RocksDB write, synchronous: the journal's group commits (on the event loop or in its
// writer thread) and its format record all go through here.
import type { RocksLevel } from '@nxtedition/rocksdb';

/** Writes `puts` (keys and values, alternating) and `dels` as one batch, synced when `sync`. */
export function writeBatchSync(db: RocksLevel, puts: readonly Uint8Array[], dels: readonly Uint8Array[], sync: boolean): void {
  const batch = db.batch();
  try {
    for (let i = 0; i < puts.length; i += 2) batch.put(puts[i]!, puts[i + 1]!);
    for (const k of dels) batch.del(k);
    batch._writeSync({ sync });
  } finally {
    // abstract-level detaches a batch only in its own write() or close(), which this does not
    // call: without both, the batch and every buffer put in it stay attached to the db for good.
    batch._closeSync();
    db.detachResource(batch);
  }
}
