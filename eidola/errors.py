"""The one exception type users see as a one-line message instead of a traceback."""

from __future__ import annotations

from pathlib import Path


class EidolaError(Exception):
    """A problem with the user's input: file, field and what is wrong, on one line.

    The CLI and the configs print ``error: <message>`` and exit non-zero; anything else that
    escapes is a bug in Eidola and keeps its traceback.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, field: str | None = None):
        self.path = str(path) if path is not None else None
        self.field = field
        where = ": ".join(p for p in (self.path, f"field '{field}'" if field else None) if p)
        super().__init__(f"{where}: {message}" if where else message)
