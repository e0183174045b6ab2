// `kafka-obs agent` on its own: bin/kafka-obs.ts runs this (bundled by scripts/bundle.mjs into
// dist/bundle/agent.mjs) instead of the whole command line, so a sidecar loads the agent and
// nothing of the aggregator, the demo or the tools.
import { Command } from 'commander';
import { VERSION, fail } from './common.js';
import { addAgentCommand } from './agent-command.js';

const program = new Command().name('kafka-obs').version(VERSION).showHelpAfterError('(run with --help for usage)');
addAgentCommand(program);
program.parseAsync(process.argv).catch((e: Error) => fail(e.message));
