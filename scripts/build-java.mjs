// Build step after tsc: copies the default translation rules next to their compiled module (and
// writes them validated, as JSON: default-rules.json) and
// the recorded incidents (test/fixtures/scenarios, `npm run record`) into dist/demo/recordings, and
// compiles the JMX bridge (agent/jmx), the scripted Kafka JVM of the demo and the tests
// (demo) and any test JVM fixtures (test/fixtures) with the JDK's javac. Without a JDK
// it says so and succeeds: the agent then runs without JMX sources, the demo on recordings.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const from = (p) => join(root, p);

mkdirSync(from('dist/agent/translate'), { recursive: true });
copyFileSync(from('agent/translate/default-rules.yaml'), from('dist/agent/translate/default-rules.yaml'));
// ... and the set loadRules() makes of them, validated here once: an agent using the defaults reads
// this (agent/translate/defaults.ts) instead of parsing YAML and building zod schemas as it starts.
const { loadRules } = await import(pathToFileURL(from('dist/agent/translate/rules.js')).href);
const defaultRules = loadRules();
const defaultRulesJson = JSON.stringify(defaultRules);
if (!isDeepStrictEqual(JSON.parse(defaultRulesJson), defaultRules)) {
  console.error('build: the default rule set does not survive JSON (undefined, NaN or Infinity in it?): dist/agent/translate/default-rules.json not written');
  process.exit(1);
}
writeFileSync(from('dist/agent/translate/default-rules.json'), `${defaultRulesJson}\n`);

// The recorded incidents `kafka-obs demo` replays where there is no JDK (or with --no-jvm): every
// scenario of test/fixtures/scenarios recorded from an incident, with an index naming them.
const scenarios = from('test/fixtures/scenarios');
if (existsSync(join(scenarios, 'index.json'))) {
  const index = JSON.parse(readFileSync(join(scenarios, 'index.json'), 'utf8'));
  const demo = index.scenarios.filter((s) => s.incident !== undefined);
  const out = from('dist/demo/recordings');
  mkdirSync(out, { recursive: true });
  for (const s of demo) copyFileSync(join(scenarios, s.file), join(out, s.file));
  writeFileSync(join(out, 'index.json'), `${JSON.stringify({ ...index, scenarios: demo }, null, 2)}\n`);
}

const javaHome = process.env.JAVA_HOME;
const javac = javaHome && existsSync(join(javaHome, 'bin', 'javac')) ? join(javaHome, 'bin', 'javac') : 'javac';
const probe = spawnSync(javac, ['-version'], { encoding: 'utf8' });
if (probe.error || probe.status !== 0) {
  console.log('build: javac not found: the JMX bridge is not built (the agent will run without JMX sources)');
  process.exit(0);
}

/** Compiles the .java files of `srcDir` into `outDir` unless every class is newer than every source. */
function compile(srcDir, outDir, release) {
  if (!existsSync(from(srcDir))) return;
  const sources = readdirSync(from(srcDir)).filter((f) => f.endsWith('.java')).map((f) => join(from(srcDir), f));
  if (sources.length === 0) return;
  const newest = Math.max(...sources.map((f) => statSync(f).mtimeMs));
  const classes = existsSync(from(outDir)) ? readdirSync(from(outDir)).filter((f) => f.endsWith('.class')) : [];
  if (classes.length > 0 && Math.min(...classes.map((f) => statSync(join(from(outDir), f)).mtimeMs)) > newest) return;
  mkdirSync(from(outDir), { recursive: true });
  const r = spawnSync(javac, ['--release', String(release), '-Xlint:-options', '-d', from(outDir), ...sources], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`build: javac failed for ${srcDir}`);
    process.exit(1);
  }
}

compile('agent/jmx', 'dist/jmx', 11);
compile('demo', 'dist/demo/java', 11);
if (existsSync(from('test/fixtures'))) compile('test/fixtures', 'dist/test/fixtures', 11);
