// `selectloop load` in a process of its own, as the bench runs it: its own fd limit raised, the
// server's RSS and threads sampled every 200 ms meanwhile, bounded by a deadline, its JSON read back.
import { loadArgs, type LoadCommand } from './load-cli.js'
import { readStatus } from './proc.js'
import { RAISE_FD_LIMIT, bashWrapper, lastLine, outputTail } from './child.js'
import { spawnCli } from './cli-process.js'

export interface LoadProcessRun<R> {
  /** The parsed JSON report (without its `meta`: the bench's header carries the machine), or null. */
  result: R | null
  failure: string | null
  rssPeakKb: number | null
  threadsPeak: number | null
}

/**
 * Runs `selectloop load` for `command` (its JSON asked for) against the server with pid
 * `serverPid`; killed past `deadlineMs`. Never rejects: what went wrong is `failure`.
 */
export function runLoadProcess<R>(command: LoadCommand, serverPid: number, deadlineMs: number): Promise<LoadProcessRun<R>> {
  return new Promise(resolve => {
    const child = spawnCli(['load', ...loadArgs({ ...command, json: true })], { wrapper: bashWrapper(RAISE_FD_LIMIT) })
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', d => (stdout += d))
    const stderr = outputTail(child.stderr)
    let rssPeakKb: number | null = null
    let threadsPeak: number | null = null
    const sample = () => {
      const s = readStatus(serverPid)
      if (!s) return
      rssPeakKb = Math.max(rssPeakKb ?? 0, s.rssKb)
      threadsPeak = Math.max(threadsPeak ?? 0, s.threads)
    }
    const sampler = setInterval(sample, 200)
    let timedOut = false
    const killer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, deadlineMs)
    child.on('close', (code, signal) => {
      clearInterval(sampler)
      clearTimeout(killer)
      sample()
      let failure: string | null = null
      let result: R | null = null
      if (timedOut) failure = `the load generator did not finish within ${Math.round(deadlineMs / 1000)} s`
      else if (code !== 0 && code !== 1) {
        const last = lastLine(stderr())
        failure = `the load generator failed (${signal ?? `status ${code}`})${last ? `: ${last}` : ''}`
      } else {
        try {
          const { meta: _meta, ...rest } = JSON.parse(stdout) as { meta?: unknown }
          result = rest as R
        } catch {
          failure = `unreadable load report: ${stdout.slice(0, 200)}`
        }
      }
      resolve({ result, failure, rssPeakKb, threadsPeak })
    })
  })
}
