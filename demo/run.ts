// `kafka-obs demo`: starts an aggregator and a few agents as real processes (as users run them),
// gives them something to watch — real JVMs with scripted Kafka MBeans where a JDK exists,
// recorded signal timelines otherwise — plays a cascading failure that starts at broker 1, shows
// it from a subscriber's seat, then stops everything and sums up.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChannel, createClientFactory } from 'nice-grpc';
import { ChannelCredentials } from '@grpc/grpc-js';
import { SignalAggregatorDefinition, directDefinition, nowNs } from '../proto/index.js';
import { bridgeBuilt, findJava } from '../agent/jmx/bridge.js';
import { channelOptions } from '../agent/connection.js';
import { Painter, elapsed } from './format.js';
import { JVM_TIMING, startJvmEstate } from './jvm-estate.js';
import { Processes, scriptedJvmBuilt } from './processes.js';
import { recordedAvailable, startRecordedEstate } from './recorded.js';
import { CLUSTER, DemoAborted, Pace, brokerNarrative, brokerNarrativeResolved, type Phase } from './script.js';
import { DemoView } from './view.js';

export type DemoMode = 'auto' | 'jvm' | 'recorded';

export interface DemoOptions {
  /** A shorter run (for tests and the impatient): the same story at about a third of the pace. */
  fast: boolean;
  mode: DemoMode;
  color: boolean;
  verbose: boolean;
  /** One line of output (stdout). */
  write: (line: string) => void;
  env: NodeJS.ProcessEnv;
}

export interface DemoResult {
  /** The aggregator named broker 1 as root cause and resolved the narrative. */
  ok: boolean;
  aborted: boolean;
  mode: 'jvm' | 'recorded';
  seconds: number;
  error?: string;
}

export interface RunningDemo {
  done: Promise<DemoResult>;
  /** Ends the demo early, stopping every process gracefully (Ctrl-C). */
  stop(): void;
  /** Kills every process at once (a second Ctrl-C). */
  kill(): void;
}

export class DemoSetupError extends Error {}

/** Which mode `auto` becomes here, and why. */
export function chooseMode(mode: DemoMode, env: NodeJS.ProcessEnv): { mode: 'jvm' | 'recorded'; why: string; java?: string } {
  const java = findJava(env);
  const missing = !java ? 'no java executable (JAVA_HOME or PATH)' : !bridgeBuilt() || !scriptedJvmBuilt() ? 'the Java helpers are not built (javac was missing at build time)' : undefined;
  if (mode === 'recorded' || (mode === 'auto' && missing)) {
    if (!recordedAvailable()) throw new DemoSetupError(`no recorded timeline was built${missing ? ` and no JVM can run (${missing})` : ''}: run npm run build in a checkout`);
  }
  if (mode === 'recorded') return { mode: 'recorded', why: 'recorded timelines (--no-jvm)' };
  if (missing) {
    if (mode === 'jvm') throw new DemoSetupError(`--jvm: cannot run real JVMs: ${missing}`);
    return { mode: 'recorded', why: `recorded timelines (${missing})` };
  }
  return { mode: 'jvm', why: `real JVMs over JMX (${java})`, java };
}

/**
 * The aggregator's hysteresis, shortened so the story fits in two minutes (or half of one): the
 * defaults (narratives resolve after 30 s of calm, situations fall after 30 s) are sized for
 * sensors polling every 10 s.
 */
export function aggregatorArgs(fast: boolean): string[] {
  const [resolve, hold, cause] = fast ? [4000, 4000, 3000] : [10_000, 10_000, 6000];
  return ['--default-cluster', CLUSTER, '--resolve-after-ms', String(resolve), '--situation-hold-ms', String(hold), '--cause-wait-ms', String(cause)];
}

