// The journal's writer thread. RocksDB writes through @nxtedition/rocksdb are synchronous: a
// synced write (fsync of the WAL) would stop the aggregator's event loop for its duration. This
// worker shares the database handle of the main thread and does the writes, one group commit
// at a time, while the main thread goes on taking batches for the next group.
import { parentPort, workerData } from 'node:worker_threads';
import { RocksLevel } from '@nxtedition/rocksdb';
import { writeBatchSync } from './batch.js';

export interface WriteRequest {
  id: number;
  sync: boolean;
  /** Keys and values, alternating; a value of length 0 with `dels` flag is not used. */
  puts: Uint8Array[];
  /** Single keys to delete (in the same atomic batch as the puts). */
  dels: Uint8Array[];
  /** Ranges to delete after the batch: [gte, lt] pairs. */
  deleteRanges: Uint8Array[];
}

export interface WriteReply {
  id: number;
  ms: number;
  error?: string;
}

const port = parentPort;
if (!port) throw new Error('journal writer: run as a worker thread');

const db = new RocksLevel(workerData as bigint, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
await db.open();

port.on('message', async (m: WriteRequest | 'close') => {
  if (m === 'close') {
    port.postMessage('closed');
    return;
  }
  const t0 = performance.now();
  try {
    if (m.puts.length > 0 || m.dels.length > 0) writeBatchSync(db, m.puts, m.dels, m.sync);
    for (let i = 0; i < m.deleteRanges.length; i += 2) await db.clear({ gte: m.deleteRanges[i]!, lt: m.deleteRanges[i + 1]! });
    port.postMessage({ id: m.id, ms: performance.now() - t0 } satisfies WriteReply);
  } catch (e) {
    port.postMessage({ id: m.id, ms: performance.now() - t0, error: (e as Error).message || String(e) } satisfies WriteReply);
  }
});
port.postMessage('ready');
