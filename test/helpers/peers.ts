// Our models and the reference servers of peers/ (bench/peers.ts) as subjects of the same
// behaviour suites: each suite's MODELS list holds both, and a subject is started, named in test
// titles and skipped the same way whichever it is. A peer is `python3 peers/SCRIPT.py ...args`;
// when python3 is missing, its cases print the loud `SKIPPED: ...` line and the rest runs.
import type { Test } from 'tap'
import { PEERS, PYTHON, isPeer, peerCommand, peerNames, type PeerProtocol } from '../../bench/peers.js'
import { startCommandServer, startServer, type ServerProcess, type SpawnOptions } from './process.js'
import { requireCommand } from './system.js'

export { isPeer, peerNames }

/** How a test title names a subject: `--model selector`, or `peers/echo_threads.py`. */
export function subject(protocol: PeerProtocol, model: string): string {
  return isPeer(protocol, model) ? `peers/${(PEERS[protocol] as Record<string, string>)[model]}` : `--model ${model}`
}

/**
 * False when `model` is a peer and python3 is not here: then `t` has printed SKIPPED and is
 * skipped, and the test should return. Always true for our models.
 */
export function canRun(t: Test, protocol: PeerProtocol, model: string): boolean {
  return !isPeer(protocol, model) || requireCommand(t, PYTHON, `the reference server ${subject(protocol, model)}`) !== null
}

/**
 * A case our models pass and a peer is not built for, for tap's `skip` option: false for our
 * models; for a peer, the one-line reason (`ours only: ...`).
 */
export function oursOnly(protocol: PeerProtocol, model: string, why: string): string | false {
  return isPeer(protocol, model) ? `ours only: ${why}` : false
}

/**
 * Starts a server and resolves once it listens: one of our models from the built CLI
 * (`PROTOCOL --model M ...args`), or a peer (`python3 peers/SCRIPT.py ...args`).
 */
export function startSubject(
  protocol: PeerProtocol,
  model: string,
  args: string[],
  opts: SpawnOptions & { timeoutMs?: number } = {},
): Promise<ServerProcess> {
  if (!isPeer(protocol, model)) return startServer([protocol, '--model', model, ...args], opts)
  return startCommandServer(peerCommand(protocol, model, args), opts)
}
