// Separate hosts on one machine: a network namespace per host, each with its own loopback and one
// address on a private bridge (10.77.N.0/24, inside namespaces this test made; nothing leaves them).
// The bridge lives in a namespace of its own, so the machine's own network is never touched.
// Needs root and `ip` (iproute2); where either is missing the test is SKIPPED, saying why.
import { execFileSync } from 'node:child_process'
import type { Test } from 'tap'
import { requireCommand } from './system.js'

export interface Host {
  /** The namespace's name. */
  readonly ns: string
  /** Its address on the bridge. */
  readonly address: string
  /** Prefix for a command to run on this host: ['ip', 'netns', 'exec', ns]. */
  readonly wrapper: string[]
}

let subnet = 0

/**
 * Creates one host per name (namespaces named after this process), connected by a bridge; they
 * are deleted when `t` ends. Null (and `t` skipped) when this machine cannot make them.
 */
export function makeHosts(t: Test, names: string[]): Host[] | null {
  const ip = requireCommand(t, 'ip', 'hosts in network namespaces (Debian package iproute2)')
  if (!ip) return null
  const why = process.getuid?.() !== 0 ? 'network namespaces need root' : null
  if (why) return skip(t, why)
  const tag = `sl${process.pid}x${++subnet}`
  const net = `10.77.${subnet % 250}`
  const hub = `${tag}-hub`
  const made: string[] = []
  const run = (...args: string[]) => execFileSync(ip, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  t.teardown(() => {
    for (const ns of made.reverse()) {
      try {
        run('netns', 'del', ns)
      } catch {
        // already gone
      }
    }
  })
  try {
    run('netns', 'add', hub)
    made.push(hub)
    run('-n', hub, 'link', 'add', 'br0', 'type', 'bridge')
    run('-n', hub, 'link', 'set', 'br0', 'up')
    return names.map((name, i) => {
      const ns = `${tag}-${name}`
      run('netns', 'add', ns)
      made.push(ns)
      const address = `${net}.${i + 1}`
      run('link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', `br-${i}`, 'netns', hub)
      run('-n', hub, 'link', 'set', `br-${i}`, 'master', 'br0', 'up')
      run('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0')
      run('-n', ns, 'link', 'set', 'eth0', 'up')
      run('-n', ns, 'link', 'set', 'lo', 'up')
      return { ns, address, wrapper: [ip, 'netns', 'exec', ns] }
    })
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim()
    return skip(t, `cannot make network namespaces here: ${stderr || (err as Error).message}`)
  }
}

function skip(t: Test, why: string): null {
  if (process.env.SELECTLOOP_NO_SKIP === '1') {
    t.fail(`not skipped under SELECTLOOP_NO_SKIP=1: ${why}`)
  } else {
    console.error(`SKIPPED: ${why}`)
    t.comment(`SKIPPED: ${why}`)
    t.plan(0, `SKIPPED: ${why}`)
  }
  return null
}
