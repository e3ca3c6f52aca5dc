"""Ctrl-C and SIGTERM end a command promptly, cleanly and with one line.

Why: temporary files and staging directories are removed in `finally` blocks, which run for
KeyboardInterrupt but not when SIGTERM's default action kills the process. Entry points call
`install()` so that SIGTERM raises KeyboardInterrupt like Ctrl-C; the built-in engine asks
Python for pending signals every 2^20 events, so a long simulation stops too.
"""

from __future__ import annotations

import signal
import sys
from typing import NoReturn

#: exit status after an interruption (128 + SIGINT, the shell's convention)
INTERRUPTED_EXIT = 130


def _raise(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def install() -> None:
    """SIGTERM raises KeyboardInterrupt in the main thread (no-op elsewhere)."""
    try:
        signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread
        pass


def report_and_exit(what: str = "nothing was written") -> NoReturn:
    print(f"error: interrupted; {what}", file=sys.stderr)
    sys.exit(INTERRUPTED_EXIT)
