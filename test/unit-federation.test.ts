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
  confidence: Status_Confidence.MEASURED, level: Situation_Level.CRITICAL, openedAt: 1n, updatedAt: BigInt(revision), resolvedAt: state === Narrative_State.RESOLVED ? 2n : 0n, revision, findingIds: [], leaves: [],
});
const ev = (offset: bigint, payload: Omit<Event, 'offset' | 'time'>): Event => ({ offset, time: 1n, ...payload });
const cell = (path: string, current: Status_Condition) => ({ path, previous: Status_Condition.STABLE, current, confidence: Status_Confidence.MEASURED, causeSourceId: 'a', causeSeq: 1n, stale: false, reason: '' });

test('events are taken once by (leaf, journal, offset); narratives keep their ids; cells are mirrored with their leaf', () => {
  const { up, hierarchy } = setup();
  const batch = { leaf: 'east', journalId: 'j1', group: '', cells: [], events: [ev(3n, { cellChange: cell('cluster/east/broker/1', Status_Condition.DEGRADED) }), ev(5n, { narrative: narrative('n-1', Narrative_State.OPEN, 1) })] };
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
  up.ingest({ leaf: 'east', journalId: 'j1', group: '', cells: [], events: [ev(6n, { narrative: narrative('n-1', Narrative_State.RESOLVED, 2) })] });
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
  const r1 = refusal(() => up.check({ leaf: 'east/../x', journalId: 'j', group: '', events: [], cells: [] }, 100));
  assert.is(r1.reason, 'invalid_leaf');
  assert.match(r1.message, /FederationBatch\.leaf "east\/\.\.\/x" is not a leaf name/);
  assert.is(refusal(() => up.check({ leaf: 'east', journalId: '', group: '', events: [], cells: [] }, 100)).reason, 'invalid_journal_id');
  const big = refusal(() => up.check({ leaf: 'east', journalId: 'j', group: '', events: Array.from({ length: 101 }, (_, i) => ev(BigInt(i + 1), { situation: { subject: 's', previous: 1, current: 2, variability: 1, reason: '' } })), cells: [] }, 100));
  assert.is(big.reason, 'oversize_batch');
  assert.match(big.message, /101 events and 0 cells, more than the limit of 100/);
  const ack = up.ingest({
    leaf: 'east', journalId: 'j', group: '', cells: [cell('cluster/east/broker/1#under-replicated', Status_Condition.DEGRADED)],
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

/** The narratives the upstream appends to its event log, in order (the log still appends them). */
function narrativesAppended(log: ReturnType<typeof setup>['log']): Narrative[] {
  const seen: Narrative[] = [];
  const append = log.append.bind(log);
  log.append = (p, t) => {
    if (p.narrative) seen.push(p.narrative);
    return append(p, t);
  };
  return seen;
}

test('an HA group: one narrative from two members (copies dropped, renumbered), resolved once when both or the survivor say so', () => {
  const { up, log } = setup();
  const seen = narrativesAppended(log);
  const collect = (): void => {};
  const b = (leaf: string, offset: bigint, n: Narrative) => ({ leaf, journalId: `j-${leaf}`, group: 'pair', cells: [], events: [ev(offset, { narrative: n })] });
  up.connected('a', 'pair');
  up.connected('b', 'pair');
  up.ingest(b('a', 1n, narrative('h-1', Narrative_State.OPEN, 1)));
  // b names it otherwise (its opening evidence differed) but it is about the same root: the same incident.
  up.ingest(b('b', 1n, narrative('h-b', Narrative_State.OPEN, 1)));
  up.ingest(b('b', 2n, narrative('h-b', Narrative_State.UPDATED, 2)));
  up.ingest(b('a', 2n, narrative('h-1', Narrative_State.UPDATED, 2)));
  up.ingest(b('b', 3n, narrative('h-b', Narrative_State.RESOLVED, 3)));
  collect();
  assert.equal(seen.map((n) => [n.id, Narrative_State[n.state], n.revision, n.leaf, n.group]), [['h-1', 'OPEN', 1, 'a', 'pair'], ['h-1', 'UPDATED', 2, 'a', 'pair']], 'b\'s copies dropped; its resolve held while a is open');
  // a is killed: the survivor's resolve stands.
  up.disconnected('a', 'pair');
  collect();
  assert.equal(seen.map((n) => [n.id, Narrative_State[n.state], n.revision, n.leaf]).slice(2), [['h-1', 'RESOLVED', 3, 'b']]);
  up.ingest(b('b', 4n, narrative('h-b', Narrative_State.RESOLVED, 4)));
  collect();
  assert.is(seen.length, 3, 'once resolved, it stays resolved');
  assert.equal(Object.fromEntries(up.stats.ha.narratives), { opened: 1, aliased: 1, copy: 3, taken: 1, held: 1, resolved_on_leave: 1 });
  assert.equal(up.merge({ narratives: [] }, { includeResolved: true, limit: 0, subjectPrefix: '' }).narratives.map((n) => n.id), ['h-1']);
});

test('an HA group: raw signals once by (source, seq), findings from the primary only; a bad group name is refused', () => {
  const { up, log } = setup();
  const events: Event[] = [];
  const append = log.append.bind(log);
  log.append = (p, t) => (events.push(p as Event), append(p, t));
  const appendSignal = log.appendSignal.bind(log);
  log.appendSignal = (signal, raw, t) => (events.push({ signal } as Event), appendSignal(signal, raw, t));
  const sig = (seq: bigint) => ({ sourceId: 'pod-1', seq, subject: 'cluster/east/broker/1', timestamp: 1n, clock: {}, context: {} }) as unknown as NonNullable<Event['signal']>;
  up.connected('a', 'pair');
  up.connected('b', 'pair');
  const b = (leaf: string, events: Event[]) => ({ leaf, journalId: `j-${leaf}`, group: 'pair', cells: [], events });
  up.ingest(b('a', [ev(1n, { signal: sig(10n) }), ev(2n, { signal: sig(11n) })]));
  up.ingest(b('b', [ev(1n, { signal: sig(10n) }), ev(2n, { signal: sig(11n) }), ev(3n, { signal: sig(12n) })]));
  const finding = { id: 'f', observer: 'o', subject: 's', condition: 1, confidence: 2, summary: '', evidence: [], resolved: false, context: {}, scope: '' } as unknown as NonNullable<Event['finding']>;
  up.ingest(b('b', [ev(4n, { finding })]));
  up.ingest(b('a', [ev(3n, { finding })]));
  assert.equal(events.filter((e) => e.signal).map((e) => e.signal!.seq), [10n, 11n, 12n]);
  assert.is(events.filter((e) => e.finding).length, 1);
  assert.equal(Object.fromEntries(up.stats.ha.deduped), { signal: 2, finding: 1 });
  const r = (() => {
    try {
      up.check({ leaf: 'a', journalId: 'j', group: 'no/good', events: [], cells: [] }, 100);
    } catch (e) {
      return e as FederationRefusal;
    }
    throw new Error('not refused');
  })();
  assert.is(r.reason, 'invalid_group');
});

test('an HA group after an upstream restart: the journal\'s group narratives are known by id; resolved stays resolved', () => {
  const { up, log } = setup();
  const seen = narrativesAppended(log);
  up.restoreNarrative({ ...narrative('h-open', Narrative_State.UPDATED, 4), leaf: 'a', group: 'pair' });
  up.restoreNarrative({ ...narrative('h-done', Narrative_State.RESOLVED, 3), leaf: 'a', group: 'pair' });
  up.connected('a', 'pair');
  up.connected('b', 'pair');
  const b = (leaf: string, offset: bigint, n: Narrative) => ({ leaf, journalId: `j-${leaf}`, group: 'pair', cells: [], events: [ev(offset, { narrative: n })] });
  up.ingest(b('b', 9n, narrative('h-open', Narrative_State.UPDATED, 7)));
  up.ingest(b('a', 9n, narrative('h-open', Narrative_State.UPDATED, 6)));
  up.ingest(b('a', 10n, narrative('h-done', Narrative_State.UPDATED, 2)));
  assert.equal(seen.map((n) => [n.id, Narrative_State[n.state], n.revision, n.leaf]), [['h-open', 'UPDATED', 5, 'b']], 'the revision continues from the journal\'s; the first member to send speaks; a resolved one stays resolved');
  up.disconnected('b', 'pair');
  up.ingest(b('a', 11n, narrative('h-open', Narrative_State.RESOLVED, 7)));
  assert.equal(seen.map((n) => [Narrative_State[n.state], n.revision, n.leaf]).slice(1), [['RESOLVED', 6, 'a']], 'b gone: a\'s resolve stands');
});

test.run();
