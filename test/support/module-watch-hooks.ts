// The resolve hook behind module-watch.ts (it runs on Node's loader thread).
let pattern: RegExp | undefined;

export function initialize(data: string): void {
  pattern = data ? new RegExp(data) : undefined;
}

interface Resolved {
  url: string;
}

export async function resolve(specifier: string, context: unknown, next: (specifier: string, context: unknown) => Promise<Resolved>): Promise<Resolved> {
  const r = await next(specifier, context);
  if (pattern?.test(r.url)) process.stderr.write(`module-watch: loaded ${r.url}\n`);
  return r;
}
