#!/usr/bin/env python3
"""Group chat, one thread per client and a lock around the client list: the classic lab, as a reference.

It speaks selectloop's chat protocol, word for word (lib/chat: names.ts, commands.ts, replies.ts,
framing.ts, room.ts), so that the same behaviour suites test it and the lesson compares servers
doing the same job:

  - the first message is the client's name (rules below; a refused name gets another try);
    everyone else hears `ana joined`, and `ana left` when she quits, closes or is cut off;
  - every message goes to everyone else as `ana: text` (control characters shown as U+FFFD);
  - `/who` lists who is here, `/msg NAME text` speaks to one person, `//text` sends `/text`;
    `salir`, `bye` and `/quit` leave;
  - framing: `line` (messages end with \\n), `chunk` (each read is a message: the classic Python
    clients send with no newline), `auto` (decided by each connection's first read);
  - limits: --max-line bytes a message, --max-name characters a name, names unique ignoring case,
    --max-outbuf bytes queued for a client that is not reading (then it is dropped), --max-rate
    bytes a second read from one client (a faster one is slowed down);
  - on SIGINT or SIGTERM: no new connections, everyone is told `server closing`, what is queued
    is sent, connections are closed, exit 0.

    python3 peers/chat_threads.py [--host HOST] [--port PORT] [--framing auto|line|chunk]
        [--max-line BYTES] [--max-name N] [--max-outbuf BYTES] [--max-rate BYTES] [--quiet]

Like `selectloop chat`: prints `listening on HOST:PORT` on stdout (with --port 0, the port the
system chose), the conversation on stdout too, and connects, joins and leaves on stderr, with the
counts. What it does not have: the operator console, --max-clients, --idle-timeout, --workers.

Where the classic lab and the protocol pull apart, this follows the protocol:
  - The lab broadcasts with `c.sendall(msg)` for every client, lock held: one client that stops
    reading fills its socket buffer, sendall blocks, and the whole room waits behind the lock,
    forever. Here each client has an output queue and a second thread, its writer, that does the
    sendall: a broadcast only appends to queues (lock held), and a client whose queue passes
    --max-outbuf while its socket takes nothing more is dropped. So a client costs two threads.
  - The lab closes a socket as soon as it is done with it. Closing with unread input makes the
    kernel reset the connection and throw away what it had not yet sent (the goodbye, the last
    messages). Here a closing connection is flushed, gets our FIN, and its input is read and
    discarded for a moment (a lingering close) before the socket is closed.

Standard library only. Not ours to optimise (see the README, "Reference servers").
"""
import argparse
import errno
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
import unicodedata

RECV_SIZE = 16 * 1024  # one read at most, as selectloop's chat (a chunk client's message is one read)
# Two settings in which the classic lab differs from selectloop's servers, set as ours so that a
# comparison measures threads against a selector, not configuration: a deep listen backlog (a burst
# of clients must not wait for SYN retries), and TCP_NODELAY on each connection (without it,
# Nagle's algorithm and delayed ACKs can hold back a reply sent in pieces for 40 ms).
BACKLOG = 511
FLUSH_TIMEOUT = 5.0  # a closing connection whose goodbye is not read within this is reset
LINGER = 1.0  # after our FIN, how long and how much the client's input is read and dropped
LINGER_BYTES = 256 * 1024
GRACE = 2.0  # a stop waits this long for connections to close before it exits anyway
ACCEPT_PAUSE = 0.1  # after an accept error (out of descriptors), accepting rests this long
ACCEPT_POLL = 0.1  # how soon the main thread notices a signal (see on_signal)
SEND_SIZE = 64 * 1024  # a writer sends in pieces of this size at most...
PATIENCE = 1.0  # ...and a client whose socket takes none of a piece for this long is not reading
# Times --max-outbuf queued for one client: dropped then, whatever else. Generous, because with
# dozens of threads taking turns at the GIL on a busy machine, a healthy client's writer can go
# unscheduled for a few broadcasts (at 4, one was dropped while its reader was keeping up).
HARD_LIMIT = 16
TCP_CLOSE = 7  # a connection's state in the kernel (linux/tcp_states.h) once it is reset

