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


def rebuild_table(out: Path, point_ids: list[str]) -> pd.DataFrame:
    """results.parquet from the rows of these points (one row each, in point order)."""
    rows = [r for r in (read_row(out, pid) for pid in point_ids) if r is not None]
    frame = pd.DataFrame(rows)
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    atomic_write_bytes(out / "results.parquet", buf.getvalue())
    return frame
