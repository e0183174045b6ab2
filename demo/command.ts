// `kafka-obs demo` as a command: output to stdout (colour on a terminal), Ctrl-C handling (the
// first stops everything gracefully, a second kills), exit code 0 only when the story completed.
import { DemoSetupError, runDemo, type DemoMode } from './run.js';

export const DEMO_HELP = `
What it does:
  Starts, as separate processes on 127.0.0.1 (free ports), one aggregator and four agents. Where a
  JDK is found, each agent is the sidecar of a real JVM that registers Kafka's MBeans (broker 1 of
  cluster prod, producers in order-service and payment-service, a consumer in billing-service) and
  reads them over JMX; without a JDK (or with --no-jvm) the agents relay recorded signal timelines
  of the same incident, paced in time. A script then breaks broker 1 (under-replicated
  partitions): producers slow down, their buffers fill, the consumer falls behind. The terminal
  shows the signals, the tree of cells turning, the findings and the narrative the aggregator
  writes — situation, causal chain, root cause (broker 1), recommendation — then broker 1
  recovers and the narrative resolves. Everything is stopped at the end (or on Ctrl-C).

  Takes about a minute (--fast: about 25 s). The aggregator runs with shorter hysteresis than its
  defaults (narratives resolve after 10 s of calm instead of 30 s) so the story fits; the flags
  it is given are printed. The agents use a rules file with trends judged over seconds.

Exit status: 0 when the aggregator named broker 1 as root cause and resolved the narrative,
  1 when the story did not complete, 2 for a usage problem, 130 when stopped with Ctrl-C.

Examples:
  $ kafka-obs demo
  $ kafka-obs demo --fast --no-jvm
  $ npm run demo -- --fast`;

export interface DemoCommandOptions {
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
