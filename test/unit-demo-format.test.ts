// How the demo reads: short subjects, rounded numbers, the tree as an outline, a narrative block.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Narrative_State, Situation_Level, Status_Condition as C, Status_Confidence, type Cell, type Narrative } from '../proto/index.js';
import { Painter, narrativeLines, shortSubject, tidy, treeLines, treeTurnLine } from '../demo/format.js';

const plain = new Painter(false);

test('subjects as a person says them', () => {
  assert.is(shortSubject('cluster/prod/broker/1#under-replicated'), 'broker 1 / under-replicated');
  assert.is(shortSubject('cluster/prod/broker/1'), 'broker 1');
  assert.is(shortSubject('cluster/prod/topic/orders/partition/3'), 'topic orders / partition 3');
  assert.is(shortSubject('service/orders/pod/orders-1/producer/p1#request-latency'), 'orders-1 / producer p1 / request-latency');
  assert.is(shortSubject('service/orders/pod/orders-1'), 'orders-1');
  assert.is(shortSubject('cluster/prod'), 'cluster prod');
  assert.is(shortSubject('cluster/prod/group/billing#lag'), 'group billing / lag');
  assert.is(shortSubject('service/orders/pod/orders-1/agent#source/jmx'), 'orders-1 / agent / source/jmx');
});

test('long decimals are rounded, whole numbers and short decimals kept', () => {
  assert.is(tidy('buffer full (97.9999989271164% used), lag 41000, ratio 0.25'), 'buffer full (98% used), lag 41000, ratio 0.25');
  assert.is(tidy('83.00000131130219 and 81.94'), '83 and 81.94');
});

const cell = (path: string, condition: C, children: Cell[] = []): Cell => ({
  path, name: path.includes('#') ? path.slice(path.indexOf('#')) : (path.split('/').at(-1) ?? ''), condition, confidence: Status_Confidence.MEASURED, ownCondition: C.CONDITION_UNSPECIFIED,
  lastHeard: 0n, signals: 0n, children, omittedChildren: 0, affectedChildren: 0, knownChildren: 0, staleChildren: 0, stale: false, inferred: false, nextAfter: '',
});

test('the tree: named cells only, leaves summed up on their owner, healthy runs of one kind collapsed', () => {
  const partitions = [0, 1, 2, 3, 4, 5, 6, 7].map((n) => cell(`cluster/prod/topic/orders/partition/${n}`, n === 3 ? C.DEGRADED : C.STABLE));
  const root = cell('', C.DEGRADED, [
    cell('cluster', C.DEGRADED, [
      cell('cluster/prod', C.DEGRADED, [
        cell('cluster/prod/broker', C.DEGRADED, [cell('cluster/prod/broker/1', C.DEGRADED, [cell('cluster/prod/broker/1#under-replicated', C.DEGRADED)])]),
        cell('cluster/prod/topic', C.DEGRADED, [cell('cluster/prod/topic/orders', C.DEGRADED, [cell('cluster/prod/topic/orders/partition', C.DEGRADED, partitions)])]),
      ]),
    ]),
    cell('service', C.STABLE, [
      cell('service/kafka', C.STABLE, [cell('service/kafka/pod', C.STABLE, [cell('service/kafka/pod/kafka-1', C.STABLE, [cell('service/kafka/pod/kafka-1/agent', C.STABLE, [cell('service/kafka/pod/kafka-1/agent#source/jmx', C.STABLE)])])])]),
    ]),
  ]);
  const lines = treeLines(plain, root).map((l) => l.trimEnd().replace(/\s+/g, ' '));
  assert.equal(lines, [
    ' estate DEGRADED (MEASURED)',
    ' cluster prod DEGRADED (MEASURED)',
    ' broker 1 DEGRADED (MEASURED) under-replicated DEGRADED',
    ' topic orders DEGRADED (MEASURED)',
    ' partition 3 DEGRADED (MEASURED)',
    ' ... 7 more partitions, all STABLE',
  ]);
});

test('a tree turn is one line, deepest named cell first', () => {
  const line = treeTurnLine(plain, [
    { path: 'cluster/prod/broker/1', previous: C.STABLE, current: C.DEGRADED, confidence: Status_Confidence.MEASURED },
    { path: 'cluster/prod/broker', previous: C.STABLE, current: C.DEGRADED, confidence: Status_Confidence.MEASURED },
    { path: 'cluster/prod', previous: C.STABLE, current: C.DEGRADED, confidence: Status_Confidence.MEASURED },
    { path: '', previous: C.STABLE, current: C.DIVERGING, confidence: Status_Confidence.TENTATIVE },
  ], '+1.0s');
  assert.match(line, /cluster\/prod\/broker\/1\s+STABLE -> DEGRADED \(MEASURED\); up the tree: cluster prod DEGRADED, the estate DIVERGING$/);
});

test('a narrative block: situation, root cause, chain, recommendation; its resolution', () => {
  const n: Narrative = {
    id: 'n-1', state: Narrative_State.OPEN, situation: 'Cascading failure in cluster prod', rootCause: 'broker 1 under-replicated partitions', rootSubject: 'cluster/prod/broker/1',
    causalChain: [
      { subject: 'cluster/prod/broker/1#under-replicated', sign: 'status DEGRADED', time: 1_000_000_000n, sourceId: 'a', seq: 1n, detail: 'UnderReplicatedPartitions=3', clock: {}, stage: 'broker' },
      { subject: 'service/orders/pod/orders-1/producer/p1#buffer', sign: 'queue OVERFLOW 97.00000012', time: 3_500_000_000n, sourceId: 'b', seq: 2n, detail: '', clock: {}, stage: 'producer-buffer' },
    ],
    recommendation: 'Broker 1: check its disk', confidence: Status_Confidence.MEASURED, level: Situation_Level.CRITICAL,
    openedAt: 1_000_000_000n, updatedAt: 0n, resolvedAt: 0n, revision: 1, findingIds: [], leaves: [],
  };
  const text = narrativeLines(plain, n, undefined).join('\n');
  assert.match(text, /NARRATIVE OPENED {2}n-1 {2}\(CRITICAL, MEASURED\)/);
  assert.match(text, /root cause:\s+broker 1 under-replicated partitions/);
  assert.match(text, /root subject:\s+cluster\/prod\/broker\/1/);
  assert.match(text, / 1\. t\+0\.0s\s+broker 1 \/ under-replicated\s+status DEGRADED {2}\(UnderReplicatedPartitions=3\)/);
  assert.match(text, / 2\. t\+2\.5s\s+orders-1 \/ producer p1 \/ buffer\s+queue OVERFLOW 97$/m);
  assert.match(text, /recommendation:\s+Broker 1: check its disk/);
  const done = narrativeLines(plain, { ...n, state: Narrative_State.RESOLVED, resolvedAt: 41_000_000_000n }, n).join('\n');
  assert.match(done, /NARRATIVE RESOLVED {2}n-1 after 40 s/);
});

test.run();
