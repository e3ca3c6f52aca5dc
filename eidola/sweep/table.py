"""The sweep's results: one row file per finished point (written atomically by the process that
orchestrates the sweep), and `results.parquet` rebuilt from them. A row file is the unit of
truth: a point is done when its row says status ok, so nothing is lost or counted twice if the
sweep or a worker dies, and a rerun only runs what is missing or failed."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from eidola.results import atomic_write_bytes


def row_path(out: Path, point_id: str) -> Path:
    return out / "points" / point_id / "row.json"


def read_row(out: Path, point_id: str) -> dict[str, Any] | None:
    try:
        return json.loads(row_path(out, point_id).read_text())
    except (OSError, ValueError):
        return None


def write_row(out: Path, row: dict[str, Any]) -> None:
    atomic_write_bytes(row_path(out, row["point_id"]), (json.dumps(row, sort_keys=True) + "\n").encode())


def _typed(value: object) -> object:
    """A swept value as a number when it is one ('100' -> 100, '2.5' -> 2.5, '4KiB' -> 4096)."""
    if not isinstance(value, str):
        return value
    for conv in (int, float):
        try:
            return conv(value)
        except ValueError:
            pass
    try:
        from eidola.profile.units import parse_size

        return parse_size(value)
    except Exception:  # noqa: BLE001 - not a size either: keep the text
        return value


def rebuild_table(out: Path, point_ids: list[str], arg_columns: list[str] | None = None) -> pd.DataFrame:
    """results.parquet from the rows of these points (one row each, in point order).

    Swept and fixed argument columns become numbers when every value of the column is one, so
    a table read back sorts and plots them as numbers, not text.
    """
    rows = [r for r in (read_row(out, pid) for pid in point_ids) if r is not None]
    frame = pd.DataFrame(rows)
    for col in arg_columns or []:
        if col in frame:
            vals = [_typed(v) for v in frame[col]]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
                frame[col] = pd.Series(vals, index=frame.index)
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    atomic_write_bytes(out / "results.parquet", buf.getvalue())
    return frame
