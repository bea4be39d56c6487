// What the bench runner runs, as data. A cell is a kind and its parameters ("closed loop, 100
// connections, 1 KiB"); the runner runs every cell against every server, and each kind says how
// one run goes, how runs become a row, and how rows are shown (bench/kinds/). A new kind of
// load (the lesson's bursts of new clients and slow clients are two) is a Cell variant and a
// module in bench/kinds/: the runner, the JSON lines, the table and the HTML report take it as
// they take the others.
import type { RunningBenchServer } from './servers.js'
import type { Flag } from './flags.js'
import type { TlsClientSettings } from '../lib/tls/options.js'

/** Closed loop: each connection keeps `pipeline` messages in flight (1: ping-pong). */
export interface ClosedCell {
  kind: 'closed'
  size: number
  conns: number
  pipeline: number
}

/** Open loop: `rate` messages a second in all on a fixed schedule, at most `pipeline` in flight per connection. */
export interface RateCell {
  kind: 'rate'
  size: number
  conns: number
  pipeline: number
  rate: number
}

/** `conns` idle connections held `holdMs`: how many are served, and what each costs the server. */
export interface IdleCell {
  kind: 'idle'
  conns: number
  holdMs: number
}

/** `clients` new clients connecting at the same moment: each one's wait for its first echo. */
export interface BurstCell {
  kind: 'burst'
  clients: number
}

/** `conns` clients each sending a `size`-byte line every `intervalMs`, measured over `holdMs`. */
export interface SlowCell {
  kind: 'slow'
  conns: number
  size: number
  intervalMs: number
  holdMs: number
}

/**
 * `conns` loops, each: connect (with TLS, a handshake), one echo of `size` bytes, close, and
 * again: connections (handshakes) a second, what a new connection costs the server.
 */
export interface ChurnCell {
  kind: 'churn'
  size: number
  conns: number
}

export type Cell = ClosedCell | RateCell | IdleCell | ChurnCell | BurstCell | SlowCell
export type CellKindName = Cell['kind']

/** A cell as the runner plans it: which servers it runs on (all of them when absent). */
export type PlannedCell = Cell & { servers?: string[] }

/** What every kind's row has (JSON lines: one per cell and server). */
export interface RowBase {
  type: 'cell'
  kind: CellKindName
  server: string
  /** Runs that produced a result (of those made). */
  runs: number
  /** Why the row cannot be taken at face value, each with its reason; empty for a clean cell. */
  flags: Flag[]
  /** Why no figures at all, when no run produced any. */
  failure: string | null
  /** Remarks that do not void the figures. */
  notes: string[]
  /** The server's peak resident memory and thread count during the runs (sampled; median of runs). */
  rssPeakKb: number | null
  threadsPeak: number | null
}

/** The run-wide settings a kind may need (from BenchOptions). */
export interface RunSettings {
  warmupMs: number
  durationMs: number
  timeoutMs: number
  loadThreads: number
  /** Other CPU above this (% of one core) flags a cell as measured on a busy machine. */
  maxNoisePct: number
  /** Every server speaks TLS (bench --tls): how the load trusts their certificate; absent for TCP. */
  tls?: TlsClientSettings
}

/** One run of a cell against a fresh server. */
export interface CellRun<R = unknown> {
  result: R | null
  failure: string | null
  /** Something worth saying that does not void the figures (a server that died after the window). */
  note?: string
  rssPeakKb: number | null
  threadsPeak: number | null
}

/** How one kind of cell is measured. */
export interface CellKind<C extends Cell = Cell, R = unknown, Row extends RowBase = RowBase> {
  readonly kind: C['kind']
  /** "100 conns × 1 KiB": names the cell in progress lines and notes. */
  label(cell: C): string
  /** Seconds one run is expected to take, for the progress estimate. */
  seconds(cell: C, s: RunSettings): number
  /** One run against a server started for it. Never rejects for what the server does. */
  run(cell: C, server: RunningBenchServer, s: RunSettings): Promise<CellRun<R>>
  /** "32,410 msgs/s, p99 0.92 ms": one run, for the progress line. */
  summary(result: R): string
  /** The row of one server in this cell, from its runs. */
  row(cell: C, server: string, runs: Array<CellRun<R>>, s: RunSettings): Row
  /**
   * Whether the run read its server's /proc entry as its window closed: if the server died after
   * that, the figures stand (with a note); if not, the run failed.
   */
  serverSeenAtEnd(result: R): boolean
  /** Figures that compare servers within a cell (ratios to the net model), set once every row is known. */
  relate?(rows: Row[]): void
}

/** The parameters that identify a cell, as one string: the same cell in two runs has the same key. */
export function cellKey(cell: Cell): string {
  switch (cell.kind) {
    case 'closed':
      return `closed/${cell.size}/${cell.conns}/${cell.pipeline}`
    case 'rate':
      return `rate/${cell.size}/${cell.conns}/${cell.pipeline}/${cell.rate}`
    case 'idle':
      return `idle/${cell.conns}/${cell.holdMs}`
    case 'churn':
      return `churn/${cell.size}/${cell.conns}`
    case 'burst':
      return `burst/${cell.clients}`
    case 'slow':
      return `slow/${cell.conns}/${cell.size}/${cell.intervalMs}/${cell.holdMs}`
  }
}

/** The cell a row belongs to (rows carry their cell's parameters). */
export function cellOf(row: {
  kind: CellKindName
  size?: number
  conns?: number
  pipeline?: number
  rate?: number | null
  holdMs?: number
  clients?: number
  intervalMs?: number
}): Cell {
  switch (row.kind) {
    case 'closed':
      return { kind: 'closed', size: row.size!, conns: row.conns!, pipeline: row.pipeline! }
    case 'rate':
      return { kind: 'rate', size: row.size!, conns: row.conns!, pipeline: row.pipeline!, rate: row.rate! }
    case 'idle':
      return { kind: 'idle', conns: row.conns!, holdMs: row.holdMs! }
    case 'churn':
      return { kind: 'churn', size: row.size!, conns: row.conns! }
    case 'burst':
      return { kind: 'burst', clients: row.clients! }
    case 'slow':
      return { kind: 'slow', conns: row.conns!, size: row.size!, intervalMs: row.intervalMs!, holdMs: row.holdMs! }
  }
}
