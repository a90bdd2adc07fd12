"""Run a command on a pseudo-terminal and answer its passphrase prompts.

Usage: pty_answer.py SECRET ANSWERS -- ARGV...
The age CLI reads passphrases from the terminal only; this lets the test suite drive it.
Prints the program's terminal output on stderr and exits with its exit code.
"""
import os
import pty
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
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    try:
        data = os.read(fd, 1024)
    except OSError:
        break
    if not data:
        break
    out += data
    if sent < answers and b"passphrase" in data.lower():
        os.write(fd, secret + b"\n")
        sent += 1
_, status = os.waitpid(pid, 0)
sys.stderr.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
