// The translator with the DEFAULT rules and a fake clock (readings carry their own time): every
// catalogue rule of ARCHITECTURE.md §4 at its real thresholds and windows.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeSign, type Signal } from '../proto/index.js';
import { loadDefaultRules } from '../agent/translate/defaults.js';
import { Translator, loadRules, mergeRules, parseRuleFile, readRuleFile, DEFAULT_RULES_FILE, RuleFileError, type Observation } from '../agent/translate/index.js';
import { tempDir } from './support/procs.js';

const test = suite('translate: default rules');
const SUBJECT = 'service/orders/pod/orders-1/producer/p1';

/** Feeds readings `stepMs` apart from t0 and returns "subject-suffix sign" for each signal. */
function feed(t: Translator, metric: string, values: number[], opts: { stepMs?: number; startMs?: number; subject?: string; context?: Record<string, string> } = {}): { at: number; what: string; signal: Signal }[] {
  const step = opts.stepMs ?? 10_000;
  const start = opts.startMs ?? 0;
  const out: { at: number; what: string; signal: Signal }[] = [];
  values.forEach((value, i) => {
    const o: Observation = { metric, entity: opts.subject ?? SUBJECT, value, atMs: start + i * step, context: opts.context };
    for (const s of t.observe(o)) out.push({ at: o.atMs, what: `${s.subject.slice((opts.subject ?? SUBJECT).length + 1)} ${describeSign(s)}`, signal: s });
  });
  return out;
}
const whats = (r: { what: string }[]): string[] => r.map((x) => x.what);
const signsOnly = (r: { what: string }[]): string[] => r.map((x) => x.what.replace(/ (TENTATIVE|MEASURED|CONFIRMED)$/, '').replace(/ [\d.]+$/, ''));
/** Consecutive duplicates removed: the sequence of distinct states. */
const distinct = (xs: string[]): string[] => xs.filter((x, i) => i === 0 || x !== xs[i - 1]);

test('producer buffer 50 % -> 85 % -> 97 % -> back: PRESSURE, OVERFLOW, normal; no flapping at 80 %', () => {
  const t = new Translator(loadRules());
  const r = feed(t, 'producer.buffer-used-percent', [50, 85, 97, 97, 93, 81, 79, 81, 79.5, 80.5, 60]);
  assert.equal(distinct(signsOnly(r)), ['buffer status STABLE', 'buffer queue PRESSURE', 'buffer queue OVERFLOW', 'buffer queue PRESSURE', 'buffer status STABLE']);
  // Hovering around 80 (81, 79, 81, 79.5, 80.5) stays PRESSURE: only 75 clears it. While
  // unhealthy every reading goes out (the aggregator judges how it moves), the state unchanged.
  const hover = r.filter((x) => x.at >= 60_000 && x.at <= 90_000); // 79, 81, 79.5, 80.5 after 81
  assert.equal(hover.map((x) => `${x.what} ${x.signal.context.confidence}`), ['buffer queue PRESSURE 79 TENTATIVE', 'buffer queue PRESSURE 81 MEASURED', 'buffer queue PRESSURE 79.5 MEASURED', 'buffer queue PRESSURE 80.5 MEASURED'], 'while it hovers: no flapping, every reading reported');
  const overflow = r.find((x) => x.what.includes('OVERFLOW'))!.signal;
  assert.is(overflow.queue!.units, 97, 'the queue sign carries the percentage');
  assert.is(overflow.context.value, '97');
  assert.is(overflow.context.threshold, '> 95');
  assert.is(overflow.context.rule, 'producer-buffer');
  assert.is(overflow.context.confidence, 'TENTATIVE', 'first reading past the threshold');
  assert.is(overflow.timestamp, 20_000n * 1_000_000n, 'timestamp of the reading, in ns');
});

test('confidence grows with agreeing readings: TENTATIVE, MEASURED, CONFIRMED; a normal state then only heartbeats', () => {
  const t = new Translator(loadRules());
  const r = feed(t, 'jvm.heap-used-percent', Array.from({ length: 20 }, () => 50), { subject: 'service/s/pod/p/jvm' });
  assert.equal(r.map((x) => `${x.at / 1000}s ${x.what}`), [
    '0s heap status STABLE TENTATIVE',
    '20s heap status STABLE MEASURED',
    '60s heap status STABLE CONFIRMED', // 6 readings that agree, spanning 60 s
    '120s heap status STABLE CONFIRMED', // heartbeat
    '180s heap status STABLE CONFIRMED',
  ]);
  assert.is(r[3]!.signal.context.heartbeat, 'true');
  assert.is(r[0]!.signal.context.heartbeat, undefined);
});