export function runDemo(o: DemoOptions): RunningDemo {
  const abort = new AbortController();
  const started = nowNs();
  const painter = new Painter(o.color);
  let chosen: ReturnType<typeof chooseMode>;
  try {
    chosen = chooseMode(o.mode, o.env);
  } catch (e) {
    return { done: Promise.reject(e), stop: () => {}, kill: () => {} };
  }
  const processes = new Processes({
    // Children log at info: the demo learns their ports from "listening" lines.
    env: { ...o.env, LOG_LEVEL: 'info' },
    java: chosen.java,
    onLine: o.verbose ? (name, line) => o.write(painter.paint('dim', `    [${name}] ${line.slice(0, 240)}`)) : undefined,
  });
  const dir = mkdtempSync(join(tmpdir(), 'kafka-obs-demo-'));
  const say = (line = ''): void => o.write(line);
  const note = (text: string): void => say(`  ${painter.paint('dim', text)}`);
  const seconds = (): number => Number((nowNs() - started) / 1_000_000n) / 1000;

  const done = (async (): Promise<DemoResult> => {
    let view: DemoView | undefined;
    let error: string | undefined;
    let aborted = false;
    try {
      say(painter.paint('bold', 'kafka-obs demo: a cascading failure that starts at a broker, seen from the aggregator'));
      note(`mode: ${chosen.why}${o.fast ? ', fast' : ''}. Ctrl-C stops everything.`);
      const args = aggregatorArgs(o.fast);
      const aggregator = await processes.aggregator(join(dir, 'aggregator-data'), args);
      note(`aggregator listening on ${aggregator.url} (pid ${aggregator.child.process.pid}), started with ${args.join(' ')}`);
      const channel = createChannel(aggregator.url.replace(/^grpc:\/\//, ''), ChannelCredentials.createInsecure(), channelOptions({}));
      const client = createClientFactory().create(directDefinition(SignalAggregatorDefinition), channel);
      view = new DemoView(client, channel, { verbose: o.verbose, write: say, painter, startNs: started });
      view.start();

      let phases: Phase[];
      if (chosen.mode === 'jvm') {
        const estate = await startJvmEstate(processes, aggregator.url, dir, o.fast ? JVM_TIMING.fast : JVM_TIMING.normal, view, note);
        phases = estate.phases;
        say();
        for (const d of estate.description) say(`  ${d}`);
      } else {
        const estate = await startRecordedEstate(processes, aggregator.url, note);
        phases = estate.phases;
        say();
        for (const d of estate.description) say(`  ${d}`);
      }
      note(`processes: ${processes.all.map((c) => `${c.name} (pid ${c.process.pid})`).join(', ')}`);

      const pace = new Pace(o.fast ? 0.4 : 1, abort.signal);
      for (let i = 0; i < phases.length; i++) {
        const ph = phases[i]!;
        view.phase(i + 1, phases.length, ph.title, ph.detail);
        await ph.play({ view, pace });
      }
      const v = view;
      if (brokerNarrative(v) !== undefined && !brokerNarrativeResolved(v)) {
        note('waiting for the aggregator to declare the incident over...');
        await v.until(() => brokerNarrativeResolved(v), 90_000, abort.signal);
      }
      if (abort.signal.aborted) throw new DemoAborted();
      await v.tree('The tree, after recovery:');
    } catch (e) {
      if (e instanceof DemoAborted || abort.signal.aborted) aborted = true;
      else error = (e as Error).message;
    }
    if (aborted) say(painter.paint(['yellow', 'bold'], '\nstopping the demo (Ctrl-C)...'));
    else note('stopping the agents, the JVMs and the aggregator (SIGTERM)...');
    await processes.stopAll();
    await view?.close();
    rmSync(dir, { recursive: true, force: true });
    const result = summary(view, aborted, error);
    return result;
  })();

  function summary(view: DemoView | undefined, aborted: boolean, error: string | undefined): DemoResult {
    const took = seconds();
    const id = view ? brokerNarrative(view) : undefined;
    const resolved = view ? brokerNarrativeResolved(view) : false;
    const ok = !aborted && !error && id !== undefined && resolved;
    const exits = processes.all.map((c) => c.process.exitCode ?? c.process.signalCode ?? '?');
    say('');
    say(painter.paint('bold', `Summary: ${took.toFixed(0)} s, ${chosen.mode === 'jvm' ? 'real JVMs over JMX' : 'recorded timelines'}${o.fast ? ' (fast)' : ''}`));
    const count = (k: string): number => processes.all.filter((c) => c.kind === k).length;
    say(`  processes     ${count('aggregator')} aggregator, ${count('agent')} agents${count('jvm') ? `, ${count('jvm')} JVMs` : ''}: all stopped (exit ${[...new Set(exits.map(String))].join(', ')})`);
    if (view) {
      const c = view.counts;
      say(`  events        ${c.signals} signals (${c.shownSignals} shown), ${c.cellChanges} cell changes, ${c.findings} findings, ${c.situations} situations, ${c.narratives} narrative revisions`);
      if (id !== undefined) {
        const first = view.openings.get(id)!;
        const last = view.narratives.get(id)!;
        say(`  narrative     ${id} opened at ${elapsed(first.openedAt, started).trim()}: ${first.situation}`);
        say(`  root cause    ${last.rootCause} (${last.rootSubject})`);
        say(`  resolved      ${resolved ? `at ${elapsed(last.resolvedAt, started).trim()}` : 'no'}`);
      } else {
        say(`  narrative     none naming broker 1${view.narratives.size ? ` (others: ${[...view.narratives.values()].map((n) => `${n.id} rooted at ${n.rootSubject}`).join('; ')})` : ''}`);
      }
      if (view.error) say(`  subscription  failed: ${view.error.message}`);
    }
    if (error) say(`  error         ${error}`);
    say(
      ok
        ? painter.paint(['green', 'bold'], 'Result: the aggregator named broker 1 as the root cause, recommended what to do, and closed the incident once it recovered.')
        : aborted
          ? painter.paint('yellow', 'Result: stopped before the end.')
          : painter.paint(['red', 'bold'], 'Result: the story did not complete (see above).'),
    );
    return { ok, aborted, mode: chosen.mode, seconds: took, error };
  }

  return {
    done,
    stop: () => abort.abort(),
    kill: () => processes.killAll(),
  };
}
