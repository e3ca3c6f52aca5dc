"""Built-in engine benchmarks: speed, scaling and memory. Reports numbers; asserts nothing.

    python bench/bench_engine.py            # everything (a few minutes on 2 cores)
    python bench/bench_engine.py --quick    # skip the 4096-GPU points

Each measurement runs in a fresh process so its peak memory (max RSS) is its own. Results go
to bench/results/engine.json (atomically) and a table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GiB, MiB, KiB = 1 << 30, 1 << 20, 1 << 10


def run_measured(cmd: list[str]) -> tuple[float, str]:
    """Wall seconds and stdout of one child process (children report their own peak RSS)."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    return wall, proc.stdout


def child(kind: str, gpus: int, size: int, packet: int, topology: str, link_bw: float | None) -> None:
    """Worker: synthesize in memory and run once; print the numbers as JSON."""
    import resource

    from eidola.engine import run
    from eidola.params import RunParams
    from eidola.profile.synth import synthesize
    from eidola.topology import build_topology

    from eidola.profile.streaming import lazy_synthesized

    t0 = time.perf_counter()
    if kind == "allreduce" and gpus > 512:  # a slice of GPUs at a time: bounded memory
        prof = lazy_synthesized("allreduce", gpus, size, algo="ring")
    else:
        prof = synthesize(kind, gpus=gpus, size_bytes=size, algo="ring" if kind == "allreduce" else None)
    t_synth = time.perf_counter() - t0
    topo = build_topology(topology, gpus, link_bw_gbps=link_bw)
    res = run(prof, topo, RunParams(packet_bytes=packet, sync="syncmon", series=False))
    s = res.summary
    print(json.dumps({
        "kind": kind, "gpus": gpus, "size_bytes": size, "packet_bytes": packet, "topology": topology,
        "ops": prof.num_ops, "packets": s["packets"], "events": s["events"],
        "engine_seconds": s["wall_seconds"], "synth_seconds": t_synth,
        "events_per_second": s["events"] / s["wall_seconds"],
        "simulate_seconds": s["simulate_seconds"], "simulate_events_per_second": s["events_per_second"],
        "makespan_ns": s["makespan_ns"], "bus_bandwidth_gbps": s.get("bus_bandwidth_gbps"),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }))


def measure_child(kind: str, gpus: int, size: int, packet: int, topology: str, link_bw: float | None) -> dict:
    cmd = [sys.executable, __file__, "child", kind, str(gpus), str(size), str(packet), topology,
           str(link_bw if link_bw is not None else "")]
    wall, out = run_measured(cmd)
    rec = json.loads(out.strip().splitlines()[-1])
    rec["process_seconds"] = wall
    return rec


def whole_command_8gpu(tmp: Path) -> dict:
    """The issue's headline: `eidola run` of an 8-GPU 1 GiB ring all-reduce in 4 KiB packets."""
    prof = tmp / "ar_8gpu_1g.h5"
    subprocess.run([sys.executable, "-m", "eidola.cli", "profile", "synth", "allreduce", "--gpus", "8",
                    "--size", "1GiB", "--algo", "ring", "-o", str(prof)], check=True, cwd=REPO)
    cmd = [sys.executable, "-m", "eidola.cli", "run", "configs/eidola_8gpu.py", "--profile", str(prof),
           "--packet-size", "4KiB", "--no-series", "--quiet", "--outdir", str(tmp / "out8")]
    wall, _ = run_measured(cmd)
    s = json.loads((tmp / "out8" / "summary.json").read_text())
    return {"case": "eidola run, 8-GPU ring all-reduce 1 GiB, 4 KiB packets, mi300x",
            "command_seconds": wall, "engine_seconds": s["wall_seconds"], "events": s["events"],
            "events_per_second": s["events"] / s["wall_seconds"], "packets": s["packets"],
            "bus_bandwidth_gbps": s.get("bus_bandwidth_gbps")}


def whole_command_512(tmp: Path) -> dict:
    """The ASTRA-sim comparison point, as a user runs it: a 512-GPU ring all-reduce of 1 GiB
    from a profile file, 1 MiB packets, a ring of 100 GB/s links; peak RSS of the process."""
    prof = tmp / "ar_512gpu_1g.h5"
    subprocess.run([sys.executable, "-m", "eidola.cli", "profile", "synth", "allreduce", "--gpus", "512",
                    "--size", "1GiB", "--algo", "ring", "-o", str(prof)], check=True, cwd=REPO,
                   capture_output=True)
    cmd = ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "eidola.cli", "run", "configs/eidola_8gpu.py",
           "--profile", str(prof), "--topology", "ring", "--link-bw", "100", "--packet-size", "1MiB",
           "--sync", "syncmon", "--no-series", "--quiet", "--outdir", str(tmp / "out512")]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    s = json.loads((tmp / "out512" / "summary.json").read_text())
    return {"case": "eidola run, 512-GPU ring all-reduce 1 GiB from a file, 1 MiB packets, ring 100 GB/s",
            "command_seconds": wall, "engine_seconds": s["wall_seconds"],
            "peak_rss_mib": int(proc.stderr.strip().splitlines()[-1]) / 1024, "events": s["events"],
            "bus_bandwidth_gbps": s.get("bus_bandwidth_gbps"),
            "reference": "ASTRA-sim 2.x congestion-aware backend: 2.6 s wall, 105 MB (issue 3)"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "engine.json")
    a = ap.parse_args()
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    with tempfile.TemporaryDirectory() as d:
        results["headline_8gpu"] = whole_command_8gpu(Path(d))
        results["command_512"] = whole_command_512(Path(d))
    print(json.dumps(results["headline_8gpu"], indent=1))
    print(json.dumps(results["command_512"], indent=1))
    results["ring_512"] = measure_child("allreduce", 512, GiB, MiB, "ring", 100.0)
    print(json.dumps(results["ring_512"], indent=1))
    scale = [8, 64, 512] + ([] if a.quick else [4096])
    results["scaling"] = []
    for kind in ("allreduce", "alltoall"):
        for n in scale:
            if kind == "alltoall" and n > 1024:
                continue  # n^2 writes: the vectorised generator needs ~340 bytes per op
            rec = measure_child(kind, n, GiB, MiB, "ring" if kind == "allreduce" else "switch", 100.0)
            results["scaling"].append(rec)
            print(f"{kind:10s} {n:5d} GPUs: {rec['packets']:>10d} packets {rec['events']:>11d} events "
                  f"{rec['engine_seconds']:7.2f} s engine ({rec['simulate_seconds']:7.2f} s simulating, "
                  f"{rec['simulate_events_per_second'] / 1e6:5.1f} M ev/s) "
                  f"{rec['peak_rss_mib']:6d} MiB")
    results["packet_sweep"] = []
    for packet in (MiB, 256 * KiB, 64 * KiB, 16 * KiB, 4 * KiB):
        rec = measure_child("allreduce", 8, GiB, packet, "mi300x", None)
        results["packet_sweep"].append(rec)
        print(f"packet {packet:>8d} B: {rec['packets']:>9d} packets {rec['engine_seconds']:6.2f} s "
              f"({rec['engine_seconds'] / rec['packets'] * 1e9:.0f} ns/packet)")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(tmp, a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        k, g, s, p, t, bw = sys.argv[2:8]
        child(k, int(g), int(s), int(p), t, float(bw) if bw else None)
    else:
        main()
