// The chat in a browser: one WebSocket to /chat, which the server bridges to a TCP connection of
// its own to the chat, so this page is a member of the room like any nc client. The first line
// sent is the name; the chat answers `welcome ...` or `name refused: ...` (then another name may
// be tried); every line after that is a message.
import { appendKept, el, socketUrl } from './common.js'

const MAX_LINES = 500
const State = { IDLE: 'IDLE', NAMING: 'NAMING', CHATTING: 'CHATTING' }

const $ = id => document.getElementById(id)
const status = $('status')
const joinForm = $('join')
const nameBox = $('name')
const joinButton = $('join-button')
const sendForm = $('send')
const messageBox = $('message')
const sendButton = $('send-button')
const leaveButton = $('leave')
const lines = $('lines')
const conversation = $('conversation')

let state = State.IDLE
let socket = null
let myName = ''
/** The name last offered, until the chat accepts or refuses it. */
let offered = ''

function show(text, kind) {
  const item = el('li', text, kind)
  appendKept(lines, item, MAX_LINES, conversation)
}

function setState(next) {
  state = next
  const chatting = state === State.CHATTING
  nameBox.disabled = chatting
  joinButton.disabled = chatting
  messageBox.disabled = !chatting
  sendButton.disabled = !chatting
  leaveButton.disabled = state === State.IDLE
  if (chatting) messageBox.focus()
  else nameBox.focus()
}

function sendLine(text) {
  socket.send(JSON.stringify({ type: 'line', text }))
}

/** One line from the chat. While naming, the answer to the name decides the state. */
function onChatLine(line) {
  if (state === State.NAMING) {
    if (line.startsWith('welcome ')) {
      myName = offered
      status.textContent = `Joined as ${myName}.`
      setState(State.CHATTING)
    } else if (line.startsWith('name refused')) {
      status.textContent = 'That name was refused: try another.'
      nameBox.select()
    }
  }
  show(line, line.startsWith('[server]') ? 'server' : undefined)
}

function connect(then) {
  status.textContent = 'Connecting…'
  socket = new WebSocket(socketUrl('/chat'))
  socket.addEventListener('open', then)
  socket.addEventListener('message', event => {
    let message
    try {
      message = JSON.parse(event.data)
    } catch {
      return
    }
    if (message.type === 'lines') for (const line of message.lines) onChatLine(line)
  })
  socket.addEventListener('close', event => {
    socket = null
    const why = event.reason || (event.code === 1006 ? 'the connection was lost' : 'disconnected')
    status.textContent = state === State.CHATTING ? `You left the chat (${why}).` : `Not connected (${why}).`
    show(`— ${why} —`, 'notice')
    setState(State.IDLE)
  })
}

joinForm.addEventListener('submit', event => {
  event.preventDefault()
  const name = nameBox.value.trim()
  if (!name) {
    status.textContent = 'Type a name first.'
    return
  }
  offered = name
  if (socket && socket.readyState === WebSocket.OPEN) {
    sendLine(name)
    setState(State.NAMING)
    return
  }
  connect(() => {
    setState(State.NAMING)
    sendLine(offered)
  })
})

sendForm.addEventListener('submit', event => {
  event.preventDefault()
  const text = messageBox.value
  if (!text.trim() || state !== State.CHATTING || !socket) return
  sendLine(text)
  // The chat does not send our own words back to us: show them as ours.
  show(text.trimStart().startsWith('/') ? text : `${myName}: ${text}`, 'mine')
  messageBox.value = ''
})

leaveButton.addEventListener('click', () => {
  if (socket && socket.readyState === WebSocket.OPEN) sendLine('salir')
})

setState(State.IDLE)
