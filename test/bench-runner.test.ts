// The comparison runner on tiny plans (0.5 s cells): it starts each server itself, writes one JSON
// line per cell plus a header and an end line, an SVG chart, an HTML report and a table; a server
// that cannot start is "not available"; servers that drop connections, corrupt bytes or refuse
// past a cap are flagged with their reasons; --strict fails on a flagged cell of selector or net;
// rate cells draw the latency-vs-rate curve; the HTML report opens in Chromium with no console
// error and shows every model; --compare puts a saved run beside a new one. No assertion is about
// speed.
import t, { type Test } from 'tap'
import { once } from 'node:events'
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { spawnCli } from '../bench/cli-process.js'
import { stopChild } from '../bench/child.js'
import { builtUrl } from '../lib/built.js'
import type { BenchRow, EndRow, HeaderRow, UnavailableRow } from '../bench/runner.js'
import type { CellRow, IdleRow, LoadRow } from '../bench/kinds/index.js'
import { compareRuns } from '../bench/compare.js'
import { launchBrowser } from './helpers/browser.js'
import { uninstrumentedWrapper } from './helpers/subprocess-coverage.js'

interface BenchRun {
  code: number | null
  stdout: string
  stderr: string
  rows: BenchRow[]
  jsonl: string
  svg: string
  html: string
  htmlPath: string
}

/**
 * Runs `selectloop bench ARGS --duration 0.5 --warmup 0.1 --out TMP`; its files are removed when
 * the test ends. Without tap's preloads (NODE_OPTIONS): the bench starts a dozen node processes
 * (servers, load generators), and each would load them, at a second or so apiece on a busy machine;
 * their coverage is V8's own (helpers/subprocess-coverage.ts).
 */
