// examples/: the echo server of Python's selectors documentation and our line-for-line twin, with
// a selector echo client in each language. Each server is started as its user would start it,
// echoes lines from both clients, and is stopped.
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { builtSibling } from '../lib/built.js'
import { PYTHON, pythonExecutable } from '../bench/peers.js'
import { startCommandServer, type ServerProcess } from './helpers/process.js'
import { freePort } from './helpers/net.js'
import { findCommand, requireCommand } from './helpers/system.js'

const built = (name: string) => fileURLToPath(builtSibling(import.meta.url, `../examples/${name}`))
const source = (name: string) => fileURLToPath(new URL(`../examples/${name}`, import.meta.url))

const OURS = { server: [process.execPath, built('selectors-echo.js')], client: [process.execPath, built('selectors-echo-client.js')] }
// -u: the server's prints reach the pipe as they happen (the test reads them)
const PYTHONS = { server: [pythonExecutable(), '-u', source('selectors_echo.py')], client: [pythonExecutable(), source('selectors_echo_client.py')] }

const MESSAGES = ['hola', 'qué tal, señor 😀']

function runClient(command: string[], port: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [file, ...args] = command
  return new Promise(resolve => {
    execFile(file, [...args, String(port), ...MESSAGES], { encoding: 'utf8', timeout: 15_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    )
  })
}

async function startExample(t: Test, command: string[]): Promise<ServerProcess> {
  const server = await startCommandServer([...command, '0'])
  t.teardown(() => server.stop())
  t.equal(server.host, '127.0.0.1', 'it listens on localhost, on the port the system chose')
  return server
}

/** Each client in `clients` echoes MESSAGES through the server; the server says what it did. */
async function echoes(t: Test, server: ServerProcess, clients: Record<string, string[]>): Promise<void> {
  for (const [name, command] of Object.entries(clients)) {
    const since = server.mark()
    const { code, stdout, stderr } = await runClient(command, server.port)
    t.equal(code, 0, `${name} client: exit 0 ${stderr.trim()}`)
    t.equal(stdout, MESSAGES.map(m => `${m}\n`).join(''), `${name} client: every line came back`)
    await server.waitForOutput(/accepted [\s\S]*echoing [\s\S]*closing /, 10_000, since)
    t.pass(`the server printed accepted, echoing, closing for the ${name} client`)
  }
}

t.test('ours: examples/selectors-echo.ts echoes examples/selectors-echo-client.ts', async t => {
  const server = await startExample(t, OURS.server)
  await echoes(t, server, { ours: OURS.client })
})

t.test("Python's: examples/selectors_echo.py, and each language's client against the other's server", async t => {
  if (!requireCommand(t, PYTHON, 'the Python examples')) return
  const python = await startExample(t, PYTHONS.server)
  await echoes(t, python, { Python: PYTHONS.client, ours: OURS.client })
  const ours = await startExample(t, OURS.server)
  await echoes(t, ours, { Python: PYTHONS.client })
})

t.test('the clients say in one line when nobody is listening', async t => {
  const port = await freePort()
  const ours = await runClient(OURS.client, port)
  t.equal(ours.code, 1)
  t.equal(ours.stderr, 'echo client: ECONNREFUSED\n')
  if (!findCommand(PYTHON)) return // the test above said SKIPPED
  const python = await runClient(PYTHONS.client, port)
  t.equal(python.code, 1)
  t.equal(python.stderr, 'echo client: Connection refused\n')
})
