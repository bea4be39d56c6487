#!/usr/bin/env node
// Passes tap's TAP output through unchanged and appends one last line, "N passed, N failed",
// because CI reads that plain line and not tap's own "# { total: N, pass: N }" summary.
//
//   tap --reporter=tap | node scripts/tap-summary.mjs [--coverage .tap/report/coverage-summary.json]
//
// The last line says whether the run failed, not only the exit status. Besides the tests' own
// failures, each check that fails counts as one failure and is named after a colon:
//   "412 passed, 0 failed"                                   all well
//   "409 passed, 3 failed"                                   three tests failed
//   "0 passed, 1 failed: no test ran"                        a run of nothing is not a success
//   "0 passed, 1 failed: no summary from tap (it crashed or was stopped)"
//   "412 passed, 1 failed: coverage below threshold: lib/ branches 71.0% < 75"
// With --coverage, the per-folder thresholds are package.json's "coverageThresholds" (of the
// directory it runs in) and each folder's figures are printed as TAP comments before that line
// (see coverage-check.mjs). Exit status: 1 when the last line counts any failure, else 0.
import { existsSync, readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { checkCoverage, describeCoverage } from './coverage-check.mjs'

const args = process.argv.slice(2)
const coverageAt = args.indexOf('--coverage')
const coverageFile = coverageAt >= 0 ? args[coverageAt + 1] : null
if (coverageAt >= 0 && !coverageFile) {
  process.stderr.write('usage: tap-summary.mjs [--coverage COVERAGE-SUMMARY.json]\n')
  process.exit(2)
}

/** The coverage check: the reason it failed, or null; its per-folder lines go to `out`. */
function coverageCheck(out) {
  if (!existsSync(coverageFile)) return `no coverage report (${coverageFile}): was coverage disabled?`
  try {
    const thresholds = JSON.parse(readFileSync('package.json', 'utf8')).coverageThresholds
    if (!thresholds) return 'no "coverageThresholds" in package.json'
    const result = checkCoverage(JSON.parse(readFileSync(coverageFile, 'utf8')), thresholds, process.cwd())
    for (const line of describeCoverage(result, thresholds)) out.push(line)
    return result.shortfalls.length ? `coverage below threshold: ${result.shortfalls.join(', ')}` : null
  } catch (err) {
    return `coverage check failed: ${err.message}`
  }
}

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
  const pass = summary?.pass ?? 0
  const skip = (summary?.skip ?? 0) + (summary?.todo ?? 0)
  let fail = summary?.fail ?? 0
  const reasons = []
  const comments = []
  if (!summary) reasons.push('no summary from tap (it crashed or was stopped)')
  else if (pass === 0 && fail === 0) reasons.push('no test ran')
  if (coverageFile) {
    const why = coverageCheck(comments)
    if (why) reasons.push(why)
  }
  fail += reasons.length
  for (const line of comments) process.stdout.write(line + '\n')
  const counts = `${pass} passed, ${fail} failed${skip ? `, ${skip} skipped` : ''}`
  process.stdout.write(`${counts}${reasons.length ? `: ${reasons.join('; ')}` : ''}\n`)
  process.exitCode = fail > 0 ? 1 : 0
})