test('an unhealthy state is reported at every reading (unhealthyEveryMs 0), its confidence growing', () => {
  const t = new Translator(loadRules());
  const r = feed(t, 'jvm.heap-used-percent', Array.from({ length: 8 }, () => 85), { subject: 'service/s/pod/p/jvm' });
  assert.equal(r.map((x) => x.what), [
    'heap status DEGRADED TENTATIVE',
    'heap status DEGRADED TENTATIVE',
    'heap status DEGRADED MEASURED',
    'heap status DEGRADED MEASURED',
    'heap status DEGRADED MEASURED',
    'heap status DEGRADED MEASURED',
    'heap status DEGRADED CONFIRMED',
    'heap status DEGRADED CONFIRMED',
  ]);
  assert.ok(r.every((x) => x.signal.context.heartbeat === undefined));
  const every30 = new Translator(mergeRules(readRuleFile(DEFAULT_RULES_FILE), { where: 'test', file: parseRuleFile('defaults: { unhealthyEveryMs: 30000 }', 'test') }));
  assert.equal(feed(every30, 'jvm.heap-used-percent', Array.from({ length: 8 }, () => 85), { subject: 'service/s/pod/p/jvm' }).map((x) => x.at / 1000), [0, 20, 50, 60], 'at most every 30 s (and on each rise of confidence)');
});

test('heap 85 % DEGRADED, 95 % DEFECTIVE, back under 75 % STABLE', () => {
  const t = new Translator(loadRules());
  const r = feed(t, 'jvm.heap-used-percent', [50, 85, 95, 88, 80, 70], { subject: 'service/s/pod/p/jvm' });
  assert.equal(distinct(signsOnly(r)), ['heap status STABLE', 'heap status DEGRADED', 'heap status DEFECTIVE', 'heap status DEGRADED', 'heap status STABLE']);
});

test('GC: more than 2 s of collection time in one poll is DEGRADED (counter read as a delta), held 30 s after the pauses stop', () => {
  const t = new Translator(loadRules());
  const ctx = { gc: 'G1 Old Generation' };
  const r = feed(t, 'jvm.gc-collection-time-ms', [100, 300, 2900, 3000, 3100, 3200, 3300, 3400], { subject: 'service/s/pod/p/jvm', context: ctx });
  assert.equal(distinct(signsOnly(r)), ['gc/G1_Old_Generation status STABLE', 'gc/G1_Old_Generation status DEGRADED', 'gc/G1_Old_Generation status STABLE']);
  assert.is(r.find((x, i) => i > 1 && x.what.includes('STABLE'))!.at, 60_000, 'calm from 30 s, STABLE once calm for holdMs (30 s)');
  // Pauses in every other poll (a collector that pauses for seconds, then not): no flapping.
  const flap = feed(new Translator(loadRules()), 'jvm.gc-collection-time-ms', [0, 0, 3000, 3000, 6500, 6500, 9800, 9800, 13000], { subject: 'service/s/pod/p/jvm', context: ctx });
  assert.equal(distinct(signsOnly(flap)), ['gc/G1_Old_Generation status STABLE', 'gc/G1_Old_Generation status DEGRADED']);
  const degraded = r.find((x) => x.what.includes('DEGRADED'))!.signal;
  assert.is(degraded.context.value, '2600', 'the delta judged');
  assert.is(degraded.context.raw, '2900', 'the raw counter');
  assert.is(degraded.context.gc, 'G1 Old Generation');
});

test('request-latency-avg 50 -> 150 -> 500 ms: DIVERGING; falling back: CONVERGING; then STABLE', () => {
  const t = new Translator(loadRules());
  const r = feed(t, 'producer.request-latency-avg', [50, 50, 50, 50, 150, 500, 500, 300, 120, 50, 50, 50, 50, 50, 50, 50]);
  assert.equal(distinct(signsOnly(r)), ['request-latency status STABLE', 'request-latency status DIVERGING', 'request-latency status CONVERGING', 'request-latency status STABLE']);
  const div = r.find((x) => x.what.includes('DIVERGING'))!;
  assert.is(div.at, 40_000, 'DIVERGING as soon as the window shows the climb (150 after four readings of 50)');
  assert.ok(Number(div.signal.context.change!.replace('%', '')) >= 50);
});

