// The operator's window: one WebSocket to /console/feed (with the page's token) brings a sample of
// the server a few times a second; each is acknowledged, so a page that falls behind is sent the
// latest picture rather than a backlog. The message box speaks as the operator's console.
import { appendKept, bytes, clock, el, socketUrl } from './common.js'

const $ = id => document.getElementById(id)
const token = new URLSearchParams(location.search).get('token') ?? ''
const MAX_CONVERSATION = 500
const MAX_EVENTS = 200
const MAX_ANSWERS = 100
const SPARK_POINTS = 120

let socket = null
let retryMs = 1000
const history = []

function setStatus(text) {
  $('status').textContent = text
}

function connect() {
  socket = new WebSocket(socketUrl(`/console/feed?token=${encodeURIComponent(token)}`))
  socket.addEventListener('open', () => {
    retryMs = 1000
    setStatus('Live')
  })
  socket.addEventListener('message', event => {
    let m
    try {
      m = JSON.parse(event.data)
    } catch {
      return
    }
    switch (m.type) {
      case 'hello':
        return hello(m)
      case 'sample':
        render(m)
        socket.send(JSON.stringify({ type: 'ack', seq: m.seq }))
        return
      case 'answer':
        return answer(m.text)
    }
  })
  socket.addEventListener('close', event => {
    socket = null
    const why = event.reason || 'connection lost'
    if (event.code === 1008 && why === 'wrong token') return setStatus('Refused: wrong token.')
    setStatus(`Disconnected (${why}); trying again…`)
    setTimeout(connect, retryMs)
    retryMs = Math.min(retryMs * 2, 15000)
  })
}

function hello(m) {
  $('title').textContent = `selectloop ${m.protocol}`
  document.title = `selectloop ${m.protocol} console`
  $('talk-panel').hidden = !m.operator
  document.querySelector('main').classList.toggle('no-talk', !m.operator)
  $('subtitle').textContent = `${m.model} model`
  $('loop-heading').textContent = m.model === 'threads' ? 'The threads' : m.model === 'net' ? "Node's loop" : 'The loop'
}

function render(m) {
  const s = m.sample
  $('subtitle').textContent = `${s.model} model · ${s.address} · up ${duration(s.uptimeSeconds)}`
  renderClients(s.clients)
  renderLoop(s)
  for (const line of m.conversation.lines) appendKept($('conversation-lines'), timed(line, line.text.startsWith('[server]') ? 'server' : ''), MAX_CONVERSATION, $('conversation'))
  if (m.conversation.skipped) appendKept($('conversation-lines'), el('li', `(${m.conversation.skipped} lines not shown)`, 'notice'), MAX_CONVERSATION, $('conversation'))
  const events = $('events')
  if (m.events.skipped) appendKept(events, el('li', `(${m.events.skipped} more events, too fast to show)`, 'notice'), MAX_EVENTS, events)
  for (const line of m.events.lines) appendKept(events, timed(line), MAX_EVENTS, events)
}

function timed(line, className) {
  const item = el('li', null, className)
  item.append(el('time', clock(line.at)), ' ', el('span', line.text))
  return item
}

function renderClients(clients) {
  $('client-count').textContent = `(${clients.count})`
  const list = $('clients')
  const items = clients.listed.map(c => {
    const item = el('li', null, 'client')
    const head = el('div', null, 'client-head')
    head.append(el('strong', c.name ?? c.peer, 'who'))
    if (c.web) head.append(el('span', 'web', 'badge web'))
    head.append(el('span', c.state || '—', `badge state state-${(c.state || 'none').toLowerCase()}`))
    const parts = []
    if (c.name) parts.push(c.peer)
    parts.push(`in ${bytes(c.bytesIn)}`, `out ${bytes(c.bytesOut)}`, `queued ${bytes(c.queued)}`)
    if (c.partialSends) parts.push(`${c.partialSends} partial sends`)
    if (c.fd !== null || c.interest !== null) parts.push(`fd ${c.fd ?? '–'} ${c.interest ?? ''}`.trim())
    if (c.thread !== null) parts.push(`thread ${c.thread}`)
    item.append(head, el('div', parts.join(' · '), 'client-detail'))
    return item
  })
  list.replaceChildren(...items)
  const more = clients.count - clients.listed.length
  $('clients-more').textContent = more > 0 ? `and ${more} more` : clients.count === 0 ? 'Nobody connected. Try: nc HOST PORT' : ''
}

function renderLoop(s) {
  const loop = s.loop
  $('loop-stats').hidden = !loop
  $('spark').toggleAttribute('hidden', !loop) // an SVG element has no .hidden property
  $('keys').hidden = !loop
  $('threads').hidden = !s.threads
  $('no-loop').hidden = Boolean(loop || s.threads)
  if (!loop && !s.threads) $('no-loop').textContent = "The net model runs on Node's own event loop (libuv's epoll): no select loop of ours to show."
  if (loop) {
    $('rounds').textContent = loop.roundsPerSecond
    $('ready').textContent = loop.readyPerRound
    $('ready-max').textContent = `(at most ${loop.readyMax})`
    $('busy').textContent = loop.busyPercent
    history.push(loop.roundsPerSecond)
    if (history.length > SPARK_POINTS) history.shift()
    const max = Math.max(1, ...history)
    const points = history.map((v, i) => `${(i * 240) / (SPARK_POINTS - 1)},${40 - (v / max) * 38 - 1}`)
    $('spark-line').setAttribute('points', points.join(' '))
    const rows = loop.keys.map(k => {
      const row = el('tr', null, `key kind-${k.kind} interest-${k.interest.toLowerCase()}`)
      row.append(el('td', k.fd), el('td', k.interest, 'interest'), el('td', k.who), el('td', k.state))
      return row
    })
    $('keys-body').replaceChildren(...rows)
    const more = loop.keyCount - loop.keys.length
    $('keys-more').textContent = more > 0 ? `and ${more} more registrations` : ''
  }
  if (s.threads) {
    const t = s.threads
    $('threads-live').textContent = t.live
    $('threads-busy').textContent = t.busy
    $('threads-parked').textContent = t.parked
    $('threads-starting').textContent = t.starting || t.exiting ? `(${t.starting} starting, ${t.exiting} exiting)` : ''
    $('lock').hidden = !t.lock
    if (t.lock) {
      const l = t.lock
      $('lock-now').textContent =
        `${l.held ? 'held' : 'free'} now · taken ${l.acquiredPerSecond} times a second, ${l.contendedPerSecond} of them after a wait · ` +
        `${l.waitedMsPerSecond} ms spent waiting per second`
      $('lock-total').textContent =
        `since the start: taken ${l.acquired} times, ${l.contended} after a wait (${l.waitedMs} ms in all, the longest ${l.longestWaitMs} ms)`
    }
  }
}

function answer(text) {
  appendKept($('answers'), el('li', text), MAX_ANSWERS)
}

function duration(seconds) {
  const h = Math.floor(seconds / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = seconds % 60
  return h ? `${h} h ${m} min` : m ? `${m} min ${s} s` : `${s} s`
}

$('say').addEventListener('submit', event => {
  event.preventDefault()
  const box = $('message')
  const text = box.value
  if (!text.trim() || !socket || socket.readyState !== WebSocket.OPEN) return
  socket.send(JSON.stringify({ type: 'say', token, text }))
  if (text.trimStart().startsWith('/')) answer(`› ${text}`)
  box.value = ''
})

connect()
