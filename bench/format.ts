// How the bench's figures are written, the same in the table, the charts and the HTML report.

/** 64 B, 1 KiB, 16 KiB, 1 MiB. */
export function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / 1024 / 1024} MiB`
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`
  return `${bytes} B`
}

/** 32,410 (null: '-'). */
export const int = (n: number | null | undefined): string => (n == null ? '-' : Math.round(n).toLocaleString('en-US'))

/** A fixed number of decimals (null: '-'). */
export const fixed = (n: number | null | undefined, digits: number): string => (n == null ? '-' : n.toFixed(digits))

/** A latency in ms with 3 significant figures or so: 0.27, 4.69, 15.6, 212 (null: '-'). */
export const latency = (n: number | null | undefined): string =>
  n == null ? '-' : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : Math.round(n).toString()

/** KiB as MiB with one decimal (null: '-'). */
export const mib = (kb: number | null | undefined): string => (kb == null ? '-' : (kb / 1024).toFixed(1))

/** 1.2k, 3.4M: an axis label. */
export function compact(n: number): string {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(2)}M`
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`
  return String(+n.toFixed(3))
}
