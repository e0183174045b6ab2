// Prometheus for tests: the exposition text read as Prometheus reads it (samples with their
// labels), metric names out of PromQL (Prometheus's own grammar, @prometheus-io/lezer-promql),
// and promtool (scripts/ensure-test-deps.mjs puts it in dist/test/support/prometheus/ unless the
// PATH has one).
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { parser } from '@prometheus-io/lezer-promql';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Samples of a text-format exposition (0.0.4); throws on a line it cannot read. */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    if (line.trim() === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`line ${n + 1} is not a sample: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[3] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;
    let lm: RegExpExecArray | null;
    let at = 0;
    while ((lm = re.exec(body))) {
      labels[lm[1]!] = lm[2]!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
      at = re.lastIndex;
    }
    if (at !== body.length) throw new Error(`line ${n + 1} has labels that do not parse: ${line}`);
    out.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return out;
}

/** The samples of `name` whose labels include `match`. */
export function samples(all: readonly Sample[], name: string, match: Record<string, string> = {}): Sample[] {
  return all.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** The one sample of `name` with `match`, or undefined (throws when several match). */
export function sample(all: readonly Sample[], name: string, match: Record<string, string> = {}): Sample | undefined {
  const found = samples(all, name, match);
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(match)}`);
  return found[0];
}

/** The metric names a PromQL expression selects; throws when it does not parse. */
export function metricNames(expr: string): string[] {
  const tree = parser.parse(expr);
  const names: string[] = [];
  let error: number | undefined;
  tree.iterate({
    enter(n) {
      if (n.type.isError) error ??= n.from;
      if (n.name === 'VectorSelector') {
        const id = n.node.getChild('Identifier');
        if (id) names.push(expr.slice(id.from, id.to));
        else {
          const m = /__name__\s*=\s*"([^"]+)"/.exec(expr.slice(n.from, n.to));
          if (!m) throw new Error(`a selector without a metric name in ${expr}`);
          names.push(m[1]!);
        }
      }
    },
  });
  if (error !== undefined) throw new Error(`PromQL does not parse at ${error}: ${expr}`);
  return names;
}

const BUNDLED = fileURLToPath(new URL('./prometheus/promtool', import.meta.url));

/** promtool: the one scripts/ensure-test-deps.mjs took out of Debian's package, else the PATH's. */
export function promtoolPath(): string {
  if (existsSync(BUNDLED)) return BUNDLED;
  if (spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0) return 'promtool';
  throw new Error('promtool not found: run node scripts/ensure-test-deps.mjs');
}

/** Runs promtool; resolves with its exit code and output (it exits non-zero to say a check failed). */
export async function promtool(args: string[], input?: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(promtoolPath(), args, { maxBuffer: 64 * 1024 * 1024 }, (e, stdout, stderr) => {
      resolve({ code: e ? Number((e as { code?: unknown }).code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
    if (input !== undefined) child.stdin!.end(input);
    else child.stdin!.end();
  });
}

