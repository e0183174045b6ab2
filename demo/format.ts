// How the demo reads on a terminal: short subject names, one line per signal that changed
// something, the tree as a compact outline, narratives as a block a newcomer can follow.
// Colour through node:util styleText when the output is a terminal; plain ASCII otherwise.
import { styleText } from 'node:util';
import {
  CONDITION_STYLE,
  LEVEL_STYLE,
  Narrative_State,
  Situation_Level,
  Status_Condition,
  Status_Confidence,
  describeSign,
  parseCellPath,
  type Cell,
  type Evidence,
  type Finding,
  type Narrative,
  type Signal,
  type Situation,
} from '../proto/index.js';

type Style = Parameters<typeof styleText>[0];

export class Painter {
  constructor(readonly color: boolean) {}

  paint(style: Style | undefined, text: string): string {
    return this.color && style ? styleText(style, text) : text;
  }

  /** An arrow: "→" on a terminal, "->" in plain text (logs, pipes, CI). */
  get arrow(): string {
    return this.color ? '→' : '->';
  }
}

export const conditionName = (c: Status_Condition): string =>
  c === Status_Condition.CONDITION_UNSPECIFIED ? 'UNKNOWN' : (Status_Condition[c] ?? String(c));
export const confidenceName = (c: Status_Confidence): string =>
  c === Status_Confidence.CONFIDENCE_UNSPECIFIED ? '' : (Status_Confidence[c] ?? String(c));
export const levelName = (l: Situation_Level): string => (l === Situation_Level.LEVEL_UNSPECIFIED ? 'UNSPECIFIED' : (Situation_Level[l] ?? String(l)));

/**
 * A subject as a person says it: "cluster/prod/broker/1#under-replicated" -> "broker 1 /
 * under-replicated"; "service/orders/pod/orders-1/producer/p1#request-latency" -> "orders-1 /
 * producer p1 / request-latency". The cluster and the service are left out (the demo has one
 * cluster, and a pod's name says its service).
 */
export function shortSubject(subject: string): string {
  const i = parseCellPath(subject);
  if (!i) return subject;
  const at = i.aspect ? ` / ${i.aspect}` : '';
  switch (i.kind) {
    case 'broker':
      return `broker ${i.broker}${at}`;
    case 'topic':
      return `topic ${i.topic}${at}`;
    case 'partition':
      return `topic ${i.topic} / partition ${i.partition}${at}`;
    case 'group':
      return `group ${i.group}${at}`;
    case 'group-topic':
      return `group ${i.group} / topic ${i.topic}${at}`;
    case 'group-partition':
      return `group ${i.group} / topic ${i.topic} / partition ${i.partition}${at}`;
    case 'client':
      return `${i.pod} / ${i.role} ${i.clientId}${at}`;
    case 'jvm':
    case 'agent':
      return `${i.pod} / ${i.kind}${at}`;
    case 'pod':
      return `${i.pod}${at}`;
    case 'service':
      return `service ${i.service}${at}`;
    case 'cluster':
      return `cluster ${i.cluster}${at}`;
    default:
      return subject;
  }
}

/** The sign without confidence or units ("queue OVERFLOW", "status DEGRADED"): what counts as a change. */
export function signKey(s: Signal): string {
  if (s.status) return `status ${conditionName(s.status.condition)}`;
  return describeSign(s).replace(/ [\d.e+-]+$/, '');
}

/** "value 212 ms"-like details from the context the sensors fill. */
export function signalDetail(s: Signal): string {
  const c = s.context;
  const bits: string[] = [];
  const metric = c.metric?.replace(/^(producer|consumer|broker|jvm)\./, '');
  if (c.value !== undefined && metric) bits.push(`${metric}=${num(c.value)}`);
  else if (c.value !== undefined) bits.push(`value=${num(c.value)}`);
  if (c.isr !== undefined && c.replicas !== undefined) bits.push(`replicas ${c.replicas}, ISR ${c.isr || 'none'}`);
  if (c.lag !== undefined) bits.push(`lag=${c.lag}`);
  if (c.burrow !== undefined) bits.push(`burrow ${c.burrow}`);
  const conf = s.status ? confidenceName(s.status.confidence) : c.confidence ?? '';
  if (conf) bits.push(conf);
  return bits.join(', ');
}

export function signalStyle(s: Signal, condition: Status_Condition | undefined): Style | undefined {
  return condition === undefined ? 'bold' : CONDITION_STYLE[condition];
}

