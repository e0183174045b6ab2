// Who is calling, and which sources it may speak for. A caller proves who it is with a client
// certificate (mutual TLS: the certificate's CN, or one of its DNS names) or a bearer token; each
// identity may speak (stream signals) only for the source ids its entry allows. Without an
// identities file, a certificate's name is the one source its holder may speak for, and a shared
// token (--token-file) lets its holders speak for any source, as before (the aggregator says so).
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

export interface Identity {
  /** Shown in logs and metrics (never the token). */
  name: string;
  /** How it was proven. */
  via: 'certificate' | 'token' | 'shared-token' | 'none';
  /** Source id patterns (`*` matches any run of characters) it may speak for. */
  sources: readonly string[];
}

export class IdentityError extends Error {}

const Entry = z
  .object({
    name: z.string().min(1).max(128),
    token: z.string().min(16, 'a token must have at least 16 characters').optional(),
    tokenSha256: z.string().regex(/^[0-9a-f]{64}$/, 'tokenSha256 must be 64 lowercase hex digits (sha256sum of the token)').optional(),
    certificate: z.string().min(1).optional(),
    sources: z.array(z.string().min(1).max(128)).optional(),
  })
  .strict()
  .refine((e) => e.token !== undefined || e.tokenSha256 !== undefined || e.certificate !== undefined, { message: 'an identity needs a token, a tokenSha256 or a certificate name' })
  .refine((e) => !(e.token !== undefined && e.tokenSha256 !== undefined), { message: 'give either token or tokenSha256, not both' });

const File = z.object({ identities: z.array(Entry).min(1) }).strict();

export type IdentityEntry = z.infer<typeof Entry>;

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/** `*` globs as anchored regular expressions. */
function globs(patterns: readonly string[]): RegExp[] {
  return patterns.map((p) => new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`));
}

/** What `mayAct` decides for one identity, kept per stream so each source id is checked once. */
export class SourcePermit {
  private readonly patterns: RegExp[];
  private readonly allowed = new Set<string>();
  readonly any: boolean;

  constructor(readonly identity: Identity) {
    this.any = identity.sources.includes('*');
    this.patterns = globs(identity.sources);
  }

  allows(sourceId: string): boolean {
    if (this.any || this.allowed.has(sourceId)) return true;
    if (!this.patterns.some((p) => p.test(sourceId))) return false;
    if (this.allowed.size < 1024) this.allowed.add(sourceId);
    return true;
  }
}

export class Identities {
  private readonly byDigest: { digest: Buffer; identity: Identity }[] = [];
  private readonly byCertificate = new Map<string, Identity>();

  constructor(entries: readonly IdentityEntry[]) {
    const names = new Set<string>();
    for (const e of entries) {
      if (names.has(e.name)) throw new IdentityError(`identity "${e.name}" is listed twice`);
      names.add(e.name);
      const via = e.certificate !== undefined ? 'certificate' : 'token';
      const identity: Identity = { name: e.name, via, sources: e.sources ?? [e.name] };
      if (e.token !== undefined || e.tokenSha256 !== undefined) {
        const digest = e.token !== undefined ? sha256(e.token) : Buffer.from(e.tokenSha256!, 'hex');
        if (this.byDigest.some((d) => d.digest.equals(digest))) throw new IdentityError(`identity "${e.name}" has the same token as another`);
        this.byDigest.push({ digest, identity: { ...identity, via: 'token' } });
      }
      if (e.certificate !== undefined) this.byCertificate.set(e.certificate, { ...identity, via: 'certificate' });
    }
  }

  get tokens(): number {
    return this.byDigest.length;
  }

  /** Reads a YAML or JSON identities file; the error names the file and what is wrong. */
  static fromFile(path: string): Identities {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new IdentityError(`cannot read identities file ${path}: ${(e as Error).message}`);
    }
    let value: unknown;
    try {
      value = parseYaml(text);
    } catch (e) {
      throw new IdentityError(`identities file ${path} is not YAML or JSON: ${(e as Error).message}`);
    }
    const parsed = File.safeParse(value);
    if (!parsed.success) {
      const first = parsed.error.issues[0]!;
      throw new IdentityError(`identities file ${path}: ${first.path.length > 0 ? `${first.path.join('.')}: ` : ''}${first.message}`);
    }
    return new Identities(parsed.data.identities);
  }

  /** The identity a token proves, if any (constant time per entry). */
  byToken(token: string): Identity | undefined {
    const d = sha256(token);
    let found: Identity | undefined;
    for (const e of this.byDigest) if (timingSafeEqual(d, e.digest)) found = e.identity;
    return found;
  }

  /** The identity of a certificate name (its CN or a DNS name), if listed. */
  byCertificateName(names: readonly string[]): Identity | undefined {
    for (const n of names) {
      const i = this.byCertificate.get(n);
      if (i) return i;
    }
    return undefined;
  }
}

/** The caller when nothing proves who it is (no token, no mutual TLS configured). */
export const ANONYMOUS: Identity = { name: 'anonymous', via: 'none', sources: ['*'] };
/** Whoever holds the one shared token (--token-file): it may speak for any source. */
export const SHARED_TOKEN: Identity = { name: 'shared-token', via: 'shared-token', sources: ['*'] };
