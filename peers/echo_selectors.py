#!/usr/bin/env python3
"""Echo server on one thread with `selectors`: the classic non-blocking lab, as a reference.

Every byte a client sends comes back to it unchanged. One thread, one selector, every socket
non-blocking. What `send` does not take at once waits in the client's write buffer; the
selector watches a client for WRITE only while something waits there, and for READ only while
the buffer is below HIGH_WATER, so a client that never reads its echoes is simply not read
any more (its bytes back up into the kernel, then TCP slows it down). Each client:

    OPEN --(recv returns b'': the client shut down its side)--> DRAINING --(buffer sent)--> closed
      '--------------------(reset, error, stop after the grace time)--------------------> closed

Python's documentation example (examples/selectors_echo.py) calls `conn.send(data)  # Hope it
won't block`: a partial send there loses bytes. This one keeps what was not sent.

    python3 peers/echo_selectors.py [--host HOST] [--port PORT] [--quiet]

Like `selectloop echo`: prints `listening on HOST:PORT` on stdout once it accepts connections
(with --port 0, the port the system chose), logs connects and disconnects on stderr with the
count of active clients, and on SIGINT or SIGTERM stops accepting, serves the clients still
connected until they finish or GRACE seconds have passed, closes the rest and exits 0.

Standard library only. Not ours to optimise: it is here so that selectloop's selector model can
be measured and tested beside Python's (see the README, "Reference servers").
"""
import argparse
import errno
import selectors
import signal
import socket
import sys
import time

RECV_SIZE = 65536  # the same read size as selectloop's echo models
HIGH_WATER = 64 * 1024  # stop reading a client while this much of its echo waits to be sent
# Two settings in which the classic lab differs from selectloop's servers, set as ours so that a
# comparison measures threads against a selector, not configuration: a deep listen backlog (a burst
# of clients must not wait for SYN retries), and TCP_NODELAY on each connection (without it,
# Nagle's algorithm and delayed ACKs can hold back a reply sent in pieces for 40 ms).
BACKLOG = 511
GRACE = 2.0  # seconds the open connections get to finish after a stop, as `selectloop echo`
ACCEPT_PAUSE = 0.1  # after an accept error (out of descriptors), accepting rests this long

OPEN = 'OPEN'  # reading and echoing
DRAINING = 'DRAINING'  # the client sent its FIN: send what is left, then close

sel = selectors.DefaultSelector()
clients = set()  # the connections being served
accept_again_at = None  # while accepting rests after an error: when it resumes
verbose = True


class Client:
    """One connection's state: where it is in its life, and the echo still waiting to be sent."""

    def __init__(self, conn, peer):
        self.conn = conn
        self.peer = peer
        self.state = OPEN
        self.out = bytearray()  # the write buffer


def log(message):
    """A line on stderr, timestamped as selectloop's servers do (HH:MM:SS.mmm, UTC)."""
    now = time.time()
    stamp = time.strftime('%H:%M:%S', time.gmtime(now)) + '.%03d' % (now % 1 * 1000)
    sys.stderr.write(f'{stamp} {message}\n')
    sys.stderr.flush()


def describe(error):
    """How a socket error reads in a log line: as selectloop's (connection reset, broken pipe, ECODE)."""
    if isinstance(error, ConnectionResetError):
        return 'connection reset'
    if isinstance(error, BrokenPipeError):
        return 'broken pipe'
    return errno.errorcode.get(error.errno, str(error))


def accept(server, mask):
    """The listening socket is readable: take every connection waiting, register each for READ."""
    global accept_again_at
    while True:
        try:
            conn, (host, port) = server.accept()
        except BlockingIOError:
            return  # none left
        except OSError as e:
            # Out of descriptors (EMFILE), ...: the clients here are still served. The connection
            # still waits, so the listening socket stays readable: rather than spin on the same
            # error, stop watching it for a moment.
            log(f'accept failed: {describe(e)}; accepting again in {ACCEPT_PAUSE} s')
            sel.unregister(server)
            accept_again_at = time.monotonic() + ACCEPT_PAUSE
            return
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # see BACKLOG
        client = Client(conn, f'{host}:{port}')
        sel.register(conn, selectors.EVENT_READ, client)
        clients.add(client)
        if verbose:
            log(f'connect {client.peer} ({len(clients)} active)')


