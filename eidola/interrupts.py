"""Ctrl-C and SIGTERM end a command promptly, cleanly and with one line.

Why: temporary files and staging directories are removed in `finally` blocks, which run for
KeyboardInterrupt but not when SIGTERM's default action kills the process. Entry points call
`install()` so that SIGTERM raises KeyboardInterrupt like Ctrl-C; the built-in engine asks
Python for pending signals every 2^20 events, so a long simulation stops too.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import NoReturn

#: exit status after an interruption (128 + SIGINT, the shell's convention)
INTERRUPTED_EXIT = 130


_requested = False


def _in_finalizer(frame: object) -> bool:
    """Whether the interrupted code is a finalizer (a __del__ or a weakref callback run by the
    garbage collector): Python swallows exceptions raised there, printing "Exception ignored"."""
    f = frame
    for _ in range(8):
        if f is None:
            return False
        code = getattr(f, "f_code", None)
        if code is not None and (code.co_name == "__del__" or code.co_filename.endswith("weakref.py")):
            return True
        f = getattr(f, "f_back", None)
    return False


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
#: stdlib modules whose blocking waits a stop request should break (sweeps, subprocesses)
_WAITS = ("threading.py", "thread.py", "process.py", "_base.py", "selectors.py",
          "subprocess.py", "queues.py", "connection.py", "runpy.py")


def _safe_to_raise(frame: object) -> bool:
    """Raise only in Eidola's own code or in a stdlib wait: an exception raised inside a
    library callback (h5py iterates attributes through C, the garbage collector runs
    finalizers) is swallowed or mangled there."""
    if _in_finalizer(frame):
        return False
    code = getattr(frame, "f_code", None)
    name = code.co_filename if code is not None else ""
    return name.startswith(_PACKAGE_DIR) or name.endswith(_WAITS) or "/configs/" in name


def _raise(signum: int, frame: object) -> None:
    global _requested
    _requested = True
    if not _safe_to_raise(frame):
        return  # raised at the next safe point instead (raise_if_requested)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def install() -> None:
    """SIGTERM raises KeyboardInterrupt in the main thread (no-op elsewhere)."""
    global _requested
    _requested = False
    try:
        signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread
        pass


def acknowledge() -> None:
    """The stop request has been handled (e.g. a sweep keeping its finished rows): let the
    writes that report it go through."""
    global _requested
    _requested = False


def raise_if_requested() -> None:
    """Raise KeyboardInterrupt again if SIGTERM came: a handler that fires inside a __del__
    (h5py, numpy objects being collected) has its exception swallowed by Python, so long work
    checks this flag at safe points as well (the engine's periodic hook, before outputs)."""
    if _requested:
        raise KeyboardInterrupt("SIGTERM")


def report_and_exit(what: str = "nothing was written") -> NoReturn:
    print(f"error: interrupted; {what}", file=sys.stderr)
    sys.exit(INTERRUPTED_EXIT)
