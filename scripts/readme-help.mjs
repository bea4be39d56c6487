#!/usr/bin/env node
// Rewrites README.md's command reference from the built program: each block marked
//   <!-- help: selectloop ARGS -->
//   ```text
//   ...
//   ```
// gets what `node dist/bin/selectloop.js ARGS` prints. Run after `make build` (`make readme-help`).
// test/cli.test.ts fails when a block differs from the program's own text.
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const README = fileURLToPath(new URL('../README.md', import.meta.url))
const CLI = fileURLToPath(new URL('../dist/bin/selectloop.js', import.meta.url))
const BLOCK = /(<!-- help: selectloop([^>]*?) -->\n```text\n)[\s\S]*?(```)/g

const before = readFileSync(README, 'utf8')
let count = 0
const after = before.replace(BLOCK, (_, head, args, fence) => {
  count++
  const text = execFileSync(process.execPath, [CLI, ...args.trim().split(/\s+/).filter(Boolean)], { encoding: 'utf8' })
  return head + text + fence
})
if (after !== before) writeFileSync(README, after)
process.stdout.write(`README.md: ${count} help blocks, ${after === before ? 'already up to date' : 'rewritten'}\n`)
