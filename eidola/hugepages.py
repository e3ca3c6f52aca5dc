"""Start `eidola run` and `eidola sweep` with glibc's malloc tuned for the engine's memory.

Why: a run of thousands of GPUs keeps gigabytes of per-GPU state (programs, replayers, flag
tables) that the event loop reads in no useful order, so with 4 KiB pages most of its cache
misses also miss the TLB. Linux backs memory with 2 MiB pages only where a program asks
(transparent_hugepage "madvise", the usual default). The engine asks for its largest arrays
itself (core/replay/huge_pages.hh); everything else comes from glibc's malloc, which asks too
when started with ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` (glibc 2.35 and later).

Loading is the other side: it makes and drops a few MiB of arrays per GPU (decoded ops, their
checks) while the programs grow. glibc returns a freed block above its dynamic mmap threshold
to the kernel at once, and trims the heap top above its trim threshold, so the next GPU's
arrays were faulted in and zeroed again: perf put 40% of a 4096-GPU ring's load in the
kernel's page clearing. Fixing the two thresholds at the values glibc's own dynamic rule
reaches at most (mmap 32 MiB, DEFAULT_MMAP_THRESHOLD_MAX on 64-bit; trim twice that) keeps
those blocks for reuse; the peak is unchanged (3.32 GB either way).

A tunable is read only when a process starts, so the command starts itself once more with
them, before importing anything heavy (about 20 ms here).

Measured on a 4096-GPU ring all-reduce from a file, five pairs alternated (the last by
`python bench/compare_huge_pages.py`): simulate 67.5 / 73.1 / 86.0 / 107.4 / 84.9 s without
huge pages, 57.4 / 56.6 / 70.2 / 105.0 / 79.0 s with (2-23% less, median 15%, in hours of
different machine speed); load with huge pages, without the two thresholds 10.7 / 9.0 s, with
them 7.2 / 7.6 s (alternated, 2026-12-01). The results are identical (they cannot depend on
the allocator). ``EIDOLA_HUGE_PAGES=0`` leaves out the huge pages, ``EIDOLA_MALLOC_TUNING=0``
the whole restart; a tunable that ``GLIBC_TUNABLES`` already sets is left as it is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: Subcommands that run the engine (the others gain nothing from a second start).
_ENGINE_COMMANDS = ("run", "sweep")
_TUNABLE = "glibc.malloc.hugetlb"
#: glibc's dynamic mmap threshold stops at DEFAULT_MMAP_THRESHOLD_MAX (4 MiB x sizeof(long),
#: 32 MiB on 64-bit) and sets the trim threshold to twice the mmap threshold as it goes.
_THRESHOLDS = {"glibc.malloc.mmap_threshold": 32 << 20, "glibc.malloc.trim_threshold": 64 << 20}
_THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def _glibc_version() -> tuple[int, int] | None:
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()  # e.g. "glibc 2.36"
        major, minor = version.split(".")[:2]
        return (int(major), int(minor)) if name == "glibc" else None
    except (AttributeError, OSError, ValueError):
        return None


def _huge_pages_on_request() -> bool:
    try:
        return "[madvise]" in _THP_MODE.read_text()  # "always": every page may be huge already
    except OSError:
        return False


def relaunch_env(argv: list[str], environ: dict[str, str]) -> dict[str, str] | None:
    """The environment to start the command `argv` again with, or None to go on as it is."""
    if environ.get("EIDOLA_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return None
    command = next((a for a in argv[1:] if not a.startswith("-")), None)
    if command not in _ENGINE_COMMANDS:
        return None
    version = _glibc_version()
    if version is None or version < (2, 26):  # tunables came with glibc 2.26
        return None
    wanted: dict[str, int] = dict(_THRESHOLDS)
    if environ.get("EIDOLA_HUGE_PAGES", "1") != "0" and version >= (2, 35) and _huge_pages_on_request():
        wanted[_TUNABLE] = 1
    tunables = environ.get("GLIBC_TUNABLES", "")
    already = {item.split("=", 1)[0] for item in tunables.split(":") if item}
    added = [f"{name}={value}" for name, value in wanted.items() if name not in already]
    if not added:
        return None  # set by the user, or this is the second start
    return {**environ, "GLIBC_TUNABLES": ":".join(([tunables] if tunables else []) + added)}


def relaunch_with_malloc_tuning() -> None:
    """Replace this process with the same command under the tunables, when they help."""
    env = relaunch_env(sys.argv, dict(os.environ))
    if env is None:
        return
    try:
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
    except OSError:
        return  # go on without: the results are the same


def main() -> None:
    """The `eidola` command (console script and ``python -m eidola``)."""
    relaunch_with_malloc_tuning()
    from eidola.cli import main as cli_main

    cli_main()
