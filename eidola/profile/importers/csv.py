"""CSV -> profile: one op per line, for hand-made profiles and other tools' exports.

Why CSV: it is the lowest common denominator any script can write, and a few lines are enough
to pin down a scenario in a test. Columns (header required, any order):
``gpu,stream,kind,t_ns,dur_ns,peer,bytes,flag,value`` plus optional ``addr`` and
``iteration``; cells that do not apply to an op's kind may be left empty. Lines that are blank
or start with ``#`` are skipped. Every error names the file, the line and the column.
Details in docs/profile-format.md ("CSV importer").
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from eidola.errors import EidolaError
from eidola.profile.importers._common import check_input, source_files, stem
from eidola.profile.model import Profile
from eidola.profile.schema import KIND_BY_NAME, SIGNAL_KINDS, OpKind, empty_ops
from eidola.profile.timeline import estimate_times

REQUIRED = ("gpu", "stream", "kind", "t_ns", "dur_ns", "peer", "bytes", "flag", "value")
OPTIONAL = ("addr", "iteration")


class _Table:
    """The cells of one file as string columns, with the line number of every row."""

    def __init__(self, path: Path):
        check_input(path)
        self.path = path
        try:
            with open(path, newline="", encoding="utf-8") as f:
                reader = csv.reader(f)
                header: list[str] | None = None
                rows: list[list[str]] = []
                lines: list[int] = []
                for row in reader:
                    if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
                        continue
                    if header is None:
                        header = [c.strip().lower() for c in row]
                        self.header_line = reader.line_num
                        continue
                    if len(row) != len(header):
                        raise EidolaError(f"line {reader.line_num}: {len(row)} cells, but the header "
                                          f"has {len(header)} columns", path=path)
                    rows.append([c.strip() for c in row])
                    lines.append(reader.line_num)
        except UnicodeDecodeError:
            raise EidolaError("not a UTF-8 text file", path=path) from None
        except csv.Error as exc:
            raise EidolaError(f"malformed CSV: {exc}", path=path) from None
        if header is None:
            raise EidolaError("no header line (expected " + ",".join(REQUIRED) + ")", path=path)
        for c in header:
            if c not in REQUIRED and c not in OPTIONAL:
                raise EidolaError(f"unknown column {c!r} in the header (columns: "
                                  f"{', '.join(REQUIRED + OPTIONAL)})", path=path, field=c)
        dup = sorted({c for c in header if header.count(c) > 1})
        if dup:
            raise EidolaError("column appears twice in the header", path=path, field=dup[0])
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise EidolaError(f"missing column(s) {', '.join(missing)} in the header", path=path,
                              field=missing[0])
        if not rows:
            raise EidolaError("no ops (only a header)", path=path)
        cols = list(zip(*rows))
        self.cells = {c: np.array(cols[i], dtype=object) for i, c in enumerate(header)}
        self.lines = np.array(lines, dtype=np.int64)

    def fail(self, col: str, row: int, problem: str) -> EidolaError:
        return EidolaError(f"line {self.lines[row]}: {problem}", path=self.path, field=col)

    def numbers(self, col: str, *, integer: bool, lo: float | None = None,
                required: np.ndarray | None = None, default: float = 0,
                applies: np.ndarray | None = None) -> np.ndarray:
        """Parse a column; empty cells get `default` unless `required` marks the row.

        The bound `lo` is checked only on rows where the column `applies` (default: all).
        """
        if col not in self.cells:
            return np.full(len(self.lines), default, dtype=np.int64 if integer else np.float64)
        raw = self.cells[col]
        empty = raw == ""
        if required is not None:
            bad = np.flatnonzero(empty & required)
            if len(bad):
                raise self.fail(col, bad[0], "empty, but this op kind needs it")
        vals = pd.to_numeric(pd.Series(np.where(empty, "0", raw)), errors="coerce").to_numpy(
            dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(vals))
        if len(bad):
            raise self.fail(col, bad[0], f"{raw[bad[0]]!r} is not a number")
        if integer:
            bad = np.flatnonzero(vals != np.round(vals))
            if len(bad):
                raise self.fail(col, bad[0], f"{raw[bad[0]]!r} is not an integer")
            # parsed as float64: beyond 2^53 an integer is no longer exact (2^63 would wrap)
            bad = np.flatnonzero(np.abs(vals) > 2.0**53)
            if len(bad):
                raise self.fail(col, bad[0], f"{raw[bad[0]]} is beyond 2^53, the largest integer "
                                             "read exactly")
        if lo is not None:
            scope = ~empty if applies is None else (~empty & applies)
            bad = np.flatnonzero(scope & (vals < lo))
            if len(bad):
                raise self.fail(col, bad[0], f"{raw[bad[0]]} must be >= {lo:g}")
        vals = np.where(empty, default, vals)
        return vals.astype(np.int64) if integer else vals


def _kinds(t: _Table) -> np.ndarray:
    raw = np.char.lower(t.cells["kind"].astype(str))
    out = np.full(len(raw), -1, dtype=np.int64)
    for name, k in KIND_BY_NAME.items():
        out[(raw == name) | (raw == str(int(k)))] = int(k)
    bad = np.flatnonzero(out < 0)
    if len(bad):
        raise t.fail("kind", bad[0], f"unknown op kind {t.cells['kind'][bad[0]]!r} (use "
                     f"{', '.join(KIND_BY_NAME)} or 0..{max(int(k) for k in OpKind)})")
    return out


def import_csv(paths: list[Path], *, gpus: int | None = None, name: str | None = None) -> Profile:
    """Import CSV op tables (several files are concatenated in order)."""
    parts = []
    timed: list[bool] = []
    for path in paths:
        t = _Table(path)
        kind = _kinds(t)
        xfer = (kind == OpKind.WRITE) | (kind == OpKind.READ)
        sig = np.isin(kind, SIGNAL_KINDS)
        wait = kind == OpKind.WAIT
        comp = kind == OpKind.COMPUTE
        cols = {
            "gpu": t.numbers("gpu", integer=True, lo=0, required=np.ones(len(kind), bool)),
            "stream": t.numbers("stream", integer=True, lo=0),
            "kind": kind,
            "dur_ns": t.numbers("dur_ns", integer=False, lo=0, required=comp),  # all kinds: >= 0
            "peer": t.numbers("peer", integer=True, lo=0, required=xfer | sig, default=-1,
                              applies=xfer | sig),
            "bytes": t.numbers("bytes", integer=True, lo=1, required=xfer, applies=xfer),
            "flag": t.numbers("flag", integer=True, lo=0, required=sig | wait, default=-1,
                              applies=sig | wait),
            "value": t.numbers("value", integer=True, required=wait, default=0),
            "addr": t.numbers("addr", integer=True, lo=0),
            "iteration": t.numbers("iteration", integer=True, lo=0),
        }
        bad = np.flatnonzero(sig & (cols["value"] < 0))
        if len(bad):
            raise t.fail("value", bad[0], "a signal must add a value >= 0 (flags only grow)")
        cols["value"] = np.where(sig & (t.cells["value"] == ""), 1, cols["value"])
        bad = np.flatnonzero(cols["iteration"] > 65535)
        if len(bad):
            raise t.fail("iteration", bad[0], "must be <= 65535")
        # cells that do not apply to a kind are ignored (set to the neutral markers)
        cols["peer"] = np.where(xfer | sig, cols["peer"], -1)
        cols["flag"] = np.where(sig | wait, cols["flag"], -1)
        cols["bytes"] = np.where(xfer, cols["bytes"], 0)
        cols["value"] = np.where(sig | wait, cols["value"], 0)
        t_empty = t.cells["t_ns"] == ""
        if t_empty.all():
            cols["t_ns"] = np.zeros(len(kind))
            timed.append(False)
        else:
            if t_empty.any():
                raise t.fail("t_ns", np.flatnonzero(t_empty)[0],
                             "empty here but given on other lines (give every t_ns or none)")
            cols["t_ns"] = t.numbers("t_ns", integer=False)
            timed.append(True)
        parts.append((t, cols))
    if len(set(timed)) > 1:
        raise EidolaError("some files give t_ns and others do not", path=paths[0], field="t_ns")
    need = max(int(max(c["gpu"].max(), c["peer"].max())) for _, c in parts) + 1
    n = need
    if gpus is not None:
        if gpus < need:
            for t, c in parts:
                bad = np.flatnonzero((c["gpu"] >= gpus) | (c["peer"] >= gpus))
                if len(bad):
                    col = "gpu" if c["gpu"][bad[0]] >= gpus else "peer"
                    raise t.fail(col, bad[0], f"GPU {max(c['gpu'][bad[0]], c['peer'][bad[0]])} "
                                 f"is outside 0..{gpus - 1} (--gpus {gpus})")
        n = gpus
    allc = {k: np.concatenate([c[k] for _, c in parts]) for k in parts[0][1]}
    ops_all = empty_ops(len(allc["gpu"]))
    for k in ("t_ns", "dur_ns", "bytes", "addr", "value", "peer", "flag", "stream", "kind",
              "iteration"):
        ops_all[k] = allc[k]
    order = np.lexsort((np.arange(len(ops_all)), allc["stream"], allc["gpu"]))
    gsorted = allc["gpu"][order]
    cuts = np.searchsorted(gsorted, np.arange(n + 1))
    ops = [ops_all[order[cuts[g]:cuts[g + 1]]] for g in range(n)]
    if not timed[0]:
        for o in ops:
            estimate_times(o)
    iters = int(allc["iteration"].max()) + 1
    attrs = {
        "name": name or stem(paths[0]),
        "kind": "csv",
        "importer": "csv",
        "source_files": source_files(list(paths)),
        "collectives": 0,
        "num_iterations": iters,
        "parameters": {"files": [p.name for p in paths], "gpus": n,
                       "t_ns": "recorded" if timed[0] else "estimated (nominal per-stream timeline)"},
    }
    return Profile(num_gpus=n, ops=ops, attrs=attrs, variability={})