async function bench(t: Test, args: string[]): Promise<BenchRun> {
  const out = mkdtempSync(path.join(tmpdir(), 'selectloop-bench-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  const child = spawnCli(['bench', ...args, '--duration', '0.5', '--warmup', '0.1', '--out', out], {
    wrapper: uninstrumentedWrapper(),
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', d => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', d => (stderr += d))
  const [code] = await once(child, 'close')
  const files = readdirSync(out)
  const file = (ext: string) => {
    const name = files.find(f => f.endsWith(ext))
    return name ? path.join(out, name) : ''
  }
  const read = (ext: string) => (file(ext) ? readFileSync(file(ext), 'utf8') : '')
  const rows = read('.jsonl')
    .split('\n')
    .filter(Boolean)
    .map(l => JSON.parse(l) as BenchRow)
  return { code, stdout, stderr, rows, jsonl: file('.jsonl'), svg: read('.svg'), html: read('.html'), htmlPath: file('.html') }
}

const cellsOf = (rows: BenchRow[]) => rows.filter((r): r is CellRow => r.type === 'cell')
const loadRows = (rows: BenchRow[]) => cellsOf(rows).filter((r): r is LoadRow => r.kind === 'closed' || r.kind === 'rate')

/** The fixture's misbehaving echo server as a command for --server (run from dist/, as the bench runs servers). */
const FIXTURE = fileURLToPath(builtUrl(new URL('./fixtures/misbehaving-echo.ts', import.meta.url)))
const fixture = (name: string, behaviour: string) => `${name}=${process.execPath} ${FIXTURE} ${behaviour} {port}`

/** Noise is not what these runs are about: a limit no cell reaches (other CPU is at most 100 × CPUs). */
const NO_NOISE_FLAGS = ['--max-noise', '100000']

let saved = '' // the first run's JSON lines, compared with later (kept until the file's end)
const keep = mkdtempSync(path.join(tmpdir(), 'selectloop-saved-'))
t.teardown(() => rmSync(keep, { recursive: true, force: true }))

t.test('net and selector, 1 and 2 connections: rows, files, the table', async t => {
  const run = await bench(t, ['--models', 'net,selector', '--conns', '1,2', ...NO_NOISE_FLAGS])
  t.equal(run.code, 0, run.stderr)
  saved = path.join(keep, 'saved.jsonl')
  writeFileSync(saved, readFileSync(run.jsonl))

  const header = run.rows[0] as HeaderRow
  t.equal(header.type, 'header', 'the first line is the header')
  t.ok(header.cpus > 0 && header.cpuModel && header.node === process.version && header.date, 'machine facts')
  t.match(header.command, /selectloop bench --models net,selector/)
  t.same(
    header.options.cells,
    [1, 2].map(conns => ({ kind: 'closed', size: 1024, conns, pipeline: 1 })),
    'the plan, as data',
  )
  const end = run.rows.at(-1) as EndRow
  t.match(end, { type: 'end', seconds: Number, loadAverage: Array }, 'the last line: when it ended, the load then')

  const cells = loadRows(run.rows)
  for (const model of ['net', 'selector']) {
    for (const conns of [1, 2]) {
      const row = cells.find(r => r.server === model && r.conns === conns)
      t.ok(row, `${model} at ${conns} conns has a row`)
      if (!row) continue
      t.equal(row.kind, 'closed')
      t.equal(row.failure, null, `${model} ${conns}: no failure`)
      t.same(row.flags, [], `${model} ${conns}: not flagged`)
      t.equal(row.errorTotal, 0, `${model} ${conns}: no errors`)
      t.equal(row.connectFailures, 0, `${model} ${conns}: every connection connected`)
      t.ok(row.msgsPerSec! > 0, `${model} ${conns}: ${row.msgsPerSec} msgs/s`)
      t.ok(row.serverCpuUsPerMsg! > 0, `${model} ${conns}: ${row.serverCpuUsPerMsg} µs of server CPU per message`)
      t.ok(row.serverSystemUsPerMsg! >= 0 && row.serverSystemUsPerMsg! <= row.serverCpuUsPerMsg!, `${model} ${conns}: ${row.serverSystemUsPerMsg} µs of it in the kernel`)
      t.ok(row.rssPeakKb! > 0 && row.threadsPeak! > 0, `${model} ${conns}: server sampled`)
      t.equal(row.results.length, 1, 'the run kept whole')
      t.equal((row.results[0] as { meta?: unknown }).meta, undefined, "without load's meta: the header has the machine")
    }
  }
  t.ok(cells.filter(r => r.server === 'net').every(r => r.ratioToNet === 1), 'net is 1.00 of itself')
  t.ok(cells.filter(r => r.server === 'selector').every(r => typeof r.ratioToNet === 'number'), 'selector has a ratio')

  t.match(run.stdout, /msgs\/s.*p99 ms.*CPU µs\/msg.*RSS MiB.*threads.*CPU %.*vs net +flags/, 'the table header')
  t.notMatch(run.stdout, /flagged cells/, 'no flagged cell to list')
  t.match(run.stdout, /results: .*\.jsonl\nchart: +.*\.svg\nreport: +.*\.html/)
  t.match(run.svg, /^<\?xml[^]*<svg[^]*selector[^]*net[^]*<\/svg>\s*$/, 'a standalone SVG naming both models')
  t.match(run.html, /^<!DOCTYPE html>[^]*<\/html>\s*$/, 'an HTML report')
  t.match(run.stderr, /\[\d+\/4\] /, 'plain progress lines when stderr is not a terminal')
})

t.test('--compare: regressions and improvements beyond the noise, cell by cell', async t => {
  if (!saved) return void t.fail('the first run did not save its rows')
  const old = readFileSync(saved, 'utf8').split('\n').filter(Boolean).map(l => JSON.parse(l) as BenchRow)
  // The same run, changed: selector at 2 conns twice as slow, net at 1 conn twice as fast.
  const changed = old.map(r => {
    if (r.type !== 'cell' || r.kind !== 'closed') return r
    const scale = r.server === 'selector' && r.conns === 2 ? 0.5 : r.server === 'net' && r.conns === 1 ? 2 : 1
    return { ...r, msgsPerSec: r.msgsPerSec! * scale, results: r.results.map(x => ({ ...x, msgsPerSec: x.msgsPerSec * scale })) }
  })
  const c = compareRuns(saved, old, changed)
  const verdict = (server: string, conns: number) => c.rows.find(r => r.server === server && r.label.startsWith(`${conns} conn`))
  t.equal(c.rows.length, 4, 'every cell matched')
  t.equal(verdict('selector', 2)?.verdict, 'regression')
  t.match(verdict('selector', 2)?.metrics.find(m => m.name === 'msgs/s'), { ratio: 0.5, verdict: 'regression', band: 0.1 })
  t.equal(verdict('net', 1)?.verdict, 'improvement')
  t.equal(verdict('selector', 1)?.verdict, 'within noise', 'the same figures: within noise')
  t.same([c.onlyOld, c.onlyNew], [[], []])
})

t.test('servers that drop connections, corrupt bytes or refuse past a cap are flagged, with reasons', async t => {
  const run = await bench(t, [
    '--models', 'net',
    '--conns', '4',
    '--server', 'broken=echo cannot bind {port} >&2; exit 3',
    '--server', fixture('dropper', 'drop:3000'),
    '--server', fixture('corrupter', 'corrupt:3000'),
    '--server', fixture('capped', 'refuse:2'),
    '--strict',
    ...NO_NOISE_FLAGS,
  ]) // prettier-ignore
  t.equal(run.code, 0, `--strict: only selector and net cells count, and net is clean\n${run.stderr}`)
  const unavailable = run.rows.filter((r): r is UnavailableRow => r.type === 'unavailable')
  t.same(
    unavailable.map(u => u.server),
    ['broken'],
  )
  t.match(unavailable[0]?.reason, /exited with status 3: cannot bind \d+ before accepting connections/, 'status and last stderr line')
  t.match(run.stdout, /\nnot available: broken: exited with status 3/)

  const row = (server: string) => loadRows(run.rows).find(r => r.server === server)!
  t.same(row('net').flags, [], 'the net model: clean')
  t.match(row('dropper').flags, [{ kind: 'errors', reason: /^4 of 4 connections lost to errors \(((reset|eof) \d(, )?)+\)/ }]) // a reset may reach the client as an early close
  t.match(row('corrupter').flags, [{ kind: 'errors', reason: /^4 of 4 connections lost to errors \(mismatch 4\); the first wrong byte came at offset 3000/ }])
  t.match(row('capped').flags, [{ kind: 'refused', reason: /^2 of 4 connections refused before any echo: the server said "server busy: thread limit \(2\) reached\\n"/ }])
  t.equal(row('capped').errors.refused, 2, 'refusals counted as refusals, not as mismatches')

  t.match(run.stdout, /flagged cells \(3 of 4\):/)
  t.match(run.stdout, /! dropper, 4 conns × 1 KiB: errors: 4 of 4 connections lost/)
  t.match(run.stdout, /corrupter +[\d,]+ .* errors\n/, "the table's flags column")
  t.match(run.svg, /class="flag-ring"/, 'flagged points ringed in the chart')
  t.match(run.svg, /⚑ (no figure: )?dropper, 4 conns:.*flagged: 4 of 4 connections lost/, 'the reason on hover, even where there is no figure to draw')
})

t.test('--strict fails on a flagged cell of the net model (measured while something else burns a core)', async t => {
  // A busy loop beside the bench: the rest of the machine takes a core, which a 5% limit flags.
  const burner = spawn(process.execPath, ['-e', 'const end = Date.now() + 60_000; while (Date.now() < end);'], { stdio: 'ignore' })
  t.teardown(() => stopChild(burner, { signal: 'SIGKILL' }))
  const run = await bench(t, ['--models', 'net', '--conns', '1', '--max-noise', '5', '--strict'])
  t.equal(run.code, 1, 'exit status 1')
  t.match(run.stderr, /selectloop: --strict: 1 flagged cell of the selector or net model/)
  t.match(loadRows(run.rows)[0]?.flags, [{ kind: 'noise', reason: /the rest of the machine used \d+% of a core \(limit 5%\)/ }])
})

t.test('rate cells and idle connections for every model; the HTML report opens in Chromium and shows them all', async t => {
  const models = ['selector', 'threads', 'net']
  const run = await bench(t, ['--rate', '300', '--conns', '2', '--idle', '50', '--idle-hold', '0.2', '--compare', saved, ...NO_NOISE_FLAGS])
  t.equal(run.code, 0, run.stderr)
  const rates = loadRows(run.rows)
  t.equal(rates.length, 3, 'a rate cell for each of the three models')
  for (const r of rates) {
    t.equal(r.kind, 'rate')
    t.ok(r.schedule?.kept, `${r.server} at ${r.rate}/s: schedule kept`)
    t.ok(r.p99Ms! >= r.serviceP99Ms!, `${r.server} at ${r.rate}/s: p99 from due ${r.p99Ms} ms, service ${r.serviceP99Ms} ms`)
    t.same(r.flags, [], `${r.server} at ${r.rate}/s: not flagged`)
  }
  const idle = cellsOf(run.rows).filter((r): r is IdleRow => r.kind === 'idle')
  t.same(
    idle.map(r => [r.server, r.accepted]),
    [['selector', 50]],
    'the idle test on its server',
  )
  t.match(run.stdout, /Open loop: latency against the rate asked for:\n.*rate +server +sent\/s +schedule +p50 ms +p99 ms +service p99/)
  t.match(run.stdout, /compared with .*saved\.jsonl/, 'the comparison, though no cell is in common')
  t.match(run.svg, /p99 latency against rate, 2 conns × 1 KiB/)

  // The report: no network (a CSP forbids it), no console error, every model in its tables and charts.
  t.match(run.html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none';/)
  t.notMatch(run.html, /(src|href)="https?:/, 'nothing fetched from anywhere')
  const browser = await launchBrowser(t)
  if (!browser) return
  const page = await browser.newPage()
  const problems: string[] = []
  page.on('console', m => void (m.type() === 'error' || m.type() === 'warning' ? problems.push(`${m.type()}: ${m.text()}`) : null))
  page.on('pageerror', e => problems.push(`page error: ${e.message}`))
  const requests: string[] = []
  page.on('request', r => void requests.push(r.url()))
  await page.goto(pathToFileURL(run.htmlPath).href)
  await page.waitForLoadState('load')
  // (An expression in the page's own JavaScript: this file knows no DOM types.)
  const seen = (await page.evaluate(`({
    title: document.title,
    sections: [...document.querySelectorAll('h2')].map(h => h.textContent),
    tableRows: [...document.querySelectorAll('#kind-rate tbody tr')].map(tr => tr.getAttribute('data-server')),
    chartPoints: [...document.querySelectorAll('#kind-rate svg circle[data-server]')].map(c => c.getAttribute('data-server')),
    idleRows: [...document.querySelectorAll('#kind-idle tbody tr')].map(tr => tr.getAttribute('data-server')),
    compare: document.querySelector('#compare') !== null,
  })`)) as { title: string; sections: string[]; tableRows: string[]; chartPoints: string[]; idleRows: string[]; compare: boolean }
  // Sorting by a column is the page's one script: click it and look again.
  await page.click('#kind-rate th:nth-child(2)')
  t.same(problems, [], 'no console errors or warnings, no page errors')
  t.same(requests, [pathToFileURL(run.htmlPath).href], 'the page asked for nothing but itself')
  t.match(seen.title, /^selectloop bench, \d{4}-/)
  t.match(seen.sections, ['The machine and its noise', /^Flagged cells \(0 of 4\)$/, 'Open loop: latency against the rate asked for', /^Idle connections/, 'Compared with a saved run'])
  for (const model of models) {
    t.equal(seen.tableRows.filter(s => s === model).length, 1, `${model}: in the table`)
    t.equal(seen.chartPoints.filter(s => s === model).length, 2, `${model}: on the chart (from due, and service)`)
  }
  t.same(seen.idleRows, ['selector'])
  t.ok(seen.compare)
})

t.test('bad options are usage errors', async t => {
  for (const args of [['--models', 'nope'], ['--server', 'x=no-port-here'], ['--sizes', 'big'], ['--rate', '0'], ['--max-noise', 'loud'], ['--compare', '/nonexistent/old.jsonl']]) {
    const run = await bench(t, args)
    t.equal(run.code, 2, args.join(' '))
    t.match(run.stderr, /^selectloop: /)
  }
})
