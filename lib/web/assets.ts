// The pages, scripts and style the web side serves: plain files in lib/web/static/, read once at
// start-up. tsc does not copy them into dist/, so the built program finds them in the source tree
// beside dist/ (both ship in the package); no front-end build step.
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export interface Asset {
  body: Buffer
  type: string
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
}

/** lib/web/static/, seen from this module whether it runs from lib/web/ or from dist/lib/web/. */
export function staticDir(moduleUrl = import.meta.url): string {
  const here = path.dirname(fileURLToPath(moduleUrl))
  const beside = path.join(here, 'static')
  if (existsSync(beside)) return beside
  // dist/lib/web → lib/web: the same path below the project's root, outside dist/.
  for (let dir = here; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    if (path.basename(dir) === 'dist') {
      const source = path.join(path.dirname(dir), path.relative(dir, here), 'static')
      if (existsSync(source)) return source
    }
  }
  throw new Error(`the web console's files are missing: no static/ beside ${here} nor in its source tree`)
}

/** Every file of the static directory by name (no subdirectories: nothing else can be asked for). */
export function loadAssets(dir = staticDir()): Map<string, Asset> {
  const assets = new Map<string, Asset>()
  for (const name of readdirSync(dir)) {
    const type = TYPES[path.extname(name)]
    if (type) assets.set(name, { body: readFileSync(path.join(dir, name)), type })
  }
  return assets
}
