// How a kind of cell is shown: its table's columns, how its rows group, and its charts, as data.
// The text table (report.ts), the SVG chart (chart.ts) and the HTML report (html-report.ts) draw
// any kind from its view: a new kind brings its own view (registered in kinds/index.ts).

export interface Column<Row> {
  title: string
  /** Left-aligned (names); numbers are right-aligned. */
  left?: boolean
  /** What the column means, for the HTML report's header tooltips. */
  help?: string
  value(row: Row): string
}

export interface ChartPoint {
  x: number
  y: number | null
  /** Shown on hover. */
  tip: string
  /** A flagged cell: drawn with a dotted ring. */
  flagged: boolean
  /** Drawn hollow: a figure that is only a bound (an open loop that fell behind). */
  hollow?: boolean
}

export interface ChartSeries {
  /** The server (colours are per server). */
  server: string
  /** Said in the legend after the server's name ("service"). */
  variant?: string
  dashed?: boolean
  points: ChartPoint[]
}

export interface ChartSpec {
  title: string
  xLabel: string
  yLabel: string
  /** category: the x values spread evenly in order (1, 10, 100, 1000); linear: to scale from 0. */
  xScale: 'category' | 'linear'
  yScale: 'linear' | 'log'
  /** Lines through the points (default), or one bar per series (x: the bar's place, named by its server). */
  mark?: 'line' | 'bar'
  series: ChartSeries[]
  /** One line under the chart saying what hollow points or dashes mean, when it has them. */
  note?: string
}

export interface KindView<Row> {
  /** The section's heading. */
  title: string
  /** What the section measures and how to read it (a paragraph of the HTML report). */
  intro: string
  columns(rows: Row[]): Array<Column<Row>>
  /** Rows of one group are one block of the table (a blank line, or a rule, between groups). */
  group(row: Row): string
  charts(rows: Row[]): ChartSpec[]
}
