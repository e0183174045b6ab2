// Preloaded into the aggregator / agent by the bench (node --import): once a second it writes one
// JSON line to stderr with the event loop's delay (how late timers ran) and utilisation, so the
// bench can tell a busy or blocked event loop from a slow pipeline. No effect on the program.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

const RESOLUTION_MS = 5;
const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
h.enable();
let last = performance.eventLoopUtilization();
setInterval(() => {
  const now = performance.eventLoopUtilization();
  const elu = performance.eventLoopUtilization(now, last).utilization;
  last = now;
  // The histogram holds the time between samples; what is beyond the sampling interval is delay.
  const late = (ns: number): number => Math.max(0, ns / 1e6 - RESOLUTION_MS);
  const line = { benchProbe: { t: Date.now(), p50: late(h.percentile(50)), p99: late(h.percentile(99)), max: late(h.max), elu } };
  h.reset();
  process.stderr.write(`${JSON.stringify(line)}\n`);
}, 1000).unref();
