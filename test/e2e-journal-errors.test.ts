// The journal when things go wrong. A full disk (a small tmpfs, filled): the aggregator stops
// acknowledging and taking signals, says why in its log, metrics and /readyz, the agent keeps
// what it has, and once space returns everything arrives, exactly once, and the directory opens
// again. A corrupt directory, one of an older format and a foreign one: the aggregator refuses to
// start with a clear message saying what to do, and changes nothing.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { RocksLevel } from '@nxtedition/rocksdb';
import { agent, aggregator, getJson, postJson, run, tempDir, until, type AgentProc, type AggregatorProc } from './support/procs.js';
import { aggregatorClient } from './support/client.js';
import { brokerAspect } from './support/subjects.js';

const test = suite('journal errors');
let procs: (AgentProc | AggregatorProc)[] = [];
let mountPoint: string | undefined;

test.after.each(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  procs = [];
});

test.after(() => {
  if (mountPoint) {
    try {
      execFileSync('umount', [mountPoint]);
    } catch {
      // best effort
    }
  }
});

interface Status { connected: boolean; outbox: { signals: number; dropped: number } }

test('disk full: no acknowledgement, said in log, metrics and /readyz; everything arrives once space returns', async () => {
  // A 48 MiB filesystem of our own (we run as root, as CI does).
  mountPoint = mkdtempSync(join(tmpdir(), 'kafka-obs-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', mountPoint]);
  const dataDir = join(mountPoint, 'data');
  const agg = await aggregator(['--data-dir', dataDir, '--journal-min-free', '4MiB', '--journal-sync', 'fsync']);
  procs.push(agg);
  const a = await agent('full', agg.url, ['--outbox-capacity', '200000']);
  procs.push(a);
  const base = `http://127.0.0.1:${agg.httpPort}`;
  const post = async (from: number, n: number): Promise<void> => {
    const batch = Array.from({ length: n }, (_, k) => ({ subject: brokerAspect('prod', 1, 'under-replicated'), status: { condition: 'DEGRADED', confidence: 'MEASURED' }, context: { id: String(from + k), pad: randomBytes(300).toString('base64') } }));
    const r = await postJson(`http://127.0.0.1:${a.httpPort}/v1/signals`, batch);
    assert.is(r.status, 200);
  };
  let sent = 0;
  await post(sent, 500);
  sent += 500;
  await until(async () => (await getJson<Status>(`http://127.0.0.1:${a.httpPort}/v1/status`)).outbox.signals === 0, 'the first signals acknowledged');
  // Fill the filesystem, leaving about 1 MiB.
  const filler = join(mountPoint, 'filler');
  const fs = statfsSync(mountPoint);
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(1024 * 1024, 1);
  let left = fs.bavail * fs.bsize - 1024 * 1024;
  while (left > 0) {
    try {
      writeSync(fd, chunk, 0, Math.min(chunk.length, left));
    } catch {
      break;
    }
    left -= chunk.length;
  }
  closeSync(fd);
  // Keep sending until the journal cannot write.
  for (let i = 0; i < 200; i++) {
    const ready = await fetch(`${base}/readyz`);
    if (ready.status === 503) break;
    await post(sent, 500);
    sent += 500;
  }
  const ready = await fetch(`${base}/readyz`);
  assert.is(ready.status, 503, '/readyz says not ready');
  assert.match(await ready.text(), /disk is full/);
  await agg.waitForLog((l) => l.msg.startsWith('journal write failed'));
  assert.match(await (await fetch(`${base}/metrics`)).text(), /kafkaobs_journal_writable\{reason="disk_full"\} 0/);
  // The agent keeps what was not acknowledged; nothing is dropped.
  await post(sent, 500);
  sent += 500;
  const held = await getJson<Status>(`http://127.0.0.1:${a.httpPort}/v1/status`);
  assert.ok(held.outbox.signals > 0, `the agent holds unacknowledged signals (${held.outbox.signals})`);
  assert.is(held.outbox.dropped, 0);
  assert.is(agg.child.exitCode, null, 'the aggregator did not crash');

  // Space returns: writing resumes by itself, and everything arrives.
  rmSync(filler);
  await agg.waitForLog((l) => l.msg === 'journal writes again: taking and acknowledging signals', 30_000);
  await until(async () => (await fetch(`${base}/readyz`)).status === 200, 'ready again');
  await until(async () => (await getJson<Status>(`http://127.0.0.1:${a.httpPort}/v1/status`)).outbox.signals === 0, 'every signal acknowledged', 60_000);
  const { client, channel } = aggregatorClient(agg.url);
  const ids: string[] = [];
  for await (const e of client.replay({ fromTime: 0n, toTime: 0n, subjectPrefix: 'cluster/prod', kinds: [1], fromOffset: 0n, toOffset: 0n, limit: 0 })) ids.push(e.signal!.context.id!);
  channel.close();
  assert.is(new Set(ids).size, ids.length, 'none twice');
  const have = new Set(ids);
  const missing = Array.from({ length: sent }, (_, i) => String(i)).filter((i) => !have.has(i));
  assert.equal(missing, [], 'every signal journalled once space returned');

  // Not corrupt: a restart on the same directory opens it with everything in it.
  assert.is(await agg.kill('SIGTERM'), 0);
  const again = await aggregator(['--data-dir', dataDir]);
  procs.push(again);
  const recovered = again.lines.find((l) => l.msg === 'journal opened and pipeline recovered')!;
  assert.ok((recovered.tailSignals as number) >= sent, 'the journal reopens whole after the disk was full');
});

