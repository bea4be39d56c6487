// A load-generator thread: one engine (engines.ts) driven by its parent (see load.ts) through
// 'connect' (answered with the count made), 'start' (answered once every connection has had an
// echo), 'schedule' (the open loop's schedule begins), 'measure', 'snapshot' (answered with the
// live figures), 'finish' (answered with the report) and 'close' (answered once the connections
// are closed). It says 'down', unasked, once none of its connections is running any more.
import { parentPort, workerData } from 'node:worker_threads'
import type { EngineOptions } from './load-engine.js'
import { createEngine } from './engines.js'
import type { WorkerReply } from './load.js'

const engine = createEngine(workerData as EngineOptions)
const port = parentPort!
const reply = (message: WorkerReply) => port.postMessage(message)

async function onCommand(command: string): Promise<void> {
  switch (command) {
    case 'connect':
      await engine.connect()
      reply({ type: 'connected', connected: engine.connectedCount() })
      engine.whenAllDown(() => reply({ type: 'down' }))
      return
    case 'start':
      engine.start()
      await engine.allAnswered()
      reply({ type: 'answered' })
      return
    case 'schedule':
      engine.startSchedule()
      return
    case 'measure':
      engine.measure()
      return
    case 'snapshot':
      reply({ type: 'snapshot', snapshot: engine.snapshot() })
      return
    case 'finish':
      reply({ type: 'report', report: engine.finish() })
      return
    case 'close':
      await engine.close()
      reply({ type: 'closed' })
      port.close()
      return
    default:
      throw new Error(`unknown load-thread command '${command}'`)
  }
}

port.on('message', (command: string) => void onCommand(command))
