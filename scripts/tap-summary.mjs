#!/usr/bin/env node
// Passes tap's TAP output through unchanged and appends one last line, "N passed, N failed",
// because CI reads that plain line and not tap's own "# { total: N, pass: N }" summary.
// Exit status: non-zero when anything failed or no summary was seen (tap crashed).
import { createInterface } from 'node:readline'

let summary = null
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', line => {
  process.stdout.write(line + '\n')
  const m = /^# \{ (.*) \}$/.exec(line)
  if (m) {
    summary = Object.fromEntries(
      m[1].split(',').map(kv => kv.split(':').map(s => s.trim())).map(([k, v]) => [k, Number(v)]),
    )
  }
})
rl.on('close', () => {
  if (!summary) {
    process.stdout.write('0 passed, 1 failed\n')
    process.exitCode = 1
    return
  }
  const pass = summary.pass ?? 0
  const fail = summary.fail ?? 0
  const skip = (summary.skip ?? 0) + (summary.todo ?? 0)
  process.stdout.write(`${pass} passed, ${fail} failed${skip ? `, ${skip} skipped` : ''}\n`)
  if (fail > 0) process.exitCode = 1
})
