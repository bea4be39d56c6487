// The load generator, the bench and the soak over TLS, on tiny runs (no assertion about speed):
// load --tls verifies the server's certificate and checks every echoed byte; load --churn counts
// connections (handshakes) a second, and tells refusals, wrong bytes and a server gone apart;
// bench --tls gives every server one certificate and adds a churn cell compared with net's, in the
// table, the JSON lines and the HTML report; soak --tls runs every client over TLS and comes out clean.
import t from 'tap'
import { once } from 'node:events'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { spawnCli, startServer } from './helpers/process.js'
import { spawnCli as spawnBuilt } from '../bench/cli-process.js'
import { testCertificate } from './helpers/tls.js'
import { runLoad, type LoadOptions, type LoadResult } from '../bench/load.js'
import { parseBehaviour, startEchoVariant } from './fixtures/misbehaving-echo.js'
import { freePort } from './helpers/net.js'
import { uninstrumentedWrapper } from './helpers/subprocess-coverage.js'
import type { BenchRow, HeaderRow } from '../bench/runner.js'
import type { CellRow, ChurnRow, LoadRow } from '../bench/kinds/index.js'

const cert = testCertificate()

async function load(args: string[]): Promise<{ code: number | null; result: LoadResult; stderr: string }> {
  const c = spawnCli(['load', ...args, '--json'])
  const code = await c.exited
  return { code, result: JSON.parse(c.stdout()) as LoadResult, stderr: c.stderr() }
}

t.test('load --tls, load --churn and load --idle --tls against a TLS echo server', async t => {
  const server = await startServer(['echo', '--port', '0', '--quiet', '--tls', '--cert', cert.certFile, '--key', cert.keyFile])
  t.teardown(() => server.stop())
  const target = ['--target', `127.0.0.1:${server.port}`, '--duration', '0.5', '--warmup', '0.2', '--conns', '4']
  const verified = await load([...target, '--tls', '--ca', cert.certFile, '--threads', '2', '--server-pid', String(server.child.pid)])
  t.equal(verified.code, 0, verified.stderr)
  t.ok(verified.result.tls && verified.result.mode === 'closed')
  t.equal(verified.result.connected, 4)
  t.ok(verified.result.messages > 0, `${verified.result.messages} messages echoed over TLS, every byte checked`)
  t.equal(verified.result.errorTotal, 0)

  const churn = await load([...target, '--tls', '--insecure', '--churn', '--size', '100'])
  t.equal(churn.code, 0, churn.stderr)
  t.equal(churn.result.mode, 'churn', 'a churn result')
  t.ok(churn.result.messages > 0, `${churn.result.messages} cycles: connect, handshake, one echo, close`)
  t.equal(churn.result.errorTotal, 0)
  t.same(churn.result.connectFailures, {})

  const idle = spawnCli(['load', '--target', `127.0.0.1:${server.port}`, '--idle', '3', '--hold', '0.1', '--tls', '--ca', cert.certFile, '--json'])
  t.equal(await idle.exited, 0, idle.stderr())
  t.match(JSON.parse(idle.stdout()), { tls: true, connected: 3, accepted: 3, stillServed: 3 }, 'idle TLS connections, each served before and after the hold')

  const untrusted = await load([...target, '--tls'])
  t.equal(untrusted.code, 1, 'the default verifies: a self-signed certificate fails every connect')
  t.same(untrusted.result.connectFailures, { DEPTH_ZERO_SELF_SIGNED_CERT: 4 })
})

t.test('load --churn over plain TCP reads as connections a second', async t => {
  const server = await startServer(['echo', '--port', '0', '--quiet'])
  t.teardown(() => server.stop())
  const c = spawnCli(['load', '--target', `127.0.0.1:${server.port}`, '--duration', '0.3', '--warmup', '0', '--conns', '2', '--churn'])
  t.equal(await c.exited, 0, c.stderr())
  t.match(c.stdout(), /^churn → 127\.0\.0\.1:\d+: 2 at once, each: connect, one 1024 B echo, close, again;/)
  t.match(c.stdout(), /throughput +[\d,]+ connections\/s/)
})

t.test('churn against servers that misbehave: refusals, wrong bytes, a server that goes away, none at all', async t => {
  const churn = (port: number, over: Partial<LoadOptions> = {}) =>
    runLoad({ host: '127.0.0.1', port, conns: 3, size: 64, pipeline: 1, warmupMs: 0, durationMs: 400, timeoutMs: 2000, threads: 1, churn: true, ...over })

  const capped = await startEchoVariant(parseBehaviour('refuse:1'))
  t.teardown(() => capped.close())
  const refused = await churn(capped.port)
  t.ok(refused.errors.refused > 0, `${refused.errors.refused} cycles refused past the cap`)
  t.match(refused.refusal, /^server busy: thread limit \(1\) reached/, 'what the server said')

  const corrupter = await startEchoVariant(parseBehaviour('corrupt:5'))
  t.teardown(() => corrupter.close())
  const wrong = await churn(corrupter.port, { conns: 1 })
  t.ok(wrong.errors.mismatch > 0 && wrong.messages === 0, `${wrong.errors.mismatch} cycles with a wrong byte, none counted`)
  t.match(wrong.mismatch, { offset: 5, expected: Number, got: Number }, 'where the first wrong byte came')

  const leaving = await startEchoVariant(parseBehaviour('echo'))
  const run = churn(leaving.port, { durationMs: 20_000 })
  setTimeout(() => void leaving.close(), 300)
  const gone = await run
  t.match(gone.stoppedEarly, /every connection was lost/, 'a server gone for good ends the run early')
  t.ok(gone.messages > 0 && Object.keys(gone.connectFailures).length > 0, `${gone.messages} cycles before it went; connects failed after`)

  const none = await churn(await freePort())
  t.match(none.failure, /^no connection made \(ECONNREFUSED 3\)/, 'nothing listening: said at once')
})

