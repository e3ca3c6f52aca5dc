"""`--network garnet`: the same runs over gem5's flit-level network, against the classic one.

Needs a gem5.opt built with the Garnet_standalone protocol and this extension
(`scons build/Garnet_standalone/gem5.opt EXTRAS=<repo>/src_cc`): set EIDOLA_GEM5_GARNET to its
path. Without it every test here is skipped, saying so. The classic network runs on the same
binary (a Garnet_standalone build has the classic crossbars too).
"""

from __future__ import annotations

import json
import os
import site
import subprocess
from pathlib import Path

import pytest

from eidola.profile import profile_info, write_profile
from eidola.profile.synth import synthesize

REPO = Path(__file__).resolve().parents[1]
GEM5 = os.environ.get("EIDOLA_GEM5_GARNET")
pytestmark = pytest.mark.skipif(
    not GEM5, reason="EIDOLA_GEM5_GARNET is not set: point it at a build/Garnet_standalone/gem5.opt "
    "built with EXTRAS=<repo>/src_cc")


def run(tmp: Path, label: str, *args: str) -> tuple[subprocess.CompletedProcess, dict | None]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *site.getsitepackages()])
    out = tmp / label
    proc = subprocess.run([GEM5, "-q", f"--outdir={tmp / (label + '.m5out')}",
                           str(REPO / "configs" / "eidola_8gpu.py"), "--outdir", str(out), "--quiet", *args],
                          capture_output=True, text=True, env=env, timeout=1800, cwd=tmp)
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else None
    return proc, summary


def both(tmp: Path, *args: str) -> tuple[dict, dict]:
    proc, garnet = run(tmp, "garnet", *args, "--network", "garnet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc, classic = run(tmp, "classic", *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert garnet["gem5"]["network"] == "garnet" and classic["gem5"]["network"] == "classic"
    return garnet, classic


def synth(tmp: Path, *args, **kwargs) -> str:
    path = tmp / "p.h5"
    write_profile(synthesize(*args, **kwargs), path)
    return str(path)


def test_uncontended_p2p_is_size_over_bandwidth_plus_latency_on_garnet(tmp_path: Path) -> None:
    size = 4 << 20
    prof = synth(tmp_path, "p2p", gpus=2, size_bytes=size)
    garnet, classic = both(tmp_path, "--profile", prof, "--topology", "switch", "--gpus", "2",
                           "--link-bw", "100", "--link-latency", "250", "--switch-latency", "200",
                           "--sync", "syncmon")
    info = garnet["gem5"]["garnet"]
    assert info["effective_link_bw_gbps"] == pytest.approx(100.0)
    # two links and a switch on the way; size / bandwidth dominates (the rest: the release and
    # its acknowledgement, as in the classic network)
    bound = size / 100.0 + 2 * 250 + 200
    assert bound <= garnet["makespan_ns"] <= 1.1 * bound
    assert garnet["makespan_ns"] == pytest.approx(classic["makespan_ns"], rel=0.05)
    assert garnet["bytes_written"] == classic["bytes_written"] == size


@pytest.mark.parametrize("topology, kwargs", [
    ("h100", {"library": "nccl", "algo": "ring"}),
    ("mi300x", {"library": "rccl", "algo": "ring"}),
], ids=["h100-switch", "mi300x-mesh"])
def test_8gpu_allreduce_agrees_with_the_classic_network_within_ten_percent(tmp_path: Path, topology: str,
                                                                          kwargs: dict) -> None:
    prof = synth(tmp_path, "allreduce", 8, 8 << 20, **kwargs)
    garnet, classic = both(tmp_path, "--profile", prof, "--topology", topology, "--sync", "syncmon")
    diff = garnet["makespan_ns"] / classic["makespan_ns"] - 1
    print(f"{topology}: garnet {garnet['makespan_ns']:.0f} ns, classic {classic['makespan_ns']:.0f} ns, {diff:+.1%}")
    assert abs(diff) <= 0.10
    assert garnet["bytes_written"] == classic["bytes_written"] == profile_info(prof)["bytes_written"]
    # Garnet's flits on every channel cover the payload the classic wire carried there, plus
    # one-flit acknowledgements and flags (a few percent at most)
    import h5py

    with h5py.File(tmp_path / "garnet" / "results.h5") as g, h5py.File(tmp_path / "classic" / "results.h5") as c:
        flit_bytes, payload = g["channel_bytes"][()].astype(float), c["channel_bytes"][()].astype(float)
    used = payload > 0
    assert used.any() and (flit_bytes[~used] == 0).all()
    assert (flit_bytes[used] >= payload[used]).all() and (flit_bytes[used] <= 1.1 * payload[used]).all()


@pytest.mark.parametrize("sync", ["polling", "syncmon"])
def test_synchronization_runs_over_garnet(tmp_path: Path, sync: str) -> None:
    prof = synth(tmp_path, "allreduce", 4, 1 << 20, library="nccl", algo="ring")
    garnet, classic = both(tmp_path, "--profile", prof, "--topology", "switch", "--gpus", "4", "--sync", sync)
    assert garnet["bytes_written"] == classic["bytes_written"]
    if sync == "syncmon":
        assert garnet["polling_reads"] == 0
    else:
        assert garnet["polling_reads"] > 0
    assert garnet["makespan_ns"] == pytest.approx(classic["makespan_ns"], rel=0.10)


def test_one_vc_with_one_flit_buffers_throttles_a_link_the_classic_network_does_not(tmp_path: Path) -> None:
    # one VC of one flit: each flit waits for the credit of the one before (link, router and
    # credit link: several cycles), far below the link's rate; Garnet's defaults keep it busy
    prof = synth(tmp_path, "p2p", gpus=2, size_bytes=1 << 20)
    common = ["--profile", prof, "--topology", "switch", "--gpus", "2", "--link-bw", "100", "--sync", "syncmon"]
    proc, default = run(tmp_path, "default", *common, "--network", "garnet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc, starved = run(tmp_path, "starved", *common, "--network", "garnet", "--garnet-vcs", "1",
                        "--garnet-vc-buffer", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (starved["gem5"]["garnet"]["vcs_per_vnet"], starved["gem5"]["garnet"]["vc_buffer_flits"]) == (1, 1)
    assert starved["makespan_ns"] > 1.5 * default["makespan_ns"]


def test_multicast_profiles_are_refused_on_garnet_in_one_line(tmp_path: Path) -> None:
    prof = synth(tmp_path, "allreduce", 8, 4 << 20, algo="nvls", library="nccl")
    proc, summary = run(tmp_path, "nvls", "--profile", prof, "--topology", "h100", "--network", "garnet")
    assert proc.returncode == 2 and summary is None
    err = proc.stderr.strip().splitlines()
    assert err and "multicast" in err[-1] and "network" in err[-1] and "Traceback" not in proc.stderr
