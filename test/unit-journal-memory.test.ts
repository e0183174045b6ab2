// The journal holds nothing of what it has written. A real RocksDB in a temporary directory, the
// inline writer (so the written buffers live in this isolate, where they can be measured): 40 MB
// of signals go through the event log and the journal, and the memory buffers take afterwards
// stays where the event log's ring puts it. Before the fix, every write batch stayed attached to
// the database with all its buffers (abstract-level detaches a batch only in its own write() and
// close(), which the journal does not call): the growth was everything ever written.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { EventLog } from '../aggregator/event-log.js';
import { Journal } from '../aggregator/journal/journal.js';
import { tempDir } from './support/procs.js';
import { signal } from './support/client.js';
import { producerAspect } from './support/subjects.js';

const test = suite('journal memory');
const S = 1_000_000_000n;
const T0 = 1_800_000_000n * S;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function buffersAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().arrayBuffers;
}

test('40 MB journalled leaves no more than the event ring in memory', async () => {
  const journal = new Journal({ path: join(tempDir('unit-journal-memory-'), 'journal'), sync: 'os', retention: { signalsMs: 0, signalsBytes: 0, verdictsMs: 0, verdictsBytes: 0 }, writer: 'inline' });
  const state = await journal.open();
  const log = new EventLog(1000, { journal, nextOffset: state.nextOffset });
  const subject = producerAspect('orders', 'orders-1', 'p', 'buffer');
  const pad = 'x'.repeat(2000);
  const before = buffersAfterGc();
  let seq = 0n;
  let written = 0;
  for (let g = 0; g < 400; g++) {
    for (let i = 0; i < 50; i++) {
      const s = signal({ sourceId: 'src', seq: ++seq, subject, timestamp: T0 + seq, context: { pad: `${pad}${g}-${i}` } });
      log.appendSignal(s, undefined, T0 + seq);
      written += pad.length;
    }
    await log.committedAll();
  }
  const grown = buffersAfterGc() - before;
  await journal.close();
  assert.ok(written > 39_000_000, `wrote ${written} bytes`);
  // The ring keeps the last 1,000 events (about 2 MB here); the rest must be gone.
  assert.ok(grown < 12_000_000, `buffers grew by ${(grown / 1e6).toFixed(1)} MB after ${(written / 1e6).toFixed(0)} MB journalled`);
});

test.run();
