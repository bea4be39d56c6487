# A client for the echo server, in the style of the selectors documentation's server: one
# selector, a non-blocking socket, WRITE interest only while something is left to send. It sends
# each of its arguments as a line, prints what comes back, and leaves once every byte it sent has
# come back. Its twin in TypeScript, line for line: examples/selectors-echo-client.ts.
#
#   python3 examples/selectors_echo_client.py PORT hello 'and goodbye'
import selectors
import socket
import sys

sel = selectors.DefaultSelector()

port, messages = int(sys.argv[1]), sys.argv[2:]
outgoing = ('\n'.join(messages) + '\n').encode()
expected = len(outgoing)

sock = socket.socket()
sock.setblocking(False)
sock.connect_ex(('localhost', port))  # In progress: writable once connected
sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)

received = 0
try:
    while received < expected:
        for key, mask in sel.select():
            if mask & selectors.EVENT_WRITE:
                sent = sock.send(outgoing)  # May take only part of it
                outgoing = outgoing[sent:]
                if not outgoing:
                    sel.modify(sock, selectors.EVENT_READ)  # Nothing left to send
            if mask & selectors.EVENT_READ:
                data = sock.recv(1000)
                if not data:
                    sys.exit('the server closed the connection')
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
                received += len(data)
except OSError as e:
    sys.exit(f'echo client: {e.strerror}')

sel.unregister(sock)
sock.close()
