// The report people share: one self-contained HTML file (inline CSS, SVG and a few lines of JS;
// nothing fetched, and a Content-Security-Policy that forbids fetching anything), drawn from the
// same rows as the JSON lines: the machine and its noise, the flagged cells with their reasons,
// one section per kind of cell (its charts and its table, from the kind's view), the comparison
// with a saved run, and the notes. Everything a server or a command line put into the rows is
// escaped: a report never runs what a server sent.
import type { BenchRow, EndRow, HeaderRow, UnavailableRow } from './runner.js'
import { KIND_ORDER, viewOf, type CellRow } from './kinds/index.js'
import type { Comparison } from './compare.js'
import { chartSvg, colorsFor, escapeXml as esc } from './chart.js'
import { flagLines, rowName, tlsText } from './report.js'
import { fixed, int } from './format.js'
import { median } from './stats.js'
import { FlagKind } from './flags.js'

const STYLE = `
  body { font-family: Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1180px; padding: 16px 24px 48px; color: #222; line-height: 1.45 }
  h1 { font-size: 24px; margin: 8px 0 4px } h2 { font-size: 19px; margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px }
  .facts { color: #555; font-size: 13px } code { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; font-size: 12.5px; word-break: break-all }
  table.data { border-collapse: collapse; font-size: 12.5px; margin: 10px 0 }
  table.data th, table.data td { padding: 3px 8px; border-bottom: 1px solid #eee; white-space: nowrap }
  table.data th { background: #f6f6f6; cursor: pointer; text-align: right; position: sticky; top: 0 }
  table.data th.left, table.data td.left { text-align: left } table.data td { text-align: right; font-variant-numeric: tabular-nums }
  table.data tr.group-start td { border-top: 2px solid #ccc }
  table.data tr.flagged td { background: #fff1f1 } table.data tr.flagged td.flags { color: #b00000; font-weight: bold }
  table.facts-table td { padding: 2px 12px 2px 0; font-size: 13.5px; vertical-align: top } table.facts-table td:first-child { color: #666 }
  .charts { display: flex; flex-wrap: wrap; gap: 12px } .charts svg { border: 1px solid #eee; background: white }
  .legend { display: flex; gap: 16px; flex-wrap: wrap; font-size: 13px; margin: 6px 0 } .swatch { display: inline-block; width: 12px; height: 12px; margin-right: 5px; vertical-align: -1px }
  ul.flags li { margin: 3px 0 } ul.flags .kind { font-weight: bold; color: #b00000 } .ok { color: #116611 }
  .regression { color: #b00000; font-weight: bold } .improvement { color: #116611; font-weight: bold }
  .intro { max-width: 900px } .scroll { overflow-x: auto }
`

// Click a column's heading to sort by it (numbers as numbers; '-' last), again to reverse.
const SCRIPT = `
'use strict';
document.querySelectorAll('table.sortable').forEach(function (table) {
  var heads = table.querySelectorAll('th');
  heads.forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var dir = th.getAttribute('data-dir') === 'asc' ? -1 : 1;
      heads.forEach(function (h) { h.removeAttribute('data-dir'); });
      th.setAttribute('data-dir', dir === 1 ? 'asc' : 'desc');
      function key(row) {
        var text = row.cells[col] ? row.cells[col].textContent.trim() : '';
        var n = parseFloat(text.replace(/,/g, ''));
        return isNaN(n) ? text : n;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x !== typeof y) return typeof x === 'number' ? -1 : 1;
        return (x < y ? -1 : x > y ? 1 : 0) * dir;
      });
      rows.forEach(function (r) { r.classList.remove('group-start'); body.appendChild(r); });
    });
  });
});
`

function legend(servers: string[], colors: Map<string, string>): string {
  return `<div class="legend">${servers
    .map(s => `<span data-server="${esc(s)}"><span class="swatch" style="background:${colors.get(s)}"></span>${esc(s)}</span>`)
    .join('')}</div>`
}

