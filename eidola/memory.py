"""What this machine can hold, and one-line refusals before work that would not fit.

Why: a run or generator that exhausts memory dies after minutes with a traceback (or is killed
by the kernel); checking a cheap estimate first, and turning the allocation failures that still
happen into one line with the size asked for, is what a user can act on.
"""

from __future__ import annotations

import os
from pathlib import Path

from eidola.errors import EidolaError


def available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), else physical memory, else None."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_fits(need_bytes: float, what: str, hint: str, *, field: str | None = None) -> None:
    """Refuse when `need_bytes` exceeds the memory available now."""
    have = available_bytes()
    if have is not None and need_bytes > have:
        raise EidolaError(f"{what} needs about {gib(need_bytes)} of memory but {gib(have)} is "
                          f"available; {hint}", field=field)


def out_of_memory_message(exc: BaseException) -> str:
    """One line for a MemoryError (numpy says how much it asked for; C++ says bad_alloc)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    if "bad_alloc" in text or not text:
        text = "an allocation failed"
    return (f"out of memory: {text}; the input asks for more than this machine holds "
            "(fewer GPUs, --no-series, or a smaller profile)")
