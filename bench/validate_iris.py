"""A GEMM next to a collective on 8, 4 and 2 MI300X: Eidola against ROCm/iris's measurements.

    python bench/validate_iris.py [--tile 256x256] [--jobs 2]   # -> bench/results/validation_iris.json

Reference: bench/reference/iris_gfx942_concurrent.csv (source: its .source.json), the gfx942 corpus of ROCm/iris
(iris/concurrent/tuning_data/data/gfx942_world{2,4,8}.json, commit ae723a3): milliseconds of
one persistent kernel (304 workgroups) doing a local fp16 GEMM and the rank's part of a
collective, with `gemm_workgroups` of them starting on the GEMM's queue (rank 0's time, median
of 8). For every (world size, collective, GEMM shape, collective shape) and every split, at one
GEMM tile, this script synthesizes the same kernel (`eidola profile synth concurrent`), runs it
on the mi300x preset and compares rank 0's finish time. Nothing is fitted: the GEMM tile time
comes from AMD's published MI300X FP16 throughput and max-achievable efficiency, the links and
memory from the preset (eidola/topology/gpus.py, presets.py).

Reported: error per point, geometric mean of |error|, per (world, collective), and whether the
split that is fastest in simulation is the hardware's fastest (and what choosing it costs on
the hardware).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections import defaultdict
from multiprocessing import Pool
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

REFERENCE = REPO / "bench" / "reference" / "iris_gfx942_concurrent.csv"
OUT = REPO / "bench" / "results" / "validation_iris.json"
COLLECTIVE = {"all_reduce": "allreduce", "all_gather": "allgather", "reduce_scatter": "reducescatter",
              "broadcast": "broadcast"}


def simulate(row: dict) -> float:
    from eidola.engine import run
    from eidola.params import RunParams
    from eidola.profile.synth import synthesize
    from eidola.topology import build_topology

    w = int(row["world_size"])
    prof = synthesize("concurrent", w, None, algo=COLLECTIVE[row["collective"]], gpu="mi300x",
                      gemm_m=int(row["gemm_m"]), gemm_n=int(row["gemm_n"]), gemm_k=int(row["gemm_k"]),
                      dtype="fp16", gemm_tile=f"{row['tile_m']}x{row['tile_n']}",
                      comm_m=int(row["comm_m"]), comm_n=int(row["comm_n"]),
                      gemm_workgroups=int(row["gemm_workgroups"]))
    s = run(prof, build_topology("mi300x", w), RunParams(series=False)).summary
    return s["gpu_finish_ns"][0] / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tile", default="256x256", help="GEMM tile of the points compared (MxN)")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    tm, tn = (int(x) for x in args.tile.split("x"))
    with open(REFERENCE, newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["tile_m"]) == tm and int(r["tile_n"]) == tn]
    t0 = time.perf_counter()
    with Pool(args.jobs) as pool:
        sims = pool.map(simulate, rows, chunksize=4)
    wall = time.perf_counter() - t0
    points = []
    for r, sim in zip(rows, sims):
        hw = float(r["time_ms"])
        points.append({**{k: r[k] for k in ("world_size", "collective", "gemm_m", "gemm_n", "gemm_k",
                                            "comm_m", "comm_n", "split_frac", "gemm_workgroups")},
                       "measured_ms": hw, "simulated_ms": sim, "error": sim / hw - 1})
    geo = lambda errs: math.exp(sum(math.log(abs(e) + 1e-12) for e in errs) / len(errs))  # noqa: E731
    by_group: dict[str, list[float]] = defaultdict(list)
    experiments: dict[tuple, list[dict]] = defaultdict(list)
    for p in points:
        by_group[f"W{p['world_size']} {p['collective']}"].append(p["error"])
        experiments[tuple(p[k] for k in ("world_size", "collective", "gemm_m", "gemm_n", "gemm_k",
                                         "comm_m", "comm_n"))].append(p)
    splits = []
    for key, pts in experiments.items():
        hw_best = min(pts, key=lambda p: p["measured_ms"])
        sim_best = min(pts, key=lambda p: p["simulated_ms"])
        spread = lambda k: max(p[k] for p in pts) / min(p[k] for p in pts) - 1  # noqa: E731
        splits.append({"experiment": list(key), "hw_best_frac": hw_best["split_frac"],
                       "sim_best_frac": sim_best["split_frac"],
                       "hw_cost_of_sim_choice": sim_best["measured_ms"] / hw_best["measured_ms"] - 1,
                       "hw_spread": spread("measured_ms"), "sim_spread": spread("simulated_ms")})
    summary = {
        "command": f"python bench/validate_iris.py --tile {args.tile}",
        "reference": str(REFERENCE.relative_to(REPO)),
        "points": len(points), "wall_seconds": wall,
        "geomean_abs_error": geo([p["error"] for p in points]),
        "median_error": sorted(p["error"] for p in points)[len(points) // 2],
        "geomean_abs_error_by_group": {k: geo(v) for k, v in sorted(by_group.items())},
        "median_error_by_group": {k: sorted(v)[len(v) // 2] for k, v in sorted(by_group.items())},
        "best_split_matches": sum(s["hw_best_frac"] == s["sim_best_frac"] for s in splits),
        "experiments": len(splits),
        "mean_hw_cost_of_sim_choice": sum(s["hw_cost_of_sim_choice"] for s in splits) / len(splits),
        # how much the split matters: slowest over fastest split, mean over experiments
        "mean_hw_spread": sum(s["hw_spread"] for s in splits) / len(splits),
        "mean_sim_spread": sum(s["sim_spread"] for s in splits) / len(splits),
        "splits": splits, "rows": points,
    }
    from eidola.results import atomic_write_bytes

    atomic_write_bytes(OUT, (json.dumps(summary, indent=1) + "\n").encode())
    print(f"{len(points)} points in {wall:.0f} s: geomean |error| {100 * summary['geomean_abs_error']:.1f}%, "
          f"median error {100 * summary['median_error']:+.1f}%")
    for k, v in summary["geomean_abs_error_by_group"].items():
        print(f"  {k:22s} geomean |error| {100 * v:6.1f}%  median {100 * summary['median_error_by_group'][k]:+6.1f}%")
    print(f"best split matches the hardware's in {summary['best_split_matches']} of {len(splits)} experiments; "
          f"choosing the simulated best costs {100 * summary['mean_hw_cost_of_sim_choice']:.1f}% on average on the hardware")
    print(f"slowest/fastest split: hardware {100 * summary['mean_hw_spread']:.1f}%, "
          f"simulation {100 * summary['mean_sim_spread']:.1f}% (mean over experiments)")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
