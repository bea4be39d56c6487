// The load generator, the bench and the soak over TLS, on tiny runs (no assertion about speed):
// load --tls verifies the server's certificate and checks every echoed byte; load --churn counts
// connections (handshakes) a second; bench --tls gives every server one certificate and adds a
// churn cell compared with net's; soak --tls runs every client over TLS and comes out clean.
import t from 'tap'
import { once } from 'node:events'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { spawnCli, startServer } from './helpers/process.js'
import { spawnCli as spawnBuilt } from '../bench/cli-process.js'
import { testCertificate } from './helpers/tls.js'
import type { LoadResult } from '../bench/load.js'
import type { BenchRow, CellRow } from '../bench/runner.js'

const cert = testCertificate()

async function load(args: string[]): Promise<{ code: number | null; result: LoadResult; stderr: string }> {
  const c = spawnCli(['load', ...args, '--json'])
  const code = await c.exited
  return { code, result: JSON.parse(c.stdout()) as LoadResult, stderr: c.stderr() }
}

t.test('load --tls and load --churn against a TLS echo server', async t => {
  const server = await startServer(['echo', '--port', '0', '--quiet', '--tls', '--cert', cert.certFile, '--key', cert.keyFile])
  t.teardown(() => server.stop())
  const target = ['--target', `127.0.0.1:${server.port}`, '--duration', '0.5', '--warmup', '0.2', '--conns', '4']
  const verified = await load([...target, '--tls', '--ca', cert.certFile, '--threads', '2', '--server-pid', String(server.child.pid)])
  t.equal(verified.code, 0, verified.stderr)
  t.ok(verified.result.tls && !verified.result.churn)
  t.equal(verified.result.connected, 4)
  t.ok(verified.result.messages > 0, `${verified.result.messages} messages echoed over TLS, every byte checked`)
  t.equal(verified.result.errorTotal, 0)

  const churn = await load([...target, '--tls', '--insecure', '--churn', '--size', '100'])
  t.equal(churn.code, 0, churn.stderr)
  t.ok(churn.result.churn, 'a churn result')
  t.ok(churn.result.messages > 0, `${churn.result.messages} cycles: connect, handshake, one echo, close`)
  t.equal(churn.result.errorTotal, 0)
  t.same(churn.result.connectFailures, {})

  const untrusted = await load([...target, '--tls'])
  t.equal(untrusted.code, 1, 'the default verifies: a self-signed certificate fails every connect')
  t.same(untrusted.result.connectFailures, { DEPTH_ZERO_SELF_SIGNED_CERT: 4 })
})

t.test('load --churn over plain TCP reads as connections a second', async t => {
  const server = await startServer(['echo', '--port', '0', '--quiet'])
  t.teardown(() => server.stop())
  const c = spawnCli(['load', '--target', `127.0.0.1:${server.port}`, '--duration', '0.3', '--warmup', '0', '--conns', '2', '--churn'])
  t.equal(await c.exited, 0, c.stderr())
  t.match(c.stdout(), /^churn → 127\.0\.0\.1:\d+: 2 at once, each: connect, one 1024 B echo, close;/)
  t.match(c.stdout(), /throughput +[\d,]+ connections\/s/)
})

t.test('bench --tls: every model over TLS with one certificate, and a churn cell beside net', async t => {
  const out = mkdtempSync(path.join(tmpdir(), 'selectloop-bench-tls-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  const child = spawnBuilt(['bench', '--tls', '--models', 'selector,net', '--conns', '2', '--churn', '2', '--duration', '0.4', '--warmup', '0.1', '--out', out])
  let stdout = ''
  child.stdout.setEncoding('utf8').on('data', d => (stdout += d))
  const [code] = await once(child, 'close')
  t.equal(code, 0)
  const jsonl = readdirSync(out).find(f => f.endsWith('.jsonl'))!
  const rows = readFileSync(path.join(out, jsonl), 'utf8').split('\n').filter(Boolean).map(l => JSON.parse(l) as BenchRow)
  const cells = rows.filter((r): r is CellRow => r.type === 'cell')
  t.same(cells.map(c => [c.server, Boolean(c.churn)]).sort(), [['net', false], ['net', true], ['selector', false], ['selector', true]])
  for (const c of cells) {
    t.ok(c.results.every(r => r.tls), `${c.server}${c.churn ? ' churn' : ''}: over TLS`)
    t.ok((c.msgsPerSec ?? 0) > 0 && c.errorTotal === 0, `${c.server}${c.churn ? ' churn' : ''}: ${c.msgsPerSec}/s, no errors`)
    t.ok(c.ratioToNet !== null, 'compared with net in the same kind of cell')
  }
  t.match(stdout, /churn rows: msgs\/s is connections a second \(each: connect, TLS handshake, one echo, close\)/)
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
