// What every subcommand of the command line shares: the logger, argument parsers, secrets from
// files, and how a process fails, starts and stops. Kept small: `kafka-obs agent` loads it too.
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { pino, type Logger } from 'pino';

export const VERSION = '0.1.0';

export function logger(name: string): Logger {
  return pino({ name, level: process.env.LOG_LEVEL ?? 'info', redact: ['token', '*.token', 'password', '*.password'] }, pino.destination({ fd: 2 }));
}

export const int = (min: number, max = Number.MAX_SAFE_INTEGER) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}, got "${v}"`);
  return n;
};

/** A time scale: a number above 0 and at most 1000. */
export const factor = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 1000) throw new InvalidArgumentError(`expected a number above 0 (e.g. 0.2 for five times faster), got "${v}"`);
  return n;
};

/** A secret from a file (trailing newline trimmed) or an environment variable; never from a flag. */
export function secret(file: string | undefined, envName: string): string | undefined {
  if (file) {
    try {
      const v = readFileSync(file, 'utf8').trim();
      if (v === '') fail(`token file ${file} is empty`);
      return v;
    } catch (e) {
      fail(`cannot read token file ${file}: ${(e as Error).message}`);
    }
  }
  const v = process.env[envName]?.trim();
  return v ? v : undefined;
}

/** 90s, 15m, 12h, 7d, 1500ms or plain milliseconds; 0 = unlimited. */
export function duration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`expected a duration such as 90s, 15m, 12h, 7d (or milliseconds), got "${v}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
  return Math.round(Number(m[1]) * unit);
}

/** 20GiB, 500MiB, 64MB, 1024 (bytes); 0 = unlimited. */
export function size(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB)?$/i.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`expected a size such as 500MiB, 20GiB (or bytes), got "${v}"`);
  const units: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3, tb: 1e12, tib: 1024 ** 4 };
  return Math.round(Number(m[1]) * units[(m[2] ?? 'b').toLowerCase()]!);
}

/** A size (as `size`) of at least `min` bytes and at most 2 GiB. */
export const sizeAtLeast = (min: number, flag: string) => (v: string): number => {
  const n = size(v);
  if (n < min || n > 2 ** 31 - 1) throw new InvalidArgumentError(`--${flag} must be from ${min} bytes to 2GiB, got "${v}"`);
  return n;
};

export function fail(message: string): never {
  process.stderr.write(`kafka-obs: ${message}\n`);
  process.exit(2);
}

/** Stops gracefully on SIGTERM/SIGINT; a second signal exits at once. */
export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (sig: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal: sig }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal: sig }, 'shutting down');
    stop().then(() => process.exit(0), (e: Error) => {
      log.error({ err: e.message }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

export function startupFailure(log: Logger, what: string, e: unknown): never {
  const err = e as NodeJS.ErrnoException;
  const hint = err.code === 'EADDRINUSE' ? ' (the port is taken: choose another with the port flags)' : err.code === 'ENOENT' ? ' (a file named in the settings does not exist)' : '';
  log.fatal({ err: err.message }, `${what} could not start${hint}`);
  process.stderr.write(`kafka-obs: ${what} could not start: ${err.message}${hint}\n`);
  process.exit(1);
}
