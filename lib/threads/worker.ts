// The entry point of every connection thread. It loads the handler module once, says `ready`,
// then serves whatever connection the host sends: the handler runs synchronously and may block
// (Atomics.wait inside conn.recv/sendall), so while it runs this thread's event loop is idle,
// exactly like a Python thread sitting in recv(). Between connections the thread is *parked*:
// idle in its event loop, costing no CPU, until the next `serve` message.
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { BlockingConnection, isDisconnect } from './connection.js'
import { Outcome, type HandlerModule, type HostMessage, type ServeMessage, type ThreadBoot, type ThreadContext, type ThreadMessage } from './handler.js'
import { SlotTable } from './slots.js'
import { timestamp } from '../log.js'

const boot = workerData as ThreadBoot
const port = parentPort!
const slots = SlotTable.attach(boot.slots)

function log(message: string): void {
  post({ type: 'print', stream: 'stderr', text: `${timestamp()} thread ${threadId}: ${message}\n` })
}

function print(text: string): void {
  post({ type: 'print', stream: 'stdout', text })
}

function emit(event: unknown): void {
  post({ type: 'event', event })
}

const ctx: ThreadContext = { shared: boot.shared, slots, threadId, log, print, emit }
const handler = (await import(boot.handlerUrl)) as HandlerModule
if (typeof handler.handle !== 'function') throw new Error(`${boot.handlerUrl} does not export handle(conn, ctx)`)
handler.init?.(ctx)

function post(message: ThreadMessage): void {
  port.postMessage(message)
}

function serve(msg: ServeMessage): void {
  const conn = new BlockingConnection(slots.inbound(msg.slot), slots.outbound(msg.slot), msg)
  let outcome: Outcome = Outcome.OK
  let error: string | undefined
  try {
    handler.handle(conn, ctx)
  } catch (err) {
    outcome = isDisconnect(err) ? Outcome.DISCONNECT : Outcome.ERROR
    error = err instanceof Error ? (outcome === Outcome.ERROR ? (err.stack ?? err.message) : err.message) : String(err)
  }
  // Whatever happened, the connection is finished here: flush and FIN (a no-op if already closed).
  conn.close()
  post({ type: 'done', slot: msg.slot, outcome, error })
}

function onMessage(msg: HostMessage): void {
  switch (msg.type) {
    case 'serve':
      return serve(msg)
    case 'exit':
      return port.close() // nothing else keeps this thread's event loop alive: it exits
  }
}

port.on('message', onMessage)
post({ type: 'ready' })
