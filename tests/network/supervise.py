"""Run a command in a process group of its own and kill that group when our stdin closes.

The test process holds the write end of our stdin; when it ends in any way (teardown, a
crash, a timeout's SIGKILL) the pipe closes and the server goes with all its children, so no
test leaves a process behind.

Usage: python supervise.py COMMAND [ARG ...]
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading


def main(argv: list[str]) -> int:
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
    done = threading.Event()

    def watch_stdin() -> None:
        sys.stdin.buffer.read()  # returns at EOF: the test process closed the pipe or died
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    while not done.wait(0.2):
        if child.poll() is not None:
            return child.returncode
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            break
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)  # children that outlived the leader
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
