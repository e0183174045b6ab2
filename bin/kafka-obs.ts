#!/usr/bin/env node
// kafka-obs: the command line. Subcommands: aggregator, agent, tail, replay, demo.
// `kafka-obs agent` is a sidecar in every pod, so it starts alone: the agent's bundle
// (scripts/bundle.mjs, made by `npm run build`), which holds the agent and what it uses and
// nothing else; every other subcommand loads the whole command line (bin/cli.ts).
// KAFKA_OBS_UNBUNDLED=1 runs the agent from the compiled modules instead (source maps, debugging).
import { existsSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';

/**
 * V8 sized for a sidecar, measured with `npm run bench -- rss` (an agent forwarding 5,000
 * signals/s): 113-118 MB resident with V8's defaults, 85-100 MB with the first flag, 73-75 MB
 * with both. The young generation starts at 1 MB a semi-space and by default grows to 16 (32 MB,
 * resident once used) as soon as allocation is brisk, as it is while the agent loads and while
 * it forwards signals, though it keeps almost nothing it allocates: it stays at its first size.
 * --optimize-for-size lets the old generation grow less between full collections (a full
 * collection of a heap this small takes a few milliseconds). Both are read by V8 whenever it
 * sizes its heap, so they are set here, before anything else is loaded, without a launcher or
 * NODE_OPTIONS. --max-opt=1 stops tiering at the baseline compiler (Sparkplug): TurboFan's
 * compile memory and the binary pages it touches cost 6-8 MB at 5,000 signals/s (peak 63.7-65.0
 * MB against 69.8-71.6) and 7 MB beside a JMX bridge, for 15-25 % more agent CPU a signal (the
 * agent's work is mostly gRPC and HTTP/2 in native code). An agent forwarding tens of thousands
 * of signals a second should drop it. KAFKA_OBS_AGENT_V8_FLAGS replaces them all ("" for V8's
 * defaults); the flags cannot be relaxed later: V8 does not re-tier code already running.
 */
export const AGENT_V8_FLAGS = '--semi-space-growth-factor=1 --optimize-for-size --max-opt=1';

if (process.argv[2] === 'agent') {
  for (const f of (process.env.KAFKA_OBS_AGENT_V8_FLAGS ?? AGENT_V8_FLAGS).split(/\s+/).filter(Boolean)) setFlagsFromString(f);
  const bundle = new URL('../bundle/agent.mjs', import.meta.url);
  if (process.env.KAFKA_OBS_UNBUNDLED !== '1' && existsSync(bundle)) await import(bundle.href);
  else await import('./agent.js');
} else {
  await import('./cli.js');
}
