#!/usr/bin/env node
// selectloop's command-line entry point: `selectloop <command> [options]`.
// Each command lives in its own module and is loaded only when asked for, so that
// `selectloop echo` does not pay for loading the benchmark harness.
import { UsageError } from '../lib/cli/args.js'
import { reportFatal } from '../lib/cli/fatal.js'

type CommandModule = { run(argv: string[]): Promise<void> }

const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  echo: { summary: 'echo server (--model selector|threads|net)', load: () => import('../lib/echo/cli.js') },
  chat: { summary: 'group chat server with an operator console (--model selector|threads)', load: () => import('../lib/chat/cli.js') },
  client: { summary: 'interactive clients: client chat | client echo', load: () => import('../lib/client/cli.js') },
  bench: { summary: 'compare the echo models (and any echo server) under load', load: () => import('../bench/bench-cli.js') },
  load: { summary: 'echo load generator (--target HOST:PORT)', load: () => import('../bench/load-cli.js') },
  soak: { summary: 'soak every model: mixed echo/chat load with churn and hostile clients; fails on any loss', load: () => import('../bench/soak/cli.js') },
}

const USAGE = `usage: selectloop <command> [options]

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`)
  .join('\n')}

Run 'selectloop <command> --help' for a command's options.`

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE + '\n')
    return
  }
  const command = COMMANDS[name]
  if (!command) throw new UsageError(`unknown command '${name}'\n\n${USAGE}`)
  const mod = await command.load()
  await mod.run(rest)
}

main(process.argv.slice(2)).catch(reportFatal)