/** Starts an aggregator on `dataDir` expecting it to refuse: its exit code and what it said. */
async function refused(dataDir: string): Promise<{ code: number | null; said: string }> {
  const p = run(['aggregator', '--grpc-port', '0', '--http-port', '0', '--grpc-host', '127.0.0.1', '--http-host', '127.0.0.1', '--data-dir', dataDir], 'aggregator');
  const code = await p.exited;
  return { code, said: p.lines.map((l) => `${l.msg} ${String(l.err ?? '')}`).join('\n') };
}

async function journalWithSignals(): Promise<string> {
  const dataDir = tempDir('jerr-');
  const agg = await aggregator(['--data-dir', dataDir]);
  const { client, channel } = aggregatorClient(agg.url);
  const { streamSignals, signal } = await import('./support/client.js');
  await streamSignals(client, [[signal({ sourceId: 'err-src', subject: brokerAspect('prod', 2, 'offline-partitions') })]]);
  channel.close();
  assert.is(await agg.kill('SIGTERM'), 0);
  return dataDir;
}

test('a corrupt journal: refused with what to do', async () => {
  const dataDir = await journalWithSignals();
  const dir = join(dataDir, 'journal');
  const manifest = readdirSync(dir).find((f) => f.startsWith('MANIFEST-'))!;
  writeFileSync(join(dir, manifest), Buffer.alloc(4096, 0xab));
  const r = await refused(dataDir);
  assert.is(r.code, 3);
  assert.match(r.said, /corrupt/);
  assert.match(r.said, /Move the directory aside/);
});

test('a journal of an older format version: refused, unchanged', async () => {
  const dataDir = await journalWithSignals();
  const db = new RocksLevel(join(dataDir, 'journal'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  const batch = db.batch();
  batch.put(Buffer.from('Mformat'), Buffer.from(JSON.stringify({ format: 'kafka-obs-journal', version: 0 })));
  batch._writeSync({ sync: true });
  await db.close();
  const r = await refused(dataDir);
  assert.is(r.code, 3);
  assert.match(r.said, /format version 0; this kafka-obs reads version 1/);
  assert.match(r.said, /nothing was changed/);
});

test('a foreign directory: refused, untouched', async () => {
  const dataDir = tempDir('foreign-');
  mkdirSync(join(dataDir, 'journal'));
  writeFileSync(join(dataDir, 'journal', 'notes.txt'), 'not a journal');
  const r = await refused(dataDir);
  assert.is(r.code, 3);
  assert.match(r.said, /is not a kafka-obs journal/);
  assert.equal(readdirSync(join(dataDir, 'journal')), ['notes.txt']);
  // A RocksDB database that is not ours.
  const other = tempDir('foreign-');
  const db = new RocksLevel(join(other, 'journal'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open({ createIfMissing: true });
  const batch = db.batch();
  batch.put(Buffer.from('hello'), Buffer.from('world'));
  batch._writeSync({ sync: true });
  await db.close();
  const r2 = await refused(other);
  assert.is(r2.code, 3);
  assert.match(r2.said, /not a kafka-obs journal/);
});

test.run();
