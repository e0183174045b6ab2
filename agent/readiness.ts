// When is an agent ready? When it is connected to the aggregator and every source it was given
// answers. /healthz only says the process is alive; /readyz says it is doing its job.
export interface SourceAnswer {
  name: string;
  /** True once the source's last poll was answered (even if a pattern matched nothing). */
  answering: boolean;
  /** Why not, for people: "DOWN (unreachable): connection refused", "not polled yet". */
  why?: string;
}

export interface Readiness {
  ready: boolean;
  connected: boolean;
  /** Each reason the agent is not ready, one line each; empty when ready. */
  reasons: string[];
  sources: SourceAnswer[];
}

export function readiness(connected: boolean, aggregatorUrl: string, lastLinkError: string, sources: readonly SourceAnswer[]): Readiness {
  const reasons: string[] = [];
  if (!connected) reasons.push(`not connected to the aggregator at ${aggregatorUrl}${lastLinkError ? ` (last error: ${lastLinkError})` : ''}`);
  for (const s of sources) if (!s.answering) reasons.push(`source ${s.name} does not answer${s.why ? `: ${s.why}` : ''}`);
  return { ready: reasons.length === 0, connected, reasons, sources: [...sources] };
}
