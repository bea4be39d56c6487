// Which engine runs a load (or one load thread's share of it): the echo path's (load-engine.ts:
// closed or open loop over connections kept open) or churn's (churn-engine.ts: a connection, and
// with --tls a handshake, per message). load.ts and load-worker.ts drive either through the same
// steps.
import { LoadEngine, type Engine, type EngineOptions } from './load-engine.js'
import { ChurnEngine } from './churn-engine.js'

export function createEngine(o: EngineOptions): Engine {
  return o.churn ? new ChurnEngine(o) : new LoadEngine(o)
}
