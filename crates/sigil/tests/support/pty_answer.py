"""Run a command on a pseudo-terminal and answer its passphrase or password prompts.

Usage: pty_answer.py SECRET ANSWERS -- ARGV...
age and minisign read secrets from the terminal only; this lets the test suite drive them.
Prints the program's terminal output on stderr and exits with its exit code. A program still
running after 120 s is killed (exit code 124), so a prompt that is never answered cannot hang
the suite.
"""
import os
import pty
import select
import signal
import sys
import time

secret = sys.argv[1].encode()
answers = int(sys.argv[2])
argv = sys.argv[4:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out = b""
sent = 0
pending = b""
deadline = time.monotonic() + 120
timed_out = False
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        timed_out = True
        os.kill(pid, signal.SIGKILL)
        break
    ready, _, _ = select.select([fd], [], [], min(left, 1.0))
    if not ready:
        continue
    try:
        data = os.read(fd, 1024)
    except OSError:
        break
    if not data:
        break
    out += data
    pending += data
    low = pending.lower()
    if sent < answers and (b"passphrase" in low or b"password" in low) and pending.rstrip().endswith(b":"):
        os.write(fd, secret + b"\n")
        sent += 1
        pending = b""
_, status = os.waitpid(pid, 0)
sys.stderr.write(out.decode(errors="replace"))
sys.exit(124 if timed_out else os.waitstatus_to_exitcode(status))