/** "+12.3s": time since the demo began. */
export function elapsed(ns: bigint, startNs: bigint): string {
  const ms = Number((ns - startNs) / 1_000_000n);
  return `${ms < 0 ? '-' : '+'}${(Math.abs(ms) / 1000).toFixed(1)}s`.padStart(7);
}

const pad = (text: string, width: number): string => (text.length >= width ? text : text + ' '.repeat(width - text.length));

/** A number as a person writes it: 97, 83.5, 41000. */
export function num(v: number | string): string {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n)) return String(v);
  return Number.isInteger(n) ? String(n) : String(Math.round(n * 10) / 10);
}

/** Long decimals in a text ("97.9999989271164%") rounded to one place ("98%"). */
export function tidy(text: string): string {
  return text.replace(/-?\d+\.\d{3,}/g, (m) => num(m));
}

/** describeSign with its numbers rounded and without the confidence (shown with the details). */
export function signText(s: Signal): string {
  return describeSign(s)
    .replace(/ (TENTATIVE|MEASURED|CONFIRMED)$/, '')
    .replace(/-?\d+\.\d+(e[+-]?\d+)?/g, (m) => num(m));
}

export function signalLine(p: Painter, s: Signal, condition: Status_Condition | undefined, when: string): string {
  const detail = signalDetail(s);
  return `  ${p.paint('dim', when)}  ${p.paint('blue', 'signal ')} ${pad(shortSubject(s.subject), 52)} ${p.paint(signalStyle(s, condition), signText(s))}${detail ? p.paint('dim', `  (${detail})`) : ''}`;
}

/**
 * Cells that changed together (one signal's roll-up), deepest first: "broker 1 STABLE -> DEGRADED,
 * and so cluster prod, the estate". Only the named cells (not kind levels such as "broker").
 */
export function treeTurnLine(p: Painter, changes: readonly { path: string; previous: Status_Condition; current: Status_Condition; confidence: Status_Confidence; reason?: string }[], when: string): string {
  // The entities that turned (not the containers between them, nor their aspects), and the estate.
  const named = changes.filter((c) => {
    const i = parseCellPath(c.path);
    return c.path === '' || (i !== undefined && i.kind !== 'container' && i.aspect === '');
  });
  const first = named[0] ?? changes[0]!;
  const label = (path: string): string => (path === '' ? 'the estate' : shortSubject(path) || path);
  const also = named.slice(1).map((c) => `${label(c.path)} ${p.paint(CONDITION_STYLE[c.current], conditionName(c.current))}`);
  const conf = confidenceName(first.confidence);
  return `  ${p.paint('dim', when)}  ${p.paint('magenta', 'tree   ')} ${pad(first.path === '' ? '(estate)' : first.path, 52)} ${p.paint(CONDITION_STYLE[first.previous], conditionName(first.previous))} ${p.arrow} ${p.paint(CONDITION_STYLE[first.current], conditionName(first.current))}${conf ? p.paint('dim', ` (${conf})`) : ''}${also.length ? p.paint('dim', '; up the tree: ') + also.join(', ') : ''}`;
}

export function cellLine(p: Painter, path: string, previous: Status_Condition, current: Status_Condition, confidence: Status_Confidence, when: string, reason = ''): string {
  const conf = confidenceName(confidence);
  return `  ${p.paint('dim', when)}  ${p.paint('magenta', 'tree   ')} ${pad(path || '(estate)', 52)} ${p.paint(CONDITION_STYLE[previous], conditionName(previous))} ${p.arrow} ${p.paint(CONDITION_STYLE[current], conditionName(current))}${conf ? p.paint('dim', ` (${conf})`) : ''}${reason ? p.paint('dim', `  ${reason}`) : ''}`;
}

export function findingLine(p: Painter, f: Finding, when: string): string {
  const state = f.resolved ? p.paint('green', 'over') : p.paint(CONDITION_STYLE[f.condition], `${conditionName(f.condition)} ${confidenceName(f.confidence)}`.trim());
  return `  ${p.paint('dim', when)}  ${p.paint('cyan', 'finding')} ${p.paint('bold', f.observer)} [${state}] ${tidy(f.summary)}`;
}

export function situationLine(p: Painter, s: Situation, when: string): string {
  return `  ${p.paint('dim', when)}  ${p.paint('yellow', 'situation')} ${s.subject} ${p.paint(LEVEL_STYLE[s.previous], levelName(s.previous))} ${p.arrow} ${p.paint(LEVEL_STYLE[s.current], levelName(s.current))}${s.reason ? p.paint('dim', `  ${tidy(s.reason)}`) : ''}`;
}

