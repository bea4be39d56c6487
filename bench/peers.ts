// The reference servers of peers/: the classic Python labs' echo and chat servers (standard
// library only), run beside our models by the behaviour suites (and, next, by the lesson). Each
// is a program of its own, started as `python3 peers/SCRIPT.py --port 0 ...`; like ours, it prints
// `listening on HOST:PORT` once it accepts connections. Here: their names, scripts and command lines.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export type PeerProtocol = 'echo' | 'chat'

/** Each protocol's reference servers, by the name the suites and reports give them. */
export const PEERS = {
  echo: {
    'py-threads': 'echo_threads.py',
    'py-selectors': 'echo_selectors.py',
  },
  chat: {
    'py-threads': 'chat_threads.py',
  },
} as const satisfies Record<PeerProtocol, Record<string, string>>

/** The interpreter the peers run on (standard library only; 3.8 or later), as it is found on PATH. */
export const PYTHON = 'python3'

let interpreter: string | null = null

/**
 * The interpreter's own path, asked once (PYTHON itself when it cannot be asked): `python3` on PATH
 * may be a wrapper, such as pyenv's shim, that costs a few tenths of a second every start.
 */
export function pythonExecutable(): string {
  if (interpreter === null) {
    try {
      interpreter = execFileSync(PYTHON, ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8', timeout: 10_000 }).trim() || PYTHON
    } catch {
      interpreter = PYTHON
    }
  }
  return interpreter
}

/** The names of `protocol`'s reference servers. */
export function peerNames(protocol: PeerProtocol): string[] {
  return Object.keys(PEERS[protocol])
}

/** True when `name` is one of `protocol`'s reference servers (not one of our models). */
export function isPeer(protocol: PeerProtocol, name: string): boolean {
  return Object.hasOwn(PEERS[protocol], name)
}

/**
 * peers/ in the project, whether this module runs from its source (bench/, under tap) or from the
 * build (dist/bench/): the scripts are not built, they stay where they are.
 */
const PEERS_DIR = [path.join('..', 'peers'), path.join('..', '..', 'peers')]
  .map(relative => path.resolve(path.dirname(fileURLToPath(import.meta.url)), relative))
  .find(dir => existsSync(path.join(dir, 'echo_threads.py')))

/** The absolute path of a reference server's script. Throws for a name that is not one. */
export function peerScript(protocol: PeerProtocol, name: string): string {
  if (!isPeer(protocol, name)) throw new Error(`no reference ${protocol} server called ${name} (${peerNames(protocol).join(', ')})`)
  if (PEERS_DIR === undefined) throw new Error('peers/ not found next to bench/ or dist/bench/')
  return path.join(PEERS_DIR, (PEERS[protocol] as Record<string, string>)[name])
}

/** The command line that runs it: [python3 (its own path), script, ...args]. */
export function peerCommand(protocol: PeerProtocol, name: string, args: string[] = []): string[] {
  return [pythonExecutable(), peerScript(protocol, name), ...args]
}