function kindSection(kind: CellRow['kind'], rows: CellRow[], colors: Map<string, string>): string {
  const view = viewOf(kind)
  const cols = view.columns(rows)
  const servers = [...new Set(rows.map(r => r.server))]
  const head = cols.map(c => `<th class="${c.left ? 'left' : ''}"${c.help ? ` title="${esc(c.help)}"` : ''}>${esc(c.title)}</th>`).join('')
  let previous: string | null = null
  const body = rows
    .map(r => {
      const g = view.group(r)
      const classes = [r.flags.length ? 'flagged' : '', previous !== null && g !== previous ? 'group-start' : ''].filter(Boolean).join(' ')
      previous = g
      const title = r.flags.length ? ` title="${esc(r.flags.map(f => `${f.kind}: ${f.reason}`).join('\n'))}"` : ''
      const tds = cols.map(c => `<td class="${[c.left ? 'left' : '', c.title === 'flags' ? 'flags' : ''].filter(Boolean).join(' ')}">${esc(c.value(r))}</td>`).join('')
      return `<tr data-server="${esc(r.server)}" class="${classes}"${title}>${tds}</tr>`
    })
    .join('\n')
  const charts = view.charts(rows).map(spec => chartSvg(spec, colors))
  return `<section id="kind-${kind}" class="kind">
<h2>${esc(view.title)}</h2>
<p class="intro">${esc(view.intro)}</p>
${legend(servers, colors)}
<div class="charts">${charts.join('\n')}</div>
<div class="scroll"><table class="data sortable"><thead><tr>${head}</tr></thead><tbody>
${body}
</tbody></table></div>
</section>`
}

function machineSection(h: HeaderRow | undefined, end: EndRow | undefined, cells: CellRow[]): string {
  if (!h) return ''
  const other = cells.flatMap(r => ('otherCpuPct' in r && r.otherCpuPct !== null ? [r.otherCpuPct] : []))
  const noisy = cells.filter(r => r.flags.some(f => f.kind === FlagKind.NOISE)).length
  const o = h.options
  const facts: Array<[string, string]> = [
    ['date', `${h.date.replace('T', ' ').slice(0, 19)} UTC${end ? `, ${Math.round(end.seconds)} s in all` : ''}`],
    ['command', `<code>${esc(h.command)}</code>`],
    ['CPUs', `${h.cpus} × ${esc(h.cpuModel)}`],
    ['memory', `${int(h.memoryMiB)} MiB`],
    ['system', `${esc(h.platform)}, kernel ${esc(h.kernel)}, Node ${esc(h.node)}`],
    ['open files', h.fdLimit ? `${h.fdLimit.soft ?? 'unlimited'} (hard ${h.fdLimit.hard ?? 'unlimited'})` : 'unknown'],
    ...(o.tls ? ([['transport', esc(tlsText(o.tls))]] as Array<[string, string]>) : []),
    ['each cell', `${o.durationMs / 1000} s measured after ${o.warmupMs / 1000} s warm-up${o.repeat > 1 ? `, median of ${o.repeat} runs` : ''}; a fresh server per run`],
    ['load average', `${h.loadAverage.join(' ')} at the start${end ? `; ${end.loadAverage.join(' ')} at the end` : ''}`],
    [
      'noise',
      other.length
        ? `the rest of the machine used ${fixed(median(other), 0)}% of a core in the median cell, ${fixed(Math.max(...other), 0)}% at most ` +
          `(flagged above ${o.maxNoisePct}%: ${noisy} of ${cells.length} cells)`
        : 'not measured',
    ],
  ]
  return `<section id="machine"><h2>The machine and its noise</h2>
<table class="facts-table">${facts.map(([k, v]) => `<tr><td>${k}</td><td>${v}</td></tr>`).join('')}</table>
<p class="intro">Server, load generator and everything else share these CPUs: "other CPU %" is what the rest of the machine used
during each cell's window, the noise meter. Figures taken with much of it are flagged; compare such cells with care.</p></section>`
}

function flagsSection(cells: CellRow[]): string {
  const flagged = cells.filter(r => r.flags.length)
  const list = flagged.length
    ? `<ul class="flags">${flagLines(cells)
        .map(l => `<li>${esc(l.what)}: <span class="kind">${esc(l.kind)}</span> ${esc(l.reason)}</li>`)
        .join('\n')}</ul>`
    : `<p class="ok">No cell is flagged: no errors, no lost or refused connections, no long ramp-up, no noise above the limit.</p>`
  return `<section id="flags"><h2>Flagged cells (${flagged.length} of ${cells.length})</h2>
<p class="intro">A flagged cell is one whose figures cannot be taken at face value: errors, connections lost or refused
(a thread cap's "server busy" is a refusal), a ramp-up longer than a message may take, or a busy machine. They are ringed
(dotted) in the charts and shaded in the tables, the reasons on hover.</p>
${list}</section>`
}

