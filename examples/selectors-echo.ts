// The echo server of Python's `selectors` documentation (examples/selectors_echo.py), line for line
// on selectloop's reactor: each line does what the Python line beside it in that file does, and
// where the two must differ, the comment on the line says how. Lines marked `added` are the same
// two additions as the Python file's: the port from the command line, and a `listening on` line.
//
//   node dist/examples/selectors-echo.js [PORT]      (after `make build`; then: nc 127.0.0.1 PORT)
//
// Like the documentation's, it is a sketch: `conn.send(data) // Hope it won't block` drops what the
// connection does not take at once. lib/echo/selector-server.ts keeps it, and watches for WRITE.
import { DefaultSelector, EVENT_READ, Listener, type Callback, type Connection } from '../reactor/index.js'

const PORT = process.argv.length > 2 ? Number(process.argv[2]) : 1234 // added

/** How Python prints a socket (`<socket.socket fd=5, ... raddr=('127.0.0.1', 50412)>`), shortly. */
const show = (conn: Connection) => `<connection raddr=${conn.remoteAddress}:${conn.remotePort}>`

const sel = new DefaultSelector()

function accept(sock: Listener, mask: number): void {
  const conn = sock.accept() // Should be ready (null, where Python raises, if the client left meanwhile)
  if (conn === null) return
  const addr = `${conn.remoteAddress}:${conn.remotePort}` // Python's accept() returns it beside conn
  console.log('accepted', show(conn), 'from', addr)
  // conn.setblocking(False): nothing to do, every Connection is non-blocking
  sel.register(conn, EVENT_READ, read)
}

function read(conn: Connection, mask: number): void {
  const data = conn.recv(1000)! // Should be ready (null, where Python raises, if it were not)
  if (data.length) {
    console.log('echoing', data, 'to', show(conn))
    conn.send(data) // Hope it won't block
  } else {
    console.log('closing', show(conn))
    sel.unregister(conn)
    conn.close()
  }
}

// socket(), bind(), listen() and setblocking(False) in one call; 127.0.0.1 is what Python's IPv4
// socket makes of 'localhost' (Node could pick ::1).
const sock = await Listener.listen({ host: '127.0.0.1', port: PORT, backlog: 100 })
sel.register(sock, EVENT_READ, accept)
console.log(`listening on ${sock.address().host}:${sock.address().port}`) // added

while (true) {
  const events = await sel.select()
  for (const [key, mask] of events) {
    const callback = key.data as Callback
    callback(key.fileobj, mask)
  }
}
