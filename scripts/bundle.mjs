#!/usr/bin/env node
// Build step after tsc: the agent's bundle. `kafka-obs agent` runs in every pod, so it loads one
// minified file (dist/bundle/agent.mjs, from dist/bin/agent.js) instead of some hundred modules
// and their packages: less to parse, to compile and to keep — about 10 MB of resident memory per
// pod (npm run bench -- rss). What a configuration may not use stays behind a dynamic import()
// and becomes a chunk of its own (dist/bundle/chunk-*.mjs), loaded only when used: the JVM
// sources, the config file's reader; kafkajs and the AWS SDK stay packages (external, below).
//
// Reproducible: the same sources and lock give the same files (esbuild is pinned; chunk names are
// content hashes; no timestamps). Modules that find files next to themselves (import.meta.url:
// the default rules, the JMX helper's classes) keep finding them where they were compiled.
import { build } from 'esbuild';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'bundle');

/** import.meta.url of a bundled module means the module's own place, not the bundle's. */
const ownUrl = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.[cm]?js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const rel = relative(outdir, args.path).split('\\').join('/');
      return { contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`), loader: 'js', resolveDir: dirname(args.path) };
    });
  },
};

/**
 * prom-client's index also loads what the agent never uses (the cluster aggregator and its
 * 'cluster' module, the Pushgateway with http/https/zlib, summaries with tdigest): ~3 MB resident.
 * The agent takes these five from their own files, the same code.
 */
const PROM_CLIENT_USED = `
export { default as Registry } from 'prom-client/lib/registry.js';
export { default as Counter } from 'prom-client/lib/counter.js';
export { default as Gauge } from 'prom-client/lib/gauge.js';
export { default as Histogram } from 'prom-client/lib/histogram.js';
export { default as collectDefaultMetrics } from 'prom-client/lib/defaultMetrics.js';
`;
const slimPromClient = {
  name: 'prom-client-used-parts',
  setup(b) {
    b.onResolve({ filter: /^prom-client$/ }, () => ({ path: 'prom-client', namespace: 'prom-client-used' }));
    b.onLoad({ filter: /.*/, namespace: 'prom-client-used' }, () => ({ contents: PROM_CLIENT_USED, loader: 'js', resolveDir: root }));
  },
};

await rm(outdir, { recursive: true, force: true });
/** What both bundles are: minified ESM for Node 20, names kept (error messages and logs name them). */
const common = {
  absWorkingDir: root,
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  keepNames: true,
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
};
const result = await build({
  ...common,
  entryPoints: { agent: join(root, 'dist', 'bin', 'agent.js') },
  chunkNames: 'chunk-[hash]',
  splitting: true,
  // CommonJS packages (grpc-js, pino, prom-client) require Node's modules: give them a real require.
  banner: { js: "import { createRequire as __kafkaObsRequire } from 'node:module'; const require = __kafkaObsRequire(import.meta.url);" },
  // Loaded from node_modules when a configuration uses them, as packages: kafkajs (its chunk would
  // be as large), and the AWS SDK and the MSK IAM mechanism (AWS_MSK_IAM only; the SDK finds its
  // credential providers by dynamic imports that a bundle would break). @grpc/proto-loader (and
  // protobufjs under it) is what grpc-js requires only to serve channelz or ORCA, which the agent
  // never does: outside the bundle it is never loaded, and the agent is 1.1 MB smaller at idle
  // (npm run bench -- rss) for not keeping its source.
  external: ['kafkajs', '@aws-sdk/*', '@smithy/*', '@jm18457/*', '@grpc/proto-loader'],
  plugins: [ownUrl, slimPromClient],
});
const outputs = Object.entries(result.metafile.outputs).filter(([f]) => f.endsWith('.mjs'));
const kb = (n) => `${Math.round(n / 1024)} KB`;
const entry = outputs.find(([, o]) => o.entryPoint);
console.log(`bundle: dist/bundle/agent.mjs ${kb(entry?.[1].bytes ?? 0)}, ${outputs.length - 1} chunks loaded when used (${kb(outputs.reduce((s, [, o]) => s + o.bytes, 0))} in all)`);

// kafka-obs/instrument (package.json exports) runs inside the user's service, so what importing it
// costs is added to every instrumented service: one minified file instead of ~20 modules and
// @bufbuild/protobuf's wire index (which drags in the library's reflection, unused here). Loading
// it adds ≈1 MB resident in a bare node against ≈7 MB for the modules (bench/instrument.ts). The
// instrument imports no package the service must provide (kafkajs is handed to it), so nothing is
// external and the bundle needs none of the agent's dependencies.
const instrument = await build({
  ...common,
  entryPoints: { instrument: join(root, 'dist', 'agent', 'instrument', 'index.js') },
  plugins: [ownUrl],
});
const instrumentOut = Object.entries(instrument.metafile.outputs).find(([f]) => f.endsWith('.mjs'));
console.log(`bundle: dist/bundle/instrument.mjs ${kb(instrumentOut?.[1].bytes ?? 0)} (kafka-obs/instrument)`);