/** One link of a causal chain, its time relative to the chain's first. */
function chainLine(p: Painter, e: Evidence, i: number, firstNs: bigint): string {
  const t = `t${elapsed(e.time, firstNs).trim()}`;
  return `     ${String(i + 1).padStart(2)}. ${p.paint('dim', pad(t, 8))} ${pad(shortSubject(e.subject), 50)} ${p.paint('bold', tidy(e.sign))}${e.detail ? p.paint('dim', `  (${tidy(e.detail)})`) : ''}`;
}

function firstTime(chain: readonly Evidence[]): bigint {
  let t = chain[0]?.time ?? 0n;
  for (const e of chain) if (e.time > 0n && (t === 0n || e.time < t)) t = e.time;
  return t;
}

const RULE = 78;

function banner(p: Painter, text: string, style: Style): string {
  const line = `== ${text} ${'='.repeat(Math.max(3, RULE - text.length - 4))}`;
  return p.paint(style, line);
}

function field(p: Painter, name: string, value: string): string {
  return `  ${p.paint('bold', pad(`${name}:`, 16))} ${tidy(value)}`;
}

/** The narrative, opened: everything a newcomer needs to follow the incident. */
export function narrativeOpened(p: Painter, n: Narrative): string[] {
  const style: Style = n.level === Situation_Level.CRITICAL ? ['red', 'bold'] : ['yellow', 'bold'];
  const first = firstTime(n.causalChain);
  return [
    '',
    banner(p, `NARRATIVE OPENED  ${n.id}  (${levelName(n.level)}, ${confidenceName(n.confidence) || 'no confidence'})`, style),
    field(p, 'situation', n.situation),
    field(p, 'root cause', p.paint('bold', n.rootCause)),
    field(p, 'root subject', n.rootSubject),
    field(p, 'causal chain', `${n.causalChain.length} link(s), in happens-before order`),
    ...n.causalChain.map((e, i) => chainLine(p, e, i, first)),
    field(p, 'recommendation', n.recommendation),
    p.paint(style, '='.repeat(RULE)),
    '',
  ];
}

/** An update: what changed since the revision shown before. */
export function narrativeUpdated(p: Painter, n: Narrative, before: Narrative | undefined): string[] {
  const lines = [banner(p, `NARRATIVE UPDATED ${n.id}  revision ${n.revision}`, 'cyan')];
  if (!before || before.situation !== n.situation) lines.push(field(p, 'situation', n.situation));
  if (!before || before.rootCause !== n.rootCause) lines.push(field(p, 'root cause', p.paint('bold', n.rootCause)));
  if (before && (before.level !== n.level || before.confidence !== n.confidence)) {
    lines.push(field(p, 'now', `${levelName(n.level)}, ${confidenceName(n.confidence)} (was ${levelName(before.level)}, ${confidenceName(before.confidence)})`));
  }
  const seen = new Set((before?.causalChain ?? []).map((e) => `${e.sourceId}#${e.seq}|${e.subject}|${e.sign}`));
  const added = n.causalChain.filter((e) => !seen.has(`${e.sourceId}#${e.seq}|${e.subject}|${e.sign}`));
  if (added.length) {
    const first = firstTime(n.causalChain);
    lines.push(field(p, 'new evidence', `${added.length} link(s); the chain has ${n.causalChain.length}`));
    for (const e of added) lines.push(chainLine(p, e, n.causalChain.indexOf(e), first));
  }
  if (!before || before.recommendation !== n.recommendation) lines.push(field(p, 'recommendation', n.recommendation));
  return lines;
}

export function narrativeResolved(p: Painter, n: Narrative): string[] {
  const after = n.resolvedAt > 0n && n.openedAt > 0n ? ` after ${((Number(n.resolvedAt - n.openedAt) / 1e9)).toFixed(0)} s` : '';
  return [
    '',
    banner(p, `NARRATIVE RESOLVED  ${n.id}${after}`, ['green', 'bold']),
    field(p, 'situation', n.situation),
    field(p, 'root cause', n.rootCause),
    p.paint(['green', 'bold'], '='.repeat(RULE)),
    '',
  ];
}

export function narrativeLines(p: Painter, n: Narrative, before: Narrative | undefined): string[] {
  switch (n.state) {
    case Narrative_State.OPEN:
      return narrativeOpened(p, n);
    case Narrative_State.RESOLVED:
      return narrativeResolved(p, n);
    default:
      return before ? narrativeUpdated(p, n, before) : narrativeOpened(p, n);
  }
}

/** A heading for a phase of the script: "[2/5] Broker 1 loses replicas". */
export function phaseLines(p: Painter, index: number, count: number, title: string, detail: string): string[] {
  return ['', p.paint(['bold', 'underline'], `[${index}/${count}] ${title}`), ...(detail ? [p.paint('dim', `      ${detail}`)] : [])];
}

