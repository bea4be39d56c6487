// A bench run and its files: the JSON lines written as rows come (a run cut short keeps what it
// measured), then the SVG chart and the HTML report, under one time stamp. `bench` runs its plan
// through here; so can any other plan of cells (the lesson's).
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { runBench, estimateSeconds, runCount, type BenchOptions, type BenchRow } from './runner.js'
import { createProgress } from './progress.js'
import { renderChart } from './chart.js'
import { renderHtml, type ReportHeading } from './html-report.js'
import { compareRuns, type Comparison } from './compare.js'

export interface RunFiles {
  jsonl: string
  svg: string
  html: string
}

export interface SavedRun {
  file: string
  rows: BenchRow[]
}

/**
 * Runs the plan with a progress bar on stderr, writing `PREFIX-STAMP.{jsonl,svg,html}` into
 * `outDir` (created if need be). `saved`: a run to compare with (compare.ts's readRun);
 * `heading`: the HTML report's title and lead paragraph, when not the bench's.
 */
export async function runToFiles(
  o: BenchOptions,
  outDir: string,
  saved: SavedRun | null = null,
  prefix = 'bench',
  heading: ReportHeading = {},
): Promise<{ rows: BenchRow[]; comparison: Comparison | null; files: RunFiles; stamp: string }> {
  mkdirSync(outDir, { recursive: true })
  const stamp = new Date().toISOString().slice(0, 19).replace(/:/g, '-')
  const file = (ext: string) => path.join(outDir, `${prefix}-${stamp}.${ext}`)
  const files: RunFiles = { jsonl: file('jsonl'), svg: file('svg'), html: file('html') }
  writeFileSync(files.jsonl, '')
  const progress = createProgress(runCount(o, o.servers), estimateSeconds(o, o.servers))
  const rows = await runBench(o, progress, row => appendFileSync(files.jsonl, JSON.stringify(row) + '\n'))
  const comparison = saved ? compareRuns(saved.file, saved.rows, rows) : null
  writeFileSync(files.svg, renderChart(rows))
  writeFileSync(files.html, renderHtml(rows, comparison, { jsonl: path.basename(files.jsonl) }, heading))
  return { rows, comparison, files, stamp }
}
