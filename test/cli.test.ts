// The command line itself: --version, help COMMAND, "did you mean" for a mistyped command, option
// or choice, and negative numbers that get their range message. The built program, as a user runs it.
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { CLI } from './helpers/process.js'
import { closest, didYouMean, editDistance } from '../lib/cli/suggest.js'
import { parseCommandArgs, UsageError } from '../lib/cli/args.js'

const COMMANDS = ['echo', 'chat', 'client', 'bench', 'load', 'soak']

interface Ran {
  status: number | null
  stdout: string
  stderr: string
}

/** Runs the built program to its end (stdin closed), resolving with its exit status and output. */
function run(...args: string[]): Promise<Ran> {
  return new Promise(resolve => {
    const child = execFile(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? ((err as { code?: unknown }).code as number | null) : 0, stdout, stderr })
    })
    child.stdin?.end()
  })
}

/** Runs every command line at once: each is a process start, independent of the others. */
const runAll = (lines: string[][]) => Promise.all(lines.map(args => run(...args)))

t.test('--version and -V print the version in package.json', async t => {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  const flags = ['--version', '-V']
  const results = await runAll(flags.map(flag => [flag]))
  results.forEach((r, i) => {
    t.equal(r.status, 0, flags[i])
    t.equal(r.stdout, `selectloop ${version}\n`, flags[i])
    t.equal(r.stderr, '', flags[i])
  })
})

t.test('help: the list of commands; help COMMAND is COMMAND --help', async t => {
  const lists = [[], ['help'], ['--help'], ['-h'], ['help', 'help']]
  ;(await runAll(lists)).forEach((r, i) => {
    t.equal(r.status, 0, `selectloop ${lists[i].join(' ')}`)
    t.match(r.stdout, /^usage: selectloop <command> \[options\]\n/)
    for (const name of [...COMMANDS, 'help']) t.match(r.stdout, new RegExp(`^  ${name} +\\S`, 'm'), `${name} is listed`)
    t.match(r.stdout, /--version/)
  })
  const viaHelp = await runAll(COMMANDS.map(name => ['help', name]))
  const viaFlag = await runAll(COMMANDS.map(name => [name, '--help']))
  COMMANDS.forEach((name, i) => {
    t.equal(viaHelp[i].status, 0, `help ${name}`)
    t.match(viaHelp[i].stdout, new RegExp(`^usage: selectloop ${name}`), `help ${name} is ${name}'s usage`)
    t.equal(viaHelp[i].stdout, viaFlag[i].stdout, `help ${name} prints what ${name} --help prints`)
  })
  const [a, b] = await runAll([['help', 'client', 'chat'], ['client', 'chat', '--help']])
  t.equal(a.stdout, b.stdout, 'help client chat')
})

t.test('a mistyped command: did you mean ...?', async t => {
  const typos = [['eco', 'echo'], ['chta', 'chat'], ['bnech', 'bench'], ['soka', 'soak'], ['clinet', 'client']]
  ;(await runAll(typos.map(([typed]) => [typed]))).forEach((r, i) => {
    const [typed, meant] = typos[i]
    t.equal(r.status, 2, typed)
    t.equal(r.stdout, '')
    t.equal(r.stderr, `selectloop: unknown command '${typed}' (did you mean ${meant}?)\nRun 'selectloop help' for the list of commands.\n`)
  })
  const [help, far, client] = await runAll([['help', 'eco'], ['frobnicate'], ['client', 'ecoh']])
  t.match(help.stderr, /^selectloop: unknown command 'eco' \(did you mean echo\?\)/, 'help eco too')
  t.equal(far.status, 2)
  t.match(far.stderr, /^selectloop: unknown command 'frobnicate'\n\nusage: selectloop <command>/, 'nothing close: the whole usage')
  t.notMatch(far.stderr, /did you mean/)
  t.equal(client.status, 2)
  t.match(client.stderr, /^selectloop: unknown client 'ecoh' \(did you mean echo\?\)\n/)
})

t.test('a mistyped option: did you mean --...?, for every command', async t => {
  const cases: Array<[string[], string]> = [
    [['echo', '--prot', '9000'], "Unknown option '--prot' (did you mean --port?)"],
    [['chat', '--max-nmae', '9'], "Unknown option '--max-nmae' (did you mean --max-name?)"],
    [['chat', '--quite'], "Unknown option '--quite' (did you mean --quiet?)"],
    [['client', 'chat', '--nmae', 'ana'], "Unknown option '--nmae' (did you mean --name?)"],
    [['load', '--target', '127.0.0.1:1', '--con', '5'], "Unknown option '--con' (did you mean --conns?)"],
    [['bench', '--modles', 'net'], "Unknown option '--modles' (did you mean --models?)"],
    [['soak', '--duratoin', '9'], "Unknown option '--duratoin' (did you mean --duration?)"],
    [['echo', '--max-thread', '9'], "Unknown option '--max-thread' (did you mean --max-threads?)"],
    [['echo', '--colour'], "Unknown option '--colour'"],
    [['echo', '-x'], "Unknown option '-x'"],
  ]
  ;(await runAll(cases.map(([args]) => args))).forEach((r, i) => {
    const [args, message] = cases[i]
    t.equal(r.status, 2, args.join(' '))
    t.equal(r.stderr.split('\n')[0], `selectloop: ${message}`, args.join(' '))
    t.match(r.stderr, /\nusage: selectloop /, 'then the usage')
  })
  const [model, framing] = await runAll([['echo', '--model', 'thread'], ['chat', '--framing', 'lines']])
  t.match(model.stderr, /^selectloop: --model must be one of selector, threads, net, got 'thread' \(did you mean threads\?\)\n/)
  t.match(framing.stderr, /got 'lines' \(did you mean line\?\)\n/)
})

