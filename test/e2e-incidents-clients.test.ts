// Scenario suite through the real path (incidents in the clients, with healthy brokers; and an idle estate): each incident of
// demo/incidents.ts played as `kafka-obs demo --incident <name>` plays it — scripted JVMs under
// Kafka's real MBean names, a real `kafka-obs agent` reading each over JMX, a real aggregator, a
// subscriber — and held to what a user must read: exactly one narrative per incident with the
// right root entity and words, a causal chain in causal order, resolution after recovery;
// silence on an idle estate. Prints, per incident, the time from its first causal change to the
// narrative at the subscriber and how many narratives and findings it produced.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { findJava } from '../agent/jmx/bridge.js';
import { TABLE_HEADER, playIncident, tableLine } from './support/incidents.js';

const test = suite('incidents: incidents in the clients, with healthy brokers; and an idle estate');
const lines: string[] = [];

test.before(() => {
  assert.ok(findJava(process.env), 'a JDK is needed (java on the PATH or JAVA_HOME): these tests run real JVMs');
});

for (const name of ['producer-exhaustion', 'slow-consumer', 'rebalance-storm', 'idle']) {
  test(name, async () => {
    const played = await playIncident(name);
    lines.push(tableLine(played));
    process.stdout.write(`${tableLine(played)}\n`);
    if (played.problems.length) assert.unreachable(`${name}: ${played.problems.join('; ')}\n--- what the demo printed (last 80 lines) ---\n${played.output.slice(-80).join('\n')}`);
  });
}

test.after(() => {
  process.stdout.write(`\n${TABLE_HEADER}\n${lines.join('\n')}\n`);
});

test.run();
