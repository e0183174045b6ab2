// `kafka-obs demo` as a command: output to stdout (colour on a terminal), Ctrl-C handling (the
// first stops everything gracefully, a second kills), exit code 0 only when the story completed.
import { INCIDENTS } from './incidents.js';
import { DemoSetupError, runDemo, type DemoMode } from './run.js';

export const DEMO_HELP = `
What it does:
  Starts, as separate processes on 127.0.0.1 (free ports), one aggregator and an agent per pod.
  Where a JDK is found, each agent is the sidecar of a real JVM that registers Kafka's MBeans (a
  broker, producers, consumers) and reads them over JMX; without a JDK (or with --no-jvm) the
  agents relay the incident's timeline as real agents recorded it, at its pace. A script then
  plays the incident — by default broker 1 loses replicas: producers slow down, their buffers
  fill, the consumer falls behind. The terminal shows the signals, the tree of cells turning,
  the findings and the narrative the aggregator writes — situation, causal chain, root cause,
  recommendation — then the recovery and the narrative resolving. Everything is stopped at the
  end (or on Ctrl-C).

Incidents (--incident):
${INCIDENTS.map((i) => `  ${i.name.padEnd(20)} ${i.title}`).join('\n')}

  Takes about a minute (--fast: about half). Incidents play minutes of life in seconds: the
  agents poll every 500 ms and the agents and the aggregator run with --time-scale 0.2 (every
  window of their rules and observers five times shorter); the flags are printed.

Exit status: 0 when the aggregator told the story the incident expects (the right root, then
  resolved; silence for an idle estate), 1 when it did not, 2 for a usage problem, 130 when
  stopped with Ctrl-C.

Examples:
  $ kafka-obs demo
  $ kafka-obs demo --incident broker-gc
  $ kafka-obs demo --fast --no-jvm
  $ npm run demo -- --fast`;

export interface DemoCommandOptions {
  incident: string;
  fast: boolean;
  /** true: --jvm, false: --no-jvm, undefined: whichever is possible. */
  jvm: boolean | undefined;
  verbose: boolean;
  /** false with --no-color. */
  color: boolean;
}

export async function demoCommand(o: DemoCommandOptions): Promise<number> {
  const mode: DemoMode = o.jvm === true ? 'jvm' : o.jvm === false ? 'recorded' : 'auto';
  let broken = false;
  process.stdout.on('error', () => {
    // The reader went away (piped into head): keep going quietly, stop cleanly.
    broken = true;
  });
  const write = (line: string): void => {
    if (!broken) process.stdout.write(`${line}\n`);
  };
  const demo = runDemo({
    incident: o.incident,
    fast: o.fast,
    mode,
    verbose: o.verbose,
    color: o.color && process.stdout.isTTY === true && !process.env.NO_COLOR,
    write,
    env: process.env,
  });
  let signals = 0;
  const onSignal = (): void => {
    signals++;
    if (signals === 1) demo.stop();
    else {
      demo.kill();
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // However the process ends, no child outlives it.
  process.on('exit', () => demo.kill());
  try {
    const result = await demo.done;
    return result.ok ? 0 : result.aborted ? 130 : 1;
  } catch (e) {
    process.stderr.write(`kafka-obs demo: ${(e as Error).message}\n`);
    return e instanceof DemoSetupError ? 2 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
