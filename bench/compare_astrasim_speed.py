"""Speed side by side: the same ring all-reduce on Eidola and ASTRA-sim, 8 to 4096 GPUs.

    EIDOLA_ASTRASIM=/path/to/AstraSim_Analytical_Congestion_Aware python bench/compare_astrasim_speed.py [N ...]
    python bench/compare_astrasim_speed.py 8 64       # Eidola only (ASTRA-sim columns empty)

The work: a ring all-reduce of 1 GiB per GPU over a ring of N GPUs, 100 GB/s (10^9 B/s) and
500 ns per link and direction. Each simulator runs as a user runs it, one process per point,
timed from the outside (wall seconds of the whole command, peak RSS from /usr/bin/time):
- Eidola: `eidola profile synth allreduce --gpus N --size 1GiB --algo ring` (timed apart),
  then `eidola run configs/eidola_8gpu.py --topology ring --link-bw 100 --link-latency 500
  --packet-size 1MiB --sync syncmon --no-series --quiet` on that file.
- ASTRA-sim: one Chakra ET a rank holding one ALL_REDUCE node (written by Eidola's own
  writer), the analytical congestion-aware backend on `topology: [ Ring ]` with bandwidth
  100 * 10^9 / 2^30 (its GB/s is GiB/s) and latency 500, the system config of
  bench/compare_astrasim.py (ring collectives, 4 dataset splits).
Next to both simulated times, the alpha-beta bound of a ring all-reduce:
2 (N - 1) / N * S / B + 2 (N - 1) * latency. Points that exceed the timeout are reported as
such. Writes bench/results/astrasim_speed.json.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from compare_astrasim import SYSTEM  # noqa: E402

from eidola.profile.importers.chakra import CommType, EtNode, NodeType, write_et  # noqa: E402
from eidola.results import atomic_write_bytes  # noqa: E402

OUT = REPO / "bench" / "results" / "astrasim_speed.json"
GiB = 1 << 30
SIZE = GiB
BW_GBPS = 100.0        # 10^9 B/s
LATENCY_NS = 500.0
TIMEOUT_S = 600


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, str, int]:
    """(wall s, peak RSS MiB, output, return code) of one command, measured from outside."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run(["/usr/bin/time", "-f", "RSSKB %M", *cmd], cwd=cwd, capture_output=True,
                           text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return float(TIMEOUT_S), float("nan"), "timeout", -1
    wall = time.perf_counter() - t0
    rss = re.findall(r"RSSKB (\d+)", p.stderr)
    return wall, (int(rss[-1]) / 1024 if rss else float("nan")), p.stdout + p.stderr, p.returncode


def alpha_beta_ns(n: int) -> float:
    return 2 * (n - 1) / n * SIZE / BW_GBPS + 2 * (n - 1) * LATENCY_NS


def eidola_point(n: int, work: Path) -> dict:
    prof = work / f"ar{n}.h5"
    synth_s, synth_rss, out, rc = timed([sys.executable, "-m", "eidola", "profile", "synth", "allreduce",
                                         "--gpus", str(n), "--size", "1GiB", "--algo", "ring", "-o",
                                         str(prof)], work)
    if rc != 0:
        return {"error": out.strip().splitlines()[-1]}
    outdir = work / f"out{n}"
    run_s, run_rss, out, rc = timed([sys.executable, "-m", "eidola", "run", str(REPO / "configs" / "eidola_8gpu.py"),
                                     "--profile", str(prof), "--topology", "ring", "--link-bw", str(BW_GBPS),
                                     "--link-latency", str(LATENCY_NS), "--packet-size", "1MiB",
                                     "--sync", "syncmon", "--no-series", "--quiet", "--outdir", str(outdir)], work)
    if rc != 0:
        return {"error": out.strip().splitlines()[-1] if out.strip() else f"rc {rc}"}
    s = json.loads((outdir / "summary.json").read_text())
    return {"synth_s": synth_s, "synth_rss_mib": synth_rss, "run_s": run_s, "run_rss_mib": run_rss,
            "engine_s": s["wall_seconds"], "load_s": s["load_seconds"], "simulate_s": s["simulate_seconds"],
            "events": s["events"], "events_per_s": s["events"] / s["wall_seconds"],
            "simulate_events_per_s": s["events_per_second"], "simulated_ns": s["makespan_ns"]}


