#!/usr/bin/env python3
"""Echo server, one thread per client: the classic lab's threaded echo, as a reference.

Every byte a client sends comes back to it unchanged. The main thread accepts connections; each
client gets a thread of its own that loops `recv` -> `sendall` until the client closes its side.
`sendall` blocks while the client is not reading its echoes, so that thread stops reading too: a
client that never reads cannot make this server hold more than one read of its bytes.

    python3 peers/echo_threads.py [--host HOST] [--port PORT] [--quiet]

Like `selectloop echo`: prints `listening on HOST:PORT` on stdout once it accepts connections
(with --port 0, the port the system chose), logs connects and disconnects on stderr with the
count of active clients, and on SIGINT or SIGTERM stops accepting, gives the clients still
connected up to GRACE seconds to finish, closes the rest and exits 0.

Standard library only. Not ours to optimise: it is here so that selectloop's models can be
measured and tested beside real operating-system threads (see the README, "Reference servers").
"""
import argparse
import errno
import os
import signal
import socket
import sys
import threading
import time

RECV_SIZE = 65536  # the same read size as selectloop's echo models
# Two settings in which the classic lab differs from selectloop's servers, set as ours so that a
# comparison measures threads against a selector, not configuration: a deep listen backlog (a burst
# of clients must not wait for SYN retries), and TCP_NODELAY on each connection (without it,
# Nagle's algorithm and delayed ACKs can hold back a reply sent in pieces for 40 ms).
BACKLOG = 511
GRACE = 2.0  # seconds the open connections get to finish after a stop, as `selectloop echo`
ACCEPT_PAUSE = 0.1  # after an accept error (out of descriptors), accepting rests this long
ACCEPT_POLL = 0.1  # how soon the main thread notices a signal (see on_signal)

clients = set()  # the connections being served, shared by every thread...
clients_lock = threading.Lock()  # ...so guarded by this lock
verbose = True


def log(message):
    """A line on stderr, timestamped as selectloop's servers do (HH:MM:SS.mmm, UTC)."""
    now = time.time()
    stamp = time.strftime('%H:%M:%S', time.gmtime(now)) + '.%03d' % (now % 1 * 1000)
    sys.stderr.write(f'{stamp} {message}\n')
    sys.stderr.flush()


def handle(conn, peer):
    """Runs on the client's own thread: echo until the client closes its side, then close."""
    reason = 'closed'
    try:
        while True:
            data = conn.recv(RECV_SIZE)
            if not data:
                break  # the client shut down its side: everything it sent has been echoed
            conn.sendall(data)
    except OSError as e:
        reason = describe(e)
    finally:
        conn.close()  # everything read was echoed, so no unread input: a FIN, not a reset
        with clients_lock:
            clients.discard(conn)
            active = len(clients)
        if verbose:
            log(f'disconnect {peer}: {reason} ({active} active)')


def describe(error):
    """How a socket error reads in a log line: as selectloop's (connection reset, broken pipe, ECODE)."""
    if isinstance(error, ConnectionResetError):
        return 'connection reset'
    if isinstance(error, BrokenPipeError):
        return 'broken pipe'
    return errno.errorcode.get(error.errno, str(error))


stopping = None  # the name of the signal that asked us to stop, once one has


def on_signal(signum, frame):
    """
    Only notes the signal: the main thread sees it within ACCEPT_POLL. Raising here instead would
    land wherever the main thread happens to be, for instance between listing a new client and
    starting its thread, which would leave that client with no thread to echo it.
    """
    global stopping
    stopping = signal.Signals(signum).name


def serve(server):
    """The main thread: accepts, and starts a thread per client, until a signal; then stops."""
    server.settimeout(ACCEPT_POLL)  # accept() returns at least this often, to look at `stopping`
    while stopping is None:
        try:
            conn, (host, port) = server.accept()
        except TimeoutError:
            continue
        except OSError as e:  # out of descriptors (EMFILE), ...: the clients here carry on
            log(f'accept failed: {describe(e)}; accepting again in {ACCEPT_PAUSE} s')
            time.sleep(ACCEPT_PAUSE)
            continue
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # see BACKLOG
        peer = f'{host}:{port}'
        with clients_lock:
            clients.add(conn)
            active = len(clients)
        if verbose:
            log(f'connect {peer} ({active} active)')
        threading.Thread(target=handle, args=(conn, peer), daemon=True).start()
    log(f'{stopping}: shutting down')
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a second signal ends the process at once
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    server.close()  # new clients are refused from here on
    # The clients still connected get GRACE seconds to finish (their threads to end)...
    wait_for_clients(GRACE)
    # ...then whoever is left is cut off: shutdown wakes its thread's recv with b''.
    with clients_lock:
        for conn in clients:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone
    wait_for_clients(1.0)


def wait_for_clients(seconds):
    """Waits until every client's thread is done (the list is empty), or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with clients_lock:
            if not clients:
                return
        time.sleep(0.02)


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


def crash(hook):
    """
    A thread that dies of an exception is a bug: the process ends with its traceback (status 70)
    rather than go on with the server half working (Python's default is to print it and carry on).
    """
    threading.__excepthook__(hook)
    sys.stderr.flush()
    os._exit(70)


def main():
    global verbose
    parser = argparse.ArgumentParser(description='Echo server, one thread per client (reference).')
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
        sys.exit(f'echo_threads.py: cannot listen on {args.host}:{args.port}: {e.strerror or e}')
    threading.excepthook = crash
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    host, port = server.getsockname()[:2]
    print(f'listening on {host}:{port}', flush=True)
    serve(server)


if __name__ == '__main__':
    main()
