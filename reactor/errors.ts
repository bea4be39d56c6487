// The errors of the selector contract, named after the Python exceptions they stand for, so that
// code ported from Python's `selectors` keeps its `except ValueError` / `except KeyError` branches.

/** A bad argument: events of 0 or with unknown bits, or a closed/destroyed object. */
export class ValueError extends Error {
  override name = 'ValueError'
}

/** A registration that is missing (unregister/getKey of an unknown object) or already present. */
export class KeyError extends Error {
  override name = 'KeyError'
}

/** Any call on a selector after close(); Python raises RuntimeError('Selector is closed'). */
export class SelectorClosedError extends Error {
  override name = 'SelectorClosedError'
  constructor() {
    super('selector is closed')
  }
}

/** An error with an errno-style code, like the ones Node's own sockets raise. */
export function systemError(code: string, message: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: ${message}`)
  err.code = code
  return err
}
