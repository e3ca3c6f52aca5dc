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


_requested = False


def _raise(signum: int, frame: object) -> NoReturn:
    global _requested
    _requested = True
    raise KeyboardInterrupt(signal.Signals(signum).name)


def install() -> None:
    """SIGTERM raises KeyboardInterrupt in the main thread (no-op elsewhere)."""
    global _requested
    _requested = False
    try:
        signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread
        pass


def raise_if_requested() -> None:
    """Raise KeyboardInterrupt again if SIGTERM came: a handler that fires inside a __del__
    (h5py, numpy objects being collected) has its exception swallowed by Python, so long work
    checks this flag at safe points as well (the engine's periodic hook, before outputs)."""
    if _requested:
        raise KeyboardInterrupt("SIGTERM")


def report_and_exit(what: str = "nothing was written") -> NoReturn:
    print(f"error: interrupted; {what}", file=sys.stderr)
    sys.exit(INTERRUPTED_EXIT)
