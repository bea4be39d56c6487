// StreamReader: any Readable (stdin, a pipe) as a selectable, read-only file object.
import t from 'tap'
import { PassThrough } from 'node:stream'
import { DefaultSelector, EVENT_READ, StreamReader } from '../reactor/index.js'
import { assertWouldBlock, expectEvents, expectNoEvents } from './helpers/reactor.js'

t.test('data, then EOF, through a selector', async t => {
  const stream = new PassThrough()
  const reader = new StreamReader(stream)
  const sel = new DefaultSelector()
  t.teardown(() => sel.close())
  sel.register(reader, EVENT_READ)
  await expectNoEvents(t, sel)
  assertWouldBlock(t, reader)
  stream.write('hola ')
  stream.write(Buffer.from('mundo'))
  await expectEvents(t, sel, [[reader, EVENT_READ]])
  let text = ''
  for (let d = reader.recv(); d && d.length; d = reader.recv()) text += d
  t.equal(text, 'hola mundo')
  stream.end()
  await expectEvents(t, sel, [[reader, EVENT_READ]])
  t.equal(reader.recv()!.length, 0, 'EOF')
  reader.close()
  reader.close()
  t.ok(reader.closed)
  t.equal(reader.readiness(), 0)
  t.throws(() => reader.recv(), { code: 'EBADF' })
})

t.test('string chunks and errors', async t => {
  const stream = new PassThrough({ encoding: 'utf8' })
  const reader = new StreamReader(stream, { bufferSize: 4 })
  stream.write('ñandú')
  await new Promise(r => setImmediate(r))
  t.equal(reader.recv()!.toString(), 'ñandú', 'string chunks become bytes')
  stream.destroy(new Error('stdin broke'))
  await new Promise(r => setImmediate(r))
  t.equal(reader.readiness(), EVENT_READ)
  t.throws(() => reader.recv(), /stdin broke/)
  t.equal(reader.recv()!.length, 0, 'EOF after the error')
})

t.test('the buffer is bounded: the stream is paused until recv drains it', async t => {
  const stream = new PassThrough({ highWaterMark: 16 })
  const reader = new StreamReader(stream, { bufferSize: 8 })
  stream.write(Buffer.alloc(8, 1))
  await new Promise(r => setImmediate(r))
  t.ok(stream.isPaused(), 'paused at the bound')
  stream.write(Buffer.alloc(8, 2))
  await new Promise(r => setImmediate(r))
  t.same(reader.recv(100), Buffer.alloc(8, 1), 'only the first chunk was taken in')
  assertWouldBlock(t, reader)
  await new Promise(r => setImmediate(r))
  t.same(reader.recv(100), Buffer.alloc(8, 2), 'recv resumed the stream: the second chunk follows')
})
