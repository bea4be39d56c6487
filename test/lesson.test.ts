// The lesson's kinds on tiny plans (seconds): `load --burst` and `load --slow` against real
// servers (a threads server past its cap refuses, and says why), and `selectloop lesson` itself on
// a plan of a few clients, writing its four files. No assertion is about speed.
import t, { type Test } from 'tap'
import { once } from 'node:events'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { spawnCli } from '../bench/cli-process.js'
import { lessonCells, parseLessonArgs } from '../bench/lesson.js'
import type { BenchRow } from '../bench/runner.js'
import type { BurstRow, CellRow, IdleRow, SlowRow } from '../bench/kinds/index.js'
import type { BurstResult } from '../bench/burst.js'
import type { SlowResult } from '../bench/slow.js'
import { startServer } from './helpers/process.js'
import { uninstrumentedWrapper } from './helpers/subprocess-coverage.js'

/** Runs the built CLI to its end (without tap's preloads: it starts servers and load processes). */
async function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnCli(args, { wrapper: uninstrumentedWrapper() })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', d => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', d => (stderr += d))
  const [code] = await once(child, 'close')
  return { code, stdout, stderr }
}

t.test("the default plan: the lesson's four topics, our models and the Python servers", async t => {
  const command = parseLessonArgs([])!
  t.same(
    command.cells.map(c => c.kind),
    ['closed', 'closed', 'closed', 'closed', 'idle', 'burst', 'slow'],
  )
  t.same(
    command.servers.map(s => s.name),
    ['selector', 'threads', 'net', 'py-threads', 'py-selectors'],
  )
  t.ok(command.servers.filter(s => s.name.startsWith('py-')).every(s => s.command?.includes('{port}')), 'the Python servers run as external servers')
  t.same(lessonCells({ conns: [], idle: 0, idleHoldMs: 1, burst: 0, slow: 0, slowHoldMs: 1 }), [], 'every topic can be left out')
})

t.test('load --burst: each client served, or refused with what the server said', async t => {
  const server = await startServer(['echo', '--model', 'threads', '--max-threads', '2', '--port', '0', '--quiet'])
  t.teardown(() => server.stop('SIGKILL'))
  // The burst's first two clients take the two threads (they stay connected); the others meet the cap.
  const held = await runCli(['load', '--target', `127.0.0.1:${server.port}`, '--burst', '6', '--server-pid', String(server.child.pid), '--json'])
  const r = JSON.parse(held.stdout) as BurstResult
  t.equal(r.requested, 6)
  t.equal(r.connected, 6, 'every client connected')
  t.ok(r.served >= 2 && r.served < 6, `some served (${r.served}), the rest refused`)
  t.equal(r.probeFailures.refused, 6 - r.served, 'the others were refused, not lost')
  t.match(r.refusal, /server busy: thread limit \(2\) reached/, 'and it says why')
  t.equal(held.code, 1, 'exit status 1: not every client was served')
  t.ok(r.firstEchoMs.p50! > 0 && r.firstEchoMs.max! >= r.firstEchoMs.p50!, 'waits measured for those served')
  t.ok(r.server && r.server.threadsAfter! >= r.server.threadsBefore!, 'threads read from /proc')
})

t.test('load --slow: every line of every slow client echoed, latency from when it was due', async t => {
  const server = await startServer(['echo', '--port', '0', '--quiet'])
  t.teardown(() => server.stop('SIGKILL'))
  const run = await runCli(['load', '--target', `127.0.0.1:${server.port}`, '--slow', '4', '--interval', '0.2', '--hold', '1', '--server-pid', String(server.child.pid), '--json'])
  t.equal(run.code, 0, run.stderr)
  const r = JSON.parse(run.stdout) as SlowResult
  t.equal(r.served, 4)
  t.same(r.errors, {}, 'no client lost')
  // A client has at most one line in flight: the window may close on one per client unanswered.
  t.ok(r.sent > 0 && r.echoed <= r.sent && r.echoed >= r.sent - r.served, `${r.echoed} of ${r.sent} lines echoed in the window`)
  t.ok(r.latencyMs.p50 !== null, 'latency measured')
})

t.test('selectloop lesson on a tiny plan: one row per topic and server, and its files', async (t: Test) => {
  const out = mkdtempSync(path.join(tmpdir(), 'selectloop-lesson-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  const run = await runCli([
    'lesson', '--conns', '1', '--idle', '8', '--burst', '3', '--slow', '3', '--duration', '0.2', '--warmup', '0',
    '--models', 'selector,threads', '--peers', 'none', '--max-noise', '100000', '--out', out,
  ]) // prettier-ignore
  t.equal(run.code, 0, run.stderr)
  const files = readdirSync(out).sort()
  t.same(files.map(f => path.extname(f)).sort(), ['.html', '.jsonl', '.md', '.svg'], `four files: ${files.join(', ')}`)
  const read = (ext: string) => readFileSync(path.join(out, files.find(f => f.endsWith(ext))!), 'utf8')
  const rows = read('.jsonl')
    .split('\n')
    .filter(Boolean)
    .map(l => JSON.parse(l) as BenchRow)
  const cells = rows.filter((r): r is CellRow => r.type === 'cell')
  for (const server of ['selector', 'threads']) {
    const idle = cells.find((r): r is IdleRow => r.kind === 'idle' && r.server === server)
    t.match(idle, { conns: 8, accepted: 8, stillServed: 8, refused: 0 }, `${server}: 8 idle clients held, still echoing after`)
    t.ok(idle!.threads! >= idle!.threadsBefore!, `${server}: threads before and while holding`)
    const burst = cells.find((r): r is BurstRow => r.kind === 'burst' && r.server === server)
    t.match(burst, { clients: 3, served: 3 }, `${server}: a burst of 3 served`)
    const slow = cells.find((r): r is SlowRow => r.kind === 'slow' && r.server === server)
    t.match(slow, { conns: 3, served: 3, lost: 0 }, `${server}: 3 slow clients served`)
  }
  const threadsIdle = cells.find((r): r is IdleRow => r.kind === 'idle' && r.server === 'threads')!
  t.ok(threadsIdle.threads! >= threadsIdle.threadsBefore! + 8, 'the threads model held a thread per idle client')
  const md = read('.md')
  t.match(md, /^# selectloop lesson, \d{4}-\d\d-\d\d/, 'the summary: its title and date')
  t.match(md, /command: `selectloop lesson --conns 1/, 'the command')
  t.match(md, /## A burst of 3 new clients/)
  t.match(md, /## 3 slow clients/)
  t.match(read('.html'), /<table/, 'the report has its tables')
})
