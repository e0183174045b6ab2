// The actors file and environment: strict validation that names the bad key, secrets read from
// files or the environment (and never quoted back), dry-run by default, nothing on until enabled.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Situation_Level as L, Status_Confidence as K } from '../proto/index.js';
import { ActorsConfigError, loadActorsSettings, PAGERDUTY_EVENTS_URL } from '../actors/config.js';
import { actorsFrom } from './support/actors.js';
import { tempDir } from './support/procs.js';

const test = suite('actors: configuration');
const SLACK = 'https://hooks.slack.com/services/T0001/B0001/s3cr3tSlackToken';
const ROUTING = 'R0UTINGKEY-s3cr3t-0123456789abcdef';

const error = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    assert.instance(e, ActorsConfigError);
    return (e as Error).message;
  }
  throw new Error('expected an ActorsConfigError');
};

test('nothing is enabled without a file, and a listed actor stays off until enabled', () => {
  assert.equal(loadActorsSettings({ env: {} }).actors, []);
  const s = actorsFrom('actors:\n  - type: slack\n  - type: pagerduty\n    enabled: false\n');
  assert.equal(s.actors, []);
  assert.equal(s.disabled, ['slack', 'pagerduty'], 'disabled entries need no secret');
});

test('a misspelt key, a bad value or an unknown type is an error naming where', () => {
  assert.match(error(() => actorsFrom('actors:\n  - type: slack\n    enabeld: true\n')), /at actors\.0: Unrecognized key: "enabeld"/);
  assert.match(error(() => actorsFrom('dryrun: false\n')), /at \(top\): Unrecognized key: "dryrun"/);
  assert.match(error(() => actorsFrom('actors:\n  - type: email\n')), /at actors\.0\.type: Invalid discriminator/);
  assert.match(error(() => actorsFrom('actors:\n  - type: log\n    minConfidence: TENTATIVE\n')), /at actors\.0\.minConfidence/);
  assert.match(error(() => actorsFrom('actors:\n  - type: webhook\n    kind: remediation\n    minConfidence: MEASURED\n')), /actors\.0\.minConfidence: a remediation acts only on CONFIRMED evidence/);
  assert.match(error(() => actorsFrom('actors:\n  - type: pagerduty\n    notifyUpdates: true\n')), /Unrecognized key: "notifyUpdates"/, 'PagerDuty never re-triggers on updates');
  assert.match(error(() => actorsFrom('delivery:\n  attempts: 0\n')), /at delivery\.attempts/);
  assert.match(error(() => actorsFrom('actors:\n  - type: log\n    enabled: true\n  - type: log\n    enabled: true\n')), /name "log" is used twice/);
  assert.match(error(() => loadActorsSettings({ file: '/nonexistent/actors.yaml', env: {} })), /cannot read actors file \/nonexistent\/actors\.yaml/);
});

