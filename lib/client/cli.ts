// `selectloop client chat [--host H] [--port 8070] [--name NAME]`
// `selectloop client echo [--host H] [--port 8080]`
import { parseCommandArgs, parsePort, UsageError } from '../cli/args.js'
import { TLS_CLIENT_OPTIONS, TLS_CLIENT_SYNOPSIS, tlsClientOptions, tlsClientSettings, tlsClientUsage } from '../tls/options.js'
import { didYouMean } from '../cli/suggest.js'
import { chatBehaviour } from './chat.js'
import { echoBehaviour } from './echo.js'
import { TerminalLink } from './terminal-link.js'

const USAGE = `usage: selectloop client chat [--host HOST] [--port PORT] [--name NAME] ${TLS_CLIENT_SYNOPSIS}
       selectloop client echo [--host HOST] [--port PORT] ${TLS_CLIENT_SYNOPSIS}

  chat     join a line-based chat (default 127.0.0.1:8070); the first line sent is your name
           (--name, or you are asked, and asked again if the server refuses it);
           salir, bye or /quit leaves
  echo     send typed lines to an echo server (default 127.0.0.1:8080) and show the echoes,
           each marked '< '; salir or bye leaves
  --host   server address (default 127.0.0.1)
  --port   server port
${tlsClientUsage(9)}

On a terminal, what arrives is printed above the line you are typing (arrows and history work);
Ctrl-D on an empty line or Ctrl-C leaves as salir does. Through pipes nothing is drawn: no
prompt, no escape sequences; what arrives is printed as it comes.`

const CLIENTS = ['chat', 'echo']

export async function run(argv: string[]): Promise<void> {
  const parsed = parseCommandArgs(
    argv,
    { host: { type: 'string' }, port: { type: 'string' }, name: { type: 'string' }, ...TLS_CLIENT_OPTIONS },
    USAGE,
    true,
  )
  if (!parsed) return
  const [which, ...extra] = parsed.positionals
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'\n${USAGE}`)
  const v = parsed.values
  const host = v.host ?? '127.0.0.1'
  const settings = tlsClientSettings(v)
  let link: TerminalLink
  switch (which) {
    case 'chat':
      link = new TerminalLink(host, parsePort(v.port, 8070), chatBehaviour(v.name), settings && tlsClientOptions(settings))
      break
    case 'echo':
      if (v.name !== undefined) throw new UsageError(`--name applies to 'client chat' only\n${USAGE}`)
      link = new TerminalLink(host, parsePort(v.port, 8080), echoBehaviour(), settings && tlsClientOptions(settings))
      break
    default:
      if (which === undefined) throw new UsageError(`which client? (chat or echo)\n${USAGE}`)
      throw new UsageError(`unknown client '${which}'${didYouMean(which, CLIENTS) || ' (chat or echo)'}\n${USAGE}`)
  }
  process.exitCode = await link.run()
}
