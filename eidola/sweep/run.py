"""`run_sweep`: run every point of a grid on a local pool or a Dask cluster, resumably."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from eidola.errors import EidolaError
from eidola.sweep.execute import (reset_stop, run_point, run_point_in_dask_worker,
                                  run_point_in_process, stop_all)
from eidola.sweep.points import Point, make_points
from eidola.sweep.table import read_row, rebuild_table, write_row

EXECUTORS = ("local", "dask")


class Progress:
    """Sweep progress: a tqdm bar (points done, failures, ETA; a widget in Jupyter) on a terminal
    or in a notebook, plain log lines otherwise (CI, batch jobs, redirected output)."""

    def __init__(self, total: int, stream=sys.stderr) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.t0 = time.perf_counter()
        self.stream = stream
        self.bar = None
        if _in_notebook() or (hasattr(stream, "isatty") and stream.isatty()):
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="sweep", unit="point", file=stream,
                            dynamic_ncols=True)

    def update(self, row: dict[str, Any]) -> None:
        self.done += 1
        self.failed += row["status"] != "ok"
        if self.bar is not None:
            self.bar.set_postfix(failed=self.failed, refresh=False)
            self.bar.update(1)
            if self.done == self.total:
                self.close()
            return
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / self.done * (self.total - self.done)
        self.stream.write(f"sweep: {self.done}/{self.total} point {row['point_id']} {row['status']}"
                          f"{(': ' + row['error']) if row['error'] else ''} (ETA {eta:.0f} s)\n")
        self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _in_notebook() -> bool:
    """Whether we run inside a Jupyter kernel (tqdm.auto then draws a widget)."""
    shell = sys.modules.get("IPython")
    try:
        return shell is not None and type(shell.get_ipython()).__name__ == "ZMQInteractiveShell"
    except Exception:  # noqa: BLE001 - no IPython shell: not a notebook
        return False


def _run_local(points: list[Point], out: Path, workers: int, gem5: str | None, timeout: float | None,
               done: Callable[[dict[str, Any]], None]) -> None:
    """Built-in-engine points run inside worker processes that import Eidola once; gem5 points
    (and any left when a worker dies) run each in its own subprocess, from threads."""
    todo = list(points)
    if all(p.backend == "builtin" for p in todo) and _fork_available():
        todo = _run_in_workers(todo, out, workers, timeout, done)
    if todo:
        _run_subprocesses(todo, out, workers, gem5, timeout, done)


def _fork_available() -> bool:
    import multiprocessing as mp

    return "fork" in mp.get_all_start_methods()


def _run_in_workers(points: list[Point], out: Path, workers: int, timeout: float | None,
                    done: Callable[[dict[str, Any]], None]) -> list[Point]:
    """Run `points` on a pool of forked workers; return the points a dead worker left undone."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(max_workers=max(1, workers), mp_context=mp.get_context("fork"))
    finished: set[str] = set()
    try:
        futures = {pool.submit(run_point_in_process, p, str(out / "points" / p.point_id), timeout): p
                   for p in points}
        for f in as_completed(futures):
            try:
                row = f.result()
            except BrokenProcessPool:
                break  # a worker died (e.g. a crash in native code): the rest run isolated
            done(row)
            finished.add(futures[f].point_id)
    except BaseException:
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True, cancel_futures=True)
    return [p for p in points if p.point_id not in finished]


def _run_subprocesses(points: list[Point], out: Path, workers: int, gem5: str | None,
                      timeout: float | None, done: Callable[[dict[str, Any]], None]) -> None:
    # Threads are enough: each point runs in its own subprocess, the threads only wait on them.
    from concurrent.futures import ThreadPoolExecutor, as_completed

    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        futures = [pool.submit(run_point, p, str(out / "points" / p.point_id), gem5, timeout) for p in points]
        for f in as_completed(futures):
            done(f.result())
    except BaseException:
        # Ctrl-C / SIGTERM: start nothing new, stop what runs; rows already written stay
        stop_all()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _run_dask(points: list[Point], out: Path, workers: int, scheduler: str | None, gem5: str | None,
              timeout: float | None, done: Callable[[dict[str, Any]], None]) -> None:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise EidolaError("the dask executor needs dask[distributed] (pip install 'eidola[dask]')",
                          field="executor") from None
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        # A task whose worker dies is rerun elsewhere (allowed_failures); rows are written here,
        # by the client, so a point is recorded exactly once whatever happens to workers.
        futures = [client.submit(run_point_in_dask_worker, p, str(out / "points" / p.point_id), gem5, timeout,
                                 key=f"eidola-point-{p.point_id}", pure=False) for p in points]
        for f in as_completed(futures):
            try:
                done(f.result())
            except Exception as exc:  # the task failed on every worker it was tried on
                pid = f.key.rsplit("-", 1)[-1]
                point = next(p for p in points if p.point_id == pid)
                done({"point_id": pid, "profile": point.profile, "backend": point.backend,
                      **{k.replace("-", "_"): v for k, v in point.args.items()},
                      "status": "failed", "error": f"worker lost: {exc}",
                      "outdir": str(out / "points" / pid)})
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_sweep(config: str | Path, profiles: list[str], grid: dict[str, list[str]], out: str | Path, *,
              fixed_args: dict[str, str] | None = None, backend: str = "builtin", executor: str = "local",
              workers: int = 2, scheduler: str | None = None, gem5: str | None = None,
              timeout: float | None = None, progress: bool = True) -> pd.DataFrame:
    """Run the grid (resumable) and return the table also written to OUT/results.parquet."""
    config = str(config)
    if not Path(config).is_file():
        raise EidolaError("config file not found", path=config)
    if executor not in EXECUTORS:
        raise EidolaError(f"unknown executor '{executor}' (local or dask)", field="executor")
    if backend not in ("builtin", "gem5"):
        raise EidolaError(f"unknown backend '{backend}' (builtin or gem5)", field="backend")
    if backend == "gem5" and not gem5:
        raise EidolaError("the gem5 backend needs --gem5 PATH or EIDOLA_GEM5", field="gem5")
    out = Path(out)
    points = make_points(config, list(profiles), grid, fixed_args, backend)
    todo = [p for p in points if (read_row(out, p.point_id) or {}).get("status") != "ok"]
    bar = Progress(len(todo)) if progress else None

    def done(row: dict[str, Any]) -> None:
        if row.get("status") == "interrupted":  # not a result: a rerun runs the point again
            return
        write_row(out, row)
        if bar:
            bar.update(row)

    arg_columns = sorted({k.replace("-", "_") for p in points for k in p.args})
    reset_stop()
    try:
        if todo:
            if executor == "local":
                _run_local(todo, out, workers, gem5, timeout, done)
            else:
                _run_dask(todo, out, workers, scheduler, gem5, timeout, done)
    except KeyboardInterrupt:
        from eidola import interrupts

        if bar:
            bar.close()
        interrupts.acknowledge()  # stopping is handled: the kept rows are written, not dropped
        table = rebuild_table(out, [p.point_id for p in points], arg_columns)
        raise SweepInterrupted(len(table), len(points), out) from None
    finally:
        if bar:
            bar.close()
    return rebuild_table(out, [p.point_id for p in points], arg_columns)


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a sweep: the finished points' rows are kept."""

    def __init__(self, kept: int, total: int, out: Path):
        super().__init__(f"{kept} of {total} points are done and kept in {out / 'results.parquet'}; "
                         "run the same sweep again to do the rest")
