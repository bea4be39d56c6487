// A load-generator thread: one LoadEngine driven by its parent (see load.ts) through
// 'connect' (answered when done), 'start', 'measure' and 'finish' (answered with the report).
import { parentPort, workerData } from 'node:worker_threads'
import { LoadEngine, type EngineOptions } from './load-engine.js'

const engine = new LoadEngine(workerData as EngineOptions)
const port = parentPort!

async function onCommand(command: string): Promise<void> {
  switch (command) {
    case 'connect':
      await engine.connect()
      port.postMessage('connected')
      return
    case 'start':
      engine.start()
      return
    case 'measure':
      engine.measure()
      return
    case 'finish':
      port.postMessage(engine.finish())
      port.close()
      return
    default:
      throw new Error(`unknown load-thread command '${command}'`)
  }
}

port.on('message', (command: string) => void onCommand(command))