test('a noisy flat latency does not diverge; a tiny absolute change below the floor is not a trend', () => {
  const t = new Translator(loadRules());
  const r = feed(t, 'producer.request-latency-avg', [50, 55, 48, 52, 47, 54, 50, 49, 53, 51]);
  assert.equal(distinct(signsOnly(r)), ['request-latency status STABLE']);
  const t2 = new Translator(loadRules());
  const r2 = feed(t2, 'producer.request-latency-avg', [1, 2, 3, 4, 4.5]);
  assert.equal(distinct(signsOnly(r2)), ['request-latency status STABLE']);
});

test('consumer lag: OVERFLOW above 10 000, DIVERGING when it doubles', () => {
  const t = new Translator(loadRules());
  const r = feed(t, 'consumer.records-lag-max', [1000, 1000, 1000, 2500, 6000, 12000, 12000, 9000, 7000], { subject: 'service/s/pod/p/consumer/c1' });
  const lag = distinct(signsOnly(r.filter((x) => x.what.startsWith('lag '))));
  assert.equal(lag, ['lag status STABLE', 'lag queue OVERFLOW', 'lag status STABLE']);
  const trend = distinct(signsOnly(r.filter((x) => x.what.startsWith('lag-trend '))));
  assert.equal(trend.slice(0, 2), ['lag-trend status STABLE', 'lag-trend status DIVERGING']);
});

test('rebalances 20 s apart: ERRATIC; 90 s apart: never; calm again after 2 min without one', () => {
  const t = new Translator(loadRules());
  // rebalance-total read every 10 s; one rebalance every 20 s from t=30 s to t=110 s.
  const counts: number[] = [];
  let n = 1;
  for (let i = 0; i <= 30; i++) {
    const at = i * 10;
    if (at >= 30 && at <= 110 && (at - 30) % 20 === 0) n++;
    counts.push(n);
  }
  const r = feed(t, 'consumer.rebalance-total', counts, { subject: 'service/s/pod/p/consumer/c1' });
  const seq = r.map((x) => `${x.at / 1000}s ${signsOnly([x])[0]}`);
  assert.ok(seq.includes('70s rebalances status ERRATIC'), `third rebalance in a row under 60 s apart -> ERRATIC: ${seq.join(', ')}`);
  assert.equal(distinct(signsOnly(r)), ['rebalances status STABLE', 'rebalances status ERRATIC', 'rebalances status STABLE']);
  const calm = r.find((x) => x.at > 70_000 && x.what.startsWith('rebalances status STABLE'))!;
  assert.is(calm.at, 230_000, 'STABLE 120 s after the last rebalance (110 s)');
  const erratic = r.find((x) => x.what.includes('ERRATIC'))!.signal;
  assert.is(erratic.context['min-spacing-ms'], '20000');

  const slow = new Translator(loadRules());
  const slowCounts = Array.from({ length: 60 }, (_, i) => 1 + Math.floor(i / 9)); // one every 90 s
  const r2 = feed(slow, 'consumer.rebalance-total', slowCounts, { subject: 'service/s/pod/p/consumer/c1' });
  assert.not.ok(r2.some((x) => x.what.includes('ERRATIC')), 'rebalances 90 s apart are not a storm');
  assert.ok(r2.length > 0);
});

test('several rebalances within one poll count as a storm', () => {
  const t = new Translator(loadRules());
  const r = feed(t, 'consumer.rebalance-total', [0, 0, 3], { subject: 'c' });
  assert.equal(distinct(signsOnly(r)), ['rebalances status STABLE', 'rebalances status ERRATIC']);
});

