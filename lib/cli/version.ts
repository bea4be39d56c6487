// The program's version, from the package.json it ships in, so that there is one place to bump it.
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The version in the nearest package.json above this module (lib/cli/ from the sources, or
 * dist/lib/cli/ when built). Raises an Error if there is none.
 */
export function packageVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const file = path.join(dir, 'package.json')
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
    const up = path.dirname(dir)
    if (up === dir) throw new Error('no package.json above the program: cannot tell its version')
    dir = up
  }
}