t.test('bench --tls: every model over TLS with one certificate; a churn cell beside net in the table, the JSON and the HTML report', async t => {
  const out = mkdtempSync(path.join(tmpdir(), 'selectloop-bench-tls-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  // Without tap's preloads: the bench starts a node process per server and per run (their
  // coverage is V8's own: helpers/subprocess-coverage.ts).
  const child = spawnBuilt(['bench', '--tls', '--models', 'selector,net', '--conns', '2', '--churn', '2', '--duration', '0.4', '--warmup', '0.1', '--max-noise', '100000', '--out', out], {
    wrapper: uninstrumentedWrapper(),
  })
  let stdout = ''
  child.stdout.setEncoding('utf8').on('data', d => (stdout += d))
  const [code] = await once(child, 'close')
  t.equal(code, 0)
  const file = (ext: string) => readFileSync(path.join(out, readdirSync(out).find(f => f.endsWith(ext))!), 'utf8')
  const rows = file('.jsonl').split('\n').filter(Boolean).map(l => JSON.parse(l) as BenchRow)
  const header = rows[0] as HeaderRow
  t.match(header.options.tls, { caFile: String, insecure: false }, 'the header says TLS, the load verifying the certificate')
  t.same(
    header.options.cells,
    [{ kind: 'closed', size: 1024, conns: 2, pipeline: 1 }, { kind: 'churn', size: 1024, conns: 2 }],
    'the plan: the closed cell, then the churn cell',
  )
  const cells = rows.filter((r): r is CellRow => r.type === 'cell')
  t.same(cells.map(c => `${c.kind} ${c.server}`).sort(), ['churn net', 'churn selector', 'closed net', 'closed selector'])
  for (const c of cells.filter((r): r is LoadRow => r.kind === 'closed')) {
    t.ok(c.results.every(r => r.tls && r.mode === 'closed'), `${c.server}: the echo path over TLS`)
    t.ok((c.msgsPerSec ?? 0) > 0 && c.errorTotal === 0 && c.connectFailures === 0, `${c.server}: ${c.msgsPerSec} msgs/s, no errors`)
    t.ok(c.serverCpuUsPerMsg !== null && c.ratioToNet !== null, `${c.server}: CPU per message, and a ratio to net`)
  }
  for (const c of cells.filter((r): r is ChurnRow => r.kind === 'churn')) {
    t.ok(c.tls && c.results.every(r => r.tls && r.mode === 'churn'), `${c.server} churn: over TLS`)
    t.ok((c.connsPerSec ?? 0) > 0 && c.errorTotal === 0 && c.connectFailures === 0, `${c.server} churn: ${c.connsPerSec} handshakes/s, none failed`)
    t.ok(c.serverCpuUsPerConn !== null && c.ratioToNet !== null, `${c.server} churn: CPU per handshake, and a ratio to net`)
    t.same(c.flags, [], `${c.server} churn: not flagged`)
  }
  t.match(stdout, /over TLS: every server has the one certificate made for the run/, 'the header says so')
  t.match(stdout, /Closed loop: [^]*msgs\/s[^]*vs net/, 'the echo path table')
  t.match(stdout, /Churn: what a new connection costs:\n *size +at once +server +handshakes\/s +p50 ms +p99 ms +CPU µs\/conn[^]*vs net/, 'the churn table')
  t.match(stdout, /^1 KiB +2 +(selector|net) +[\d,]+ /m, 'a churn row with its handshakes/s')
  const html = file('.html')
  t.match(html, /<td>transport<\/td><td>over TLS:/, 'the HTML report says TLS')
  t.match(html, /<section id="kind-churn"[^]*<th[^>]*>handshakes\/s<\/th>[^]*<th[^>]*>vs net<\/th>/, "the HTML report's churn section and table")
  t.match(file('.svg'), /handshakes a second, one 1 KiB echo each/, 'the churn chart')
})

t.test('soak --tls: every client over TLS, a short run comes out clean', async t => {
  const soak = spawnCli(['soak', '--tls', '--models', 'selector', '--duration', '6', '--json'])
  t.teardown(() => soak.stop('SIGKILL'))
  const code = await soak.exited
  const report = JSON.parse(soak.stdout())
  t.equal(code, 0, `exit 0 (stderr: ${soak.stderr().slice(-500)})`)
  t.equal(report.pass, true)
  const r = report.reports[0]
  t.same(r.losses, {}, 'no losses')
  t.ok(r.echo.messages > 0 && r.chat.delivered > 0, `echo ${r.echo.messages} messages, chat ${r.chat.delivered} deliveries, over TLS`)
})