def astrasim_point(binary: str, n: int, work: Path) -> dict:
    prefix = work / f"et{n}" / "ar"
    prefix.parent.mkdir(parents=True, exist_ok=True)
    node = EtNode(1, "ALL_REDUCE", NodeType.COMM_COLL_NODE,
                  attrs={"is_cpu_op": False, "comm_type": int(CommType.ALL_REDUCE), "comm_size": SIZE})
    for r in range(n):
        write_et(Path(f"{prefix}.{r}.et"), [node])
    run = work / f"astra{n}"
    (run / "log").mkdir(parents=True, exist_ok=True)
    (run / "network.yml").write_text(f"topology: [ Ring ]\nnpus_count: [ {n} ]\n"
                                     f"bandwidth: [ {BW_GBPS * 1e9 / GiB} ]\nlatency: [ {LATENCY_NS} ]\n")
    (run / "system.json").write_text(json.dumps(SYSTEM))
    (run / "remote.json").write_text(json.dumps({"memory-type": "NO_MEMORY_EXPANSION"}))
    wall, rss, out, rc = timed([binary, f"--workload-configuration={prefix}", "--comm-group-configuration=empty",
                                f"--system-configuration={run / 'system.json'}",
                                f"--remote-memory-configuration={run / 'remote.json'}",
                                f"--network-configuration={run / 'network.yml'}",
                                f"--logging-folder={run / 'log'}"], run)
    if rc == -1:
        return {"wall_s": wall, "timeout": True}
    ends = [int(x) for x in re.findall(r"sys\[\d+\] finished, (\d+) cycles", out)]
    if rc != 0 or len(ends) != n:
        return {"error": (out.strip().splitlines() or ["no output"])[-1][-160:]}
    return {"wall_s": wall, "rss_mib": rss, "simulated_ns": float(max(ends))}


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [8, 64, 512, 4096]
    binary = os.environ.get("EIDOLA_ASTRASIM")
    rows = []
    with tempfile.TemporaryDirectory(prefix="eidola-astraspeed-") as tmp:
        for n in sizes:
            work = Path(tmp) / str(n)
            work.mkdir()
            row = {"gpus": n, "alpha_beta_ns": alpha_beta_ns(n), "eidola": eidola_point(n, work),
                   "astrasim": astrasim_point(binary, n, work) if binary else None}
            rows.append(row)
            e, a = row["eidola"], row["astrasim"] or {}
            print(f"{n:5d} GPUs | Eidola run {e.get('run_s', float('nan')):7.2f} s "
                  f"({e.get('run_rss_mib', float('nan')):6.0f} MiB, synth {e.get('synth_s', float('nan')):6.1f} s), "
                  f"sim {e.get('simulated_ns', float('nan')) / 1e6:8.3f} ms, load {e.get('load_s', float('nan')):6.2f} s "
                  f"+ simulate {e.get('simulate_s', float('nan')):6.2f} s "
                  f"({e.get('simulate_events_per_s', float('nan')) / 1e6:5.2f} M ev/s) | ASTRA-sim "
                  f"{'timeout' if a.get('timeout') else format(a.get('wall_s', float('nan')), '7.2f') + ' s'} "
                  f"sim {a.get('simulated_ns', float('nan')) / 1e6:8.3f} ms | "
                  f"alpha-beta {row['alpha_beta_ns'] / 1e6:8.3f} ms", flush=True)
    doc = {"work": f"ring all-reduce of 1 GiB per GPU, ring of {BW_GBPS} GB/s (10^9 B/s) and "
                   f"{LATENCY_NS} ns links", "timeout_s": TIMEOUT_S, "machine_cpus": os.cpu_count(),
           "units": {"*_s": "s (wall; run_s and synth_s the whole command, engine_s the engine call, "
                              "load_s + simulate_s its two parts)", "*_rss_mib": "MiB", "*_ns": "ns (simulated)",
                     "events_per_s": "events / engine_s", "simulate_events_per_s": "events / simulate_s"},
           "rows": rows}
    atomic_write_bytes(OUT, (json.dumps(doc, indent=2) + "\n").encode())
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
