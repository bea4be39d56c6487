#!/usr/bin/env python3
"""Runs a command on a real pseudo-terminal of a given size, for tests of interactive programs.

    python3 pty-run.py COLS ROWS -- COMMAND [ARG...]

What arrives on this script's stdin is typed on the terminal (byte for byte: send b'\\r' for
Enter, b'\\x04' for Ctrl-D); everything the command writes to the terminal (stdout and stderr
alike, with the escape sequences) comes out on this script's stdout. Exits with the command's
status (128 + N if a signal N ended it). The end of stdin types nothing: the command decides.
"""
import fcntl
import os
import select
import struct
import subprocess
import sys
import termios


def main() -> int:
    cols, rows, sep, *command = sys.argv[1:]
    if sep != '--' or not command:
        print(__doc__, file=sys.stderr)
        return 2
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', int(rows), int(cols), 0, 0))

    def own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    child = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, preexec_fn=own_terminal, close_fds=True)
    os.close(slave)
    stdin = sys.stdin.buffer.fileno()
    stdout = sys.stdout.buffer.fileno()
    watching = [master, stdin]
    while True:
        readable, _, _ = select.select(watching, [], [], 0.1)
        if master in readable:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every process holding the terminal has gone
                data = b''
            if not data:
                break
            os.write(stdout, data)
        if stdin in readable:
            data = os.read(stdin, 65536)
            if data:
                os.write(master, data)
            else:
                watching.remove(stdin)
    status = child.wait()
    return status if status >= 0 else 128 - status


if __name__ == '__main__':
    sys.exit(main())
