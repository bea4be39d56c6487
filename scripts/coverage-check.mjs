// Coverage held per folder. tap measures every file a test loads (scripts/coverage-all.mjs) and
// writes .tap/report/coverage-summary.json (c8's json-summary, one entry per source file); this sums
// those entries per folder (reactor/, lib/, bench/) and holds each sum to its own thresholds
// ("coverageThresholds" in package.json). tap's own check applies one set of thresholds to all
// files together, where a well-tested folder would hide a poorly tested one.
//
// c8 reports only files that were loaded: a source file that no test loads is counted here with
// every line uncovered (c8 counts every line of a file), so leaving a module untested cannot raise
// its folder's figure.
import { readFileSync, readdirSync } from 'node:fs'
import { join, relative, sep } from 'node:path'

export const METRICS = ['lines', 'branches', 'functions', 'statements']

/** Every .ts source under `dir` (not .d.ts), as paths relative to `root` with '/' separators. */
function listSources(root, dir) {
  const out = []
  const walk = rel => {
    for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path)
    }
  }
  walk(dir.replace(/\/$/, ''))
  return out
}

/**
 * True when `file` declares types only: tsc emits nothing but `export {}` for it (dist/ is built
 * before the tests run). Such a module is never loaded at run time and has nothing to cover.
 */
function typesOnly(root, file) {
  let js
  try {
    js = readFileSync(join(root, 'dist', file.replace(/\.ts$/, '.js')), 'utf8')
  } catch {
    return false // not built: counted as uncovered, as before
  }
  const code = js
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '')
    .replace(/^\s*export\s*\{\s*\};?\s*$/gm, '')
  return code.trim() === ''
}

const percent = ({ total, covered }) => (total === 0 ? 100 : (100 * covered) / total)

/**
 * Sums `summary` (c8 json-summary: absolute path → per-metric {total, covered}) per folder of
 * `thresholds` and compares. Returns { folders: [{ folder, pct, unloaded }], shortfalls } where
 * pct maps each metric to its percentage and shortfalls are lines like "lib/ branches 71.0% < 75".
 */
export function checkCoverage(summary, thresholds, root) {
  const byFile = new Map()
  for (const [path, entry] of Object.entries(summary)) {
    if (path === 'total') continue
    byFile.set(relative(root, path).split(sep).join('/'), entry)
  }
  const folders = []
  const shortfalls = []
  for (const [folder, minimum] of Object.entries(thresholds)) {
    const sums = Object.fromEntries(METRICS.map(m => [m, { total: 0, covered: 0 }]))
    const unloaded = []
    for (const file of listSources(root, folder)) {
      const entry = byFile.get(file)
      if (!entry) {
        if (typesOnly(root, file)) continue // nothing runs: no line to cover
        unloaded.push(file)
        const text = readFileSync(join(root, file), 'utf8')
        const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0)
        sums.lines.total += lines
        sums.statements.total += lines
        continue
      }
      for (const m of METRICS) {
        sums[m].total += entry[m].total
        sums[m].covered += entry[m].covered
      }
    }
    const pct = Object.fromEntries(METRICS.map(m => [m, percent(sums[m])]))
    for (const m of METRICS) {
      if (minimum[m] !== undefined && pct[m] < minimum[m]) {
        shortfalls.push(`${folder} ${m} ${pct[m].toFixed(1)}% < ${minimum[m]}`)
      }
    }
    folders.push({ folder, pct, unloaded })
  }
  return { folders, shortfalls }
}

/** One line per folder, as TAP comments: "# coverage lib/  lines 85.1% (min 80)  ...". */
export function describeCoverage({ folders }, thresholds) {
  const width = Math.max(...folders.map(f => f.folder.length))
  const lines = []
  for (const { folder, pct, unloaded } of folders) {
    const cells = METRICS.map(m => {
      const min = thresholds[folder][m]
      const below = min !== undefined && pct[m] < min
      return `${m} ${pct[m].toFixed(1)}%${min === undefined ? '' : ` (min ${min})`}${below ? ' BELOW' : ''}`
    })
    lines.push(`# coverage ${folder.padEnd(width)}  ${cells.join('  ')}`)
    for (const file of unloaded) lines.push(`# coverage ${folder.padEnd(width)}  not loaded by any test: ${file} (counted as uncovered)`)
  }
  return lines
}
