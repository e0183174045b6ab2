// The safety model alone, with a fake clock: what an actor may do for each narrative revision.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Narrative_State as S, Situation_Level as L, Status_Confidence as K } from '../proto/index.js';
import { SafetyPolicy, type PolicyRules, type Verdict } from '../actors/policy.js';
import { narrative } from './support/actors.js';

const test = suite('actors: safety policy');
const MIN = 60_000;
const alert = (over: Partial<PolicyRules> = {}) => new SafetyPolicy({ kind: 'alert', minConfidence: K.MEASURED, minLevel: L.WARNING, rateLimitMs: 5 * MIN, notifyUpdates: false, ...over });
const short = (v: Verdict): string => ('act' in v ? v.act : 'deny' in v ? `deny:${v.rule}` : 'none');

test('an incident opens once and resolves once, whatever the revisions in between', () => {
  const p = alert();
  const n = narrative({ id: 'a' });
  const seen = [
    p.decide({ ...n, state: S.OPEN }, 0),
    p.decide({ ...n, state: S.UPDATED, revision: 2 }, 1000),
    p.decide({ ...n, state: S.OPEN }, 2000), // a repeated OPEN
    p.decide({ ...n, state: S.UPDATED, revision: 3, confidence: K.CONFIRMED }, 3000),
    p.decide({ ...n, state: S.RESOLVED, revision: 4 }, 4000),
    p.decide({ ...n, state: S.RESOLVED, revision: 4 }, 5000), // a repeated RESOLVED
    p.decide({ ...n, state: S.UPDATED, revision: 5 }, 6000), // late revision after the end
  ].map(short);
  assert.equal(seen, ['open', 'none', 'none', 'none', 'resolve', 'none', 'none']);
});

test('TENTATIVE never acts; an update that raises confidence opens then', () => {
  const p = alert();
  const n = narrative({ id: 'b', confidence: K.TENTATIVE });
  const first = p.decide(n, 0);
  assert.ok('deny' in first && first.rule === 'tentative' && /observe only/.test(first.deny), short(first));
  assert.is(short(p.decide({ ...n, state: S.UPDATED, revision: 2 }, 1)), 'none', 'the same refusal is said once');
  assert.is(short(p.decide({ ...n, state: S.UPDATED, revision: 3, confidence: K.MEASURED }, 2)), 'open');
  assert.is(short(p.decide({ ...n, state: S.RESOLVED, revision: 4 }, 3)), 'resolve');
  // Unspecified confidence counts as TENTATIVE.
  assert.is(short(p.decide(narrative({ id: 'b2', rootSubject: 'x', confidence: K.CONFIDENCE_UNSPECIFIED }), 0)), 'deny:tentative');
});

test('a narrative never announced resolves silently', () => {
  const p = alert();
  const n = narrative({ id: 'c', confidence: K.TENTATIVE });
  p.decide(n, 0);
  assert.is(short(p.decide({ ...n, state: S.RESOLVED }, 1)), 'none');
});

test('remediation only on CONFIRMED; alerts on MEASURED', () => {
  const remedy = new SafetyPolicy({ kind: 'remediation', minConfidence: K.CONFIRMED, minLevel: L.WARNING, rateLimitMs: 0, notifyUpdates: false });
  const measured = narrative({ id: 'd', confidence: K.MEASURED });
  const v = remedy.decide(measured, 0);
  assert.ok('deny' in v && /only on CONFIRMED/.test(v.deny), short(v));
  assert.is(short(remedy.decide({ ...measured, state: S.UPDATED, confidence: K.CONFIRMED, revision: 2 }, 1)), 'open');
  assert.is(short(alert().decide(measured, 0)), 'open');
  assert.is(short(alert({ minConfidence: K.CONFIRMED }).decide(measured, 0)), 'deny:confidence');
});

test('minLevel: a WARNING narrative does not page a CRITICAL-only actor', () => {
  const p = alert({ minLevel: L.CRITICAL });
  assert.is(short(p.decide(narrative({ id: 'e', level: L.WARNING }), 0)), 'deny:level');
  assert.is(short(p.decide(narrative({ id: 'e', level: L.CRITICAL, state: S.UPDATED }), 1)), 'open');
});

test('rate limit: one announcement per target per window, lifted when the window passes', () => {
  const p = alert();
  const broker1 = (id: string) => narrative({ id, rootSubject: 'cluster/prod/broker/1' });
  assert.is(short(p.decide(broker1('f1'), 0)), 'open');
  const again = p.decide(broker1('f2'), 2 * MIN);
  assert.ok('deny' in again && again.rule === 'rate-limit' && /announced 120 s ago/.test(again.deny), short(again));
  assert.is(short(p.decide(narrative({ id: 'f3', rootSubject: 'cluster/prod/broker/2' }), 2 * MIN)), 'open', 'another target is not limited');
  assert.is(short(p.decide(broker1('f4'), 5 * MIN - 1)), 'deny:rate-limit');
  assert.is(short(p.decide(broker1('f5'), 5 * MIN)), 'open', 'the window has passed');
  // f2, still open, is announced by its next revision once the window allows.
  assert.is(short(p.decide({ ...broker1('f2'), state: S.UPDATED, revision: 2 }, 11 * MIN)), 'open');
  // Resolving is never rate limited: it closes what was opened.
  assert.is(short(p.decide({ ...broker1('f5'), state: S.RESOLVED }, 5 * MIN + 1)), 'resolve');
  assert.is(short(alert({ rateLimitMs: 0 }).decide(broker1('g'), 0)), 'open');
});

test('updates: only when wanted, and rate limited per narrative', () => {
  const quiet = alert();
  const chatty = alert({ notifyUpdates: true });
  const n = narrative({ id: 'h' });
  for (const p of [quiet, chatty]) assert.is(short(p.decide(n, 0)), 'open');
  const upd = (rev: number) => ({ ...n, state: S.UPDATED, revision: rev });
  assert.is(short(quiet.decide(upd(2), 6 * MIN)), 'none');
  assert.is(short(chatty.decide(upd(2), 1 * MIN)), 'deny:rate-limit');
  assert.is(short(chatty.decide(upd(3), 2 * MIN)), 'none', 'said once');
  assert.is(short(chatty.decide(upd(4), 5 * MIN)), 'update');
  assert.is(short(chatty.decide(upd(5), 6 * MIN)), 'deny:rate-limit', 'a new refusal after an act is said again');
  assert.is(short(chatty.decide({ ...upd(6), confidence: K.TENTATIVE }, 20 * MIN)), 'deny:tentative');
});

test.run();
