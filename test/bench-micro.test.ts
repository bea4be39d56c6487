// The micro-benchmarks still run (a smoke test with a tiny time budget): a suite that breaks when
// the reactor or the chat framing changes shows here, not first in `make bench-micro`.
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { builtUrl } from '../lib/built.js'

const MICRO = fileURLToPath(builtUrl(new URL('../bench/micro/index.ts', import.meta.url)))

t.test('every suite runs and prints its table', async t => {
  const child = spawn(process.execPath, [MICRO, '--time', '10'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', d => (out += d))
  child.stderr.setEncoding('utf8').on('data', d => (err += d))
  const [code] = await once(child, 'close')
  t.equal(code, 0, err)
  for (const suite of ['selector', 'echo-step', 'framing', 'load-verify']) t.match(out, new RegExp(`^## ${suite}: `, 'm'), suite)
  t.match(out, /ready-list: 100 ready of 10,000 .* per ready key/)
})

t.test('an unknown suite is an error', async t => {
  const child = spawn(process.execPath, [MICRO, 'nope'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr.setEncoding('utf8').on('data', d => (err += d))
  const [code] = await once(child, 'close')
  t.equal(code, 1)
  t.match(err, /unknown suite nope/)
})
