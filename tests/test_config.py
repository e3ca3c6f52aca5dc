"""configs/eidola_8gpu.py as users run it: plain Python and `eidola run`, outputs and errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "eidola_8gpu.py"
SUMMARY_KEYS = {"backend", "makespan_ns", "gpu_finish_ns", "bytes_written", "packets", "polling_reads",
                "polling_bytes", "syncmon_notifications", "events", "wall_seconds", "topology", "params"}


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def gemm_rs() -> Path:
    return REPO / "profiles" / "gemm_rs_8gpu.h5"


def test_plain_python_and_eidola_run_give_the_same_summary(tmp_path: Path, gemm_rs: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    p1 = run(sys.executable, str(CONFIG), "--profile", str(gemm_rs), "--outdir", str(a))
    p2 = run(sys.executable, "-m", "eidola", "run", str(CONFIG), "--profile", str(gemm_rs), "--outdir", str(b))
    assert p1.returncode == 0, p1.stderr
    assert p2.returncode == 0, p2.stderr
    s1 = json.loads((a / "summary.json").read_text())
    s2 = json.loads((b / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(s1)
    assert s1["backend"] == "builtin"
    for key in ("makespan_ns", "gpu_finish_ns", "bytes_written", "packets", "polling_reads", "events"):
        assert s1[key] == s2[key]
    assert len(s1["gpu_finish_ns"]) == 8
    assert s1["topology"]["name"] == "mi300x" and s1["params"]["sync"] == "polling"
    assert "makespan" in p1.stdout and " ns" in p1.stdout


def test_results_h5_holds_series_that_match_the_summary(tmp_path: Path, gemm_rs: Path) -> None:
    out = tmp_path / "o"
    p = run(sys.executable, str(CONFIG), "--profile", str(gemm_rs), "--outdir", str(out), "--quiet")
    assert p.returncode == 0, p.stderr
    summary = json.loads((out / "summary.json").read_text())
    with h5py.File(out / "results.h5") as f:
        assert f.attrs["time_bin_ns"] > 0
        assert int(np.sum(f["polling_reads"][()])) == summary["polling_reads"]
        assert f["channel_endpoints"].shape[0] == 2 * 28
        # series only of channels that carried bytes, named by link_channels
        active = np.flatnonzero(f["channel_bytes"][()] > 0)
        assert list(f["link_channels"][()]) == list(active)
        assert f["link_bytes"].shape[0] == len(active)
        assert np.array_equal(f["link_bytes"][()].sum(axis=1), f["channel_bytes"][()][active])
        assert f["write_latency"].attrs["samples"] == summary["write_latency_ns"]["count"]


@pytest.mark.parametrize("args,needle", [
    (["--link-bw", "-5"], "field 'link-bw'"),
    (["--link-bw", "0"], "field 'link-bw'"),
    (["--topology", "ring", "--gpus", "4"], "8 GPUs but topology 'ring' has only 4"),
    (["--packet-size", "lots"], "packet-size"),
    (["--topology", "hypercube"], "hypercube"),
])
def test_bad_arguments_give_one_line_errors_and_write_nothing(tmp_path: Path, gemm_rs: Path,
                                                             args: list[str], needle: str) -> None:
    out = tmp_path / "never"
    p = run(sys.executable, str(CONFIG), "--profile", str(gemm_rs), "--outdir", str(out), *args)
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    assert needle in p.stderr
    assert p.stderr.startswith("error: ") and len(p.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_unreadable_profile_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.h5"
    bad.write_text("this is not HDF5")
    out = tmp_path / "o"
    p = run(sys.executable, str(CONFIG), "--profile", str(bad), "--outdir", str(out))
    assert p.returncode == 2
    assert p.stderr.startswith("error: ") and str(bad) in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert "Traceback" not in p.stderr
    assert not out.exists()


def test_a_failed_rerun_keeps_the_previous_results(tmp_path: Path, gemm_rs: Path) -> None:
    out = tmp_path / "o"
    assert run(sys.executable, str(CONFIG), "--profile", str(gemm_rs), "--outdir", str(out)).returncode == 0
    before = (out / "summary.json").read_bytes()
    p = run(sys.executable, str(CONFIG), "--profile", str(tmp_path / "missing.h5"), "--outdir", str(out))
    assert p.returncode == 2
    assert (out / "summary.json").read_bytes() == before
    assert sorted(x.name for x in out.iterdir()) == ["results.h5", "summary.json"]


def test_deadlocked_profile_exits_non_zero_naming_the_stuck_wait(tmp_path: Path) -> None:
    from eidola.profile import Profile, write_profile
    from eidola.profile.schema import OpKind, empty_ops

    waiter = empty_ops(1)
    waiter["kind"], waiter["flag"], waiter["value"] = OpKind.WAIT, 3, 1
    prof = tmp_path / "stuck.h5"
    write_profile(Profile(num_gpus=2, ops=[empty_ops(0), waiter], attrs={"name": "stuck"}), prof)
    p = run(sys.executable, str(CONFIG), "--profile", str(prof), "--outdir", str(tmp_path / "o"))
    assert p.returncode == 2
    # refused before simulating, by the same rules as `eidola profile validate`
    assert "cannot be replayed" in p.stderr and "gpu 1 stream 0 op 0: waits for flag 3 >= 1" in p.stderr
    assert "the wait can never complete" in p.stderr and p.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_eidola_run_help_prints_usage() -> None:
    p = run(sys.executable, "-m", "eidola", "run", "--help")
    assert p.returncode == 0 and "eidola run [OPTIONS] CONFIG" in p.stdout and p.stderr == ""


@pytest.mark.parametrize("args,field", [
    (["--seed", str(2**64)], "seed"),
    (["--link-latency", "inf"], "link-latency"),
    (["--link-latency", "1e16"], "link-latency"),
    (["--link-bw", "inf"], "link-bw"),
    (["--hbm-bw", "inf"], "hbm-bw"),
    (["--mem-latency", "1e15"], "mem-latency"),
    (["--poll-interval", "nan"], "poll-interval"),
])
def test_out_of_range_or_infinite_values_are_one_line_errors(args: list[str], field: str) -> None:
    p = run(sys.executable, "configs/eidola_8gpu.py", "--profile", "profiles/p2p_2gpu.h5", "--quiet", *args)
    err = p.stderr.strip()
    assert p.returncode == 2 and len(err.splitlines()) == 1 and err.startswith("error:") and field in err


def test_output_paths_are_checked_before_the_run(tmp_path: Path) -> None:
    a_file = tmp_path / "f"
    a_file.write_text("mine")
    for args, problem in ((["--outdir", str(a_file)], "exists and is a file"),
                          (["--outdir", str(a_file / "sub")], "is a file"),
                          (["--outdir", str(tmp_path / "o"), "--trace", str(tmp_path)], "is a directory")):
        p = run(sys.executable, "configs/eidola_8gpu.py", "--profile", "profiles/p2p_2gpu.h5", "--quiet", *args)
        assert p.returncode == 2 and problem in p.stderr and "Traceback" not in p.stderr
    assert a_file.read_text() == "mine" and not (tmp_path / "o").exists()


def test_a_profile_given_as_the_config_is_a_one_line_error() -> None:
    p = run(sys.executable, "-m", "eidola", "run", "profiles/p2p_2gpu.h5")
    assert p.returncode == 2 and "not a Python config" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_the_first_run_says_what_it_models(tmp_path: Path) -> None:
    # the README's first command: its profile must model a library's schedule, and say so
    p = run(sys.executable, str(CONFIG), "--profile", str(REPO / "profiles" / "allreduce_8gpu.h5"),
            "--outdir", str(tmp_path / "o"))
    assert p.returncode == 0, p.stderr
    assert "models              allreduce of 256 MiB, algorithm ring, RCCL library model" in p.stdout
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert "RCCL library model" in s["profile"]["models"]
