// The comparison runner: starts every server under test, runs every cell (bench/cells.ts: a kind
// and its parameters) against each, and gathers one row per (cell, server), flagged where it
// cannot be taken at face value. It knows no kind in particular: each kind says how one run goes
// and how runs make a row (bench/kinds/), so `bench` and the lesson share this one harness.
//
// Fairness on a small, noisy machine: each run gets its own load process against a server started
// for it (nothing carried over between runs), servers take turns cell by cell (with a rotating
// first server) rather than model by model, and the whole plan can be repeated R times, each row
// keeping the median of each figure.
import type { PlannedCell, RunSettings, CellRun } from './cells.js'
import { kindOf, type CellRow } from './kinds/index.js'
import { describeMachine, type Machine } from './machine.js'
import { NotAvailable, startServerSpec, type RunningBenchServer, type ServerSpec } from './servers.js'
import type { Progress } from './progress.js'

export type { CellRow }

export interface BenchOptions extends RunSettings {
  servers: ServerSpec[]
  /** What to run, in order; a cell with `servers` runs on those only. */
  cells: PlannedCell[]
  repeat: number
  /** The command line, for the header. */
  command: string
}

export interface HeaderRow extends Machine {
  type: 'header'
  date: string
  command: string
  options: Omit<BenchOptions, 'servers' | 'command'> & { servers: string[] }
}

export interface UnavailableRow {
  type: 'unavailable'
  server: string
  reason: string
}

/** The last line: when the run ended, and how busy the machine was by then. */
export interface EndRow {
  type: 'end'
  date: string
  seconds: number
  loadAverage: number[]
}

export type BenchRow = HeaderRow | CellRow | UnavailableRow | EndRow

export function header(o: BenchOptions): HeaderRow {
  const { servers, command, ...rest } = o
  return { type: 'header', date: new Date().toISOString(), command, ...describeMachine(), options: { ...rest, servers: servers.map(s => s.name) } }
}

/** The servers `cell` runs on, of those available, in the order given. */
function serversFor(cell: PlannedCell, available: ServerSpec[]): ServerSpec[] {
  return cell.servers ? available.filter(s => cell.servers!.includes(s.name)) : available
}

/** Runs the plan will make (for the progress bar), given the servers that start. */
export function runCount(o: Pick<BenchOptions, 'cells' | 'repeat'>, available: ServerSpec[]): number {
  return o.repeat * o.cells.reduce((n, cell) => n + serversFor(cell, available).length, 0)
}

/** Seconds the plan should take (for the progress estimate). */
export function estimateSeconds(o: BenchOptions, available: ServerSpec[]): number {
  const startUp = 0.6 // a fresh server per run
  return o.repeat * o.cells.reduce((n, cell) => n + serversFor(cell, available).length * (kindOf(cell).seconds(cell, o) + startUp), 0)
}

/**
 * Runs the whole benchmark. `emit` receives every row as soon as it is known (the header first,
 * then unavailable servers, then the cells once all their repeats are done, then the end).
 */
export async function runBench(o: BenchOptions, progress: Progress, emit: (row: BenchRow) => void): Promise<BenchRow[]> {
  const started = Date.now()
  const rows: BenchRow[] = []
  const push = (row: BenchRow) => (rows.push(row), emit(row))
  push(header(o))

  // Which servers start at all (each is stopped again: every run gets a fresh one).
  const available: ServerSpec[] = []
  for (const spec of o.servers) {
    progress.note(`checking ${spec.name}`)
    try {
      const server = await startServerSpec(spec)
      await server.stop()
      available.push(spec)
    } catch (e) {
      const reason = e instanceof NotAvailable ? e.message : String(e)
      progress.note(`${spec.name} not available: ${reason}`)
      push({ type: 'unavailable', server: spec.name, reason })
    }
  }

  progress.setTotal(runCount(o, available), estimateSeconds(o, available))
  const runs = new Map<string, CellRun[]>() // `${cellIndex}/${server}` → runs
  for (let round = 0; round < o.repeat; round++) {
    for (let ci = 0; ci < o.cells.length; ci++) {
      const cell = o.cells[ci]
      const kind = kindOf(cell)
      const servers = serversFor(cell, available)
      for (let k = 0; k < servers.length; k++) {
        // Rotate which server goes first, so none always runs right after another's load.
        const spec = servers[(ci + round + k) % servers.length]
        const key = `${ci}/${spec.name}`
        const list = runs.get(key) ?? []
        runs.set(key, list)
        progress.begin(`${spec.name}: ${kind.label(cell)}${o.repeat > 1 ? ` (run ${round + 1}/${o.repeat})` : ''}`)
        const run = await runOnFreshServer(o, cell, spec)
        list.push(run)
        progress.end(run.result ? kind.summary(run.result) : `failed: ${run.failure}`)
      }
    }
  }

  const cellRows: CellRow[] = []
  o.cells.forEach((cell, ci) => {
    const kind = kindOf(cell)
    const rowsOfCell: CellRow[] = []
    for (const spec of o.servers) {
      const list = runs.get(`${ci}/${spec.name}`)
      if (list) rowsOfCell.push(kind.row(cell, spec.name, list, o))
    }
    cellRows.push(...rowsOfCell)
  })
  for (const name of new Set(o.cells.map(c => c.kind))) {
    const kind = kindOf(o.cells.find(c => c.kind === name)!)
    kind.relate?.(cellRows.filter(r => r.kind === name))
  }
  for (const row of cellRows) push(row)
  progress.done()
  push({ type: 'end', date: new Date().toISOString(), seconds: Math.round((Date.now() - started) / 100) / 10, loadAverage: describeMachine().loadAverage })
  return rows
}

/**
 * One run on a server started for it and stopped (and gone) after it: nothing a previous cell
 * left behind (a thousand threads still exiting, grown heaps) weighs on this one or on the next
 * server's turn, and RSS is the memory of this load alone.
 */
async function runOnFreshServer(o: BenchOptions, cell: PlannedCell, spec: ServerSpec): Promise<CellRun> {
  let server: RunningBenchServer
  try {
    server = await startServerSpec(spec)
  } catch (e) {
    return { result: null, failure: `server did not start: ${(e as Error).message}`, rssPeakKb: null, threadsPeak: null }
  }
  try {
    const kind = kindOf(cell)
    const run = await kind.run(cell, server, o)
    const exit = server.exitInfo()
    if (!exit) return run
    // The load read the server's /proc entry as the window closed: alive then, the figures stand.
    if (run.result !== null && kind.serverSeenAtEnd(run.result)) return { ...run, note: `the server ${exit} after the measured window` }
    return { ...run, failure: `server ${exit} during the run`, result: null }
  } finally {
    await server.stop()
  }
}
