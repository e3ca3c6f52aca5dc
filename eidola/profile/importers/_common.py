"""What every importer needs: reading (gzipped) JSON safely and recording provenance."""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

from eidola.errors import EidolaError


def check_input(path: Path) -> None:
    if not path.exists():
        raise EidolaError("no such file", path=path)
    if path.is_dir():
        raise EidolaError("is a directory, expected a trace file", path=path)
    if path.stat().st_size == 0:
        raise EidolaError("empty file", path=path)


def read_maybe_gzip(path: Path) -> bytes:
    """The bytes of `path`, gunzipped when it is gzip (recognised by its magic bytes)."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise EidolaError(f"cannot read: {exc}", path=path) from None


def load_json(path: Path) -> Any:
    """Parse a .json or .json.gz file (gzip recognised by its magic bytes, not the name)."""
    check_input(path)
    data = read_maybe_gzip(path)
    if not data.strip():
        raise EidolaError("empty trace (no JSON document)", path=path)
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise EidolaError("not a JSON text file (binary content)", path=path) from None
    except json.JSONDecodeError as exc:
        raise EidolaError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                          path=path) from None


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def source_files(paths: list[Path]) -> list[dict[str, str]]:
    """Provenance entries ``{"name": basename, "sha256": hex}`` for the imported files."""
    return [{"name": p.name, "sha256": sha256_of(p)} for p in paths]


def trace_events(doc: Any, path: Path) -> list[dict[str, Any]]:
    """The event list of a Chrome/Perfetto trace (object with traceEvents, or a bare array)."""
    events = doc.get("traceEvents") if isinstance(doc, dict) else doc
    if not isinstance(events, list):
        raise EidolaError("not a trace: expected an object with a 'traceEvents' list",
                          path=path, field="traceEvents")
    return [e for e in events if isinstance(e, dict)]


def stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".json", ".csv"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name
