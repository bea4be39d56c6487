#!/usr/bin/env node
// selectloop's command-line entry point: `selectloop <command> [options]`.
// Each command lives in its own module and is loaded only when asked for, so that
// `selectloop echo` does not pay for loading the benchmark harness.
import { UsageError } from '../lib/cli/args.js'
import { reportFatal } from '../lib/cli/fatal.js'
import { didYouMean } from '../lib/cli/suggest.js'
import { packageVersion } from '../lib/cli/version.js'

type CommandModule = { run(argv: string[]): Promise<void> }

const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  echo: { summary: 'echo server (--model selector|threads|net)', load: () => import('../lib/echo/cli.js') },
  chat: { summary: 'group chat server with an operator console (--model selector|threads)', load: () => import('../lib/chat/cli.js') },
  client: { summary: 'interactive clients: client chat | client echo', load: () => import('../lib/client/cli.js') },
  bench: { summary: 'compare the echo models (and any echo server) under load', load: () => import('../bench/bench-cli.js') },
  load: { summary: 'echo load generator (--target HOST:PORT)', load: () => import('../bench/load-cli.js') },
  lesson: { summary: 'selector vs threads, measured: our models beside the Python reference servers (~5 min)', load: () => import('../bench/lesson.js') },
  soak: { summary: 'soak every model: mixed echo/chat load with churn and hostile clients; fails on any loss', load: () => import('../bench/soak/cli.js') },
}

const USAGE = `usage: selectloop <command> [options]

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`)
  .join('\n')}
  ${'help'.padEnd(12)} help COMMAND: the same as COMMAND --help

Run 'selectloop <command> --help' for a command's options; 'selectloop --version' for the version.`

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv
  switch (name) {
    case undefined:
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n')
      return
    case '--version':
    case '-V':
      process.stdout.write(`selectloop ${packageVersion()}\n`)
      return
    case 'help':
      // `help client chat` is `client chat --help`: the topic's own usage, whatever follows it.
      if (rest.length === 0 || rest[0] === 'help') process.stdout.write(USAGE + '\n')
      else await commandNamed(rest[0]).load().then(mod => mod.run([...rest.slice(1), '--help']))
      return
    default:
      await commandNamed(name).load().then(mod => mod.run(rest))
  }
}

/** The command called `name`; raises UsageError (with the likeliest one meant) if there is none. */
function commandNamed(name: string): (typeof COMMANDS)[string] {
  if (Object.hasOwn(COMMANDS, name)) return COMMANDS[name]
  const hint = didYouMean(name, Object.keys(COMMANDS))
  if (hint) throw new UsageError(`unknown command '${name}'${hint}\nRun 'selectloop help' for the list of commands.`)
  throw new UsageError(`unknown command '${name}'\n\n${USAGE}`)
}

main(process.argv.slice(2)).catch(reportFatal)
