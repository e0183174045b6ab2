// `kafka-obs demo`: starts an aggregator and a few agents as real processes (as users run them),
// gives them something to watch — real JVMs with scripted Kafka MBeans where a JDK exists,
// recorded signal timelines otherwise — plays an incident (a cascading failure that starts at
// broker 1 unless --incident names another), shows it from a subscriber's seat, then stops
// everything and sums up.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChannel, createClientFactory } from 'nice-grpc';
import { ChannelCredentials } from '@grpc/grpc-js';
import { SignalAggregatorDefinition, directDefinition, nowNs } from '../proto/index.js';
import { bridgeBuilt, findJava } from '../agent/jmx/bridge.js';
import { channelOptions } from '../agent/connection.js';
import { Painter, elapsed } from './format.js';
import { TIMING, aggregatorArgs, startEstate } from './estate.js';
import { INCIDENTS, incident as findIncident, type Incident, type Phase } from './incidents.js';
import { Processes, scriptedJvmBuilt } from './processes.js';
import { recordedAvailable, startRecordedEstate } from './recorded.js';
import { DemoAborted, Pace, judge } from './script.js';
import { DemoView } from './view.js';

export type DemoMode = 'auto' | 'jvm' | 'recorded';

export interface DemoOptions {
  /** Which incident to play (INCIDENTS in incidents.ts); default "cascade". */
  incident?: string;
  /** A shorter run (for tests and the impatient): the same story at about a third of the pace. */
  fast: boolean;
  mode: DemoMode;
  color: boolean;
  verbose: boolean;
  /** One line of output (stdout). */
  write: (line: string) => void;
  env: NodeJS.ProcessEnv;
  /** Keep every signal the subscriber receives (to record the incident's timeline). */
  record?: boolean;
}

