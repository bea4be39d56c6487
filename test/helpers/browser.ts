// A real browser for the web suites: Debian's Chromium driven by playwright-core (never a
// browser download), headless, with a fresh profile per launch.
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Test } from 'tap'
import { chromium, type BrowserContext } from 'playwright-core'
import { requireCommand } from './system.js'

/** The flags this machine needs: no sandbox as root, no GPU, and no calls home (the network is closed). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/**
 * Launches headless Chromium with a fresh user-data dir, closed (and the dir removed) when `t`
 * ends. Null when Chromium is missing (the suite is then SKIPPED, see system.ts).
 */
export async function launchBrowser(t: Test): Promise<BrowserContext | null> {
  const executablePath = requireCommand(t, 'chromium', 'the browser tests')
  if (!executablePath) return null
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'selectloop-chromium-'))
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
  })
  t.teardown(async () => {
    await context.close().catch(() => {})
    rmSync(userDataDir, { recursive: true, force: true })
  })
  return context
}