function compareSection(c: Comparison): string {
  const names = [...new Set(c.rows.flatMap(r => r.metrics.map(m => m.name)))]
  const when = c.old ? `${c.old.date.replace('T', ' ').slice(0, 16)} UTC, ${c.old.cpus} CPUs (${esc(c.old.cpuModel)}), Node ${esc(c.old.node)}` : 'no header'
  const head = `<th class="left">cell</th><th class="left">server</th>${names.map(n => `<th>${esc(n)} old → new</th><th>ratio</th>`).join('')}<th class="left">verdict</th>`
  const body = c.rows
    .map(r => {
      const tds = names
        .map(n => {
          const m = r.metrics.find(x => x.name === n)
          if (!m) return '<td>-</td><td>-</td>'
          const cls = m.verdict === 'regression' ? 'regression' : m.verdict === 'improvement' ? 'improvement' : ''
          return `<td>${esc(fixed(m.old, 2))} → ${esc(fixed(m.new, 2))}</td><td class="${cls}" title="noise band ±${Math.round(m.band * 100)}%">${esc(fixed(m.ratio, 2))}</td>`
        })
        .join('')
      const cls = r.verdict === 'regression' ? 'regression' : r.verdict === 'improvement' ? 'improvement' : ''
      return `<tr data-server="${esc(r.server)}"><td class="left">${esc(`${r.kind} ${r.label}`)}</td><td class="left">${esc(r.server)}</td>${tds}<td class="left ${cls}">${esc(r.verdict)}${r.flagged ? ' (flagged cell)' : ''}</td></tr>`
    })
    .join('\n')
  const regressions = c.rows.filter(r => r.verdict === 'regression').length
  return `<section id="compare"><h2>Compared with a saved run</h2>
<p class="intro">Saved run: <code>${esc(c.file)}</code> (${when}). Ratio = new / old. A change is a regression or an improvement only
beyond the noise band of both runs: the spread of their repeated runs, and never less than 10% (25% for p99). Regressions: ${regressions}.
${c.onlyOld.length || c.onlyNew.length ? `Not compared: ${c.onlyOld.length} only in the saved run, ${c.onlyNew.length} only in this one.` : ''}</p>
<div class="scroll"><table class="data sortable"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div></section>`
}

/** What a report is called and says first, when it is not the bench's (the lesson's). */
export interface ReportHeading {
  /** "selectloop lesson": the title, before the date. */
  title?: string
  /** A paragraph under the title: what the run is for. */
  lead?: string
}

/** The whole report as one HTML document. */
export function renderHtml(rows: BenchRow[], comparison: Comparison | null = null, files: { jsonl?: string } = {}, heading: ReportHeading = {}): string {
  const h = rows.find((r): r is HeaderRow => r.type === 'header')
  const end = rows.find((r): r is EndRow => r.type === 'end')
  const cells = rows.filter((r): r is CellRow => r.type === 'cell')
  const unavailable = rows.filter((r): r is UnavailableRow => r.type === 'unavailable')
  const colors = colorsFor(cells.map(r => r.server))
  const sections = KIND_ORDER.filter(k => cells.some(r => r.kind === k)).map(k => kindSection(k, cells.filter(r => r.kind === k), colors))
  const notes = [
    ...cells.flatMap(r => r.notes.map(n => `${rowName(r)}: ${n}`)),
    ...unavailable.map(u => `not available: ${u.server}: ${u.reason}`),
  ]
  const title = `${heading.title ?? 'selectloop bench'}${h ? `, ${h.date.slice(0, 16).replace('T', ' ')} UTC` : ''}`
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>${esc(title)}</h1>
${heading.lead ? `<p class="intro">${esc(heading.lead)}</p>` : ''}
<p class="facts">Echo servers side by side under the same loads: ${esc([...new Set(cells.map(r => r.server))].join(', '))}.
${files.jsonl ? `Every figure comes from <code>${esc(files.jsonl)}</code> (one JSON line per cell and server, every run whole).` : ''}</p></header>
${machineSection(h, end, cells)}
${flagsSection(cells)}
${sections.join('\n')}
${comparison ? compareSection(comparison) : ''}
${notes.length ? `<section id="notes"><h2>Notes</h2><ul>${notes.map(n => `<li>${esc(n)}</li>`).join('')}</ul></section>` : ''}
<script>${SCRIPT}</script>
</body>
</html>
`
}