/** Where the outline stops and sums up what is below instead: a broker, a client, a partition, a group, a JVM. */
const LEAF_KINDS = new Set(['broker', 'client', 'partition', 'group', 'jvm']);

/** The unhealthy cells below `c`, as "buffer OVERFLOW"-like words relative to it (an aspect by its name). */
function troubleBelow(c: Cell, p: Painter): string[] {
  const out: string[] = [];
  const visit = (k: Cell): void => {
    if (k.children.length === 0) {
      if ((k.condition as number) > (Status_Condition.STABLE as number)) {
        out.push(`${k.path.slice(c.path.length + 1)} ${p.paint(CONDITION_STYLE[k.condition], conditionName(k.condition))}`);
      }
      return;
    }
    for (const g of k.children) visit(g);
  };
  for (const k of c.children) visit(k);
  return out;
}

/** Whether the cell is the agents' own (their sources' status), which the outline leaves out. */
const isAgent = (c: Cell): boolean => parseCellPath(c.path)?.kind === 'agent';

/** Whether the cell has anything below it but agents' own status (a pod whose agent reads nothing of its own). */
function holdsMoreThanAgents(c: Cell): boolean {
  if (isAgent(c)) return false;
  if (c.children.length === 0) return true;
  return c.children.some(holdsMoreThanAgents);
}

/** How a cell's kind reads before its name: "broker", "producer", "pod", "group". */
function labelKind(c: Cell): string {
  const i = parseCellPath(c.path)!;
  return i.kind === 'client' ? i.role! : i.kind;
}

const healthy = (c: Cell): boolean => c.condition === Status_Condition.STABLE || c.condition === Status_Condition.CONDITION_UNSPECIFIED;

/**
 * The tree as an outline of named cells — cluster prod, broker 1, service order-service, pod
 * order-1, producer order-producer — without the kind-only levels between them or the agents'
 * own cells. Brokers, clients, partitions and JVMs end a line, with what is wrong below them; a
 * long run of one kind (partitions, pods) shows its unhealthy members and sums up the rest.
 */
export function treeLines(p: Painter, root: Cell, maxOfAKind = 6): string[] {
  const out: string[] = [];
  const line = (indent: number, label: string, c: Cell, trouble: string[] = []): void => {
    const conf = confidenceName(c.confidence);
    const state = `${p.paint(CONDITION_STYLE[c.condition], conditionName(c.condition))}${conf ? p.paint('dim', ` (${conf})`) : ''}`;
    out.push(`    ${pad(`${' '.repeat(indent)}${label}`, 44)} ${state}${trouble.length ? `  ${trouble.join(', ')}` : ''}`);
  };
  const walk = (c: Cell, indent: number): void => {
    // The entities under c: containers ("broker", "pod") are looked through, aspects are told as
    // trouble of their entity, the agents' own cells are left out.
    const named: Cell[] = [];
    for (const k of c.children) {
      const info = parseCellPath(k.path);
      if (!info || info.aspect || !holdsMoreThanAgents(k)) continue;
      if (info.kind === 'container') named.push(...k.children.filter((x) => !parseCellPath(x.path)?.aspect && holdsMoreThanAgents(x)));
      else named.push(k);
    }
    const byKind = new Map<string, Cell[]>();
    for (const k of named) {
      const kind = labelKind(k);
      byKind.set(kind, [...(byKind.get(kind) ?? []), k]);
    }
    for (const [kind, list] of byKind) {
      const shown = list.length > maxOfAKind ? list.filter((k) => !healthy(k)).slice(0, maxOfAKind) : list;
      for (const k of shown) {
        const label = kind === 'jvm' ? 'jvm' : `${kind} ${k.name}`;
        if (LEAF_KINDS.has(parseCellPath(k.path)!.kind)) line(indent, label, k, troubleBelow(k, p));
        else {
          line(indent, label, k, troubleBelow({ ...k, children: k.children.filter((x) => parseCellPath(x.path)?.aspect) }, p));
          walk(k, indent + 2);
        }
      }
      const rest = list.length - shown.length;
      if (rest > 0) {
        const allHealthy = list.filter((k) => !shown.includes(k)).every(healthy);
        out.push(`    ${' '.repeat(indent)}${p.paint('dim', `... ${rest} more ${kind}${rest > 1 ? 's' : ''}${allHealthy ? ', all STABLE' : ''}`)}`);
      }
    }
  };
  line(0, 'estate', root);
  walk(root, 2);
  return out;
}
