// Intake: the service beside the agent hands it signals, over gRPC (kafkaobs.v1.LocalAgent/Emit)
// or HTTP (POST /v1/signals, JSON or NDJSON), or the agent reads them from an NDJSON file.
// Each signal is checked with the aggregator's own rules so the caller hears at once what is wrong.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import {
  SignalJsonError,
  contentProblem,
  subjectProblem,
  signalFromJson,
  type EmitReply,
  type Rejection,
  type Signal,
} from '../proto/index.js';
import { ServerError, Status } from 'nice-grpc';
import { OutboxFullError } from './outbox.js';
import type { SignalQueue } from './fanout.js';
import { INTAKE_DEFAULTS } from './config.js';
import { checkJsonDepth, scanJsonBody } from './json-reader.js';

/** The outbox stayed full (block policy) past its deadline; `accepted` of the request's signals were taken before. */
export class IntakeFullError extends Error {
  constructor(readonly full: OutboxFullError, readonly accepted: number, readonly total: number) {
    super(`${full.message}; ${accepted} of ${total} signals of this request were taken, retry the rest later`);
  }
}

export interface IntakeStats {
  received: Map<string, number>;
  rejected: Map<string, number>;
}

/** Valid subjects remembered by the intake; past this many it starts again. */
const KNOWN_SUBJECTS = 1024;

export class Intake {
  readonly stats: IntakeStats = { received: new Map(), rejected: new Map() };
  /**
   * Subjects lately found valid. A service sends the same few again and again, and checking one
   * splits it into its names (garbage at every signal); a valid one stays valid.
   */
  private readonly knownSubjects = new Set<string>();
  private readonly subjectCheck = (subject: string): string | undefined => {
    if (this.knownSubjects.has(subject)) return undefined;
    const problem = subjectProblem(subject);
    if (problem === undefined) {
      if (this.knownSubjects.size >= KNOWN_SUBJECTS) this.knownSubjects.clear();
      this.knownSubjects.add(subject);
    }
    return problem;
  };

  constructor(
    private readonly outbox: SignalQueue,
    private readonly nowNs: () => bigint,
    /** Deepest JSON nesting taken from a line of a file (the HTTP intake passes its own to parseSignalBody). */
    private readonly maxDepth = INTAKE_DEFAULTS.maxDepth,
  ) {}

  /**
   * Why a signal from the service cannot be taken, or undefined: the aggregator's own checks
   * (proto/validate.ts), so nothing the agent accepts is refused further on.
   */
  problem(s: Signal, nowNs: bigint): string | undefined {
    if (s.sourceId !== '' && s.sourceId !== this.outbox.sourceId) {
      return `source_id "${s.sourceId}" is not this agent's ("${this.outbox.sourceId}"); leave it out and the agent fills it`;
    }
    return contentProblem(s, nowNs, this.subjectCheck);
  }

  /** Takes signals in order; `channel` names where they came from (grpc, http, file). */
  async emit(signals: readonly (Signal | { error: string })[], channel: string): Promise<EmitReply & { rejections: (Rejection & { index: number })[] }> {
    const reply = { accepted: 0, dropped: 0, rejections: [] as (Rejection & { index: number })[] };
    const now = this.nowNs();
    for (let i = 0; i < signals.length; i++) {
      const s = signals[i]!;
      const problem = 'error' in s ? s.error : this.problem(s, now);
      if (problem) {
        reply.rejections.push({ index: i, seq: 0n, reason: problem, subject: 'error' in s ? '' : s.subject.slice(0, 200) });
        bump(this.stats.rejected, channel);
        continue;
      }
      const sig = s as Signal;
      try {
        // Queued at once when there is room (no promise per signal). Otherwise a service calling
        // in waits for room at most the outbox's deadline; a file waits as long as it takes.
        reply.dropped += this.outbox.offer(sig, now) ?? (await this.outbox.add(sig, now, channel === 'file' ? Infinity : this.outbox.blockTimeoutMs));
      } catch (e) {
        if (!(e instanceof OutboxFullError)) throw e;
        bump(this.stats.received, channel, reply.accepted);
        bump(this.stats.rejected, channel, signals.length - i);
        const full = new IntakeFullError(e, reply.accepted, signals.length);
        if (channel === 'grpc') throw new ServerError(Status.RESOURCE_EXHAUSTED, full.message);
        throw full;
      }
      reply.accepted++;
    }
    bump(this.stats.received, channel, reply.accepted);
    return reply;
  }

  /** Reads NDJSON (one signal per line) from a file or "-" for stdin; bad lines are reported by number. */
  async fromFile(path: string, onBadLine: (line: number, reason: string) => void): Promise<{ accepted: number; rejected: number }> {
    const input = path === '-' ? process.stdin : createReadStream(path);
    const lines = createInterface({ input, crlfDelay: Infinity });
    let n = 0;
    let accepted = 0;
    let rejected = 0;
    for await (const line of lines) {
      n++;
      if (line.trim() === '') continue;
      const parsed = parseSignalText(line, this.maxDepth);
      const reply = await this.emit([parsed], 'file');
      accepted += reply.accepted;
      for (const r of reply.rejections) {
        rejected++;
        onBadLine(n, r.reason);
      }
    }
    return { accepted, rejected };
  }
}

/** One JSON signal from text; a parse failure (or nesting deeper than `maxDepth`) becomes data the reply reports. */
export function parseSignalText(text: string, maxDepth = INTAKE_DEFAULTS.maxDepth): Signal | { error: string } {
  try {
    checkJsonDepth(text, maxDepth);
    return signalFromJson(JSON.parse(text));
  } catch (e) {
    return { error: e instanceof SignalJsonError ? e.message : `not valid JSON: ${(e as Error).message}` };
  }
}

/**
 * The signals of an HTTP body: a JSON object, an array, {"signals": [...]}, or NDJSON.
 * A body nested deeper than `maxDepth` (any line of it, for NDJSON) is refused whole with
 * JsonTooDeepError, one of more than `maxSignals` signals with TooManySignalsError, before
 * anything is parsed.
 */
export function parseSignalBody(
  body: Uint8Array | string,
  contentType: string,
  limits: { maxDepth: number; maxSignals: number } = INTAKE_DEFAULTS,
): (Signal | { error: string })[] {
  const ndjson = /ndjson|jsonl/.test(contentType);
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  scanJsonBody(bytes, limits.maxDepth, limits.maxSignals, ndjson);
  const text = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  // The depth of every line was checked with the body.
  if (ndjson) return text.split('\n').filter((l) => l.trim() !== '').map((l) => parseSignalText(l, Infinity));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new SignalJsonError(`body is not valid JSON: ${(e as Error).message}`);
  }
  const list = Array.isArray(value) ? value : typeof value === 'object' && value !== null && Array.isArray((value as { signals?: unknown }).signals) ? (value as { signals: unknown[] }).signals : [value];
  return list.map((v) => {
    try {
      return signalFromJson(v);
    } catch (e) {
      return { error: e instanceof SignalJsonError ? e.message : String((e as Error).message) };
    }
  });
}

function bump(m: Map<string, number>, k: string, n = 1): void {
  m.set(k, (m.get(k) ?? 0) + n);
}
