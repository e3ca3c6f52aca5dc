"""Interrupted and concurrent runs: nothing mixed, nothing half-written, finished rows kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from eidola import outdir as out_mod
from eidola.errors import EidolaError
from eidola.profile.synth import synthesize
from eidola.profile import write_profile
from eidola.sweep import run_sweep

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "eidola_8gpu.py"
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def _wait_for(cond, proc: subprocess.Popen, what: str, limit_s: float = 120.0) -> None:
    """Poll an observable condition (not a fixed sleep); fail if the process ends first."""
    t0 = time.monotonic()
    while not cond():
        if proc.poll() is not None:
            pytest.fail(f"process ended (rc {proc.returncode}) before {what}")
        if time.monotonic() - t0 > limit_s:
            proc.kill()
            pytest.fail(f"no {what} after {limit_s} s")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def long_profile(tmp_path_factory) -> Path:
    # 2 GiB all-reduce at 1 KiB packets: tens of seconds of simulation, stopped long before
    p = tmp_path_factory.mktemp("long") / "ar2g.h5"
    write_profile(synthesize("allreduce", 8, 2 << 30), p)
    return p


def test_a_second_run_into_a_busy_outdir_is_refused_before_simulating(tmp_path: Path,
                                                                      long_profile: Path) -> None:
    outdir = tmp_path / "o"
    with out_mod.reserved(outdir):  # a run holding the directory
        p = subprocess.run([sys.executable, str(CONFIG), "--profile", str(long_profile),
                            "--packet-size", "1KiB", "--outdir", str(outdir)],
                           capture_output=True, text=True, env=ENV, timeout=120)
    assert p.returncode == 2
    assert "another run is writing to this output directory" in p.stderr
    assert p.stderr.count("\n") == 1 and not (outdir / "summary.json").exists()
    with pytest.raises(EidolaError, match="another run"):
        with out_mod.reserved(outdir), out_mod.reserved(outdir):
            pass


def test_sigterm_stops_a_long_simulation_and_writes_nothing(tmp_path: Path, long_profile: Path) -> None:
    outdir = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, str(CONFIG), "--profile", str(long_profile),
                             "--packet-size", "1KiB", "--outdir", str(outdir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    _wait_for(lambda: out_mod.lock_path(outdir).exists(), proc, "the output directory reserved")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted" in err and "Traceback" not in err
    assert not (outdir / "summary.json").exists() and not (outdir / "results.h5").exists()
    assert not list(outdir.glob(".*.tmp"))


def test_sigterm_on_a_sweep_keeps_finished_rows_and_runs_nothing_more(tmp_path: Path,
                                                                        long_profile: Path) -> None:
    small = tmp_path / "small.h5"
    write_profile(synthesize("allreduce", 8, 1 << 20), small)
    out = tmp_path / "sweep"
    proc = subprocess.Popen([sys.executable, "-m", "eidola", "sweep", str(CONFIG),
                             "--profile", str(small), "--profile", str(long_profile),
                             "--grid", "packet-size=1KiB", "--workers", "1", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    _wait_for(lambda: len(list(out.glob("points/*/row.json"))) >= 1, proc, "a finished point")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "1 of 2 points are done and kept" in err and "Traceback" not in err
    table = pd.read_parquet(out / "results.parquet")
    assert list(table["status"]) == ["ok"] and table["profile"][0] == str(small)
    # the point that was stopped left no row: a rerun does it (not asserted here: it is long)
    assert len(list(out.glob("points/*/row.json"))) == 1


def test_the_same_point_twice_is_an_error(tmp_path: Path) -> None:
    small = tmp_path / "small.h5"
    write_profile(synthesize("allreduce", 2, 1 << 16), small)
    with pytest.raises(EidolaError, match="given twice"):
        run_sweep(CONFIG, [str(small), str(small)], {"packet-size": ["4KiB"]}, tmp_path / "s")
    assert not (tmp_path / "s" / "results.parquet").exists()


def test_runs_and_inputs_too_big_for_the_machine_are_one_line_errors(tmp_path: Path) -> None:
    from eidola.memory import available_bytes

    have = available_bytes()
    if have is None:
        pytest.skip("no memory figure on this platform")
    small = tmp_path / "p2p.h5"
    write_profile(synthesize("p2p", 2, 1 << 16), small)
    # a full mesh of 3000 GPUs: 9 M directed links, whose time series alone need ~69 GiB
    p = subprocess.run([sys.executable, str(CONFIG), "--profile", str(small), "--topology",
                        "fully_connected", "--gpus", "3000", "--outdir", str(tmp_path / "o")],
                       capture_output=True, text=True, env=ENV, timeout=300)
    if have > 100 * 2**30:
        pytest.skip("this machine could hold the run")
    assert p.returncode == 2 and "needs about" in p.stderr and "--no-series" in p.stderr
    assert p.stderr.count("\n") == 1 and not (tmp_path / "o").exists()
    # a synthetic all-reduce of 100000 GPUs: refused with the estimate before it is written
    q = subprocess.run([sys.executable, "-m", "eidola", "profile", "synth", "allreduce", "--gpus",
                        "100000", "--size", "1MiB", "-o", str(tmp_path / "s.h5")],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert q.returncode == 2 and "60,000,000,000 ops" not in q.stderr  # the exact count is shown
    assert "59,999,400,000 ops on 100000 GPUs" in q.stderr and "needs about" in q.stderr
    assert q.stderr.count("\n") == 1 and not (tmp_path / "s.h5").exists()