test('a slow rebalance (> 5 s) is DEGRADED; commit latency maps to service SUCCESS / FAIL; partitions to GRANT / DENY', () => {
  const t = new Translator(loadRules());
  const r = feed(t, 'consumer.rebalance-latency-avg', [300, 6200, 6200, 2000], { subject: 'c' });
  assert.equal(distinct(signsOnly(r)), ['rebalance-latency status STABLE', 'rebalance-latency status DEGRADED', 'rebalance-latency status STABLE']);
  const c = feed(t, 'consumer.commit-latency-avg', [20, 2500, 20], { subject: 'c' });
  assert.equal(distinct(signsOnly(c)), ['commits service SUCCESS CALLER', 'commits service FAIL CALLER', 'commits service SUCCESS CALLER']);
  const p = feed(t, 'consumer.assigned-partitions', [3, 0, 2], { subject: 'c' });
  assert.equal(whats(p), ['partitions resource GRANT 3', 'partitions resource DENY', 'partitions resource GRANT 2']);
});

test('broker: UnderReplicatedPartitions = 2 is DEGRADED; offline partitions DEFECTIVE; idle handlers', () => {
  const t = new Translator(loadRules());
  const b = 'cluster/prod/broker/1';
  assert.equal(distinct(signsOnly(feed(t, 'broker.under-replicated-partitions', [0, 2, 2, 0], { subject: b }))), ['under-replicated status STABLE', 'under-replicated status DEGRADED', 'under-replicated status STABLE']);
  assert.equal(distinct(signsOnly(feed(t, 'broker.offline-partitions', [0, 1], { subject: b }))), ['offline-partitions status STABLE', 'offline-partitions status DEFECTIVE']);
  assert.equal(distinct(signsOnly(feed(t, 'broker.request-handler-idle-percent', [80, 15, 3, 25, 35], { subject: b }))), [
    'request-handler-idle status STABLE', 'request-handler-idle status DEGRADED', 'request-handler-idle status DEFECTIVE', 'request-handler-idle status DEGRADED', 'request-handler-idle status STABLE',
  ]);
});

test('record errors: probe FAIL / SUCCEED; buffer exhaustion is a queue OVERFLOW', () => {
  const t = new Translator(loadRules());
  assert.equal(distinct(signsOnly(feed(t, 'producer.record-error-rate', [0, 0.5, 0]))), ['record-errors probe SUCCEED OUTBOUND', 'record-errors probe FAIL OUTBOUND', 'record-errors probe SUCCEED OUTBOUND']);
  const r = feed(t, 'producer.buffer-exhausted-total', [4, 4, 7, 7]);
  assert.equal(signsOnly(r), ['buffer-exhausted status STABLE', 'buffer-exhausted queue OVERFLOW', 'buffer-exhausted status STABLE']);
  assert.is(r[1]!.signal.queue!.units, 3, 'three exhaustions since the last poll');
});

test('gauges are sent when they move by 20 %, otherwise only as heartbeats; counters send increases, coalesced', () => {
  const t = new Translator(loadRules());
  const r = feed(t, 'producer.record-send-rate', [100, 105, 110, 95, 150, 150, 150, 150, 150, 150, 150, 150], { stepMs: 10_000 });
  assert.equal(whats(r), ['send-rate gauge INCREMENT 100', 'send-rate gauge INCREMENT 150', 'send-rate gauge INCREMENT 150']);
  assert.is(r[2]!.signal.context.heartbeat, 'true');
  const c = feed(t, 'jvm.gc-collection-count', [10, 12, 15, 15, 20, 21, 21, 30], { stepMs: 20_000, context: { gc: 'Copy' }, subject: 'jvm' });
  assert.equal(whats(c), ['gc-collections/Copy counter INCREMENT 2', 'gc-collections/Copy counter INCREMENT 8', 'gc-collections/Copy counter INCREMENT 10']);
  const reset = feed(new Translator(loadRules()), 'jvm.gc-collection-count', [10, 12, 3], { context: { gc: 'Copy' }, subject: 'jvm' });
  assert.equal(whats(reset), ['gc-collections/Copy counter INCREMENT 2', 'gc-collections/Copy counter RESET 3']);
});

test('a metric that does not change makes no storm: 1 hour of polls every 10 s', () => {
  const t = new Translator(loadRules());
  const r = feed(t, 'broker.under-replicated-partitions', Array.from({ length: 360 }, () => 0), { subject: 'b' });
  assert.ok(r.length <= 3 + 60, `${r.length} signals in an hour`);
  assert.is(r.filter((x) => !x.signal.context.heartbeat).length, 3, 'STABLE TENTATIVE, MEASURED, CONFIRMED; the rest are heartbeats');
});