# ---- what the server says (replies.ts) -------------------------------------------------------

USER_HELP = '/who lists who is here, /msg NAME text speaks to one person, salir (or bye, /quit) leaves'
QUIT_WORDS = ('salir', 'bye', '/quit')


def welcome(name, count):
    return f'welcome {name}, {count} here now; {USER_HELP}'


def sanitize(text):
    """Control characters would act on every other client's terminal: shown as U+FFFD. Tabs pass."""
    return re.sub('[\x00-\x08\x0a-\x1f\x7f-\x9f]', '\ufffd', text)


# ---- names (names.ts) -----------------------------------------------------------------------

# JavaScript's whitespace (its trim() and \s), which names and commands are split on. Python's
# strip() and re's \s add the separators \x1c-\x1f and \x85, which here are control characters.
WHITESPACE = '\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff'
ZWJ = '\u200d'  # ZERO WIDTH JOINER: invisible, but it joins 👩 and 💻 into 👩‍💻
EMOJI_VS = '\ufe0f'  # VARIATION SELECTOR-16: ❤ shown as an emoji, ❤️


def check_name(raw, max_name, taken):
    """The name, or None and why it is refused. `taken(name)` is asked once every other rule holds."""
    name = unicodedata.normalize('NFC', raw.strip(WHITESPACE))
    if name == '':
        return None, 'a name cannot be empty'
    if len(name) > max_name:  # code points: ñ and 😀 count as one each
        return None, f'a name can have at most {max_name} characters'
    if any(unicodedata.category(c) == 'Cc' for c in name):
        return None, 'a name cannot contain control characters'
    if '\ufffd' in name:  # what invalid UTF-8 decodes to
        return None, 'a name must be valid UTF-8'
    if any(in_table(c, BIDI_CONTROL) for c in name):  # they reorder what a terminal shows
        return None, 'a name cannot contain bidirectional control characters'
    if any(invisible(name, i) for i in range(len(name))):  # they make a name look like another
        return None, 'a name cannot contain invisible characters'
    if any(c in WHITESPACE for c in name):  # so that `/msg NAME text` is never ambiguous
        return None, 'a name cannot contain spaces'
    if name.startswith('/'):  # that is how commands look
        return None, 'a name cannot start with /'
    if taken(name):
        return None, f'the name {name} is taken'
    return name, None


def invisible(name, i):
    """A default-ignorable character, unless it is the joiner or variation selector of an emoji."""
    c = name[i]
    before = name[i - 1] if i > 0 else ''
    if c == ZWJ and before and (pictographic(before) or in_table(before, EMOJI_MODIFIER) or before == EMOJI_VS):
        return False
    if c == EMOJI_VS and before and pictographic(before):
        return False
    return in_table(c, DEFAULT_IGNORABLE)


def name_key(name):
    """Under which a name is unique: case-folded, without joiners and variation selectors."""
    name = unicodedata.normalize('NFC', name)
    return ''.join(c for c in name if c != ZWJ and not in_table(c, VARIATION_SELECTOR)).lower()


# ---- framing (framing.ts) ---------------------------------------------------------------------

