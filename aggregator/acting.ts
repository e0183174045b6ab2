// Wires the actors to the aggregator: they follow the event log like a subscriber (so the
// pipeline never waits for them), and every outcome they report goes back into the log as an
// Action event, where subscribers see it.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { EventKind, nowNs } from '../proto/index.js';
import type { ActorsSettings } from '../actors/config.js';
import { ActorRunner } from '../actors/runner.js';
import type { EventLog } from './event-log.js';
import { followBatches } from './subscription.js';

export interface Acting {
  runner: ActorRunner;
  /** Stops following, gives deliveries in progress up to `graceMs`, reports what is left. */
  stop(graceMs?: number): Promise<void>;
}

export function startActing(settings: ActorsSettings | undefined, log: EventLog, registry: Registry, logger: Logger, nowMs?: () => number): Acting {
  const runner = new ActorRunner({
    settings: settings ?? { actors: [], disabled: [], secrets: [] },
    emit: (action) => {
      log.append({ action }, nowNs());
      log.publish();
    },
    logger,
    registry,
    nowMs,
  });
  const follow = new AbortController();
  let following: Promise<void> = Promise.resolve();
  if (runner.active) {
    logger.info({ actors: runner.summary(), notEnabled: settings?.disabled ?? [] }, 'actors ready');
    following = (async () => {
      const kinds = new Set([EventKind.NARRATIVE]);
      const onGap = (missed: bigint): void => {
        runner.missed(missed);
        logger.warn({ missed: Number(missed) }, 'actors fell behind: the event log overwrote events before they were read; narratives among them were not acted on');
      };
      for await (const batch of followBatches(log, { kinds, subjectPrefix: '' }, undefined, follow.signal, { onGap }, nowNs, 1000)) {
        for (const e of batch) if (e.narrative) runner.onNarrative(e.narrative);
      }
    })();
  } else {
    logger.info({ notEnabled: settings?.disabled ?? [] }, 'actors: none enabled (every action type is off until enabled in --actors or KAFKA_OBS_ACTORS_ENABLE)');
  }
  return {
    runner,
    async stop(graceMs = 2000) {
      follow.abort();
      await following;
      await runner.stop(graceMs);
    },
  };
}
