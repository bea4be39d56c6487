// tap coverage map for `make test`: every test is measured against reactor/ only, so the
// enforced thresholds (.taprc) speak of the reactor, not of the programs built on it.
import { readdirSync } from 'node:fs'

const reactorFiles = readdirSync(new URL('../reactor/', import.meta.url))
  .filter(f => f.endsWith('.ts'))
  .map(f => `reactor/${f}`)

export default () => reactorFiles