class Framer:
    """
    Cuts one connection's bytes into messages. line: a message ends with \\n (a \\r before it is
    dropped). chunk: each read is a message (a read ending inside a character waits for the rest),
    and a read holding several lines is several messages. auto: line if the first read has a \\n.
    Splitting raw bytes on \\n is safe (0x0A never occurs inside a UTF-8 character); each message
    is decoded whole, invalid UTF-8 as U+FFFD. At most max_bytes of a message are ever kept.
    """

    def __init__(self, framing, max_bytes):
        self.mode = None if framing == 'auto' else framing
        self.forced_line = framing == 'line'  # then bytes with no newline before the end are no message
        self.max_bytes = max_bytes
        self.pending = bytearray()

    def push(self, data):
        """Feeds one read; returns (complete messages, whether a message passed max_bytes)."""
        if self.mode is None:
            self.mode = 'line' if b'\n' in data else 'chunk'
        messages = []
        *lines, rest = data.split(b'\n')
        for line in lines:
            if len(self.pending) + len(line) > self.max_bytes:
                return messages, True
            messages.append(self.take(line))
        if len(self.pending) + len(rest) > self.max_bytes:
            return messages, True
        self.pending += rest
        if self.mode == 'chunk' and self.pending and not ends_inside_character(self.pending):
            messages.append(self.take(b''))
        return messages, False

    def end(self):
        """At end of input: the unfinished last message, if there is one and it counts."""
        if not self.pending:
            return []
        last = self.take(b'')
        return [] if self.forced_line else [last]

    def take(self, last):
        data = bytes(self.pending) + last
        self.pending.clear()
        text = data.decode('utf-8', 'replace')
        return text[:-1] if text.endswith('\r') else text


def ends_inside_character(buf):
    """
    True when `buf` ends with the start of a UTF-8 character still waiting for its continuation
    bytes (the WHATWG decoder's rules, as selectloop's framer; Python's incremental decoder also
    holds back the start of an encoded surrogate, which is invalid UTF-8).
    """
    end = len(buf)
    for i in range(end - 1, max(-1, end - 4), -1):
        b = buf[i]
        if 0x80 <= b <= 0xbf:
            continue  # a continuation byte: look further back
        need = 2 if 0xc2 <= b <= 0xdf else 3 if 0xe0 <= b <= 0xef else 4 if 0xf0 <= b <= 0xf4 else 0
        have = end - i
        if need == 0 or have >= need:
            return False
        if have >= 2:
            second = buf[i + 1]
            allowed = {0xe0: (0xa0, 0xbf), 0xed: (0x80, 0x9f), 0xf0: (0x90, 0xbf), 0xf4: (0x80, 0x8f)}
            low, high = allowed.get(b, (0x80, 0xbf))
            if not low <= second <= high:
                return False
        return True
    return False


# ---- flood control (token-bucket.ts) ----------------------------------------------------------

class Bucket:
    """
    --max-rate: a second's worth of bytes (at least two maximal lines), refilled at the rate. A
    client whose bucket is empty is not read until it refills: its thread simply sleeps, its bytes
    wait in the socket, and TCP slows it down. Nothing is lost.
    """

    def __init__(self, rate, max_line):
        self.rate = rate
        self.capacity = max(rate, 2 * (max_line + 1))
        self.tokens = self.capacity
        self.refilled_at = time.monotonic()

    def refill(self):
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.refilled_at) * self.rate)
        self.refilled_at = now
        return self.tokens

    def read_size(self, most):
        """Sleeps while the bucket is empty; then how much the next read may take."""
        while self.refill() <= 0:
            time.sleep((1 - self.tokens) / self.rate)
        return max(1, min(most, int(self.tokens)))

    def take(self, n):
        """Takes what a read got; True when the bucket is now empty (the client is too fast)."""
        self.tokens -= n
        return self.tokens <= 0


# ---- the room: the client list, its lock, and every decision (room.ts) -------------------------

AWAITING_NAME = 'AWAITING_NAME'  # connected, not yet named
CHATTING = 'CHATTING'  # a member
CLOSING = 'CLOSING'  # the room has nothing more to say to it or hear from it: flush, then close

QUIT, LINE_TOO_LONG, DROPPED, SHUTDOWN = 'quit', 'line too long', 'dropped: not reading', 'server closing'

lock = threading.Lock()  # the room's lock: guards everything below, and every Client's state
members = {}  # the classic lab's client list: name_key -> Client, in joining order (/who)
connections = set()  # every connection, named or not
options = None  # the command line (argparse.Namespace)