def service(client, mask):
    """One step of a client's state machine, for the events the selector reported."""
    try:
        if mask & selectors.EVENT_WRITE:
            flush(client)
        if mask & selectors.EVENT_READ and client.state == OPEN:
            data = client.conn.recv(RECV_SIZE)
            if data:
                client.out += data
                flush(client)
            else:
                client.state = DRAINING  # the client is done sending: finish its echo
    except (BlockingIOError, InterruptedError):
        pass  # nothing to do after all: wait for the next event
    except OSError as e:
        return close(client, describe(e))
    if client.state == DRAINING and not client.out:
        return close(client, 'closed')
    watch(client)


def flush(client):
    """Sends as much of the write buffer as the socket takes now (partial sends are real)."""
    while client.out:
        try:
            sent = client.conn.send(client.out)
        except BlockingIOError:
            return  # the socket's buffer is full: WRITE readiness says when to go on
        del client.out[:sent]


def watch(client):
    """What the selector should watch: WRITE only while output waits; READ while there is room."""
    events = selectors.EVENT_WRITE if client.out else 0
    if client.state == OPEN and len(client.out) < HIGH_WATER:
        events |= selectors.EVENT_READ
    if events != sel.get_key(client.conn).events:
        sel.modify(client.conn, events, client)


def close(client, reason):
    sel.unregister(client.conn)
    client.conn.close()
    clients.discard(client)
    if verbose:
        log(f'disconnect {client.peer}: {reason} ({len(clients)} active)')


def signal_socket():
    """
    Signals as one more socket in the selector: Python's C-level handler writes each signal's
    number to the wakeup socket, so select() returns with it readable: a signal is handled
    between two events, never in the middle of one.
    """
    readable, writable = socket.socketpair()
    writable.setblocking(False)
    signal.set_wakeup_fd(writable.fileno())
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, frame: None)  # the byte on the socket is the news
    return readable, writable


def loop(server, signals, deadline=None):
    """
    Dispatches events until a signal arrives: returns its name. With a deadline, until then or
    until no client is left: returns None.
    """
    global accept_again_at
    while deadline is None or (clients and time.monotonic() < deadline):
        wake_at = min((t for t in (deadline, accept_again_at) if t is not None), default=None)
        timeout = None if wake_at is None else max(0.0, wake_at - time.monotonic())
        for key, mask in sel.select(timeout):
            if key.fileobj is server:
                accept(server, mask)
            elif key.fileobj is signals:
                return signal.Signals(signals.recv(1)[0]).name
            else:
                service(key.data, mask)
        if accept_again_at is not None and time.monotonic() >= accept_again_at:
            accept_again_at = None
            sel.register(server, selectors.EVENT_READ)
    return None


def integer(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got '{text}'") from None


def port_number(text):
    """--port's type: an integer from 0 (any free port) to 65535."""
    value = integer(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f'must be between 0 and 65535, got {value}')
    return value


def main():
    global verbose, accept_again_at
    parser = argparse.ArgumentParser(description='Echo server with selectors, one thread (reference).')
    parser.add_argument('--host', default='127.0.0.1', help='address to bind (default 127.0.0.1)')
    parser.add_argument('--port', type=port_number, default=8080, help='port, 0 for any free port (default 8080)')
    parser.add_argument('--quiet', action='store_true', help='do not log connects and disconnects')
    args = parser.parse_args()
    verbose = not args.quiet
    try:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart can reuse the port at once
        server.bind((args.host, args.port))
        server.listen(BACKLOG)
    except OSError as e:
        sys.exit(f'echo_selectors.py: cannot listen on {args.host}:{args.port}: {e.strerror or e}')
    server.setblocking(False)
    sel.register(server, selectors.EVENT_READ)
    signals, _ = signal_socket()
    sel.register(signals, selectors.EVENT_READ)
    host, port = server.getsockname()[:2]
    print(f'listening on {host}:{port}', flush=True)
    log(f'{loop(server, signals)}: shutting down')
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)  # a second signal ends the process at once
    if accept_again_at is None:
        sel.unregister(server)
    accept_again_at = None
    server.close()  # new clients are refused from here on
    loop(server, signals, deadline=time.monotonic() + GRACE)  # the clients still here may finish
    for client in list(clients):
        close(client, 'server stopped')

if __name__ == '__main__':
    main()
