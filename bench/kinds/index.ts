// Every kind of bench cell, by name: the runner and the reports look a cell's kind up here.
// A new kind is a module beside these and one line below.
import type { Cell, CellKind, CellKindName } from '../cells.js'
import { closedKind, rateKind, type LoadRow } from './load.js'
import { idleKind, type IdleRow } from './idle.js'
import { churnKind, type ChurnRow } from './churn.js'
import { burstKind, type BurstRow } from './burst.js'
import { slowKind, type SlowRow } from './slow.js'
import { closedView, rateView } from './load-view.js'
import { idleView } from './idle-view.js'
import { churnView } from './churn-view.js'
import { burstView } from './burst-view.js'
import { slowView } from './slow-view.js'
import type { KindView } from '../view.js'

export type { LoadRow, IdleRow, ChurnRow, BurstRow, SlowRow }

/** A row of any kind (JSON lines: `type: 'cell'`, told apart by `kind`). */
export type CellRow = LoadRow | IdleRow | ChurnRow | BurstRow | SlowRow

// Each kind (and view) is typed against its own cell, result and row in its module; looked up by
// name here, they are used through the general signature (a cell only ever reaches its own kind,
// a row its own view).
const KINDS: Record<CellKindName, CellKind<any, any, any>> = {
  closed: closedKind,
  rate: rateKind,
  idle: idleKind,
  churn: churnKind,
  burst: burstKind,
  slow: slowKind,
}

/** The kind that measures `cell`. */
export function kindOf(cell: Cell): CellKind<Cell, unknown, CellRow> {
  return KINDS[cell.kind]
}

const VIEWS: Record<CellKindName, KindView<any>> = {
  closed: closedView,
  rate: rateView,
  idle: idleView,
  churn: churnView,
  burst: burstView,
  slow: slowView,
}

/** How rows of `kind` are shown. */
export function viewOf(kind: CellKindName): KindView<CellRow> {
  return VIEWS[kind]
}

/** The kinds in the order reports show them. */
export const KIND_ORDER: CellKindName[] = ['closed', 'rate', 'churn', 'idle', 'burst', 'slow']
