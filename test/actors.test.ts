// The actors at work, in process: narratives published into a real EventLog, actors following it
// as the aggregator wires them, real local HTTP servers receiving what Slack, PagerDuty and a
// webhook would, and the Action events every outcome becomes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Registry } from 'prom-client';
import { Action_Sign as A, Narrative_State as S, Status_Confidence as K, type Action } from '../proto/index.js';
import { EventLog } from '../aggregator/event-log.js';
import { startActing, type Acting } from '../aggregator/acting.js';
import type { ActorsSettings } from '../actors/config.js';
import { ActionCollector, Receiver, actorsFrom, captureLogger, describeAction, incident, narrative, publish, type Received } from './support/actors.js';

const test = suite('actors: acting on narratives');

const ROUTING_KEY = 'R0UTINGKEY-s3cr3t-0123456789abcdef';
const SLACK_PATH = '/services/T0001/B0001/s3cr3tSlackToken';
const HOOK_PATH = '/hook/s3cr3t-hook-token';
const HEADER_TOKEN = 'Bearer s3cr3t-header-token';

interface Stage {
  log: EventLog;
  acting: Acting;
  actions: ActionCollector;
  registry: Registry;
  lines: string[];
  rx: Receiver;
}
let stage: Stage | undefined;

test.after.each(async () => {
  if (!stage) return;
  await stage.acting.stop(0);
  await stage.actions.close();
  await stage.rx.close();
  stage = undefined;
});

/** Actors from `yaml` with the receiver's URLs as their secrets, following a fresh event log. */
async function start(yaml: (rx: Receiver) => string, o: { nowMs?: () => number; dryRun?: boolean } = {}): Promise<Stage> {
  const rx = await Receiver.start();
  const env = {
    KAFKA_OBS_SLACK_WEBHOOK_URL: rx.url(SLACK_PATH),
    KAFKA_OBS_PAGERDUTY_ROUTING_KEY: ROUTING_KEY,
    KAFKA_OBS_PAGERDUTY_URL: rx.url('/v2/enqueue'),
    HOOK_URL: rx.url(HOOK_PATH),
    HOOK_AUTH: HEADER_TOKEN,
  };
  const settings: ActorsSettings = actorsFrom(yaml(rx), env, o.dryRun);
  const log = new EventLog(10_000);
  const registry = new Registry();
  const lines: string[] = [];
  const acting = startActing(settings, log, registry, captureLogger(lines), o.nowMs);
  stage = { log, acting, actions: new ActionCollector(log), registry, lines, rx };
  return stage;
}

const FOUR_ACTORS = `
  - type: log
    enabled: true
  - type: webhook
    enabled: true
    urlEnv: HOOK_URL
    notifyUpdates: true
    rateLimitMs: 0
    headerEnv:
      authorization: HOOK_AUTH
  - type: slack
    enabled: true
    rateLimitMs: 0
  - type: pagerduty
    enabled: true
    rateLimitMs: 0
`;

const at = (path: string) => (r: Received) => r.path === path;
const pd = (rs: Received[]) => rs.filter(at('/v2/enqueue'));

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return m?.values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((s, v) => s + v.value, 0) ?? 0;
}

const signs = (as: Action[]) => as.map((a) => A[a.sign]);

