// The upstream's side of federation, in process: dedupe by (leaf, journal, offset), leaf
// narratives kept with their ids and listed, entity cells mirrored and marked with their leaf,
// and bad input refused precisely and counted.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Action_Sign, Narrative_State, Situation_Level, Status_Condition, Status_Confidence, type Event, type Narrative } from '../proto/index.js';
import { HierarchyManager } from '../hierarchy/manager.js';
import { EventLog } from '../aggregator/event-log.js';
import { FederationRefusal, FederationUpstream } from '../aggregator/federation/upstream.js';

const test = suite('federation: the upstream');
let clock = 1_000_000_000n;
const now = (): bigint => (clock += 1_000_000n);

function setup() {
  const log = new EventLog(10_000);
  const hierarchy = new HierarchyManager();
  return { log, hierarchy, up: new FederationUpstream(log, hierarchy, now) };
}

const narrative = (id: string, state: Narrative_State, revision: number): Narrative => ({
  id, state, situation: 'Broker 1 under-replicated', causalChain: [], rootCause: 'broker 1', rootSubject: 'cluster/east/broker/1', recommendation: 'check it',
  confidence: Status_Confidence.MEASURED, level: Situation_Level.CRITICAL, openedAt: 1n, updatedAt: BigInt(revision), resolvedAt: state === Narrative_State.RESOLVED ? 2n : 0n, revision, findingIds: [],
});
const ev = (offset: bigint, payload: Omit<Event, 'offset' | 'time'>): Event => ({ offset, time: 1n, ...payload });
const cell = (path: string, current: Status_Condition) => ({ path, previous: Status_Condition.STABLE, current, confidence: Status_Confidence.MEASURED, causeSourceId: 'a', causeSeq: 1n, stale: false, reason: '' });

test('events are taken once by (leaf, journal, offset); narratives keep their ids; cells are mirrored with their leaf', () => {
  const { up, hierarchy } = setup();
  const batch = { leaf: 'east', journalId: 'j1', cells: [], events: [ev(3n, { cellChange: cell('cluster/east/broker/1', Status_Condition.DEGRADED) }), ev(5n, { narrative: narrative('n-1', Narrative_State.OPEN, 1) })] };
  up.check(batch, 10_000);
  const a = up.ingest(batch);
  assert.equal([a.ackedOffset, a.accepted, a.duplicates, a.rejected], [5n, 2, 0, 0]);
  const again = up.ingest(batch);
  assert.equal([again.ackedOffset, again.accepted, again.duplicates], [5n, 0, 2], 'resent: duplicates');
  // Another journal of the same leaf (its data directory replaced) is a new sequence.
  assert.is(up.ingest({ ...batch, journalId: 'j2' }).accepted, 2);
  const listed = up.merge({ narratives: [] }, { includeResolved: false, limit: 0, subjectPrefix: '' });
  assert.equal(listed.narratives.map((n) => [n.id, n.leaf]), [['n-1', 'east']]);
  const root = up.tagCells(hierarchy.get('', 0)!);
  const broker = root.children[0]!.children[0]!.children[0]!.children[0]!;
  assert.equal([broker.path, broker.leaf, broker.condition], ['cluster/east/broker/1', 'east', Status_Condition.DEGRADED]);
  up.ingest({ leaf: 'east', journalId: 'j1', cells: [], events: [ev(6n, { narrative: narrative('n-1', Narrative_State.RESOLVED, 2) })] });
  assert.is(up.merge({ narratives: [] }, { includeResolved: false, limit: 0, subjectPrefix: '' }).narratives.length, 0, 'resolved: no longer open');
  assert.is(up.merge({ narratives: [] }, { includeResolved: true, limit: 0, subjectPrefix: '' }).narratives[0]!.revision, 2);
  // Restored from the journal's high-waters: the dedupe survives a restart.
  const fresh = setup().up;
  fresh.restore(new Map([['federation/east/j1', 6n], ['some-agent', 9n]]));
  assert.equal([...fresh.leaves.keys()], ['federation/east/j1']);
  assert.is(fresh.ingest(batch).duplicates, 2);
});

test('bad input: a precise refusal, counted', () => {
  const { up } = setup();
  const refusal = (f: () => void): FederationRefusal => {
    try {
      f();
    } catch (e) {
      if (e instanceof FederationRefusal) return e;
      throw e;
    }
    throw new Error('not refused');
  };
  const r1 = refusal(() => up.check({ leaf: 'east/../x', journalId: 'j', events: [], cells: [] }, 100));
  assert.is(r1.reason, 'invalid_leaf');
  assert.match(r1.message, /FederationBatch\.leaf "east\/\.\.\/x" is not a leaf name/);
  assert.is(refusal(() => up.check({ leaf: 'east', journalId: '', events: [], cells: [] }, 100)).reason, 'invalid_journal_id');
  const big = refusal(() => up.check({ leaf: 'east', journalId: 'j', events: Array.from({ length: 101 }, (_, i) => ev(BigInt(i + 1), { situation: { subject: 's', previous: 1, current: 2, variability: 1, reason: '' } })), cells: [] }, 100));
  assert.is(big.reason, 'oversize_batch');
  assert.match(big.message, /101 events and 0 cells, more than the limit of 100/);
  const ack = up.ingest({
    leaf: 'east', journalId: 'j', cells: [cell('cluster/east/broker/1#under-replicated', Status_Condition.DEGRADED)],
    events: [
      ev(1n, {}),
      ev(2n, { action: { id: 'a', actor: 'log', narrativeId: 'n', target: 't', sign: Action_Sign.DELIVER, detail: '', dryRun: false, attempt: 1 } }),
      ev(3n, { narrative: narrative('', Narrative_State.OPEN, 1) }),
      ev(4n, { cellChange: cell('cluster/east/broker/1', 99 as Status_Condition) }),
    ],
  });
  assert.equal([ack.ackedOffset, ack.accepted, ack.rejected], [4n, 0, 5], 'refused events are handled: not asked for again');
  assert.equal(ack.rejections, [
    'snapshot cell "cluster/east/broker/1#under-replicated": only entity cells are forwarded (not the root, not aspects)',
    'event at leaf offset 1: event without a payload',
    'event at leaf offset 2: actions are not forwarded (the upstream acts on the narratives itself)',
    'event at leaf offset 3: narrative without an id',
    'event at leaf offset 4: unknown condition 99 or confidence 2',
  ]);
  assert.equal(Object.fromEntries(up.stats.rejected), { invalid_event: 4, unexpected_kind: 1 });
});

test.run();