test('variance instability: ERRATIC while readings swing, calm when steady', () => {
  const rules = mergeRules(readRuleFile(DEFAULT_RULES_FILE), {
    where: 'test',
    file: parseRuleFile('rules: [{name: swing, metric: x, aspect: swing, kind: instability, mode: variance, windowMs: 60000, minSamples: 4, enter: 0.5, exit: 0.2, floor: 1, sign: status.ERRATIC, normal: status.STABLE}]', 'test'),
  });
  const t = new Translator(rules);
  const r = feed(t, 'x', [100, 100, 100, 100, 10, 300, 5, 400, 100, 100, 100, 100, 100, 100, 100, 100], { subject: 's' });
  assert.equal(distinct(signsOnly(r)), ['swing status STABLE', 'swing status ERRATIC', 'swing status STABLE']);
});

test('a user file overrides a default rule field by field, disables one, adds one', () => {
  const dir = tempDir('rules-');
  const file = join(dir, 'rules.yaml');
  writeFileSync(file, `
defaults: { heartbeatMs: 5000 }
rules:
  - name: producer-buffer
    levels: [{ at: 50, clear: 40, sign: queue.PRESSURE }]
  - name: jvm-heap
    enabled: false
  - name: my-metric
    metric: custom.queue-depth
    aspect: depth
    kind: threshold
    direction: above
    levels: [{ at: 100, clear: 90, sign: queue.OVERFLOW }]
    normal: status.STABLE
`);
  const rules = loadRules(file);
  assert.is(rules.defaults.heartbeatMs, 5000);
  assert.is(rules.defaults.confidence.measuredAfter, 3, 'unchanged defaults kept');
  const t = new Translator(rules);
  assert.equal(distinct(signsOnly(feed(t, 'producer.buffer-used-percent', [30, 60]))), ['buffer status STABLE', 'buffer queue PRESSURE']);
  assert.is(t.rulesFor('jvm.heap-used-percent').length, 0, 'disabled');
  assert.equal(distinct(signsOnly(feed(t, 'custom.queue-depth', [5, 150], { subject: 'x' }))), ['depth status STABLE', 'depth queue OVERFLOW']);
});

test('bad rule files are refused with the rule and the field named', () => {
  const base = readRuleFile(DEFAULT_RULES_FILE);
  const bad = (yaml: string): string => {
    try {
      mergeRules(base, { file: parseRuleFile(yaml, 'my.yaml'), where: 'my.yaml' });
    } catch (e) {
      assert.instance(e, RuleFileError);
      return (e as Error).message;
    }
    throw new Error('accepted');
  };
  assert.match(bad('rules: [{name: producer-buffer, levels: [{at: 80, clear: 85, sign: queue.PRESSURE}]}]'), /rule "producer-buffer".*levels\.0\.clear: clear must be <= at/);
  assert.match(bad('rules: [{name: jvm-heap, normal: status.FINE}]'), /rule "jvm-heap".*at normal: expected <set>\.<SIGN>/);
  assert.match(bad('rules: [{name: new-one, metric: m, aspect: s, kind: thresold}]'), /rule "new-one".*expected one of threshold, trend/);
  assert.match(bad('rules: [{name: new-one, metric: m, subject: s, kind: gauge, change: 0.1, minDelta: 1}]'), /rule "new-one" sets "subject", which is now "aspect"/);
  assert.match(bad('rules: [{name: new-one, metric: m, aspect: "a#b", kind: gauge, change: 0.1, minDelta: 1}]'), /rule "new-one".*aspect.*no "#"/);
  assert.match(bad('rules: [{name: jvm-heap, levelz: []}]'), /rule "jvm-heap".*levelz/);
  assert.throws(() => parseRuleFile('defaults: {heartbeat: 5}', 'my.yaml'), /my\.yaml is not valid: at defaults: .*heartbeat/);
  assert.throws(() => loadRules('/nonexistent/rules.yaml'), /cannot read rules file \/nonexistent\/rules\.yaml/);
});

test('every default rule reads a metric of the catalogue and is valid', () => {
  const rules = loadRules();
  assert.ok(rules.rules.length >= 25);
  for (const r of rules.rules) assert.match(r.metric, /^(producer|consumer|jvm|broker)\./);
});

test('the build\'s default-rules.json is the set loadRules() makes of default-rules.yaml (what an agent without a rules file reads)', async () => {
  assert.equal(await loadDefaultRules(), loadRules());
});

test.run();
