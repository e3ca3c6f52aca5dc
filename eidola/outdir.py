"""An output directory one run owns from before it simulates until its last file is written.

Why: two runs pointed at one --outdir at once could each write some files and leave
summary.json from one next to results.h5 from the other. A run now takes an exclusive lock on
the directory first (a second run fails at once with a one-line error, nothing simulated), and
writes in an order that never leaves a mix: the old summary.json is removed before anything is
replaced, results.h5 replaces its predecessor atomically, and summary.json, written last,
marks a complete run. Files of the user's in the directory are left alone. The lock is the
hidden file ``.<outdir name>.lock`` beside the directory; it stays (removing it would let two
runs hold different locks for one directory).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from typing import Iterator

from eidola.errors import EidolaError

SUMMARY = "summary.json"


def lock_path(outdir: Path) -> Path:
    return outdir.parent / f".{outdir.name}.lock"


@contextlib.contextmanager
def reserved(outdir: str | Path) -> Iterator[Path]:
    """Hold the exclusive lock of `outdir` (created if needed) for the duration."""
    outdir = Path(outdir)
    created = not outdir.exists()
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path(outdir), os.O_CREAT | os.O_RDWR, 0o644)
    except OSError as exc:
        raise EidolaError(f"cannot create the output directory: {exc.strerror}", path=outdir,
                          field="outdir") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise EidolaError("another run is writing to this output directory right now; "
                                  "wait for it or pick another --outdir", path=outdir,
                                  field="outdir") from None
            raise
        yield outdir
    finally:
        if created:  # a run that wrote nothing leaves no empty directory behind
            with contextlib.suppress(OSError):
                outdir.rmdir()
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def begin_writing(outdir: Path) -> None:
    """Mark `outdir` incomplete before replacing any result file in it."""
    with contextlib.suppress(FileNotFoundError):
        (Path(outdir) / SUMMARY).unlink()
