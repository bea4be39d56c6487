// The two ways bytes reach a Connection (reactor/read-path.ts): 'onread' (libuv reads into one
// shared buffer, behind a feature check) and 'data' (the socket's 'data' events, the fallback).
// The selector contract runs on both here; selector.test.ts runs it on the default path.
import t from 'tap'
import { BlockPool, EVENT_READ, ReadyListSelector, onreadSupport, readPath, setReadPath, type ReadPath } from '../reactor/index.js'
import { ReceiveBuffer, SMALL_READ } from '../reactor/receive-buffer.js'
import { selectorContract } from './selector-contract.js'
import { connectionPair, recvExactly } from './helpers/reactor.js'

const paths: ReadPath[] = onreadSupport ? ['onread', 'data'] : ['data']
const initial = readPath()
t.teardown(() => setReadPath(initial))

t.test('the default path', async t => {
  t.equal(initial, onreadSupport && process.env.SELECTLOOP_READ_PATH !== 'data' ? 'onread' : 'data')
  if (!onreadSupport) t.throws(() => setReadPath('onread'), /only the 'data' path/)
})

for (const path of paths) {
  t.test(`read path ${path}`, async t => {
    setReadPath(path)
    t.teardown(() => setReadPath(initial))

    t.test('each side takes it, and many reads arrive whole and in order', async t => {
      const { client, server } = await connectionPair(t)
      for (const c of [client, server]) t.equal(c.socket.listenerCount('data'), path === 'data' ? 1 : 0, "'data' listened for only on that path")
      // Two connections read in turn through the one shared buffer: neither sees the other's bytes.
      const a = Buffer.alloc(200_000, 'a')
      const b = Buffer.alloc(200_000, 'b')
      let ia = 0
      let ib = 0
      const gotServer: Buffer[] = []
      const gotClient: Buffer[] = []
      let nServer = 0
      let nClient = 0
      const deadline = Date.now() + 10_000
      while ((nServer < a.length || nClient < b.length) && Date.now() < deadline) {
        if (ia < a.length) ia += client.send(a.subarray(ia))
        if (ib < b.length) ib += server.send(b.subarray(ib))
        const s = server.recv()
        if (s && s.length) (gotServer.push(s), (nServer += s.length))
        const c = client.recv()
        if (c && c.length) (gotClient.push(c), (nClient += c.length))
        await new Promise(resolve => setImmediate(resolve))
      }
      t.ok(Buffer.concat(gotServer).equals(a), 'the server read exactly what the client sent')
      t.ok(Buffer.concat(gotClient).equals(b), 'the client read exactly what the server sent')
    })

    t.test('recvInto fills the caller buffer, then 0 at EOF', async t => {
      const { client, server } = await connectionPair(t)
      client.send(Buffer.from('hola mundo'))
      client.shutdown()
      const got = await recvExactly(server, 4)
      t.equal(got.toString(), 'hola')
      const into = Buffer.alloc(64)
      const sel = new ReadyListSelector()
      t.teardown(() => sel.close())
      sel.register(server, EVENT_READ)
      let n: number | null = null
      const deadline = Date.now() + 5000
      while (n === null && Date.now() < deadline) {
        n = server.recvInto(into)
        if (n === null) await sel.select(1)
      }
      t.equal(into.subarray(0, n ?? 0).toString(), ' mundo')
      let end: number | null = null
      while (end === null && Date.now() < deadline) {
        end = server.recvInto(into)
        if (end === null) await sel.select(1)
      }
      t.equal(end, 0, 'EOF')
    })

    t.test('the selector contract', async t => selectorContract(t, () => new ReadyListSelector()))
  })
}

t.test('ReceiveBuffer: blocks from the pool, back to it when emptied; small reads apart; pause above the limit', async t => {
  const pool = new BlockPool(2048, 4)
  let paused = 0
  let resumed = 0
  const source = { pause: () => paused++, resume: () => resumed++ }
  const input = new ReceiveBuffer(source, 4000, pool)
  const bytes = Buffer.from(Array.from({ length: 4600 }, (_, i) => i % 251))
  input.push(bytes.subarray(0, 1500)) // a block
  input.push(bytes, 0)
  input.push(bytes.subarray(1500), 100) // into the block's room
  input.push(bytes.subarray(1600), 3000) // the rest of the block, then a second block
  t.equal(input.bytes, 4600)
  t.equal(paused, 1, 'paused once at the limit')
  const into = Buffer.alloc(2500)
  t.equal(input.takeInto(into), 2500)
  t.same([...into], [...bytes.subarray(0, 2500)])
  t.equal(pool.freeBlocks, 1, 'the first block, emptied, is back')
  t.equal(resumed, 1, 'resumed below the limit')
  const rest = input.take(10_000)!
  t.same([...rest], [...bytes.subarray(2500)])
  t.equal(pool.freeBlocks, 2, 'every block is back')
  t.equal(input.takeInto(into), null, 'would block')

  input.push(bytes.subarray(0, SMALL_READ - 1)) // small, and no block to go into: a buffer of its own
  t.equal(pool.freeBlocks, 2, 'a small read takes no block')
  t.same([...input.take(10_000)!], [...bytes.subarray(0, SMALL_READ - 1)])
  t.equal(pool.freeBlocks, 2, 'and gives none back')

  input.eof = true
  t.equal(input.takeInto(into), 0, 'EOF')
  input.push(Buffer.alloc(20_000))
  input.clear()
  t.equal(input.bytes, 0)
  t.equal(pool.freeBlocks, 4, 'clear gives blocks back, up to maxFree')
})

t.test('ReceiveBuffer: an adopted chunk (the data path) is kept, and handed out whole without a copy', async t => {
  const pool = new BlockPool(2048, 4)
  let paused = 0
  let resumed = 0
  const input = new ReceiveBuffer({ pause: () => paused++, resume: () => resumed++ }, 1000, pool)
  const hola = Buffer.from('hola ')
  input.adopt(hola)
  input.adopt(Buffer.from('mundo'))
  input.adopt(Buffer.alloc(0))
  t.equal(input.bytes, 10)
  t.equal(input.take(100), hola, 'the very chunk')
  t.equal(input.take(3)!.toString(), 'mun', 'part of one: a copy')
  t.equal(input.take(100)!.toString(), 'do')
  input.adopt(Buffer.alloc(1200, 1))
  t.equal(paused, 1, 'paused at the limit')
  t.equal(input.take(2000)!.length, 1200)
  t.equal(resumed, 1, 'resumed below it')
  input.push(Buffer.alloc(1500, 2)) // a pool block with room left: an adopted chunk fills it first
  input.adopt(Buffer.alloc(600, 3))
  const all = input.take(10_000)!
  t.equal(all.length, 2100)
  t.same([all[0], all[1499], all[1500], all[2099]], [2, 2, 3, 3], 'in order')
  t.equal(pool.freeBlocks, 1, 'the block is back')
})
