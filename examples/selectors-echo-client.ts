// A client for the echo server, examples/selectors_echo_client.py line for line on selectloop's
// reactor: one selector, a non-blocking connection, WRITE interest only while something is left to
// send. It sends each of its arguments as a line, prints what comes back, and leaves once every
// byte it sent has come back.
//
//   node dist/examples/selectors-echo-client.js PORT hello 'and goodbye'     (after `make build`)
import { Connection, DefaultSelector, EVENT_READ, EVENT_WRITE } from '../reactor/index.js'

const sel = new DefaultSelector()

const [port, messages] = [Number(process.argv[2]), process.argv.slice(3)]
let outgoing = Buffer.from(messages.join('\n') + '\n')
const expected = outgoing.length

// socket(), setblocking(False) and connect_ex() in one call; 127.0.0.1 as Python's IPv4 'localhost'.
const sock = Connection.connect('127.0.0.1', port) // In progress: writable once connected
sel.register(sock, EVENT_READ | EVENT_WRITE)

let received = 0
try {
  while (received < expected) {
    for (const [, mask] of await sel.select()) {
      if (mask & EVENT_WRITE) {
        const sent = sock.send(outgoing) // May take only part of it
        outgoing = outgoing.subarray(sent)
        if (!outgoing.length) {
          sel.modify(sock, EVENT_READ) // Nothing left to send
        }
      }
      if (mask & EVENT_READ) {
        const data = sock.recv(1000)
        if (data === null) continue // (Python would raise BlockingIOError; READ said it would not)
        if (!data.length) {
          console.error('the server closed the connection')
          process.exit(1)
        }
        process.stdout.write(data)
        received += data.length
      }
    }
  }
} catch (e) {
  console.error(`echo client: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
  process.exit(1)
}

sel.unregister(sock)
sock.close()
