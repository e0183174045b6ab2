// The log actor: one pino line per announced narrative, resolution, or (if wanted) update.
import type { Logger } from 'pino';
import type { Narrative } from '../proto/index.js';
import type { LogSpec } from './config.js';
import type { Actor } from './actor.js';
import { chainLines, confidenceOf, headline, levelName } from './narrative-text.js';

export function logActor(spec: LogSpec, logger: Logger): Actor {
  const log = logger.child({ actor: spec.name });
  return {
    spec,
    describe: (n, t) => `would log: ${headline(n, t)}`,
    act(n: Narrative, t) {
      const fields = {
        narrativeId: n.id,
        revision: n.revision,
        situationLevel: levelName(n),
        confidence: confidenceOf(n),
        rootSubject: n.rootSubject,
        rootCause: n.rootCause,
        recommendation: n.recommendation,
        chain: chainLines(n, 20),
      };
      if (t === 'resolve') log.info(fields, headline(n, t));
      else if (levelName(n) === 'CRITICAL') log.error(fields, headline(n, t));
      else log.warn(fields, headline(n, t));
      return 'done';
    },
  };
}
