"""The synchronization model: shape-derived fused kernels, memory channels, remote polling and
a SyncMon with a finite table (issue: synchronization that matters)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from eidola.engine import run
from eidola.errors import EidolaError
from eidola.params import RunParams
from eidola.profile import Profile
from eidola.profile.schema import OpKind, empty_ops
from eidola.profile.synth import synthesize
from eidola.profile.validate import validate_ops
from eidola.results import write_run
from eidola.topology import build_topology
from eidola.topology.gpus import gpu_spec

REPO = Path(__file__).resolve().parents[1]


def ops(rows: list[dict]) -> np.ndarray:
    o = empty_ops(len(rows))
    for i, r in enumerate(rows):
        for k, v in r.items():
            o[k][i] = v
    return o


@pytest.fixture(scope="module")
def gemm_rs_8192() -> Profile:
    return synthesize("gemm-rs", 8, None, gpu="mi300x", gemm_m=8192, gemm_n=8192, gemm_k=8192)


def test_shape_derived_gemm_rs_runs_one_stream_per_cu(gemm_rs_8192: Profile) -> None:
    spec = gpu_spec("mi300x")
    for o in gemm_rs_8192.ops:
        assert len(np.unique(o["stream"])) == spec.compute_units >= 256
    shape = gemm_rs_8192.attrs["parameters"]["gemm_shape"]
    # 2 * 256 * 256 * 8192 flops at one CU's share of 708 TFLOPS (AMD's measured BF16 MAF)
    assert shape["compute_ns_per_tile"] == pytest.approx(2 * 256 * 256 * 8192 / (708e3 / 304))
    assert gemm_rs_8192.attrs["parameters"]["size_bytes"] == 8192 * 8192 * 2
    assert validate_ops(gemm_rs_8192) == []


def test_polling_at_20ns_costs_time_that_syncmon_does_not(gemm_rs_8192: Profile) -> None:
    assert gemm_rs_8192.attrs["parameters"]["tile_order"] == "aligned"
    topo = build_topology("mi300x")
    polling = run(gemm_rs_8192, topo, RunParams(sync="polling", poll_interval_ns=20)).summary
    unlimited = build_topology("mi300x", syncmon_entries=0)
    monitor = run(gemm_rs_8192, unlimited, RunParams(sync="syncmon")).summary
    assert polling["polling_reads"] > 10_000 and monitor["polling_reads"] == 0
    assert polling["makespan_ns"] > monitor["makespan_ns"]
    assert polling["mem_channel_peak_util"] > monitor["mem_channel_peak_util"]
    small = run(gemm_rs_8192, build_topology("mi300x", syncmon_entries=16), RunParams(sync="syncmon")).summary
    assert small["syncmon_overflows"] > 0 and small["fallback_polls"] > 0
    assert small["syncmon_peak_entries"] == 16 < monitor["syncmon_peak_entries"]
    assert small["makespan_ns"] >= monitor["makespan_ns"]


def test_staggered_order_hides_the_waits(gemm_rs_8192: Profile) -> None:
    staggered = synthesize("gemm-rs", 8, None, gpu="mi300x", gemm_m=8192, gemm_n=8192, gemm_k=8192,
                           tile_order="staggered")
    topo = build_topology("mi300x")
    s = run(staggered, topo, RunParams(sync="syncmon")).summary
    a = run(gemm_rs_8192, topo, RunParams(sync="syncmon")).summary
    assert s["bytes_written"] == a["bytes_written"]
    assert s["syncmon_peak_entries"] < a["syncmon_peak_entries"]
    assert s["makespan_ns"] < a["makespan_ns"]  # the owner no longer stalls on its own tile


@pytest.mark.parametrize("algo,factor", [("two-shot", lambda n: 2 * (n - 1) / n), ("one-shot", lambda n: n - 1)])
def test_gemm_ar_algorithms_move_their_bytes_and_complete(algo: str, factor) -> None:
    n = 4
    prof = synthesize("gemm-ar", n, None, algo=algo, gpu="h100", gemm_m=1024, gemm_n=1024,
                      gemm_k=1024, gemm_tile="128x128")
    size = 1024 * 1024 * 2
    per_gpu = [int(o["bytes"][o["kind"] == OpKind.WRITE].sum()) for o in prof.ops]
    assert per_gpu == [round(factor(n) * size)] * n
    assert validate_ops(prof) == []
    for sync in ("polling", "syncmon"):
        s = run(prof, build_topology("h100", 4), RunParams(sync=sync)).summary
        assert s["bytes_written"] == n * per_gpu[0]


def many_waiters(waiters: int, flags_per_waiter: int = 1) -> Profile:
    """GPU 0 computes 20 us, writes 1 MiB to GPU 1, then signals flags 0..waiters-1 there;
    GPU 1 has `waiters` streams, each waiting on its own flag (contiguous flags)."""
    g0 = [{"kind": OpKind.COMPUTE, "dur_ns": 20_000.0},
          {"kind": OpKind.WRITE, "peer": 1, "bytes": 1 << 20}]
    g0 += [{"kind": OpKind.SIGNAL, "peer": 1, "flag": f, "value": 1} for f in range(waiters)]
    g1 = [{"kind": OpKind.WAIT, "stream": s, "flag": s, "value": 1} for s in range(waiters)]
    return Profile(num_gpus=2, ops=[ops(g0), ops(g1)], attrs={"name": "waiters"}, variability={})


def test_a_small_syncmon_overflows_into_fallback_polling_and_is_not_faster() -> None:
    prof = many_waiters(64)
    small = run(prof, build_topology("mi300x", 2, syncmon_entries=16), RunParams(sync="syncmon")).summary
    big = run(prof, build_topology("mi300x", 2, syncmon_entries=0), RunParams(sync="syncmon")).summary
    assert small["syncmon_overflows"] == 48 and small["syncmon_peak_entries"] == 16
    assert small["fallback_polls"] > 0 and small["polling_reads"] == small["fallback_polls"]
    assert big["syncmon_overflows"] == 0 and big["syncmon_peak_entries"] == 64 and big["polling_reads"] == 0
    assert small["makespan_ns"] >= big["makespan_ns"]
    assert small["syncmon_message_bytes"] > 0


def test_wake_on_change_costs_spurious_wakeups_on_counting_flags() -> None:
    # one waiter needs 4 increments, 10 us apart: woken on each of the first three for nothing
    g0 = []
    for _ in range(4):
        g0 += [{"kind": OpKind.COMPUTE, "dur_ns": 10_000.0}, {"kind": OpKind.SIGNAL, "peer": 1, "flag": 0, "value": 1}]
    g1 = [{"kind": OpKind.WAIT, "flag": 0, "value": 4}]
    prof = Profile(num_gpus=2, ops=[ops(g0), ops(g1)], attrs={"name": "count"}, variability={})
    topo = build_topology("fully_connected", 2)
    change = run(prof, topo, RunParams(sync="syncmon", syncmon_wake="change")).summary
    match = run(prof, topo, RunParams(sync="syncmon", syncmon_wake="match")).summary
    assert match["syncmon_spurious_wakeups"] == 0
    assert change["syncmon_spurious_wakeups"] == 3
    assert change["recheck_polls"] == 4 and change["syncmon_registrations"] == 4
    assert match["syncmon_registrations"] == 1 and match["polling_reads"] == 0


def test_remote_waits_poll_across_the_link() -> None:
    # GPU 1 spins on flag 0 in GPU 0's memory; GPU 0 computes, then sets it locally
    g0 = [{"kind": OpKind.COMPUTE, "dur_ns": 50_000.0}, {"kind": OpKind.SIGNAL, "peer": 0, "flag": 0, "value": 1}]
    g1 = [{"kind": OpKind.WAIT, "peer": 0, "flag": 0, "value": 1}]
    prof = Profile(num_gpus=2, ops=[ops(g0), ops(g1)], attrs={"name": "pull"}, variability={})
    assert validate_ops(prof) == []
    topo = build_topology("fully_connected", 2, link_bw_gbps=100, link_latency_ns=500)
    polling = run(prof, topo, RunParams(sync="polling")).summary
    monitor = run(prof, topo, RunParams(sync="syncmon")).summary
    assert polling["polling_reads_remote"] == polling["polling_reads"] > 10
    assert monitor["polling_reads"] == 0 and monitor["syncmon_notifications"] == 1
    for s in (polling, monitor):
        assert s["makespan_ns"] > 50_000 + 500  # the value crosses the link at least once
    bad = Profile(num_gpus=2, ops=[ops(g0), ops([{"kind": OpKind.WAIT, "peer": 5, "flag": 0, "value": 1}])],
                  attrs={"name": "bad"}, variability={})
    assert any("outside -1..1" in p for p in validate_ops(bad))


def test_results_carry_the_busiest_memory_channels(tmp_path: Path) -> None:
    prof = many_waiters(64)
    topo = build_topology("mi300x", 2)
    r = run(prof, topo, RunParams(sync="polling", poll_interval_ns=20))
    s = r.summary
    assert 0 < s["mem_channel_peak_util"] <= 1
    assert s["topology"]["mem_channels"] == 128 and s["topology"]["syncmon_entries"] == 304
    write_run(tmp_path, s, r.raw, topo)
    with h5py.File(tmp_path / "results.h5") as f:
        util, ids = f["mem_channel_util"][()], f["mem_channel_ids"][()]
    assert util.shape[0] == ids.shape[0] <= 16
    assert ((util >= 0) & (util <= 1.0 + 1e-9)).all()
    assert tuple(ids[0]) == (s["mem_channel_busiest"]["gpu"], s["mem_channel_busiest"]["channel"])


def test_bad_shapes_are_one_line_errors() -> None:
    with pytest.raises(EidolaError, match="does not tile"):
        synthesize("gemm-rs", 8, None, gpu="mi300x", gemm_m=8000, gemm_n=8192, gemm_k=8192)
    with pytest.raises(EidolaError, match="do not split evenly"):
        synthesize("gemm-rs", 3, None, gpu="mi300x", gemm_m=256, gemm_n=512, gemm_k=64)
    with pytest.raises(EidolaError, match="unknown GPU"):
        synthesize("gemm-rs", 8, None, gpu="a100", gemm_m=8192, gemm_n=8192, gemm_k=8192)


@pytest.mark.parametrize("args,field", [
    (["--syncmon-entries", "-1"], "syncmon-entries"),
    (["--mem-channels", "0"], "mem-channels"),
    (["--mem-interleave", "100"], "mem-interleave"),
    (["--mem-channels", "65536", "--hbm-bw", "100"], "mem-channels"),
    (["--syncmon-wake", "sometimes"], "syncmon-wake"),
])
def test_bad_sync_and_memory_values_are_one_line_errors(args: list[str], field: str) -> None:
    p = subprocess.run([sys.executable, "configs/eidola_8gpu.py", "--profile", "profiles/p2p_2gpu.h5",
                        "--quiet", *args], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    err = p.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1 and err.startswith("error:")
    assert field in err


def test_synth_cli_shape_form(tmp_path: Path) -> None:
    out = tmp_path / "g.h5"
    p = subprocess.run([sys.executable, "-m", "eidola", "profile", "synth", "gemm-ar", "--algo", "one-shot",
                        "--gpus", "8", "--gpu", "mi300x", "--m", "4096", "--n", "4096", "--k", "4096",
                        "--dtype", "fp8", "--tile", "256x256", "-o", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    bad = subprocess.run([sys.executable, "-m", "eidola", "profile", "synth", "gemm-rs", "--gpus", "8",
                          "--gpu", "mi300x", "--m", "4000", "--n", "4096", "--k", "4096", "-o", str(tmp_path / "b.h5")],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "tile" in bad.stderr
    assert not (tmp_path / "b.h5").exists()


@pytest.mark.parametrize("collective", ["allreduce", "allgather", "reducescatter", "broadcast"])
def test_concurrent_kernel_runs_every_tile_once_even_without_comm_workgroups(collective: str) -> None:
    from eidola.profile.concurrent import COMM_TILE

    n, tile_bytes = 4, COMM_TILE[0] * COMM_TILE[1] * 2
    for gemm_wgs in (200, 304):  # 304: no workgroup starts on the collective; they steal it
        prof = synthesize("concurrent", n, None, algo=collective, gpu="mi300x", gemm_m=1024, gemm_n=1024,
                          gemm_k=1024, dtype="fp16", gemm_tile="256x256", comm_m=1024, comm_n=512,
                          gemm_workgroups=gemm_wgs)
        assert validate_ops(prof) == []
        gemm_tiles = [int((o["kind"] == OpKind.COMPUTE).sum()) for o in prof.ops]
        src_tiles = (1024 // 256) * (512 // 64)
        writes = [int(o["bytes"][o["kind"] == OpKind.WRITE].sum()) for o in prof.ops]
        reads = [int(o["bytes"][o["kind"] == OpKind.READ].sum()) for o in prof.ops]
        if collective == "allgather":
            assert writes == [src_tiles * (n - 1) * tile_bytes] * n
        elif collective == "broadcast":
            assert writes == [src_tiles * (n - 1) * tile_bytes] + [0] * (n - 1)
        elif collective == "allreduce":
            assert writes == reads == [src_tiles // n * (n - 1) * tile_bytes] * n
        else:
            assert reads == [src_tiles // n * (n - 1) * tile_bytes] * n
        assert gemm_tiles[0] >= 16  # the GEMM's 16 tiles (plus local sums/copies)
        s = run(prof, build_topology("mi300x", n), RunParams()).summary
        assert s["bytes_written"] == sum(writes)
