// `make bench-micro` (node dist/bench/micro/index.js [SUITE...] [--time MS]): tinybench suites for
// the hot pieces, one file per suite.
import { parseArgs } from 'node:util'
import { suite as selector } from './selector.js'
import { suite as loadVerify } from './load-verify.js'
import { suite as framing } from './framing.js'
import { suite as echoStep } from './echo-step.js'
import type { Suite } from './suite.js'

const SUITES: Suite[] = [selector, echoStep, framing, loadVerify]

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { time: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true })
  if (values.help) {
    console.log(`usage: node dist/bench/micro/index.js [SUITE...] [--time MS]\n\nsuites:\n${SUITES.map(s => `  ${s.name.padEnd(12)} ${s.about}`).join('\n')}`)
    return
  }
  const timeMs = values.time === undefined ? 500 : Number(values.time)
  if (!(timeMs > 0)) throw new Error(`--time must be a positive number of milliseconds, got '${values.time}'`)
  const unknown = positionals.filter(p => !SUITES.some(s => s.name === p))
  if (unknown.length) throw new Error(`unknown suite ${unknown.join(', ')} (suites: ${SUITES.map(s => s.name).join(', ')})`)
  const chosen = positionals.length ? SUITES.filter(s => positionals.includes(s.name)) : SUITES
  console.log(`node ${process.version}, ${timeMs} ms per task; machine: shared and noisy, compare within one run only`)
  for (const s of chosen) {
    console.log(`\n## ${s.name}: ${s.about}`)
    await s.run({ timeMs })
  }
}

main().catch(err => {
  process.stderr.write(`bench-micro: ${(err as Error).message}\n`)
  process.exitCode = 1
})
