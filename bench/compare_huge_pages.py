"""`eidola run` with and without the huge-page relaunch (eidola/hugepages.py), alternated.

    python bench/compare_huge_pages.py [--gpus 4096] [--pairs 2]

Makes a ring all-reduce profile of 1 GiB per GPU (`eidola profile synth ... --algo ring`) in a
temporary directory, then runs `eidola run` on it (ring of 100 GB/s / 500 ns links, 1 MiB
packets, SyncMon) with EIDOLA_HUGE_PAGES=0 and =1 in turn (the malloc thresholds of the same
restart are set in both), `--pairs` times: this machine's
speed drifts too much between minutes for anything but alternated runs to compare. Reports the
whole command's wall time and the run's own load/simulate split, checks that both give the
same makespan and event count, and writes bench/results/huge_pages.json (atomically).
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
sys.path.insert(0, str(REPO))

from eidola.results import atomic_write_bytes  # noqa: E402

OUT = REPO / "bench" / "results" / "huge_pages.json"


def eidola(args: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "eidola", *args], check=True, capture_output=True,
                   text=True, env=env, cwd=cwd)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpus", type=int, default=4096)
    ap.add_argument("--pairs", type=int, default=2)
    a = ap.parse_args()
    base_env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prof = work / "ring.h5"
        eidola(["profile", "synth", "allreduce", "--gpus", str(a.gpus), "--size", "1GiB", "--algo",
                "ring", "-o", str(prof)], base_env, work)
        for pair in range(a.pairs):
            for flag in ("0", "1"):
                out = work / f"out{flag}"
                wall = eidola(["run", str(REPO / "configs" / "eidola_8gpu.py"), "--profile", str(prof),
                               "--topology", "ring", "--link-bw", "100", "--link-latency", "500",
                               "--packet-size", "1MiB", "--sync", "syncmon", "--no-series", "--quiet",
                               "--outdir", str(out)], {**base_env, "EIDOLA_HUGE_PAGES": flag}, work)
                s = json.loads((out / "summary.json").read_text())
                rows.append({"pair": pair, "huge_pages": flag == "1", "whole_s": wall,
                             "load_s": s["load_seconds"], "simulate_s": s["simulate_seconds"],
                             "makespan_ns": s["makespan_ns"], "events": s["events"]})
                r = rows[-1]
                print(f"pair {pair} EIDOLA_HUGE_PAGES={flag}: whole {wall:.1f} s (load {r['load_s']:.1f} s, "
                      f"simulate {r['simulate_s']:.1f} s)", flush=True)
    same = len({(r["makespan_ns"], r["events"]) for r in rows}) == 1
    doc = {"gpus": a.gpus, "units": {"*_s": "s (wall)", "makespan_ns": "ns (simulated)"},
           "same_results": same, "rows": rows}
    atomic_write_bytes(OUT, (json.dumps(doc, indent=2) + "\n").encode())
    print(f"same results: {same}; wrote {OUT}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