t.test('a negative number gets the range message, not a parser complaint', async t => {
  const cases: Array<[string[], string]> = [
    [['echo', '--port', '-1'], '--port must be between 0 and 65535, got -1'],
    [['chat', '--port', '-8070'], '--port must be between 0 and 65535, got -8070'],
    [['client', 'chat', '--port', '-1'], '--port must be between 0 and 65535, got -1'],
    [['client', 'echo', '--port', '-1'], '--port must be between 0 and 65535, got -1'],
    [['chat', '--idle-timeout', '-0.5'], '--idle-timeout must be between 0 and 86400, got -0.5'],
    [['chat', '--max-line', '-16'], '--max-line must be between 16 and 16777216, got -16'],
    [['echo', '--max-conns', '-3'], '--max-conns must be between 1 and 1000000, got -3'],
    [['load', '--target', '127.0.0.1:1', '--conns', '-5'], '--conns must be between 1 and 1000000, got -5'],
    [['bench', '--duration', '-1'], '--duration must be between 0.1 and 3600, got -1'],
    [['soak', '--hostile', '-2'], '--hostile must be between 0 and 100, got -2'],
  ]
  ;(await runAll(cases.map(([args]) => args))).forEach((r, i) => {
    const [args, message] = cases[i]
    t.equal(r.status, 2, args.join(' '))
    t.equal(r.stderr, `selectloop: ${message}\n`, args.join(' '))
  })
  // A value that is not a number stays the parser's error: it may well be a forgotten value.
  const [dash] = await runAll([['client', 'chat', '--name', '-ana']])
  t.equal(dash.status, 2)
  t.match(dash.stderr, /^selectloop: Option '--name' argument is ambiguous\./)
})

t.test("README's command reference is the program's own --help", async t => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  const blocks = [...readme.matchAll(/<!-- help: selectloop([^>]*?) -->\n```text\n([\s\S]*?)```/g)]
  const documented = blocks.map(([, args]) => args.trim().split(/\s+/)[0])
  for (const name of ['--help', ...COMMANDS]) t.ok(documented.includes(name), `README documents ${name === '--help' ? 'selectloop' : name}`)
  const results = await runAll(blocks.map(([, args]) => args.trim().split(/\s+/)))
  blocks.forEach(([, args, text], i) => {
    t.equal(results[i].status, 0, `selectloop${args}`)
    t.equal(text, results[i].stdout, `README's selectloop${args} (if the program changed: make readme-help)`)
  })
})

t.test('parseCommandArgs: negative values joined only where a string option takes them', async t => {
  const options = { port: { type: 'string', short: 'p' }, json: { type: 'boolean' } } as const
  const parse = (...argv: string[]) => parseCommandArgs(argv, options, 'usage: test', true)
  t.same(parse('--port', '-1')?.values, { port: '-1' })
  t.same(parse('-p', '-1.5')?.values, { port: '-1.5' })
  t.same(parse('--port=-2')?.values, { port: '-2' })
  const after = parse('--port', '1', '--', '--port', '-1')
  t.same(after?.values, { port: '1' })
  t.same(after?.positionals, ['--port', '-1'], 'after -- nothing is touched')
  t.throws(() => parse('--json', '-1'), UsageError, 'a boolean takes no value: -1 is still an unknown option')
  t.throws(() => parse('--prot', '1'), { message: /^Unknown option '--prot' \(did you mean --port\?\)\nusage: test$/ })
})

t.test('closest: likely typos only', async t => {
  t.equal(editDistance('prot', 'port'), 1, 'a swap is one edit')
  t.equal(editDistance('eco', 'echo'), 1)
  t.equal(editDistance('ñandú', 'nandu'), 2, 'letters, not UTF-16 units')
  t.same(closest('prot', ['port', 'pool', 'host']), ['port'])
  t.same(closest('PORT', ['port']), ['port'], 'case does not count')
  t.same(closest('dur', ['duration', 'warmup']), ['duration'], 'a prefix of exactly one')
  t.same(closest('max', ['max-line', 'max-name']), [], 'a prefix of several, too far from each')
  t.same(closest('max-nme', ['max-line', 'max-name']), ['max-name'])
  t.same(closest('max-lin', ['max-line', 'max-lint']), ['max-line', 'max-lint'], 'ties are all given')
  t.same(closest('colour', ['port', 'model', 'host']), [])
  t.same(closest('', ['port']), [])
  t.equal(didYouMean('max-lin', ['max-line', 'max-lint'], '--'), ' (did you mean --max-line or --max-lint?)')
  t.equal(didYouMean('zzz', ['port']), '')
})
