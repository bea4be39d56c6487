# The echo server of Python's `selectors` documentation ("Examples",
# https://docs.python.org/3/library/selectors.html), as it is there; code in Python's documentation
# is under the Zero-Clause BSD licence. Its twin in TypeScript, line for line on selectloop's
# reactor: examples/selectors-echo.ts. Two additions, marked `# added`, make it runnable by a test:
# the port from the command line (0: any free port), and a `listening on HOST:PORT` line.
#
#   python3 examples/selectors_echo.py [PORT]        (then: nc localhost PORT)
#
# It is the documentation's sketch, flaws included: `conn.send(data)  # Hope it won't block` drops
# whatever the socket does not take at once. peers/echo_selectors.py keeps it in a write buffer.
import selectors
import socket
import sys  # added

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 1234  # added

sel = selectors.DefaultSelector()

def accept(sock, mask):
    conn, addr = sock.accept()  # Should be ready
    print('accepted', conn, 'from', addr)
    conn.setblocking(False)
    sel.register(conn, selectors.EVENT_READ, read)

def read(conn, mask):
    data = conn.recv(1000)  # Should be ready
    if data:
        print('echoing', repr(data), 'to', conn)
        conn.send(data)  # Hope it won't block
    else:
        print('closing', conn)
        sel.unregister(conn)
        conn.close()

sock = socket.socket()
sock.bind(('localhost', PORT))
sock.listen(100)
sock.setblocking(False)
sel.register(sock, selectors.EVENT_READ, accept)
print('listening on %s:%d' % sock.getsockname(), flush=True)  # added

while True:
    events = sel.select()
    for key, mask in events:
        callback = key.data
        callback(key.fileobj, mask)
