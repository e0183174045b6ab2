// The Prometheus text exposition format (0.0.4, and the OpenMetrics text it resembles):
//   # HELP name text / # TYPE name type / name{label="value",...} value [timestamp]
// Small enough to parse here; a bad line is reported with its number and skipped, never fatal.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedPage {
  samples: Sample[];
  /** "line 12: expected '=' after label name" (at most 20 kept). */
  errors: string[];
  badLines: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function parseValue(s: string): number | undefined {
  switch (s) {
    case '+Inf':
    case 'Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
    case 'NaN':
      return NaN;
  }
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return undefined;
  return Number(s);
}

/** One sample line; throws a message saying what is wrong where. */
function parseLine(line: string): Sample {
  const m = NAME.exec(line);
  if (!m) throw new Error('expected a metric name');
  const name = m[0];
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ') i++;
      if (line[i] === '}') {
        i++;
        break;
      }
      const l = LABEL.exec(line.slice(i));
      if (!l) throw new Error(`expected a label name at column ${i + 1}`);
      i += l[0].length;
      while (line[i] === ' ') i++;
      if (line[i] !== '=') throw new Error(`expected '=' after label ${l[0]}`);
      i++;
      while (line[i] === ' ') i++;
      if (line[i] !== '"') throw new Error(`expected '"' to open the value of label ${l[0]}`);
      i++;
      let v = '';
      for (;;) {
        const c = line[i];
        if (c === undefined) throw new Error(`unterminated value of label ${l[0]}`);
        i++;
        if (c === '"') break;
        if (c === '\\') {
          const e = line[i++];
          v += e === 'n' ? '\n' : e ?? '';
        } else v += c;
      }
      labels[l[0]] = v;
      while (line[i] === ' ') i++;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`expected ',' or '}' after the value of label ${l[0]}`);
    }
  }
  const rest = line.slice(i).trim().split(/\s+/);
  if (rest[0] === undefined || rest[0] === '') throw new Error(`no value for ${name}`);
  const value = parseValue(rest[0]);
  if (value === undefined) throw new Error(`"${rest[0]}" is not a number (value of ${name})`);
  return { name, labels, value };
}

export function parsePrometheusText(text: string): ParsedPage {
  const samples: Sample[] = [];
  const errors: string[] = [];
  let badLines = 0;
  let n = 0;
  for (const raw of text.split('\n')) {
    n++;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    try {
      samples.push(parseLine(line));
    } catch (e) {
      badLines++;
      if (errors.length < 20) errors.push(`line ${n}: ${(e as Error).message}`);
    }
  }
  return { samples, errors, badLines };
}
