"""Running one sweep point: always in its own process (the config as a subprocess), so a crash,
a hang (timeout) or a killed run is recorded as that point's failure and the sweep goes on."""

from __future__ import annotations

import io
import json
import os
import runpy
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

from eidola.sweep.points import Point

#: Test hook: if set to a path that does not exist yet, the first point to run creates it and
#: kills the process it runs in (a sweep worker), to prove that a dead worker loses no point.
DIE_ONCE_ENV = "EIDOLA_SWEEP_TEST_DIE_ONCE"


_live: set[subprocess.Popen] = set()
_live_lock = threading.Lock()
_stopping = threading.Event()


def stop_all() -> None:
    """Stop the sweep: no new point starts, and every running point's process is terminated
    (a config exits at once on SIGTERM, removing its partial outputs)."""
    _stopping.set()
    with _live_lock:
        for proc in _live:
            proc.terminate()


def reset_stop() -> None:
    _stopping.clear()


def _scalars(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary's scalar metrics (nested dicts flattened as a_b), for one tidy row."""
    row: dict[str, Any] = {}
    for key, value in summary.items():
        if key in ("topology", "params", "profile", "units", "gem5"):
            continue
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, (int, float, str, bool)):
                    row[f"{key}_{k}"] = v
        elif isinstance(value, (int, float, str, bool)):
            row[key] = value
    row["topology"] = summary.get("topology", {}).get("name")
    row["num_gpus"] = summary.get("topology", {}).get("num_gpus")
    return row


def _finish_row(row: dict[str, Any], run_dir: Path, status: str, error: str, t0: float) -> dict[str, Any]:
    """Time, metrics from the point's summary.json (when it succeeded), status and error."""
    row["point_wall_seconds"] = time.perf_counter() - t0
    if status == "ok":
        try:
            row.update(_scalars(json.loads((run_dir / "run" / "summary.json").read_text())))
        except (OSError, ValueError) as exc:
            status, error = "failed", f"no readable summary.json: {exc}"
    row["status"], row["error"] = status, error
    return row


def _die_once_for_tests() -> None:
    """Tests of worker loss set DIE_ONCE_ENV: the first point to run kills its worker."""
    marker = os.environ.get(DIE_ONCE_ENV)
    if marker and not Path(marker).exists():
        Path(marker).write_text("a sweep worker died here on purpose\n")
        os._exit(17)


def run_point(point: Point, outdir: str, gem5: str | None = None, timeout: float | None = None) -> dict[str, Any]:
    """Run one point; return its row (parameters, metrics, status, error). Never raises."""
    _die_once_for_tests()
    run_dir = Path(outdir)
    run_dir.mkdir(parents=True, exist_ok=True)
    argv = [*point.argv(), "--outdir", str(run_dir / "run"), "--quiet"]
    if point.backend == "gem5":
        if not gem5:
            raise ValueError("gem5 backend needs the gem5.opt path")
        cmd = [gem5, "-q", f"--outdir={run_dir / 'm5out'}", point.config, *argv]
    else:
        cmd = [sys.executable, point.config, *argv]
    row: dict[str, Any] = {"point_id": point.point_id, "profile": point.profile, "backend": point.backend,
                           **{k.replace("-", "_"): v for k, v in point.args.items()},
                           "outdir": str(run_dir)}
    t0 = time.perf_counter()
    if _stopping.is_set():
        row.update(status="interrupted", error="the sweep was interrupted before this point ran")
        return row
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with _live_lock:
        _live.add(proc)
    try:
        _, stderr = proc.communicate(timeout=timeout)
        status = "ok" if proc.returncode == 0 else "failed"
        error = "" if status == "ok" else (stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        status, error = "timeout", f"no result after {timeout} s"
    finally:
        with _live_lock:
            _live.discard(proc)
    if _stopping.is_set() and status != "ok":
        row.update(status="interrupted", error="the sweep was interrupted while this point ran")
        return row
    return _finish_row(row, run_dir, status, error, t0)


class _PointTimeout(BaseException):
    """Raised in an in-process point when its time is up (not an Exception: nothing swallows it)."""


def _time_up(signum: int, frame: object) -> None:
    raise _PointTimeout()


def run_point_in_process(point: Point, outdir: str, timeout: float | None = None) -> dict[str, Any]:
    """Run one built-in-engine point inside this (worker) process; same row as `run_point`.

    Why: a new Python process per point costs ~0.3 s of start-up and imports, more than a small
    point's simulation; a worker that has imported Eidola once runs the config file as
    ``__main__`` again for every point. The config's one-line errors arrive as SystemExit with
    the message on stderr, which is captured; a timeout is a SIGALRM the engine notices at its
    next signal check.
    """
    run_dir = Path(outdir)
    run_dir.mkdir(parents=True, exist_ok=True)
    argv = [*point.argv(), "--outdir", str(run_dir / "run"), "--quiet"]
    row: dict[str, Any] = {"point_id": point.point_id, "profile": point.profile, "backend": point.backend,
                           **{k.replace("-", "_"): v for k, v in point.args.items()},
                           "outdir": str(run_dir)}
    err = io.StringIO()
    status, error = "ok", ""
    old_argv = sys.argv
    t0 = time.perf_counter()
    if timeout:
        signal.signal(signal.SIGALRM, _time_up)
        signal.setitimer(signal.ITIMER_REAL, float(timeout))
    try:
        sys.argv = [point.config, *argv]
        with redirect_stdout(io.StringIO()), redirect_stderr(err):
            runpy.run_path(point.config, run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code != 0:
            lines = err.getvalue().strip().splitlines()
            status, error = "failed", (lines[-1] if lines else f"exit {code}")
    except _PointTimeout:
        status, error = "timeout", f"no result after {timeout} s"
    except Exception as exc:  # noqa: BLE001 - a config's own bug: this point failed, not the sweep
        status, error = "failed", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, 0)
        sys.argv = old_argv
    return _finish_row(row, run_dir, status, error, t0)


def run_point_in_dask_worker(point: Point, outdir: str, gem5: str | None = None,
                             timeout: float | None = None) -> dict[str, Any]:
    """A Dask task: a built-in point without a timeout runs inside the worker, which imported
    Eidola once (as the local executor's forked workers do); the rest in a subprocess.

    Why the split: Dask runs tasks on a worker thread, where SIGALRM (the in-process timeout)
    cannot be installed, so a point with a timeout keeps its own process.
    """
    if point.backend == "builtin" and not timeout:
        _die_once_for_tests()
        return run_point_in_process(point, outdir, None)
    return run_point(point, outdir, gem5, timeout)
