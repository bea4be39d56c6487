// The comparison runner on a tiny matrix (0.5 s cells): it starts each server itself, writes one
// JSON line per cell plus a header, a chart and a table; a server that cannot start is reported
// as not available instead of aborting the run. No assertion is about speed.
import t, { type Test } from 'tap'
import { once } from 'node:events'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { spawnCli } from '../bench/cli-process.js'
import type { BenchRow, CellRow, HeaderRow, UnavailableRow } from '../bench/runner.js'

interface BenchRun {
  code: number | null
  stdout: string
  stderr: string
  rows: BenchRow[]
  svg: string
}

async function bench(t: Test, args: string[]): Promise<BenchRun> {
  const out = mkdtempSync(path.join(tmpdir(), 'selectloop-bench-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  const child = spawnCli(['bench', ...args, '--duration', '0.5', '--warmup', '0.1', '--out', out])
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', d => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', d => (stderr += d))
  const [code] = await once(child, 'close')
  const files = readdirSync(out)
  const jsonl = files.find(f => f.endsWith('.jsonl'))
  const svg = files.find(f => f.endsWith('.svg'))
  const rows = jsonl
    ? readFileSync(path.join(out, jsonl), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map(l => JSON.parse(l) as BenchRow)
    : []
  return { code, stdout, stderr, rows, svg: svg ? readFileSync(path.join(out, svg), 'utf8') : '' }
}

const cellsOf = (rows: BenchRow[]) => rows.filter((r): r is CellRow => r.type === 'cell')

t.test('net and selector, 1 and 2 connections', async t => {
  const run = await bench(t, ['--models', 'net,selector', '--conns', '1,2'])
  t.equal(run.code, 0, run.stderr)

  const header = run.rows[0] as HeaderRow
  t.equal(header.type, 'header', 'the first line is the header')
  t.ok(header.cpus > 0 && header.cpuModel && header.node === process.version && header.date, 'machine facts')
  t.match(header.command, /selectloop bench --models net,selector/)

  const cells = cellsOf(run.rows)
  for (const model of ['net', 'selector']) {
    for (const conns of [1, 2]) {
      const row = cells.find(r => r.server === model && r.conns === conns)
      t.ok(row, `${model} at ${conns} conns has a row`)
      if (!row) continue
      t.equal(row.failure, null, `${model} ${conns}: no failure`)
      t.equal(row.errorTotal, 0, `${model} ${conns}: no errors`)
      t.equal(row.connectFailures, 0, `${model} ${conns}: every connection connected`)
      t.ok(row.msgsPerSec! > 0, `${model} ${conns}: ${row.msgsPerSec} msgs/s`)
      t.ok(row.rssPeakKb! > 0 && row.threadsPeak! > 0, `${model} ${conns}: server sampled`)
      t.equal(row.size, 1024)
    }
  }
  t.ok(cells.filter(r => r.server === 'net').every(r => r.ratioToNet === 1), 'net is 1.00 of itself')
  t.ok(cells.filter(r => r.server === 'selector').every(r => typeof r.ratioToNet === 'number'), 'selector has a ratio')

  t.match(run.stdout, /msgs\/s.*p99 ms.*RSS MiB.*threads.*CPU %.*vs net/, 'the table header')
  t.match(run.stdout, /results: .*\.jsonl\nchart: +.*\.svg/)
  t.match(run.svg, /^<\?xml[^]*<svg[^]*selector[^]*net[^]*<\/svg>\s*$/, 'a standalone SVG naming both models')
  t.match(run.stderr, /\[\d+\/4\] /, 'plain progress lines when stderr is not a terminal')
})

t.test('a server that cannot start is "not available"; an external one runs', async t => {
  const echo = `${process.execPath} -e "require('net').createServer(s => s.pipe(s)).listen(+process.argv[1], '127.0.0.1')" {port}`
  const run = await bench(t, ['--models', 'net', '--conns', '1', '--server', 'broken=echo cannot bind {port} >&2; exit 3', '--server', `tiny=${echo}`])
  t.equal(run.code, 0, run.stderr)
  const unavailable = run.rows.filter((r): r is UnavailableRow => r.type === 'unavailable')
  t.same(
    unavailable.map(u => u.server),
    ['broken'],
  )
  t.match(unavailable[0]?.reason, /exited with status 3: cannot bind \d+ before accepting connections/, 'status and last stderr line')
  t.match(run.stdout, /\nnot available: broken: exited with status 3/)
  const tiny = cellsOf(run.rows).find(r => r.server === 'tiny')
  t.ok(tiny && tiny.errorTotal === 0 && tiny.msgsPerSec! > 0, 'the external server was measured')
})

t.test('bad options are usage errors', async t => {
  for (const args of [['--models', 'nope'], ['--server', 'x=no-port-here'], ['--sizes', 'big']]) {
    const run = await bench(t, args)
    t.equal(run.code, 2, args.join(' '))
    t.match(run.stderr, /^selectloop: /)
  }
})
