// Real system parts some suites need (Debian's chromium, redis-server). `make test` installs them
// where it can (scripts/system-deps.sh); where one is missing the suite says so loudly and is
// skipped, unless SELECTLOOP_NO_SKIP=1 (CI), where a missing part fails the run instead.
import { execFileSync } from 'node:child_process'
import type { Test } from 'tap'

/** The absolute path of a command on PATH (or an absolute path that exists), or null. */
export function findCommand(command: string): string | null {
  try {
    return execFileSync('bash', ['-c', 'command -v "$1"', 'bash', command], { encoding: 'utf8' }).trim() || null
  } catch {
    return null
  }
}

/**
 * Returns the command's path, or null after printing `SKIPPED: <why>` and skipping `t`
 * (failing it instead under SELECTLOOP_NO_SKIP=1).
 */
export function requireCommand(t: Test, command: string, needed: string): string | null {
  const found = findCommand(command)
  if (found) return found
  const why = `${command} is not installed (Debian package ${command}), needed for ${needed}; make test installs it when run as root with apt-get`
  if (process.env.SELECTLOOP_NO_SKIP === '1') {
    t.fail(`not skipped under SELECTLOOP_NO_SKIP=1: ${why}`)
  } else {
    console.error(`SKIPPED: ${why}`)
    t.comment(`SKIPPED: ${why}`)
    t.plan(0, `SKIPPED: ${why}`) // TAP's skip: "1..0 # SKIP why"
  }
  return null
}
