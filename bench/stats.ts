// The few statistics the bench takes over repeated runs of a cell.

/** Finite numbers of `values`, sorted. */
function finite(values: Array<number | null | undefined>): number[] {
  return values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
}

/** The median of the finite values, or null when there is none. */
export function median(values: Array<number | null | undefined>): number | null {
  const v = finite(values)
  if (v.length === 0) return null
  const mid = v.length >> 1
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

/** How far runs disagree: (max - min) / median of the finite values; null with fewer than 2 (or a median of 0). */
export function spread(values: Array<number | null | undefined>): number | null {
  const v = finite(values)
  const m = median(v)
  if (v.length < 2 || !m) return null
  return (v[v.length - 1] - v[0]) / m
}
