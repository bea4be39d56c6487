// scripts/tap-summary.mjs: the last line of `make test`, fed sample TAP output as a real process.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const SCRIPT = fileURLToPath(new URL('../scripts/tap-summary.mjs', import.meta.url))

function summarize(input: string, args: string[] = [], cwd?: string) {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { input, cwd, encoding: 'utf8', timeout: 10_000 })
  const lines = r.stdout.trimEnd().split('\n')
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, last: lines.at(-1) ?? '' }
}

const tap = (summary: string) => `TAP version 14\n# Subtest: test/a.test.ts\n    ok 1 - x\n    1..1\nok 1 - test/a.test.ts\n${summary}\n# time=12ms\n`

t.test('passes the output through and appends "N passed, N failed"', async t => {
  const input = tap('# { total: 3, pass: 3 }')
  const r = summarize(input)
  t.equal(r.stdout, input + '3 passed, 0 failed\n', 'every line unchanged, then the count')
  t.equal(r.status, 0)
})

t.test('failures and skips are counted; a failure is a non-zero exit', async t => {
  const failed = summarize(tap('# { total: 3, pass: 2, fail: 1 }'))
  t.equal(failed.last, '2 passed, 1 failed')
  t.equal(failed.status, 1)
  const skipped = summarize(tap('# { total: 5, pass: 3, skip: 1, todo: 1 }'))
  t.equal(skipped.last, '3 passed, 0 failed, 2 skipped')
  t.equal(skipped.status, 0)
  const nested = summarize(tap('    # { total: 1, pass: 1 }\n# { total: 2, pass: 1, fail: 1 }'))
  t.equal(nested.last, '1 passed, 1 failed', 'only the top-level summary counts')
})

t.test('a run of nothing is a failure, in the last line and the exit status', async t => {
  for (const summary of ['# { total: 0, pass: 0 }', '# { total: 2, pass: 0, skip: 2 }']) {
    const r = summarize(tap(summary))
    t.match(r.last, /^0 passed, 1 failed(, 2 skipped)?: no test ran$/, summary)
    t.equal(r.status, 1, `${summary}: exit 1`)
  }
  const crashed = summarize('TAP version 14\n# Subtest: test/a.test.ts\n')
  t.equal(crashed.last, '0 passed, 1 failed: no summary from tap (it crashed or was stopped)')
  t.equal(crashed.status, 1)
  const empty = summarize('')
  t.equal(empty.last, '0 passed, 1 failed: no summary from tap (it crashed or was stopped)')
  t.equal(empty.status, 1)
})

t.test('--coverage: each folder is held to its thresholds, and a shortfall is named in the last line', async t => {
  const dir = t.testdir({
    'package.json': JSON.stringify({
      coverageThresholds: {
        'reactor/': { lines: 90, branches: 90 },
        'lib/': { lines: 80, branches: 75, functions: 50 },
      },
    }),
    reactor: { 'a.ts': 'one\ntwo\n' },
    lib: {
      'b.ts': 'x\n',
      deep: { 'c.ts': 'y\n', 'c.d.ts': 'declarations are not sources\n' },
      'types.ts': 'export interface T {\n  a: number\n}\n',
    },
    test: { 'helper.ts': 'not in any folder held to a threshold\n' },
    // tsc's output: lib/types.ts declares types only, so nothing of it runs or is loaded.
    dist: { lib: { 'types.js': '// types\nexport {};\n//# sourceMappingURL=types.js.map\n' } },
  })
  const entry = (lines: [number, number], branches: [number, number], functions: [number, number] = [1, 1]) => ({
    lines: { total: lines[0], covered: lines[1] },
    statements: { total: lines[0], covered: lines[1] },
    branches: { total: branches[0], covered: branches[1] },
    functions: { total: functions[0], covered: functions[1] },
  })
  const report = (files: Record<string, ReturnType<typeof entry>>) => {
    const path = join(dir, `summary-${Object.keys(files).length}-${Math.random()}.json`)
    const summary: Record<string, unknown> = { total: entry([0, 0], [0, 0]) }
    for (const [file, e] of Object.entries(files)) summary[join(dir, file)] = e
    writeFileSync(path, JSON.stringify(summary))
    return path
  }
  const good = report({
    'reactor/a.ts': entry([100, 95], [10, 10]),
    'lib/b.ts': entry([100, 90], [8, 7]),
    'lib/deep/c.ts': entry([100, 80], [8, 6], [2, 1]),
    'test/helper.ts': entry([100, 0], [4, 0]),
  })
  const ok = summarize(tap('# { total: 3, pass: 3 }'), ['--coverage', good], dir)
  t.equal(ok.last, '3 passed, 0 failed')
  t.equal(ok.status, 0)
  t.match(ok.stdout, /^# coverage reactor\/ +lines 95\.0% \(min 90\) +branches 100\.0% \(min 90\)/m, 'a line per folder')
  t.match(ok.stdout, /^# coverage lib\/ +lines 85\.0% \(min 80\) +branches 81\.3% \(min 75\) +functions 66\.7% \(min 50\)/m, 'summed over its files, subfolders included')

  const low = report({
    'reactor/a.ts': entry([100, 95], [10, 10]),
    'lib/b.ts': entry([100, 90], [8, 4]),
    'lib/deep/c.ts': entry([100, 80], [8, 4]),
  })
  const short = summarize(tap('# { total: 3, pass: 3 }'), ['--coverage', low], dir)
  t.equal(short.last, '3 passed, 1 failed: coverage below threshold: lib/ branches 50.0% < 75')
  t.equal(short.status, 1)
  t.match(short.stdout, /^# coverage lib\/ .*branches 50\.0% \(min 75\) BELOW/m)

  const withFailures = summarize(tap('# { total: 3, pass: 1, fail: 2 }'), ['--coverage', low], dir)
  t.equal(withFailures.last, '1 passed, 3 failed: coverage below threshold: lib/ branches 50.0% < 75', 'two tests and one check')

  // lib/deep/c.ts loaded by no test: its one line counts as uncovered (90 of 100 + 0 of 1).
  const unloaded = report({ 'reactor/a.ts': entry([100, 95], [10, 10]), 'lib/b.ts': entry([100, 90], [8, 8]) })
  const missing = summarize(tap('# { total: 3, pass: 3 }'), ['--coverage', unloaded], dir)
  t.match(missing.stdout, /^# coverage lib\/ +not loaded by any test: lib\/deep\/c\.ts \(counted as uncovered\)$/m)
  t.notMatch(missing.stdout, /lib\/types\.ts/, 'a module of types only has nothing to cover: not counted, not named')
  t.match(missing.stdout, /^# coverage lib\/ +lines 89\.1% \(min 80\)/m)
  t.equal(missing.last, '3 passed, 0 failed')

  const absent = summarize(tap('# { total: 3, pass: 3 }'), ['--coverage', join(dir, 'no-such.json')], dir)
  t.match(absent.last, /^3 passed, 1 failed: no coverage report \(.*no-such\.json\): was coverage disabled\?$/)
  t.equal(absent.status, 1)
})
