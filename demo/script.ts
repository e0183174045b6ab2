// What both ways of playing the demo share: phases with a heading, a pace (the script's waits,
// shortened by --fast, cut short by Ctrl-C), and the story the demo sets out to show — a
// narrative naming broker 1 as root cause, then its resolution.
import { Narrative_State } from '../proto/index.js';
import type { DemoView } from './view.js';

export const CLUSTER = 'prod';
export const ROOT_BROKER = `cluster/${CLUSTER}/broker/1`;

export class DemoAborted extends Error {
  constructor() {
    super('stopped');
  }
}

/** Waits of the script, scaled (1 = as written, 0.4 = --fast) and abortable. */
export class Pace {
  constructor(readonly scale: number, readonly abort: AbortSignal) {}

  /** Sleeps `ms` of script time; throws DemoAborted when the demo is stopped meanwhile. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.abort.aborted) return reject(new DemoAborted());
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(new DemoAborted());
      };
      const timer = setTimeout(() => {
        this.abort.removeEventListener('abort', onAbort);
        resolve();
      }, Math.round(ms * this.scale));
      this.abort.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Sleeps until the wall clock reads `wallMs` (Date.now() time); at once if it is past. */
  until(wallMs: number): Promise<void> {
    const left = wallMs - Date.now();
    return left > 0 ? this.wait(left / this.scale) : Promise.resolve(this.check());
  }

  check(): void {
    if (this.abort.aborted) throw new DemoAborted();
  }
}

export interface PhaseContext {
  view: DemoView;
  pace: Pace;
}

export interface Phase {
  title: string;
  detail: string;
  play(ctx: PhaseContext): Promise<void>;
}

/** The narrative the demo is about: rooted at broker 1 (or naming it), opened at some point. */
export function brokerNarrative(view: DemoView): string | undefined {
  for (const [id, first] of view.openings) {
    const n = view.narratives.get(id)!;
    if (namesBroker(n.rootSubject, n.rootCause) || namesBroker(first.rootSubject, first.rootCause)) return id;
  }
  return undefined;
}

export function namesBroker(rootSubject: string, rootCause: string): boolean {
  return rootSubject === ROOT_BROKER || rootSubject.startsWith(`${ROOT_BROKER}/`) || /\bbroker[ -]1\b/i.test(rootCause);
}

export function brokerNarrativeResolved(view: DemoView): boolean {
  const id = brokerNarrative(view);
  return id !== undefined && view.narratives.get(id)!.state === Narrative_State.RESOLVED;
}
