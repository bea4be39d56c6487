// The web side in a real browser (Debian's Chromium through playwright-core), found by what a
// person and a screen reader find: the `Name` and `Message` boxes, the `Conversation` region, the
// `Clients` list. Per chat model: a browser user and TCP clients talk both ways; the console
// lists the clients, shows the conversation, speaks to all, /msg and /kick; the live view changes
// when a client connects; a client named <b>x</b> reads <b>x</b>; no token, no console.
import t, { type Test } from 'tap'
import type { BrowserContext, Page } from 'playwright-core'
import { launchBrowser } from './helpers/browser.js'
import { connectChat, joinChat, sleep } from './helpers/chat.js'
import { startWithWeb } from './helpers/web.js'

const MODELS = ['selector', 'threads'] as const

const context = await launchBrowser(t)

/** Script errors and CSP violations reported by the pages a test opened; none is expected. */
const problems: string[] = []

/** A page, closed when `tt` ends; what goes wrong in its scripts lands in `problems`. */
async function openPage(tt: Test, ctx: BrowserContext, url: string): Promise<Page> {
  const page = await ctx.newPage()
  const where = new URL(url).pathname
  page.on('pageerror', e => problems.push(`${where}: page error: ${e.message}`))
  page.on('console', m => {
    if (m.type() === 'error') problems.push(`${where}: console error: ${m.text()}`)
  })
  tt.teardown(() => page.close().catch(() => {}))
  await page.goto(url)
  return page
}

/** Waits until `check()` resolves true, asking every 50 ms; rejects saying `what` after `timeoutMs`. */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await check()); await sleep(50)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
  }
}

if (context) {
  for (const model of MODELS) {
    t.test(`the chat and its console in a browser (${model})`, async t => {
      const server = await startWithWeb(t, 'chat', ['--model', model, '--no-console'])
      const ana = await joinChat(server.port, 'ana')

      // A browser user joins and talks with a TCP client, both ways.
      const chat = await openPage(t, context, `${server.base}/`)
      const conversation = chat.getByRole('region', { name: 'Conversation' })
      await chat.getByLabel('Name').fill('web1')
      await chat.getByLabel('Name').press('Enter')
      await conversation.getByText(/^welcome web1, 2 here now/).waitFor()
      await ana.next(/^web1 joined$/)
      ana.say('hola desde nc')
      await conversation.getByText('ana: hola desde nc', { exact: true }).waitFor()
      await chat.getByLabel('Message').fill('hola desde el navegador')
      await chat.getByLabel('Message').press('Enter')
      await ana.next(/^web1: hola desde el navegador$/)

      // A name that is markup reads as text, wherever it is shown.
      const x = await connectChat(server.port)
      x.say('<b>x</b>')
      await x.next(/^welcome <b>x<\/b>, 3 here now/)
      x.say('<i>hi</i>')
      await conversation.getByText('<b>x</b>: <i>hi</i>', { exact: true }).waitFor()
      t.equal(await chat.locator('#conversation b, #conversation i').count(), 0, 'no markup made from what a client wrote')

      // The operator's window: the clients, the conversation, the live view.
      const consolePage = await openPage(t, context, server.consoleUrl)
      const clients = consolePage.getByRole('list', { name: 'Clients' })
      await clients.getByText('<b>x</b>', { exact: true }).waitFor()
      await clients.getByText('ana', { exact: true }).waitFor()
      const web1 = clients.getByRole('listitem').filter({ hasText: 'web1' })
      await web1.getByText('web', { exact: true }).waitFor() // the browser user is marked as such
      t.match(await web1.textContent(), /CHATTING/)
      t.equal(await clients.locator('b, i').count(), 0, 'markup in a name stays text in the console')
      const room = consolePage.getByRole('region', { name: 'Conversation' })
      await room.getByText('web1: hola desde el navegador').waitFor()
      await room.getByText('<b>x</b>: <i>hi</i>').waitFor()

      // The live view changes when a client connects (nc-style: connected, no name yet).
      const count = async () =>
        model === 'selector'
          ? consolePage.getByRole('table', { name: 'Registered keys' }).getByRole('row').count()
          : Number(await consolePage.locator('#threads-live').textContent())
      const before = await count()
      const newcomer = await connectChat(server.port)
      t.teardown(() => newcomer.socket.destroy())
      let after = before
      await eventually(async () => (after = await count()) > before, 'the live view to change')
      t.ok(after > before, `the ${model === 'selector' ? 'registered keys' : 'live threads'} went from ${before} to ${after}`)
      await clients.getByRole('listitem').filter({ hasText: 'AWAITING_NAME' }).waitFor()
      if (model === 'selector') await consolePage.getByRole('table', { name: 'Registered keys' }).getByText('listening on', { exact: false }).waitFor()
      else await consolePage.getByText('The client-list lock').waitFor()

      // The operator speaks to everyone, whispers, asks who is here, kicks.
      const message = consolePage.getByLabel('Message')
      await message.fill('hello class')
      await message.press('Enter')
      await ana.next(/^\[server\] hello class$/)
      await conversation.getByText('[server] hello class', { exact: true }).waitFor()
      const answers = consolePage.getByRole('region', { name: 'Console answers' })
      await message.fill('/msg ana psst')
      await message.press('Enter')
      await ana.next(/^\[server\] \(private\): psst$/)
      await answers.getByText('sent to ana', { exact: true }).waitFor()
      await message.fill('/who')
      await message.press('Enter')
      await answers.getByText('here now (3): ana, web1, <b>x</b>', { exact: true }).waitFor()
      await message.fill('/kick web1')
      await message.press('Enter')
      await answers.getByText('kicked web1', { exact: true }).waitFor()
      await conversation.getByText('you were removed from the chat by the operator').waitFor()
      await ana.next(/^web1 left$/)
      await chat.getByText(/You left the chat/).waitFor()
      t.ok(await chat.getByLabel('Name').isEnabled(), 'the kicked browser user may join again')
      t.notOk(await chat.getByLabel('Message').isEnabled(), 'but says nothing until then')
      t.notOk(chat.url().includes('token'), 'the chat page never sees the token')
      t.same(problems.splice(0), [], 'no script error nor CSP violation in the pages')
    })
  }

  t.test('no token, no console', async t => {
    const server = await startWithWeb(t, 'echo', [])
    const page = await context.newPage()
    t.teardown(() => page.close())
    for (const [url, status] of [
      [`${server.base}/console`, 401],
      [`${server.base}/console?token=not-the-token`, 403],
    ] as const) {
      const response = await page.goto(url)
      t.equal(response?.status(), status, `${new URL(url).search || 'no token'}: ${status}`)
      t.equal(await page.getByRole('list', { name: 'Clients' }).count(), 0, 'no console in it')
    }
  })
}