class Client:
    """One connection: its state in the room, its name, and the queue its writer thread sends."""

    def __init__(self, conn, peer):
        self.conn = conn
        self.peer = peer
        self.state = AWAITING_NAME
        self.why = None  # why it is CLOSING (QUIT, ...), when the room closed it
        self.name = None
        # Its output, with a lock of its own (a Condition): its writer takes what is queued without
        # waiting for the room's lock, which twenty busy senders would rarely let it have.
        self.wakeup = threading.Condition()  # its writer waits here for lines, or for CLOSING
        self.out = bytearray()  # lines queued for it, not yet taken by its writer
        self.stuck_since = None  # when its writer's current send began (None: not sending)
        self.broken = False  # dropped, or the connection failed: nothing more is sent
        self.writer = None

    def who(self):
        """How log lines name it: its name once it has one, else its address."""
        return self.name or self.peer


def counts():
    return f'{len(members)} chatting, {len(connections)} connected'


def deliver(client, text):
    """Queues one line for a client (lock held)."""
    queue(client, (text + '\n').encode('utf-8'))


def broadcast(text, sender=None):
    """One line to every member chatting but the sender (lock held: this is what the lock is for)."""
    line = (text + '\n').encode('utf-8')  # encoded once, for everyone
    for member in list(members.values()):
        if member is not sender and member.state == CHATTING:
            queue(member, line)


def queue(client, line):
    """
    Queues bytes for a client's writer (the room's lock held). Bounded: more than --max-outbuf
    queued while its socket has taken nothing for PATIENCE (its writer is stuck in a send) means
    it is not reading: it is dropped, never waited for (its own thread then tells the others it
    left). A writer that is merely behind (threads take turns at the GIL, and a busy reader may
    take a moment) is not dropped before HARD_LIMIT times --max-outbuf is queued.
    """
    with client.wakeup:
        if client.broken:
            return
        client.out += line
        queued = len(client.out)
        since = client.stuck_since  # read once: its writer sets it without this lock, to None at any moment
        stuck = since is not None and time.monotonic() - since > PATIENCE
        full = queued > options.max_outbuf and stuck or queued > HARD_LIMIT * options.max_outbuf
        if full:
            client.out.clear()
            client.broken = True
        client.wakeup.notify()
    if full:
        log(f'dropping {client.who()} ({client.peer}): not reading, {queued} bytes queued for it (max {options.max_outbuf})')
        client.state, client.why = CLOSING, DROPPED
        try:
            client.conn.shutdown(socket.SHUT_RDWR)  # wakes its reader (recv) and its writer (sendall)
        except OSError:
            pass


def wake_writer(client):
    """It is CLOSING (or broken): its writer sends what is queued, then our FIN, and ends."""
    with client.wakeup:
        client.wakeup.notify()


def receive(client, text):
    """One message from a client (lock held): a name, a chat line, a command, a quit word."""
    if client.state == AWAITING_NAME:
        propose_name(client, text)
    elif client.state == CHATTING:
        chat(client, text)
    # CLOSING: it said goodbye already; whatever else arrives is ignored


def propose_name(client, text):
    if is_quit_word(text):
        return end(client, QUIT)
    name, refused = check_name(text, options.max_name, lambda name: name_key(name) in members)
    if refused:
        return deliver(client, f'name refused: {refused}; try another name')
    members[name_key(name)] = client  # the classic lab's clients.append(conn)
    client.name, client.state = name, CHATTING
    deliver(client, welcome(name, len(members)))
    broadcast(f'{name} joined', client)
    if options.verbose:
        log(f'{name} joined from {client.peer} ({counts()})')
        show(f'{name} joined')


