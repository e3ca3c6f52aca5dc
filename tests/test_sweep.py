"""eidola sweep: tidy table, resumable, failures recorded, Dask cluster, a worker dying mid-sweep."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from eidola.sweep import run_sweep
from eidola.sweep.execute import DIE_ONCE_ENV

REPO = Path(__file__).resolve().parents[1]
CONFIG = str(REPO / "configs" / "eidola_sweep_point.py")
P2P = str(REPO / "profiles" / "p2p_2gpu.h5")
GRID = {"link-bw": ["32", "64"], "sync": ["polling", "syncmon"]}


def test_local_2x2_sweep_gives_four_rows_and_a_rerun_runs_nothing(tmp_path: Path) -> None:
    t = run_sweep(CONFIG, [P2P], GRID, tmp_path, progress=False)
    assert len(t) == 4 and set(t["status"]) == {"ok"}
    # link bandwidth halves: the transfer takes twice as long
    by_bw = t.groupby("link_bw")["makespan_ns"].mean()
    assert by_bw[32] > 1.9 * by_bw[64]
    # swept numbers are stored as numbers, read back as numbers
    assert pd.api.types.is_integer_dtype(pd.read_parquet(tmp_path / "results.parquet")["link_bw"])
    assert (t.loc[t["sync"] == "syncmon", "polling_reads"] == 0).all()
    assert (t.loc[t["sync"] == "polling", "polling_reads"] > 0).all()
    rows = sorted(tmp_path.glob("points/*/row.json"))
    stamps = [r.stat().st_mtime_ns for r in rows]
    again = run_sweep(CONFIG, [P2P], GRID, tmp_path, progress=False)
    assert len(again) == 4
    assert [r.stat().st_mtime_ns for r in rows] == stamps  # nothing was run again
    assert pd.read_parquet(tmp_path / "results.parquet")["point_id"].is_unique


def test_a_failing_point_is_recorded_and_the_others_succeed(tmp_path: Path) -> None:
    t = run_sweep(CONFIG, [P2P], {"link-bw": ["-1", "64"]}, tmp_path, progress=False)
    bad = t[t["link_bw"] == -1].iloc[0]
    good = t[t["link_bw"] == 64].iloc[0]
    assert bad["status"] == "failed" and "link-bw" in bad["error"]
    assert good["status"] == "ok" and good["makespan_ns"] > 0


def test_dask_local_cluster_with_two_workers(tmp_path: Path) -> None:
    t = run_sweep(CONFIG, [P2P], GRID, tmp_path, executor="dask", workers=2, progress=False)
    assert len(t) == 4 and set(t["status"]) == {"ok"}
    assert t["point_id"].is_unique


def test_a_worker_killed_mid_sweep_loses_and_duplicates_nothing(tmp_path: Path, monkeypatch) -> None:
    marker = tmp_path / "died"
    monkeypatch.setenv(DIE_ONCE_ENV, str(marker))
    t = run_sweep(CONFIG, [P2P], GRID, tmp_path / "sweep", executor="dask", workers=2, progress=False)
    assert marker.exists()  # a worker process really died
    assert len(t) == 4 and t["point_id"].is_unique
    assert set(t["status"]) == {"ok"}  # its point was rerun on a live worker


def test_cli_sweep_and_bad_grid(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "eidola", "sweep", CONFIG, "--profile", P2P, "--grid",
                         "seed=0,1", "--out", str(tmp_path / "s")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "2 points (2 ok" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "eidola", "sweep", CONFIG, "--profile", P2P, "--grid",
                          "link-bw", "--out", str(tmp_path / "b")], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "grid" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_grid_keys_and_values_must_not_repeat() -> None:
    from eidola.errors import EidolaError
    from eidola.sweep.points import parse_grid

    assert parse_grid(["link-bw=32,64", "sync=polling"]) == {"link-bw": ["32", "64"], "sync": ["polling"]}
    with pytest.raises(EidolaError, match="given twice"):
        parse_grid(["link-bw=32", "link-bw=64"])
    with pytest.raises(EidolaError, match="more than once"):
        parse_grid(["link-bw=32,32"])


def test_a_sweep_whose_every_point_failed_exits_non_zero(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "eidola", "sweep", CONFIG, "--profile", P2P, "--grid",
                        "link-bw=-1,-2", "--out", str(tmp_path / "s")], capture_output=True, text=True)
    assert p.returncode != 0 and "2 points (0 ok" in p.stdout
    last = p.stderr.strip().splitlines()[-1]  # progress lines come first on stderr
    assert last.startswith("error: ") and "every point" in last and "Traceback" not in p.stderr
    assert (tmp_path / "s" / "results.parquet").exists()  # the failed rows are kept


def test_in_process_points_time_out_and_a_dead_worker_loses_nothing(tmp_path: Path) -> None:
    from eidola.profile import write_profile
    from eidola.profile.synth import synthesize

    long = write_profile(synthesize("allreduce", 8, 2 << 30), tmp_path / "long.h5")
    t = run_sweep(CONFIG, [str(long)], {"packet-size": ["1KiB"]}, tmp_path / "t", timeout=1.0,
                  progress=False)
    assert list(t["status"]) == ["timeout"] and "1.0 s" in t["error"][0]
    # a config that kills its worker process the first time it runs (native crash stand-in)
    marker = tmp_path / "crashed-once"
    crashing = tmp_path / "crashing_config.py"
    crashing.write_text(
        "import os, sys\n"
        f"sys.path.insert(0, {str(Path(CONFIG).resolve().parents[1])!r})\n"
        f"if not os.path.exists({str(marker)!r}):\n"
        f"    open({str(marker)!r}, 'w').close()\n"
        "    os._exit(9)\n"
        "from eidola.runner import config_main\n"
        "if __name__ == '__main__':\n"
        "    config_main({'topology': 'mi300x'})\n")
    t2 = run_sweep(crashing, [P2P], GRID, tmp_path / "c", progress=False)
    assert marker.exists() and len(t2) == 4 and set(t2["status"]) == {"ok"}
    assert t2["point_id"].is_unique


def test_sweep_progress_is_a_tqdm_bar_on_a_terminal_and_log_lines_elsewhere() -> None:
    import io

    from eidola.sweep.run import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    rows = [{"status": "ok", "point_id": "a", "error": ""},
            {"status": "failed", "point_id": "b", "error": "boom"}]
    tty, log = Terminal(), io.StringIO()
    bar, lines = Progress(2, stream=tty), Progress(2, stream=log)
    for r in rows:
        bar.update(r)
        lines.update(r)
    assert "2/2" in tty.getvalue() and "failed=1" in tty.getvalue() and "point" in tty.getvalue()
    assert log.getvalue().splitlines() == [
        line for line in log.getvalue().splitlines() if line.startswith("sweep: ")]
    assert "point b failed: boom" in log.getvalue()
