// Suite: one select-and-dispatch round of the reactor's selectors with many ready keys, the body
// of the event loop (`for [key, mask] of await select(): key.data(key.fileobj, mask)`).
// In-memory Selectables isolate the selector's own cost from sockets. ScanSelector asks every
// registered object each round (select/poll); ReadyListSelector asks only candidates (epoll):
// the "100 ready of 10,000" rows show the difference.
import { EVENT_READ, ReadyListSelector, ScanSelector, Selectable, type BaseSelector } from '../../reactor/index.js'
import { createBench, printResults, type Suite } from './suite.js'

/** A Selectable whose readiness is whatever we set: level-triggered, it stays ready. */
class Ready extends Selectable {
  constructor(public ready: number) {
    super()
  }
  readiness(): number {
    return this.ready
  }
  get closed(): boolean {
    return false
  }
}

let dispatched = 0
function onEvent(_fileobj: Selectable, mask: number): void {
  dispatched += mask
}

function populate(selector: BaseSelector, registered: number, ready: number): void {
  for (let i = 0; i < registered; i++) selector.register(new Ready(i < ready ? EVENT_READ : 0), EVENT_READ, onEvent)
}

async function round(selector: BaseSelector): Promise<void> {
  const events = await selector.select(0)
  for (const [key, mask] of events) (key.data as typeof onEvent)(key.fileobj, mask)
}

export const suite: Suite = {
  name: 'selector',
  about: 'select(0) + dispatch of every ready key, ScanSelector vs ReadyListSelector',
  async run(options) {
    const bench = createBench(options)
    const units: Record<string, { count: number; unit: string }> = {}
    const cases: Array<[registered: number, ready: number]> = [
      [10, 10],
      [100, 100],
      [1000, 1000],
      [10_000, 10_000],
      [10_000, 100],
    ]
    const selectors: BaseSelector[] = []
    for (const [registered, ready] of cases) {
      for (const [label, Selector] of [
        ['scan', ScanSelector],
        ['ready-list', ReadyListSelector],
      ] as const) {
        const selector = new Selector()
        selectors.push(selector)
        populate(selector, registered, ready)
        const name = `${label}: ${ready.toLocaleString('en-US')} ready of ${registered.toLocaleString('en-US')}`
        units[name] = { count: ready, unit: 'ready key' }
        bench.add(name, async () => {
          await round(selector)
        })
      }
    }
    await bench.run()
    printResults(bench, units)
    for (const s of selectors) s.close()
    if (dispatched === 0) throw new Error('nothing was dispatched')
  },
}