def chat(client, text):
    if is_quit_word(text):
        return end(client, QUIT)
    trimmed = text.strip(WHITESPACE)
    if trimmed == '':
        return
    if trimmed.startswith('//'):  # `//text` says `/text`
        return say(client, text.replace('/', '', 1))
    if not trimmed.startswith('/'):
        return say(client, text)
    command = re.split(f'[{WHITESPACE}]+', trimmed)[0].lower()
    if command == '/who':
        names = [m.name for m in members.values() if m.state == CHATTING]
        return deliver(client, f'here now ({len(names)}): {", ".join(names)}')
    if command == '/msg':
        m = re.fullmatch(f'[^{WHITESPACE}]+[{WHITESPACE}]+([^{WHITESPACE}]+)[{WHITESPACE}]+(.*)', trimmed, re.S)
        if not m:
            return deliver(client, 'usage: /msg NAME text')
        to = members.get(name_key(m[1]))
        if to is None or to.state != CHATTING:
            return deliver(client, f'no one called {sanitize(m[1])} is here')
        return deliver(to, f'{client.name} (private): {sanitize(m[2])}')
    deliver(client, f'unknown command {sanitize(command)} ({USER_HELP})')


def say(client, text):
    said = f'{client.name}: {sanitize(text)}'
    broadcast(said, client)
    if options.verbose:
        show(said)


def is_quit_word(text):
    return text.strip(WHITESPACE).lower() in QUIT_WORDS


def end(client, why):
    """The room ends a connection (lock held): a member leaves, everyone else is told; CLOSING."""
    if client.state == CLOSING:
        return
    leave(client, why)
    client.state, client.why = CLOSING, why
    wake_writer(client)


def too_long(client):
    """A message passed --max-line (lock held): say why, and close."""
    if client.state == CLOSING:
        return
    log(f'{client.who()}: line over {options.max_line} bytes; closing')
    deliver(client, f'line too long (over {options.max_line} bytes); closing the connection')
    end(client, LINE_TOO_LONG)


def leave(client, reason):
    """Out of the client list, if it was in it; everyone still in it hears `NAME left`."""
    if client.name is None or members.get(name_key(client.name)) is not client:
        return
    del members[name_key(client.name)]  # the classic lab's clients.remove(conn)
    broadcast(f'{client.name} left')
    if options.verbose:
        log(f'{client.name} left: {reason} ({counts()})')
        show(f'{client.name} left')


def closed(client, ending):
    """The connection is gone (lock held): a member still listed leaves (not at shutdown); forgotten."""
    if client not in connections:
        return
    if client.why != SHUTDOWN:
        leave(client, client.why or ending)
    connections.discard(client)
    client.state = CLOSING
    wake_writer(client)
    if options.verbose:
        log(f'disconnect {client.peer} ({counts()})')


# ---- the threads: a reader and a writer per client ----------------------------------------------

def handle(client):
    """
    The client's own thread: reads, frames and hands each message to the room (lock held), until
    the client goes or the room closes it; then closes the connection the way the room asked.
    """
    client.writer = threading.Thread(target=write, args=(client,), daemon=True)
    client.writer.start()
    ending, peer_done = read(client)
    if ending is None:  # the room closed it (quit, line too long, dropped, server stop)
        hang_up(client, peer_done)
    else:  # the client ended it: what it was sent still goes out
        client.writer.join(FLUSH_TIMEOUT)
    if client.broken or client.writer.is_alive():
        reset(client.conn)
    else:
        client.conn.close()
    with lock:
        closed(client, ending or 'closed')


def read(client):
    """
    Reads until the client ends the connection (returns how: 'end of input', 'connection reset'...,
    once it has left the room) or the room closes it (returns None). And whether its EOF was seen.
    """
    framer = Framer(options.framing, options.max_line)
    bucket = Bucket(options.max_rate, options.max_line) if options.max_rate > 0 else None
    while True:
        try:
            data = client.conn.recv(bucket.read_size(RECV_SIZE) if bucket else RECV_SIZE)
        except OSError as e:
            with lock:
                if client.state == CLOSING:
                    return None, True
                client.broken = True  # nothing more can be sent either
                return gone(client, describe(e)), True
        if not data and was_reset(client.conn):
            with lock:
                if client.state == CLOSING:
                    return None, True
                client.broken = True
                return gone(client, 'connection reset'), True
        if bucket and bucket.take(len(data)):
            floods.log(f'{client.who()} ({client.peer}) sends faster than --max-rate {options.max_rate} bytes/s: slowed down')
        messages, overlong = framer.push(data) if data else (framer.end(), False)
        with lock:
            for text in messages:
                if client.state == CLOSING:
                    break
                receive(client, text)
            if client.state == CLOSING:
                return None, not data
            if not data:
                return gone(client, 'end of input'), True
            if overlong:
                too_long(client)
                return None, False


