// The actors inside a real aggregator: started by `kafka-obs aggregator --actors`, reporting on
// /metrics, refusing a bad file with the key named; and, in process, narratives in the
// aggregator's event log reaching a PagerDuty stand-in, their Action events reaching a gRPC
// subscriber. (Narratives come from the reporters; here they are published into the log.)
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Action_Sign as A, EventKind } from '../proto/index.js';
import { AGGREGATOR_DEFAULTS } from '../aggregator/config.js';
import { startAggregator } from '../aggregator/server.js';
import { loadActorsSettings } from '../actors/config.js';
import { aggregator, run, tempDir } from './support/procs.js';
import { aggregatorClient, Collector } from './support/client.js';
import { Receiver, captureLogger, incident, publish } from './support/actors.js';

const test = suite('actors in the aggregator');
const ROUTING_KEY = 'R0UTINGKEY-e2e-s3cr3t-0123456789';

function file(text: string): string {
  const f = join(tempDir('actors-e2e-'), 'actors.yaml');
  writeFileSync(f, text);
  return f;
}

test('a bad actors file stops the aggregator before it starts, naming the key', async () => {
  const p = run(['aggregator', '--grpc-port', '0', '--http-port', '0', '--actors', file('actors:\n  - type: pagerduty\n    enabled: true\n    routingkey: x\n')], 'aggregator');
  assert.is(await p.exited, 2);
  assert.match(p.lines.map((l) => l.msg).join('\n'), /at actors\.0: Unrecognized key: "routingkey"/);
  const q = run(['aggregator', '--grpc-port', '0', '--http-port', '0', '--actors', file('actors:\n  - type: slack\n    enabled: true\n')], 'aggregator', { KAFKA_OBS_SLACK_WEBHOOK_URL: '' });
  assert.is(await q.exited, 2);
  assert.match(q.lines.map((l) => l.msg).join('\n'), /environment variable KAFKA_OBS_SLACK_WEBHOOK_URL \(the Slack webhook URL\) is not set/);
});

test('kafka-obs aggregator --actors: says who acts and where (hosts only), counts on /metrics, stops cleanly', async () => {
  const slackUrl = 'http://127.0.0.1:9/services/T0/B0/s3cr3tE2eSlack';
  const agg = await aggregator(['--actors', file('actors:\n  - type: log\n    enabled: true\n  - type: slack\n    enabled: true\n  - type: pagerduty\n    enabled: true\n  - type: webhook\n')], {
    KAFKA_OBS_SLACK_WEBHOOK_URL: slackUrl,
    KAFKA_OBS_PAGERDUTY_ROUTING_KEY: ROUTING_KEY,
  });
  try {
    const ready = await agg.waitForLog((l) => l.msg === 'actors ready');
    assert.equal(ready.actors, [
      { name: 'log', type: 'log', kind: 'alert', target: 'log', dryRun: true },
      { name: 'slack', type: 'slack', kind: 'alert', target: '127.0.0.1:9', dryRun: true },
      { name: 'pagerduty', type: 'pagerduty', kind: 'alert', target: 'events.pagerduty.com', dryRun: true },
    ]);
    assert.equal(ready.notEnabled, ['webhook']);
    const metrics = await (await fetch(`http://127.0.0.1:${agg.httpPort}/metrics`)).text();
    assert.match(metrics, /^kafkaobs_actions_total\{actor="pagerduty",outcome="delivered"\} 0$/m);
    assert.match(metrics, /^kafkaobs_action_queue_depth\{actor="slack"\} 0$/m);
    const all = agg.lines.map((l) => JSON.stringify(l)).join('\n');
    assert.not.ok(all.includes(ROUTING_KEY) || all.includes('s3cr3tE2eSlack'), 'no secret in the log');
  } finally {
    assert.is(await agg.kill(), 0);
  }
  const none = await aggregator([], { KAFKA_OBS_ACTORS_ENABLE: '' });
  await none.waitForLog((l) => /actors: none enabled/.test(l.msg));
  await none.kill();
});

test('narratives in the aggregator\'s event log: PagerDuty triggers and resolves once; subscribers see the actions', async () => {
  const rx = await Receiver.start();
  rx.answer = () => ({ status: 202, body: '{"status":"success","message":"Event processed"}' });
  const actors = loadActorsSettings({
    file: file('actors:\n  - type: pagerduty\n    enabled: true\n'),
    dryRun: false,
    env: { KAFKA_OBS_PAGERDUTY_ROUTING_KEY: ROUTING_KEY, KAFKA_OBS_PAGERDUTY_URL: rx.url('/v2/enqueue') },
  });
  const lines: string[] = [];
  const running = await startAggregator(
    { ...AGGREGATOR_DEFAULTS, grpcHost: '127.0.0.1', grpcPort: 0, httpHost: '127.0.0.1', httpPort: 0, dataDir: tempDir('agg-'), actors },
    captureLogger(lines),
  );
  const { client, channel } = aggregatorClient(`grpc://127.0.0.1:${running.grpcPort}`);
  // From offset 0: the subscriber sees every retained action, however late its stream opens.
  const sub = new Collector(client, { kinds: [EventKind.ACTION], fromOffset: 0n });
  try {
    publish(running.log, ...incident('e2e'), ...incident('e2e-2'));
    await sub.until((ev) => ev.filter((e) => e.action?.sign === A.DELIVER).length === 4, 'four deliveries at the subscriber');
    assert.equal(rx.requests.map((r) => `${r.body.dedup_key} ${r.body.event_action}`).sort(), ['kafka-obs/e2e resolve', 'kafka-obs/e2e trigger', 'kafka-obs/e2e-2 resolve', 'kafka-obs/e2e-2 trigger']);
    const a = sub.events[0]!.action!;
    assert.equal([a.actor, a.target, a.dryRun, a.attempt], ['pagerduty', `127.0.0.1:${rx.port}`, false, 1]);
    assert.match(a.detail, /^PagerDuty (trigger|resolve) delivered to 127\.0\.0\.1:\d+: HTTP 202$/);
    const metrics = await (await fetch(`http://127.0.0.1:${running.httpPort}/metrics`)).text();
    assert.match(metrics, /^kafkaobs_actions_total\{actor="pagerduty",outcome="delivered"\} 4$/m);
  } finally {
    await sub.close();
    channel.close();
    await running.stop();
    await rx.close();
  }
});

test.run();
