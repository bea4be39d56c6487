// What a selector can watch. Python's selectors watch file descriptors and ask the kernel;
// here every watchable object keeps its own readiness state (flipped by Node's events) and
// tells the selectors watching it when that state may have changed.

export const EVENT_READ = 1
export const EVENT_WRITE = 2
/** Every event bit the contract knows; any other bit in a mask is a ValueError. */
export const ALL_EVENTS = EVENT_READ | EVENT_WRITE

/** Implemented by selectors: told when a watched object's readiness may have changed. */
export interface ReadinessWatcher {
  readinessChanged(fileobj: Selectable): void
}

export abstract class Selectable {
  /** Selectors this object is registered with (almost always zero or one). */
  private watchers: ReadinessWatcher[] = []

  /**
   * The events this object is ready for right now, as a mask of EVENT_READ | EVENT_WRITE.
   * Computed from state, never cached: this is what makes the selector level-triggered.
   */
  abstract readiness(): number

  /** True once closed on our side; a closed object cannot be registered. */
  abstract get closed(): boolean

  /** @internal Called by a selector on register. */
  addWatcher(watcher: ReadinessWatcher): void {
    this.watchers.push(watcher)
  }

  /** @internal Called by a selector on unregister. */
  removeWatcher(watcher: ReadinessWatcher): void {
    const i = this.watchers.indexOf(watcher)
    if (i >= 0) this.watchers.splice(i, 1)
  }

  /** Subclasses call this whenever readiness may have changed (data, EOF, drain, error, ...). */
  protected changed(): void {
    const watchers = this.watchers
    for (let i = 0; i < watchers.length; i++) watchers[i].readinessChanged(this)
  }
}