def was_reset(conn):
    """
    Whether a connection whose recv() just said end of input was in fact reset. A reset is
    reported once, to whichever call on the socket comes first: when its writer thread was sending
    at that moment, the writer got the error and the reader only sees the end. The kernel's TCP
    state tells them apart: CLOSE after a reset, CLOSE_WAIT after the client's FIN.
    """
    try:
        return conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == TCP_CLOSE
    except (OSError, AttributeError):  # AttributeError: not Linux, no TCP_INFO
        return False


def gone(client, ending):
    """The client ended its connection (lock held): it leaves the room now; CLOSING. Returns `ending`."""
    leave(client, ending)
    client.state = CLOSING
    wake_writer(client)
    return ending


def write(client):
    """The client's writer thread: sends what the room queues for it, in order, until it closes."""
    while True:
        with client.wakeup:
            # `state` is the room's (its lock); whoever sets CLOSING wakes the writer afterwards.
            while not client.out and client.state != CLOSING and not client.broken:
                client.wakeup.wait()
            if client.broken:
                return
            data = bytes(client.out)
            client.out.clear()
        if not data:  # CLOSING and everything sent: our FIN
            try:
                client.conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        try:
            for at in range(0, len(data), SEND_SIZE):  # in pieces: each one that goes is progress
                client.stuck_since = time.monotonic()
                client.conn.sendall(data[at:at + SEND_SIZE])
                client.stuck_since = None
        except OSError:
            client.broken = True
            return


def hang_up(client, peer_done):
    """
    CLOSING: the goodbye is flushed (its writer ends with our FIN, at most FLUSH_TIMEOUT), then what
    the client still sends is read and dropped until it closes too (at most LINGER). A client still
    sending after LINGER_BYTES (a huge line) is read no more, but the close waits out the LINGER all
    the same: the reset that closing with unread input causes would otherwise meet its next write and
    fail its socket before it has read our last line.
    """
    client.writer.join(FLUSH_TIMEOUT)
    if client.broken or client.writer.is_alive() or peer_done:
        return
    deadline = time.monotonic() + LINGER
    discarded = 0
    try:
        while discarded <= LINGER_BYTES and time.monotonic() < deadline:
            client.conn.settimeout(deadline - time.monotonic())
            data = client.conn.recv(RECV_SIZE)
            if not data:
                return
            discarded += len(data)
    except OSError:
        return  # timed out, or reset: either way, done waiting
    time.sleep(max(0.0, deadline - time.monotonic()))


def reset(conn):
    """
    Closes with a RST: for a client that is not reading, or a connection already broken. The
    shutdown first wakes its writer if it is still stuck in sendall (closing does not).
    """
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()


# ---- the program ------------------------------------------------------------------------------

def log(message):
    """A line on stderr, timestamped as selectloop's servers do (HH:MM:SS.mmm, UTC)."""
    now = time.time()
    stamp = time.strftime('%H:%M:%S', time.gmtime(now)) + '.%03d' % (now % 1 * 1000)
    sys.stderr.write(f'{stamp} {message}\n')
    sys.stderr.flush()


def show(line):
    """The conversation, on stdout (as selectloop's console shows it)."""
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


class RateLimitedLog:
    """For lines a flood could repeat: the first is logged, the rest counted, at most one a second."""

    def __init__(self):
        self.last = -1e9
        self.suppressed = 0
        self.mutex = threading.Lock()

    def log(self, message):
        with self.mutex:
            now = time.monotonic()
            if now - self.last < 1.0:
                self.suppressed += 1
                return
            more = f' (+{self.suppressed} more like this)' if self.suppressed else ''
            self.suppressed, self.last = 0, now
        log(message + more)


