// "Did you mean ...?" for a mistyped command, option or choice: the known words closest to what
// was typed, by edit distance (a swapped pair of letters counts as one edit, as in `prot`/`port`).

/**
 * Returns the candidates closest to `typed` (several when they tie), or [] when none is close
 * enough to be a likely typo: at most one edit for short words, about one in three for longer.
 * A typed prefix of exactly one candidate (`--dur` for `--duration`) is also a match.
 */
export function closest(typed: string, candidates: readonly string[]): string[] {
  const word = typed.toLowerCase()
  if (word === '') return []
  const prefixed = candidates.filter(c => c.toLowerCase().startsWith(word))
  if (prefixed.length === 1) return prefixed
  const limit = Math.max(1, Math.floor(word.length / 3))
  let best = Infinity
  let found: string[] = []
  for (const candidate of candidates) {
    const d = editDistance(word, candidate.toLowerCase())
    if (d > limit || d > best) continue
    if (d < best) {
      best = d
      found = []
    }
    found.push(candidate)
  }
  return found
}

/** ` (did you mean --port?)`, or '' when there is nothing to suggest. */
export function didYouMean(typed: string, candidates: readonly string[], prefix = ''): string {
  const found = closest(typed, candidates)
  if (found.length === 0) return ''
  const words = found.map(w => prefix + w)
  const list = words.length === 1 ? words[0] : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`
  return ` (did you mean ${list}?)`
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
export function editDistance(a: string, b: string): number {
  const x = [...a]
  const y = [...b]
  // Three rows are enough: the swap looks two rows back.
  let prev2: number[] = []
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j)
  for (let i = 1; i <= x.length; i++) {
    const row = [i]
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1
      let d = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) d = Math.min(d, prev2[j - 2] + 1)
      row.push(d)
    }
    prev2 = prev
    prev = row
  }
  return prev[y.length]
}