export interface DemoResult {
  /** The aggregator told the story the incident expects (the right root, resolved; or silence). */
  ok: boolean;
  aborted: boolean;
  mode: 'jvm' | 'recorded';
  seconds: number;
  error?: string;
  /** What the subscriber saw (narratives, findings, signals when recording). */
  view?: DemoView;
  /** Wall-clock time (ms) each phase began, in order; and when the incident's trouble began. */
  phaseStarts: { title: string; atMs: number }[];
  troubleAtMs?: number;
  /** The verdict on the story, with what is missing or wrong. */
  problems: string[];
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
export function chooseMode(mode: DemoMode, env: NodeJS.ProcessEnv, name = 'cascade'): { mode: 'jvm' | 'recorded'; why: string; java?: string } {
  const java = findJava(env);
  const missing = !java ? 'no java executable (JAVA_HOME or PATH)' : !bridgeBuilt() || !scriptedJvmBuilt() ? 'the Java helpers are not built (javac was missing at build time)' : undefined;
  if (mode === 'recorded' || (mode === 'auto' && missing)) {
    if (!recordedAvailable(name)) throw new DemoSetupError(`no recorded timeline of ${name} was built${missing ? ` and no JVM can run (${missing})` : ''}: run npm run build in a checkout`);
  }
  if (mode === 'recorded') return { mode: 'recorded', why: 'recorded timelines (--no-jvm)' };
  if (missing) {
    if (mode === 'jvm') throw new DemoSetupError(`--jvm: cannot run real JVMs: ${missing}`);
    return { mode: 'recorded', why: `recorded timelines (${missing})` };
  }
  return { mode: 'jvm', why: `real JVMs over JMX (${java})`, java };
}

export function runDemo(o: DemoOptions): RunningDemo {
  const abort = new AbortController();
  const started = nowNs();
  const painter = new Painter(o.color);
  let chosen: ReturnType<typeof chooseMode>;
  const inc: Incident | undefined = findIncident(o.incident ?? 'cascade');
  try {
    if (!inc) throw new DemoSetupError(`no incident "${o.incident}"; choose one of ${INCIDENTS.map((i) => i.name).join(', ')}`);
    chosen = chooseMode(o.mode, o.env, inc.name);
  } catch (e) {
    return { done: Promise.reject(e), stop: () => {}, kill: () => {} };
  }
  const timing = o.fast ? TIMING.fast : TIMING.normal;
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
    const phaseStarts: { title: string; atMs: number }[] = [];
    let troubleAtMs: number | undefined;
    try {
      say(painter.paint('bold', `kafka-obs demo: ${inc.title.charAt(0).toLowerCase()}${inc.title.slice(1)}, seen from the aggregator`));
      note(`incident ${inc.name}: ${inc.description}`);
      note(`mode: ${chosen.why}${o.fast ? ', fast' : ''}. Ctrl-C stops everything.`);
      const args = aggregatorArgs(timing);
      const aggregator = await processes.aggregator(join(dir, 'aggregator-data'), args);
      note(`aggregator listening on ${aggregator.url} (pid ${aggregator.child.process.pid}), started with ${args.join(' ')}`);
      const channel = createChannel(aggregator.url.replace(/^grpc:\/\//, ''), ChannelCredentials.createInsecure(), channelOptions({}));
      const client = createClientFactory().create(directDefinition(SignalAggregatorDefinition), channel);
      view = new DemoView(client, channel, { verbose: o.verbose, write: say, painter, startNs: started, record: o.record });
      view.start();

      let phases: readonly Phase[];
      let jvm: ((id: string) => import('./processes.js').ScriptedJvm) | undefined;
      if (chosen.mode === 'jvm') {
        const estate = await startEstate(processes, aggregator.url, dir, inc, timing, view, note);
        phases = inc.phases;
        jvm = (id) => estate.jvms.get(id)!;
        say();
        for (const d of estate.description) say(`  ${d}`);
      } else {
        const estate = await startRecordedEstate(processes, aggregator.url, inc, note);
        phases = estate.phases;
        say();
        for (const d of estate.description) say(`  ${d}`);
      }
      note(`processes: ${processes.all.map((c) => `${c.name} (pid ${c.process.pid})`).join(', ')}`);

      const pace = new Pace(o.fast ? 0.4 : 1, abort.signal);
      const noJvm = (id: string): never => {
        throw new Error(`recorded mode has no JVM ${id}`);
      };
      for (let i = 0; i < phases.length; i++) {
        const ph = phases[i]!;
        phaseStarts.push({ title: ph.title, atMs: Date.now() });
        if (troubleAtMs === undefined && (ph.trouble || inc.phases.find((p) => p.title === ph.title)?.trouble)) troubleAtMs = Date.now();
        view.phase(i + 1, phases.length, ph.title, ph.detail);
        await ph.play({ view, pace, jvm: jvm ?? noJvm });
      }
      const v = view;
      const story = (): boolean => judge(inc, v, true).ok;
      if (inc.expect.narratives > 0 && !story()) {
        note('waiting for the aggregator to declare the incident over...');
        await v.until(story, 90_000, abort.signal);
      }
      if (abort.signal.aborted) throw new DemoAborted();
      await v.tree(inc.expect.narratives > 0 ? 'The tree, after recovery:' : 'The tree, at the end:');
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
    return { ...result, view, phaseStarts, troubleAtMs };
  })();

  function summary(view: DemoView | undefined, aborted: boolean, error: string | undefined): Omit<DemoResult, 'phaseStarts'> {
    const took = seconds();
    const verdict = view ? judge(inc!, view, true) : undefined;
    const ok = !aborted && !error && verdict?.ok === true;
    const exits = processes.all.map((c) => c.process.exitCode ?? c.process.signalCode ?? '?');
    say('');
    say(painter.paint('bold', `Summary: ${took.toFixed(0)} s, ${chosen.mode === 'jvm' ? 'real JVMs over JMX' : 'recorded timelines'}${o.fast ? ' (fast)' : ''}`));
    const count = (k: string): number => processes.all.filter((c) => c.kind === k).length;
    say(`  processes     ${count('aggregator')} aggregator, ${count('agent')} agents${count('jvm') ? `, ${count('jvm')} JVMs` : ''}: all stopped (exit ${[...new Set(exits.map(String))].join(', ')})`);
    if (view) {
      const c = view.counts;
      say(`  events        ${c.signals} signals (${c.shownSignals} shown), ${c.cellChanges} cell changes, ${c.findings} findings, ${c.situations} situations, ${c.narratives} narrative revisions`);
      const n = verdict?.narrative;
      if (n) {
        const first = view.openings.get(n.id)!;
        say(`  narrative     ${n.id} opened at ${elapsed(first.openedAt, started).trim()}: ${first.situation}`);
        say(`  root cause    ${n.rootCause} (${n.rootSubject})`);
        say(`  resolved      ${n.resolvedAt ? `at ${elapsed(n.resolvedAt, started).trim()}` : 'no'}`);
      } else if (inc!.expect.narratives === 0) {
        say(`  narratives    ${view.narratives.size} (an idle estate must stay silent)`);
      }
      for (const p of verdict?.problems ?? []) say(`  problem       ${p}`);
      if (view.error) say(`  subscription  failed: ${view.error.message}`);
    }
    if (error) say(`  error         ${error}`);
    say(
      ok
        ? painter.paint(['green', 'bold'], inc!.expect.narratives > 0 ? `Result: the aggregator named ${inc!.expect.rootSubject} as the root, recommended what to do, and closed the incident once it recovered.` : 'Result: the estate stayed quiet, and so did the aggregator.')
        : aborted
          ? painter.paint('yellow', 'Result: stopped before the end.')
          : painter.paint(['red', 'bold'], 'Result: the story did not complete (see above).'),
    );
    return { ok, aborted, mode: chosen.mode, seconds: took, error, problems: verdict?.problems ?? [] };
  }

  return {
    done,
    stop: () => abort.abort(),
    kill: () => processes.killAll(),
  };
}