floods = RateLimitedLog()
accept_errors = RateLimitedLog()


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
    starting its thread, which would leave that client with neither a thread nor a goodbye.
    """
    global stopping
    stopping = signal.Signals(signum).name


def serve(server):
    """The main thread: accepts, and starts a thread per client, until a signal."""
    server.settimeout(ACCEPT_POLL)  # accept() returns at least this often, to look at `stopping`
    while stopping is None:
        try:
            conn, (host, port) = server.accept()
        except TimeoutError:
            continue
        except OSError as e:  # out of descriptors (EMFILE), ...: those here carry on
            accept_errors.log(f'accept failed: {describe(e)}; accepting again in {ACCEPT_PAUSE} s')
            time.sleep(ACCEPT_PAUSE)
            continue
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # see BACKLOG
        client = Client(conn, f'{host}:{port}')
        with lock:
            connections.add(client)
            if options.verbose:
                log(f'connect {client.peer} ({counts()})')
        threading.Thread(target=handle, args=(client,), daemon=True).start()
    log(f'{stopping}: shutting down')
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a second signal ends the process at once
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def shutdown(server):
    """No new connections; everyone is told `server closing`, flushed and closed (within GRACE)."""
    server.close()
    with lock:
        for client in list(connections):
            if client.state != CLOSING:
                deliver(client, 'server closing')
                client.state, client.why = CLOSING, SHUTDOWN
                wake_writer(client)
    deadline = time.monotonic() + GRACE
    while time.monotonic() < deadline:
        with lock:
            if not connections:
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


def positive(text):
    value = integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be at least 1, got {value}')
    return value


def not_negative(text):
    value = integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'must be 0 or more, got {value}')
    return value


def crash(hook):
    """
    A thread that dies of an exception is a bug: the process ends with its traceback (status 70)
    rather than go on with the room half working (Python's default is to print it and carry on).
    """
    threading.__excepthook__(hook)
    sys.stderr.flush()
    os._exit(70)


def main():
    global options
    parser = argparse.ArgumentParser(description='Group chat, one thread per client (reference).')
    parser.add_argument('--host', default='127.0.0.1', help='address to bind (default 127.0.0.1)')
    parser.add_argument('--port', type=port_number, default=8070, help='port, 0 for any free port (default 8070)')
    parser.add_argument('--framing', choices=('auto', 'line', 'chunk'), default='auto', help='how messages are cut (default auto)')
    parser.add_argument('--max-line', type=positive, default=4096, help='longest message in bytes (default 4096)')
    parser.add_argument('--max-name', type=positive, default=32, help='longest name in characters (default 32)')
    parser.add_argument('--max-outbuf', type=positive, default=256 * 1024, help='bytes queued for a client before it is dropped (default 262144)')
    parser.add_argument('--max-rate', type=not_negative, default=64 * 1024, help='bytes a second read from one client, 0 for no limit (default 65536)')
    parser.add_argument('--quiet', action='store_true', help='do not log connects, joins and leaves, nor show the chat')
    options = parser.parse_args()
    options.verbose = not options.quiet
    try:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart can reuse the port at once
        server.bind((options.host, options.port))
        server.listen(BACKLOG)
    except OSError as e:
        sys.exit(f'chat_threads.py: cannot listen on {options.host}:{options.port}: {e.strerror or e}')
    threading.excepthook = crash
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    host, port = server.getsockname()[:2]
    print(f'listening on {host}:{port}', flush=True)
    serve(server)
    shutdown(server)


# ---- Unicode tables ---------------------------------------------------------------------------
# Python's unicodedata has no Bidi_Control, Default_Ignorable_Code_Point, Variation_Selector or
# Extended_Pictographic. These are those properties as JavaScript's \p{...} gives them (Unicode 15.1,
# Node 20), as ranges of code points, so that this server accepts exactly the names ours does.

def ranges(text):
    """'61c 200e-200f' -> [(0x61c, 0x61c), (0x200e, 0x200f)]"""
    out = []
    for item in text.split():
        low, _, high = item.partition('-')
        out.append((int(low, 16), int(high or low, 16)))
    return out


def in_table(char, table):
    code = ord(char)
    return any(low <= code <= high for low, high in table)


def pictographic(char):
    return in_table(char, EXTENDED_PICTOGRAPHIC)


BIDI_CONTROL = ranges('61c 200e-200f 202a-202e 2066-2069')
VARIATION_SELECTOR = ranges('180b-180d 180f fe00-fe0f e0100-e01ef')
EMOJI_MODIFIER = ranges('1f3fb-1f3ff')
DEFAULT_IGNORABLE = ranges('''
    ad 34f 61c 115f-1160 17b4-17b5 180b-180f 200b-200f 202a-202e 2060-206f 3164 fe00-fe0f feff ffa0
    fff0-fff8 1bca0-1bca3 1d173-1d17a e0000-e0fff''')
EXTENDED_PICTOGRAPHIC = ranges('''
    a9 ae 203c 2049 2122 2139 2194-2199 21a9-21aa 231a-231b 2328 23cf 23e9-23f3 23f8-23fa 24c2
    25aa-25ab 25b6 25c0 25fb-25fe 2600-2604 260e 2611 2614-2615 2618 261d 2620 2622-2623 2626 262a
    262e-262f 2638-263a 2640 2642 2648-2653 265f-2660 2663 2665-2666 2668 267b 267e-267f 2692-2697
    2699 269b-269c 26a0-26a1 26a7 26aa-26ab 26b0-26b1 26bd-26be 26c4-26c5 26c8 26ce-26cf 26d1
    26d3-26d4 26e9-26ea 26f0-26f5 26f7-26fa 26fd 2702 2705 2708-270d 270f 2712 2714 2716 271d 2721
    2728 2733-2734 2744 2747 274c 274e 2753-2755 2757 2763-2764 2795-2797 27a1 27b0 27bf 2934-2935
    2b05-2b07 2b1b-2b1c 2b50 2b55 3030 303d 3297 3299 1f004 1f02c-1f02f 1f094-1f09f 1f0af-1f0b0
    1f0c0 1f0cf-1f0d0 1f0f6-1f0ff 1f170-1f171 1f17e-1f17f 1f18e 1f191-1f19a 1f1ae-1f1e5 1f201-1f20f
    1f21a 1f22f 1f232-1f23a 1f23c-1f23f 1f249-1f25f 1f266-1f321 1f324-1f393 1f396-1f397 1f399-1f39b
    1f39e-1f3f0 1f3f3-1f3f5 1f3f7-1f3fa 1f400-1f4fd 1f4ff-1f53d 1f549-1f54e 1f550-1f567 1f56f-1f570
    1f573-1f57a 1f587 1f58a-1f58d 1f590 1f595-1f596 1f5a4-1f5a5 1f5a8 1f5b1-1f5b2 1f5bc 1f5c2-1f5c4
    1f5d1-1f5d3 1f5dc-1f5de 1f5e1 1f5e3 1f5e8 1f5ef 1f5f3 1f5fa-1f64f 1f680-1f6c5 1f6cb-1f6d2
    1f6d5-1f6e5 1f6e9 1f6eb-1f6f0 1f6f3-1f6ff 1f7da-1f7ff 1f80c-1f80f 1f848-1f84f 1f85a-1f85f
    1f888-1f88f 1f8ae-1f8af 1f8bc-1f8bf 1f8c2-1f8cf 1f8d9-1f8ff 1f90c-1f93a 1f93c-1f945 1f947-1f9ff
    1fa58-1fa5f 1fa6e-1faff 1fc00-1fffd''')


if __name__ == '__main__':
    main()