test('secrets come from the environment or a file, and errors never quote them', () => {
  const dir = tempDir('secrets-');
  const keyFile = join(dir, 'routing-key');
  writeFileSync(keyFile, `${ROUTING}\n`);
  const s = actorsFrom(`actors:
  - type: slack
    enabled: true
  - type: pagerduty
    enabled: true
    routingKeyFile: ${keyFile}
`, { KAFKA_OBS_SLACK_WEBHOOK_URL: SLACK });
  const [slack, pd] = s.actors;
  assert.is(slack!.type === 'slack' && slack!.url, SLACK);
  assert.is(slack!.target, 'hooks.slack.com', 'the target is the host, never the secret path');
  assert.ok(pd!.type === 'pagerduty' && pd!.routingKey === ROUTING, 'routing key read from the file, trimmed');
  assert.is(pd!.type === 'pagerduty' && pd!.url, PAGERDUTY_EVENTS_URL, 'the default endpoint');
  assert.ok(s.secrets.includes(SLACK) && s.secrets.includes('/services/T0001/B0001/s3cr3tSlackToken') && s.secrets.includes(ROUTING));

  const missing = error(() => actorsFrom('actors:\n  - type: slack\n    enabled: true\n'));
  assert.match(missing, /environment variable KAFKA_OBS_SLACK_WEBHOOK_URL \(the Slack webhook URL\) is not set/);
  const bad = error(() => actorsFrom('actors:\n  - type: slack\n    enabled: true\n    webhookUrlEnv: MY_SLACK\n', { MY_SLACK: 'ftp://x/s3cr3tSlackToken' }));
  assert.match(bad, /must be http:\/\/ or https:\/\//);
  assert.not.match(bad, /s3cr3t/, 'the value is not quoted back');
  assert.not.match(error(() => actorsFrom('actors:\n  - type: webhook\n    enabled: true\n', { KAFKA_OBS_WEBHOOK_URL: 'not a url s3cr3t' })), /s3cr3t/);
  assert.match(error(() => actorsFrom(`actors:\n  - type: pagerduty\n    enabled: true\n    routingKeyFile: ${join(dir, 'nope')}\n`)), /cannot read the PagerDuty routing key from file .*nope: ENOENT/);
});

test('dry-run is the default; --no-dry-run makes acting the default; --dry-run forces every actor', () => {
  const yaml = 'actors:\n  - type: log\n    enabled: true\n  - type: log\n    name: loud\n    enabled: true\n    dryRun: false\n  - type: log\n    name: careful\n    enabled: true\n    dryRun: true\n';
  const dry = (s: ReturnType<typeof actorsFrom>) => s.actors.map((a) => `${a.name}=${a.dryRun}`);
  assert.equal(dry(actorsFrom(yaml)), ['log=true', 'loud=false', 'careful=true']);
  assert.equal(dry(actorsFrom(yaml, {}, false)), ['log=false', 'loud=false', 'careful=true'], '--no-dry-run: an entry saying dryRun: true stays dry');
  assert.equal(dry(actorsFrom(yaml, {}, true)), ['log=true', 'loud=true', 'careful=true'], '--dry-run: nobody acts');
  assert.equal(dry(actorsFrom(yaml, { KAFKA_OBS_DRY_RUN: 'false' })), ['log=false', 'loud=false', 'careful=true']);
  assert.equal(dry(actorsFrom(`dryRun: false\n${yaml}`)), ['log=false', 'loud=false', 'careful=true']);
  assert.match(error(() => actorsFrom(yaml, { KAFKA_OBS_DRY_RUN: 'maybe' })), /KAFKA_OBS_DRY_RUN: expected true or false/);
});

test('KAFKA_OBS_ACTORS_ENABLE turns types on with their default secret variables', () => {
  const s = loadActorsSettings({ env: { KAFKA_OBS_ACTORS_ENABLE: 'log, pagerduty', KAFKA_OBS_PAGERDUTY_ROUTING_KEY: ROUTING, KAFKA_OBS_PAGERDUTY_URL: 'http://127.0.0.1:9/v2/enqueue' } });
  assert.equal(s.actors.map((a) => [a.name, a.target, a.dryRun]), [['log', 'log', true], ['pagerduty', '127.0.0.1:9', true]]);
  assert.match(error(() => loadActorsSettings({ env: { KAFKA_OBS_ACTORS_ENABLE: 'log,sms' } })), /unknown actor type "sms"/);
  const fromFile = actorsFrom('actors:\n  - type: log\n    name: audit\n', { KAFKA_OBS_ACTORS_ENABLE: 'log' });
  assert.equal(fromFile.actors.map((a) => a.name), ['audit'], 'enables the file\'s entry of that type');
});

test('defaults: alerts on MEASURED and WARNING, five-minute rate limit, remediation fixed at CONFIRMED', () => {
  const s = actorsFrom(`rateLimitMs: 60000
delivery:
  attempts: 3
actors:
  - type: log
    enabled: true
  - type: webhook
    name: fixer
    kind: remediation
    enabled: true
    url: http://127.0.0.1:9/remediate
    delivery:
      timeoutMs: 500
    rateLimitMs: 0
`);
  const [log, fixer] = s.actors;
  assert.equal([log!.minConfidence, log!.minLevel, log!.rateLimitMs, log!.kind], [K.MEASURED, L.WARNING, 60_000, 'alert']);
  assert.equal([fixer!.minConfidence, fixer!.rateLimitMs, fixer!.kind], [K.CONFIRMED, 0, 'remediation']);
  assert.ok(fixer!.type === 'webhook' && fixer!.delivery.attempts === 3 && fixer!.delivery.timeoutMs === 500, 'delivery: file defaults, then the entry');
  assert.is(actorsFrom('actors:\n  - type: log\n    enabled: true\n').actors[0]!.rateLimitMs, 5 * 60_000);
});

test.run();
