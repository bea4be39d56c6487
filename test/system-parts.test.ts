// The real parts the web and cross-server suites stand on: a headless Chromium that renders a
// page and runs its script, and a redis-server that answers, stops and comes back.
import t from 'tap'
import http from 'node:http'
import { once } from 'node:events'
import net from 'node:net'
import { launchBrowser } from './helpers/browser.js'
import { startRedis } from './helpers/redis.js'

t.test('Chromium renders a page served on loopback and runs its script', async t => {
  const browser = await launchBrowser(t)
  if (!browser) return
  const server = http.createServer((_req, res) => {
    res.setHeader('content-type', 'text/html; charset=utf-8')
    res.end('<!doctype html><title>probe</title><p id=out>static</p><script>document.getElementById("out").textContent = "ran " + (6 * 7)</script>')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const page = await browser.newPage()
  await page.goto(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`)
  t.equal(await page.title(), 'probe')
  t.equal(await page.locator('#out').textContent(), 'ran 42')
})

t.test('redis-server answers, stops, and comes back on the same port', async t => {
  const redis = await startRedis(t)
  if (!redis) return
  const ask = async (line: string) => {
    const s = net.connect(redis.port, '127.0.0.1')
    await once(s, 'connect')
    s.write(line + '\r\n')
    const [data] = await once(s, 'data')
    s.destroy()
    return String(data)
  }
  t.equal(await ask('SET k v'), '+OK\r\n')
  t.equal(await ask('GET k'), '$1\r\nv\r\n')
  await redis.stop()
  const refused = await new Promise<boolean>(resolve => {
    const s = net.connect(redis.port, '127.0.0.1')
    s.once('connect', () => (s.destroy(), resolve(false)))
    s.once('error', () => resolve(true))
  })
  t.ok(refused, 'nothing listens once stopped')
  await redis.start()
  t.equal(await ask('GET k'), '$-1\r\n', 'a fresh server without persistence forgets the key')
})