test('one trigger and one resolve per incident (PagerDuty), readable Slack, webhook JSON, a log line', async () => {
  const { log, actions, rx, lines, registry } = await start(() => `dryRun: false\nactors:${FOUR_ACTORS}`);
  const [o1, u1a, u1b, r1] = incident('1');
  const [o2, , , r2] = incident('2');
  publish(log, o1!, o2!, u1a!, u1b!);
  publish(log, r1!, r2!, r1!); // a repeated RESOLVED changes nothing
  // log 2+2, webhook 4+2 (updates wanted), slack 2+2, pagerduty 2+2
  await actions.until((as) => as.filter((a) => a.sign === A.DELIVER).length === 18, '18 deliveries');
  // A barrier: once a later narrative is through, anything the earlier ones caused is visible.
  const [o3] = incident('3');
  publish(log, o3!);
  await actions.until((as) => as.some((a) => a.actor === 'pagerduty' && a.narrativeId === '3' && a.sign === A.DELIVER), 'barrier');
  assert.is(await metric(registry, 'kafkaobs_action_queue_depth', { actor: 'pagerduty' }), 0);

  const pdEvents = pd(rx.requests).filter((r) => r.body.dedup_key !== 'kafka-obs/3');
  assert.equal(pdEvents.map((r) => `${r.body.dedup_key} ${r.body.event_action}`).sort(), ['kafka-obs/1 resolve', 'kafka-obs/1 trigger', 'kafka-obs/2 resolve', 'kafka-obs/2 trigger']);
  for (const key of ['kafka-obs/1', 'kafka-obs/2']) {
    assert.equal(pdEvents.filter((r) => r.body.dedup_key === key).map((r) => r.body.event_action), ['trigger', 'resolve'], `${key}: trigger, then resolve`);
  }
  const trigger = pdEvents.find((r) => r.body.dedup_key === 'kafka-obs/1' && r.body.event_action === 'trigger')!.body;
  assert.is(trigger.routing_key, ROUTING_KEY);
  assert.is(trigger.payload.severity, 'critical');
  assert.is(trigger.payload.source, 'cluster/prod/broker/1');
  assert.match(trigger.payload.summary, /^Producer buffer exhaustion in order-service \(root cause: broker-1 under-replicated/);
  assert.match(trigger.payload.custom_details.recommendation, /buffer\.memory/);
  assert.match(trigger.payload.custom_details.causal_chain[0], /cluster\/prod\/broker\/1 status DEGRADED \(3 under-replicated partitions\)/);
  assert.ok(!Number.isNaN(Date.parse(trigger.payload.timestamp)), 'ISO timestamp');
  assert.equal(Object.keys(pdEvents.find((r) => r.body.event_action === 'resolve')!.body).sort(), ['dedup_key', 'event_action', 'routing_key']);

  const slack = rx.requests.filter(at(SLACK_PATH)).filter((r) => !/narrative 3 /.test(r.raw));
  assert.is(slack.length, 4, 'Slack: an open and a resolve per incident, no updates unless asked');
  const open = slack.find((r) => r.body.blocks[0].text.text.startsWith('[CRITICAL]'))!.body;
  assert.match(open.text, /^:red_circle: \[CRITICAL\] Producer buffer exhaustion in order-service \(root cause: /);
  assert.is(open.blocks[0].type, 'header');
  const sections = open.blocks.filter((b: any) => b.type === 'section').map((b: any) => b.text.text).join('\n');
  assert.match(sections, /\*Root cause:\* broker-1 under-replicated partitions -&gt; produce latency -&gt; buffer backpressure \(`cluster\/prod\/broker\/\d`\)/);
  assert.match(sections, /\*Recommendation:\* Restore the replicas on broker 1/);
  assert.match(sections, /\*Causal chain:\*\n1\. \S+ cluster\/prod\/broker\/1 status DEGRADED/);
  assert.ok(slack.some((r) => /^:white_check_mark: \[RESOLVED\] Producer buffer exhaustion/.test(r.body.text)));

  const hook1 = rx.requests.filter(at(HOOK_PATH)).filter((r) => r.body.narrative.id === '1');
  assert.equal(hook1.map((r) => r.body.event), ['narrative.opened', 'narrative.updated', 'narrative.updated', 'narrative.resolved']);
  assert.equal(hook1.map((r) => r.body.narrative.revision), [1, 2, 3, 4]);
  assert.is(hook1[0]!.body.narrative.rootSubject, 'cluster/prod/broker/1');
  assert.is(hook1[0]!.body.narrative.causalChain.length, 3);
  assert.is(hook1[1]!.body.narrative.causalChain.length, 4);
  assert.is(hook1[0]!.headers['content-type'], 'application/json');
  assert.is(hook1[0]!.headers.authorization, HEADER_TOKEN, 'secret header from the environment');
  assert.is(hook1[0]!.headers['idempotency-key'], 'webhook:1:open:1');
  assert.is(hook1[0]!.headers['user-agent'], 'kafka-obs/0.1.0');

  const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.actor === 'log' && l.room === undefined && l.narrativeId === '1');
  assert.is(logged.length, 2);
  assert.is(logged[0].msg, '[CRITICAL] Producer buffer exhaustion in order-service');
  assert.match(logged[1].msg, /^\[RESOLVED\] Producer buffer exhaustion in order-service \(after \d+ s\)$/);
  assert.match(logged[0].recommendation, /buffer\.memory/);
  assert.is(logged[0].level, 50, 'a CRITICAL narrative is logged at error level');

  const delivered = actions.actions.filter((a) => a.sign === A.DELIVER && a.narrativeId !== '3');
  assert.ok(delivered.every((a) => !a.dryRun && a.attempt === 1));
  assert.equal([...new Set(delivered.map((a) => a.target))].sort(), [`127.0.0.1:${rx.port}`, 'log']);
  assert.ok(delivered.some((a) => a.actor === 'pagerduty' && a.detail === `PagerDuty trigger delivered to 127.0.0.1:${rx.port}: HTTP 200`));
  assert.is(await metric(registry, 'kafkaobs_actions_total', { actor: 'pagerduty', outcome: 'delivered' }), 5);
});

test('dry-run (the default) touches nothing and says what it would have done', async () => {
  const { log, actions, rx, lines } = await start((r) => `actors:${FOUR_ACTORS}
  - type: webhook
    name: live
    enabled: true
    dryRun: false
    url: ${r.url('/live')}
    rateLimitMs: 0
`);
  publish(log, ...incident('1'));
  // The live webhook is the barrier: its requests went out after the dry actors had decided.
  await rx.until((r) => r.filter(at('/live')).length === 2, 'the live webhook\'s open and resolve');
  await actions.until((as) => as.filter((a) => a.sign === A.EXPLAIN).length === 2 + 4 + 2 + 2, 'EXPLAIN actions');
  assert.equal(rx.requests.filter((r) => r.path !== '/live'), [], 'no request from a dry-run actor');
  const pdSays = actions.of('pagerduty', A.EXPLAIN).map((a) => a.detail);
  assert.equal(pdSays, [
    `dry-run: would send PagerDuty trigger to 127.0.0.1:${rx.port} (dedup_key kafka-obs/1): [CRITICAL] Producer buffer exhaustion in order-service`,
    `dry-run: would send PagerDuty resolve to 127.0.0.1:${rx.port} (dedup_key kafka-obs/1): ${actions.of('pagerduty', A.EXPLAIN)[1]!.detail.split(': ').slice(2).join(': ')}`,
  ]);
  assert.match(pdSays[1]!, /\[RESOLVED\] Producer buffer exhaustion/);
  assert.ok(actions.actions.filter((a) => a.actor !== 'live').every((a) => a.dryRun && a.sign === A.EXPLAIN && a.attempt === 0));
  assert.equal(signs(actions.of('webhook')), ['EXPLAIN', 'EXPLAIN', 'EXPLAIN', 'EXPLAIN'], 'dry-run explains updates too');
  assert.not.ok(lines.map((l) => JSON.parse(l)).some((l) => l.actor === 'log' && l.room === undefined), 'the log actor wrote no narrative line');
});
test('--dry-run overrides an actor that says dryRun: false', async () => {
  const { log, actions, rx } = await start(() => `actors:\n  - type: pagerduty\n    enabled: true\n    dryRun: false\n`, { dryRun: true });
  publish(log, ...incident('1'));
  await actions.until((as) => as.length === 2, 'two actions');
  assert.equal(signs(actions.actions), ['EXPLAIN', 'EXPLAIN']);
  assert.is(rx.requests.length, 0);
});

test('the rate limit holds: one announcement per target per window (fake clock)', async () => {
  const clock = { ms: 1_000_000 };
  const { log, actions, rx, registry } = await start(() => 'dryRun: false\nactors:\n  - type: pagerduty\n    enabled: true\n', { nowMs: () => clock.ms });
  const broker1 = (id: string) => narrative({ id, rootSubject: 'cluster/prod/broker/1' });
  // The clock moves only once the actors have seen what came before.
  publish(log, broker1('a'));
  await actions.until((as) => as.some((a) => a.narrativeId === 'a'), 'a announced');
  clock.ms += 60_000;
  publish(log, broker1('b'), narrative({ id: 'other', rootSubject: 'cluster/prod/broker/2' }));
  await actions.until((as) => as.some((a) => a.narrativeId === 'b'), 'b refused');
  const denied = actions.of('pagerduty', A.DENY, 'b')[0]!;
  assert.is(denied.detail, 'rate limited: cluster/prod/broker/1 was announced 60 s ago (at most once per 300 s per target)');
  clock.ms += 4 * 60_000;
  publish(log, broker1('c'));
  await actions.until((as) => as.some((a) => a.narrativeId === 'c'), 'c announced');
  publish(log, ...['a', 'b', 'c', 'other'].map((id) => ({ ...broker1(id), state: S.RESOLVED })));
  await rx.until((r) => r.filter((x) => x.body.event_action === 'resolve').length === 3, 'three resolves');
  await actions.until((as) => as.filter((a) => a.sign === A.DELIVER).length === 6, 'six deliveries');
  const sent = pd(rx.requests).map((r) => `${r.body.event_action} ${r.body.dedup_key}`);
  assert.equal(sent.filter((s) => s.startsWith('trigger')).sort(), ['trigger kafka-obs/a', 'trigger kafka-obs/c', 'trigger kafka-obs/other']);
  assert.equal(sent.filter((s) => s.startsWith('resolve')).sort(), ['resolve kafka-obs/a', 'resolve kafka-obs/c', 'resolve kafka-obs/other'], 'b was never opened, so it is not resolved');
  assert.is(await metric(registry, 'kafkaobs_actions_total', { actor: 'pagerduty', outcome: 'denied' }), 1);
});

test('a failing webhook is retried with backoff and holds up no other narrative', async () => {
  const { log, actions, rx, registry } = await start(() => `dryRun: false
actors:
  - type: webhook
    enabled: true
    urlEnv: HOOK_URL
    rateLimitMs: 0
    delivery: { attempts: 8, backoffBaseMs: 20, backoffMaxMs: 200 }
`);
  // "slow" fails until "fast" has arrived: it can only succeed if "fast" was not stuck behind it.
  rx.answer = (r, all) => (r.body.narrative.id === 'slow' && !all.some((x) => x.body.narrative.id === 'fast') ? { status: 500, body: 'upstream down' } : { status: 204 });
  publish(log, narrative({ id: 'slow', rootSubject: 'a' }));
  await rx.until((r) => r.length >= 1, 'the first (failing) attempt');
  publish(log, narrative({ id: 'fast', rootSubject: 'b' }));
  await actions.until((as) => as.filter((a) => a.sign === A.DELIVER).length === 2, 'both delivered');

  const slow = actions.of('webhook', undefined, 'slow');
  assert.ok(slow.length >= 2, signs(slow).join());
  assert.equal(signs(slow), [...Array(slow.length - 1).fill('PROMISE'), 'DELIVER']);
  slow.slice(0, -1).forEach((a, i) => {
    assert.is(a.attempt, i + 1);
    assert.match(a.detail, new RegExp(`^attempt ${i + 1} failed \\(HTTP 500: upstream down\\); retrying in \\d+ ms$`));
  });
  assert.is(slow.at(-1)!.attempt, slow.length);
  assert.equal(actions.of('webhook', undefined, 'fast').map((a) => [A[a.sign], a.attempt]), [['DELIVER', 1]]);
  // Backoff: each wait is within its jitter band (half to all of 20 ms * 2^(n-1)) and was kept.
  const slowRequests = rx.requests.filter((r) => r.body.narrative.id === 'slow');
  slow.slice(0, -1).forEach((a, i) => {
    const delay = Number(/retrying in (\d+) ms/.exec(a.detail)![1]);
    const step = Math.min(200, 20 * 2 ** i);
    assert.ok(delay >= step / 2 && delay <= step, `delay ${delay} within [${step / 2}, ${step}]`);
    assert.ok(slowRequests[i + 1]!.at - slowRequests[i]!.at >= delay - 2, 'the wait was kept');
  });
  assert.is(await metric(registry, 'kafkaobs_action_retries_total', { actor: 'webhook' }), slow.length - 1);
});

test('a trigger that must be retried is still sent before its resolve', async () => {
  const { log, actions, rx } = await start(() => 'dryRun: false\nactors:\n  - type: pagerduty\n    enabled: true\n    delivery: { backoffBaseMs: 20 }\n');
  rx.answer = (r, all) => (all.length === 1 ? { status: 503, body: 'try later' } : { status: 202, body: '{"status":"success"}' });
  const [open, , , resolved] = incident('x');
  publish(log, open!, resolved!);
  await actions.until((as) => as.filter((a) => a.sign === A.DELIVER).length === 2, 'trigger and resolve delivered');
  assert.equal(rx.requests.map((r) => r.body.event_action), ['trigger', 'trigger', 'resolve']);
  assert.equal(signs(actions.actions), ['PROMISE', 'DELIVER', 'DELIVER']);
});

test('a hanging webhook times out and gives up without stalling other narratives or actors', async () => {
  const { log, actions, rx } = await start(() => `dryRun: false
actors:
  - type: webhook
    enabled: true
    urlEnv: HOOK_URL
    rateLimitMs: 0
    delivery: { timeoutMs: 400, attempts: 2, backoffBaseMs: 20 }
  - type: slack
    enabled: true
`);
  rx.answer = (r) => (r.path === HOOK_PATH && r.body.narrative.id === 'stuck' ? 'hold' : { status: 200, body: 'ok' });
  publish(log, narrative({ id: 'stuck', rootSubject: 'a' }));
  await rx.until((r) => r.some((x) => x.path === HOOK_PATH), 'the stuck request');
  publish(log, narrative({ id: 'other', rootSubject: 'b' }));
  await actions.until((as) => as.some((a) => a.narrativeId === 'stuck' && a.sign === A.REPORT), 'the stuck delivery given up');
  const order = actions.actions.map(describeAction);
  const gaveUp = actions.actions.findIndex((a) => a.narrativeId === 'stuck' && a.sign === A.REPORT);
  for (const [actor, id] of [['webhook', 'other'], ['slack', 'other'], ['slack', 'stuck']]) {
    const i = actions.actions.findIndex((a) => a.actor === actor && a.narrativeId === id && a.sign === A.DELIVER);
    assert.ok(i >= 0 && i < gaveUp, `${actor} ${id} delivered while the stuck one hung:\n${order.join('\n')}`);
  }
  const stuck = actions.of('webhook', undefined, 'stuck');
  assert.equal(stuck.map((a) => [A[a.sign], a.attempt]), [['PROMISE', 1], ['REPORT', 2]]);
  assert.match(stuck[0]!.detail, /^attempt 1 failed \(no answer within 400 ms\); retrying in \d+ ms$/);
  assert.is(stuck[1]!.detail, `narrative.opened not delivered to 127.0.0.1:${rx.port}: gave up after 2 attempt(s); last: no answer within 400 ms`);
  assert.is(rx.requests.filter((r) => r.path === HOOK_PATH && r.body.narrative.id === 'stuck').length, 2);
});

test('429 with Retry-After: the next attempt waits as long as asked', async () => {
  const { log, actions, rx } = await start(() => 'dryRun: false\nactors:\n  - type: pagerduty\n    enabled: true\n    delivery: { backoffBaseMs: 10 }\n');
  rx.answer = (r, all) => (all.length === 1 ? { status: 429, body: 'slow down', headers: { 'retry-after': '1' } } : { status: 202 });
  publish(log, narrative({ id: 'r' }));
  await actions.until((as) => as.some((a) => a.sign === A.DELIVER), 'delivered');
  assert.match(actions.actions[0]!.detail, /^attempt 1 failed \(HTTP 429: slow down\); retrying in 1000 ms$/);
  const gap = rx.requests[1]!.at - rx.requests[0]!.at;
  assert.ok(gap >= 995, `waited ${gap.toFixed(0)} ms`);
});

test('action types not enabled do nothing', async () => {
  const { log, actions, rx } = await start(() => `dryRun: false
actors:
  - type: pagerduty
  - type: slack
    enabled: false
  - type: webhook
    urlEnv: HOOK_URL
  - type: log
    enabled: true
`);
  publish(log, ...incident('1'));
  await actions.until((as) => as.length === 2, 'the log actor\'s open and resolve');
  // A barrier for anything a disabled actor might have queued: a second incident through the log actor.
  publish(log, ...incident('2'));
  await actions.until((as) => as.length === 4, 'the second incident logged');
  assert.equal([...new Set(actions.actions.map((a) => a.actor))], ['log']);
  assert.is(rx.requests.length, 0);
});

test('a remediation acts only on CONFIRMED evidence; TENTATIVE moves nobody', async () => {
  const { log, actions, rx } = await start((r) => `dryRun: false
actors:
  - type: webhook
    name: remedy
    kind: remediation
    enabled: true
    urlEnv: HOOK_URL
    rateLimitMs: 0
  - type: webhook
    name: alert
    enabled: true
    url: ${r.url('/alert')}
    rateLimitMs: 0
`);
  rx.answer = () => ({ status: 200 });
  const n = narrative({ id: 'm', confidence: K.MEASURED });
  publish(log, n, narrative({ id: 't', rootSubject: 'x', confidence: K.TENTATIVE }));
  await actions.until((as) => as.filter((a) => a.narrativeId === 't').length === 2 && as.some((a) => a.actor === 'alert' && a.sign === A.DELIVER), 'alert delivered, t refused twice');
  assert.equal(actions.of('remedy', undefined, 'm').map((a) => [A[a.sign], a.detail]), [['DENY', 'remediation acts only on CONFIRMED evidence; this narrative is MEASURED']]);
  assert.equal(actions.actions.filter((a) => a.narrativeId === 't').map((a) => [a.actor, A[a.sign], a.detail]), [
    ['remedy', 'DENY', 'confidence TENTATIVE: observe only'],
    ['alert', 'DENY', 'confidence TENTATIVE: observe only'],
  ]);
  publish(log, { ...n, state: S.UPDATED, revision: 2, confidence: K.CONFIRMED });
  await actions.until((as) => as.some((a) => a.actor === 'remedy' && a.sign === A.DELIVER), 'remediation delivered');
  const remedied = rx.requests.filter(at(HOOK_PATH));
  assert.is(remedied.length, 1);
  assert.equal([remedied[0]!.body.kind, remedied[0]!.body.event, remedied[0]!.body.narrative.confidence], ['remediation', 'narrative.opened', 'CONFIRMED']);
  assert.not.ok(rx.requests.some((r) => r.body.narrative.id === 't'));
});

test('secrets never appear in logs or Action events, even when a receiver echoes them', async () => {
  const { log, actions, rx, lines } = await start(() => `dryRun: false\nactors:${FOUR_ACTORS}`);
  rx.answer = (r) => {
    if (r.path === '/v2/enqueue') return { status: 400, body: `{"status":"invalid event","errors":["bad routing key ${r.body.routing_key}"]}` };
    if (r.path === SLACK_PATH) return { status: 403, body: `invalid_token for ${r.path}` };
    return { status: 422, body: `cannot use ${r.headers.authorization}` };
  };
  publish(log, narrative({ id: 's' }));
  await actions.until((as) => as.filter((a) => a.sign === A.REPORT).length === 3, 'three refusals reported');
  // The receivers did get the secrets: they were used, just never repeated.
  assert.ok(rx.requests.some((r) => r.body.routing_key === ROUTING_KEY));
  assert.ok(rx.requests.some((r) => r.headers.authorization === HEADER_TOKEN));
  const report = actions.of('pagerduty', A.REPORT)[0]!;
  assert.is(report.detail, `PagerDuty trigger not delivered to 127.0.0.1:${rx.port}: HTTP 400: {"status":"invalid event","errors":["bad routing key [redacted]"]}`);
  assert.is(report.attempt, 1, 'a 4xx is not retried');
  const everything = [...lines, ...actions.actions.map((a) => JSON.stringify(a))].join('\n');
  for (const secret of [ROUTING_KEY, 's3cr3tSlackToken', 's3cr3t-hook-token', 's3cr3t-header-token']) {
    assert.not.ok(everything.includes(secret), `${secret} leaked`);
  }
  assert.ok(actions.actions.every((a) => a.target === 'log' || a.target === `127.0.0.1:${rx.port}`));
});

test('a full delivery queue drops (counted and reported); stopping reports what was not delivered', async () => {
  const { log, actions, rx, registry, acting } = await start(() => `dryRun: false
actors:
  - type: webhook
    enabled: true
    urlEnv: HOOK_URL
    rateLimitMs: 0
    delivery: { queueCapacity: 2, concurrency: 1, timeoutMs: 60000 }
`);
  rx.answer = () => 'hold';
  publish(log, ...['q1', 'q2', 'q3', 'q4'].map((id) => narrative({ id, rootSubject: id })));
  await actions.until((as) => as.length === 2, 'two drops');
  assert.equal(actions.actions.map((a) => [a.narrativeId, A[a.sign], a.detail]), [
    ['q3', 'REPORT', 'narrative.opened dropped: delivery queue full (2 waiting)'],
    ['q4', 'REPORT', 'narrative.opened dropped: delivery queue full (2 waiting)'],
  ]);
  assert.is(await metric(registry, 'kafkaobs_action_drops_total', { actor: 'webhook' }), 2);
  assert.is(await metric(registry, 'kafkaobs_action_queue_depth', { actor: 'webhook' }), 2);
  await rx.until((r) => r.length === 1, 'q1 in flight');
  await acting.stop(0);
  await actions.until((as) => as.length === 4, 'the rest reported at stop');
  assert.equal(actions.actions.slice(2).map((a) => [a.narrativeId, A[a.sign]]).sort(), [['q1', 'REPORT'], ['q2', 'REPORT']]);
  assert.match(actions.actions.find((a) => a.narrativeId === 'q1' && a.sign === A.REPORT)!.detail, /stopped during attempt 1/);
  assert.is(await metric(registry, 'kafkaobs_action_drops_total', { actor: 'webhook' }), 4);
});

test.run();
