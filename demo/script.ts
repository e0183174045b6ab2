// What every way of playing an incident shares: a pace (the script's waits, shortened by --fast,
// cut short by Ctrl-C), and the test of whether the story completed — the narrative the incident
// expects opened with the right root, said what it must, and resolved — or, for a quiet estate,
// that nothing was narrated.
import { Narrative_State, type Finding, type Narrative } from '../proto/index.js';
import type { Incident } from './incidents.js';

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

/** What a subscriber saw of the incident: each narrative's first and latest revision, and the findings. */
export interface Story {
  readonly openings: ReadonlyMap<string, Narrative>;
  readonly narratives: ReadonlyMap<string, Narrative>;
  readonly findings: ReadonlyMap<string, Finding>;
}

export interface Verdict {
  ok: boolean;
  /** The narrative the incident is about, when one opened with the expected root. */
  narrative?: Narrative;
  /** What is missing or wrong, in words (empty when ok). */
  problems: string[];
}

/** Whether the story the subscriber saw is the one the incident expects (so far, or in full once `finished`). */
export function judge(inc: Incident, story: Story, finished: boolean): Verdict {
  const e = inc.expect;
  const all = [...story.narratives.values()];
  const problems: string[] = [];
  if (e.narratives === 0) {
    if (all.length) problems.push(`expected silence, got ${all.length} narrative(s): ${all.map((n) => `"${n.situation}"`).join('; ')}`);
    return { ok: problems.length === 0, problems };
  }
  const narrative = all.find((n) => n.rootSubject === e.rootSubject || story.openings.get(n.id)?.rootSubject === e.rootSubject);
  if (!narrative) {
    problems.push(`no narrative rooted at ${e.rootSubject}${all.length ? ` (got: ${all.map((n) => `${n.id} rooted at ${n.rootSubject}: "${n.situation}"`).join('; ')})` : ''}`);
    return { ok: false, problems };
  }
  if (all.length !== 1) problems.push(`expected one narrative for the incident, got ${all.length}: ${all.map((n) => `${n.id} "${n.situation}" (${n.rootSubject})`).join('; ')}`);
  if (e.rootObserver) {
    const roots = narrative.findingIds.map((id) => story.findings.get(id)).filter((f): f is Finding => f !== undefined && f.subject === narrative.rootSubject);
    if (!roots.some((f) => f.observer === e.rootObserver)) problems.push(`its root is not a ${e.rootObserver} finding (root findings: ${roots.map((f) => f.observer).join(', ') || 'none'})`);
  }
  const text = `${narrative.situation}\n${narrative.rootCause}\n${narrative.recommendation}`;
  for (const r of e.says ?? []) if (!r.test(text)) problems.push(`it does not say ${r}: "${narrative.situation}" / "${narrative.rootCause}"`);
  for (const r of e.never ?? []) if (r.test(text)) problems.push(`it says ${r}, which it must not: "${text.replace(/\n/g, ' / ')}"`);
  if (finished && narrative.state !== Narrative_State.RESOLVED) problems.push(`${narrative.id} did not resolve after recovery`);
  return { ok: problems.length === 0, narrative, problems };
}
