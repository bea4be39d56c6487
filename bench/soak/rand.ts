// The soak's randomness: which sizes, how long a client stays, how it leaves.

/** An integer in [min, max]. */
export function randInt(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1))
}

/** True with probability p. */
export function chance(p: number): boolean {
  return Math.random() < p
}

export function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]
}
