// The built JavaScript of a module. Some files must run as plain .js: worker-thread entries (Node 20
// cannot strip types) and the CLI that tests and benchmarks start as a process. At run time
// everything already comes from tsc's output (dist/), but tests load the sources through tap's
// TypeScript loader, where import.meta.url ends in .ts: map such a URL to the same file under dist/.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

/** `moduleUrl` itself when it is already built JavaScript, else its twin under <project>/dist/. */
export function builtUrl(moduleUrl: string | URL): URL {
  const url = new URL(moduleUrl)
  if (!/\.[mc]?ts$/.test(url.pathname)) return url
  const file = fileURLToPath(url)
  let root = path.dirname(file)
  while (!existsSync(path.join(root, 'tsconfig.json'))) {
    const up = path.dirname(root)
    if (up === root) throw new Error(`no tsconfig.json above ${file}: cannot find the build output`)
    root = up
  }
  const js = path.join(root, 'dist', path.relative(root, file)).replace(/\.([mc]?)ts$/, '.$1js')
  return pathToFileURL(js)
}

/**
 * The built URL of a module next to the caller: `builtSibling(import.meta.url, './worker.js')`.
 * Works the same whether the caller runs from dist/ or from its .ts source.
 */
export function builtSibling(callerUrl: string, relative: string): URL {
  return new URL(relative, builtUrl(callerUrl))
}
