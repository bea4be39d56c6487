// Coverage of processes the tests start without tap's preloads: `threads`-model servers (their
// connection threads included) and the bench's own processes (`selectloop bench` starts servers and
// load generators of its own).
//
// tap's preloads make every worker thread and every node process start slowly, so such processes
// run without them, and tap's own coverage never sees them. V8 needs no preload: with
// NODE_V8_COVERAGE=DIR, Node writes one file per isolate as it ends (every worker thread's too,
// and every child's, which inherit the variable). Each such process tree gets a fresh DIR; when
// this test process exits, what they wrote is folded into tap's .tap/coverage, filtered as tap
// filters its own (the coverage map's files, no node_modules, no test files). Built files
// (dist/…/x.js) are reported as their sources through tsc's source maps.
//
// Only when tap collects coverage of lib/ or bench/; with --disable-coverage the processes run
// exactly as before, with no coverage at all.
import { randomUUID } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const env = process.env
const ROOT = env._TAPJS_PROCESSINFO_CWD_ ?? fileURLToPath(new URL('../..', import.meta.url))
const list = (v: string | undefined) => (v ?? '').split('\n').filter(Boolean)
/** The coverage map's files for this test file (empty: every file). Set by tap for each test process. */
const COVERED = list(env._TAPJS_PROCESSINFO_COV_FILES_)
const EXCLUDED = new Set(list(env._TAPJS_PROCESSINFO_COV_EXCLUDE_FILES_))
const MEASURED = ['lib', 'bench'].map(dir => path.join(ROOT, dir) + path.sep)

const ENABLED = env._TAPJS_PROCESSINFO_COVERAGE_ === '1' && (COVERED.length === 0 || COVERED.some(f => MEASURED.some(dir => f.startsWith(dir))))

const pending: string[] = []

/**
 * The command prefix for a process started without tap's preloads: NODE_OPTIONS dropped; V8
 * coverage into a fresh directory when tap collects coverage of lib/ or bench/, else none.
 */
export function uninstrumentedWrapper(): string[] {
  if (!ENABLED) return ['env', '-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE']
  if (pending.length === 0) process.once('exit', foldAll)
  const dir = mkdtempSync(path.join(tmpdir(), 'selectloop-v8-coverage-'))
  pending.push(dir)
  return ['env', '-u', 'NODE_OPTIONS', `NODE_V8_COVERAGE=${dir}`]
}

/** The source a file was built from: dist/lib/x.js → lib/x.ts. */
function sourceOf(file: string): string {
  const rel = path.relative(ROOT, file)
  return rel.startsWith(`dist${path.sep}`) ? path.join(ROOT, rel.slice(5).replace(/\.js$/, '.ts')) : file
}

function wanted(url: string): boolean {
  if (!url.startsWith('file:')) return false // node:internal, evals
  const file = fileURLToPath(url)
  if (!file.startsWith(ROOT + path.sep) || file.includes(`${path.sep}node_modules${path.sep}`)) return false
  const source = sourceOf(file)
  return !EXCLUDED.has(source) && (COVERED.length === 0 || COVERED.includes(source))
}

interface V8Coverage {
  result: Array<{ url: string }>
}

/** Folds each process tree's V8 coverage into one tap coverage file, then removes its directory. */
function foldAll(): void {
  const out = path.join(ROOT, '.tap', 'coverage')
  for (const dir of pending.splice(0)) {
    const result: V8Coverage['result'] = []
    for (const name of readdirSync(dir)) {
      try {
        const coverage = JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as V8Coverage
        for (const script of coverage.result) if (wanted(script.url)) result.push(script)
      } catch {
        // A file cut short (its server was killed mid-write): that isolate's coverage is lost.
      }
    }
    if (result.length > 0) {
      mkdirSync(out, { recursive: true })
      writeFileSync(path.join(out, `${randomUUID()}.json`), JSON.stringify({ result }))
    }
    rmSync(dir, { recursive: true, force: true })
  }
}
