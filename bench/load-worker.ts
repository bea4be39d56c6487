// A load-generator thread: one LoadEngine driven by its parent (see load.ts) through
// 'connect' (answered when done), 'start' (answered once every connection has had an echo),
// 'measure', 'finish' (answered with the report) and 'close' (answered once the connections are closed).
import { parentPort, workerData } from 'node:worker_threads'
import { LoadEngine, type EngineOptions } from './load-engine.js'
import { ChurnEngine } from './churn-engine.js'

const options = workerData as EngineOptions
const engine = options.churn ? new ChurnEngine(options) : new LoadEngine(options)
const port = parentPort!

async function onCommand(command: string): Promise<void> {
  switch (command) {
    case 'connect':
      await engine.connect()
      port.postMessage({ type: 'connected' })
      return
    case 'start':
      engine.start()
      await engine.allAnswered()
      port.postMessage({ type: 'answered' })
      return
    case 'measure':
      engine.measure()
      return
    case 'finish':
      port.postMessage({ type: 'report', report: engine.finish() })
      return
    case 'close':
      await engine.close()
      port.postMessage({ type: 'closed' })
      port.close()
      return
    default:
      throw new Error(`unknown load-thread command '${command}'`)
  }
}

port.on('message', (command: string) => void onCommand(command))
