"""Cost per point of a sweep of small points: in-process workers against a process per point.

    python bench/bench_sweep.py [POINTS]     # default 1000; writes bench/results/sweep.json

The points: a 1 MiB GPU-0-to-GPU-1 transfer on the 8-GPU mi300x preset, one point per seed
(so every point differs), 2 workers. Measured: wall time of `run_sweep` over all points, per
point, for the local executor as it now runs built-in points (forked workers that import Eidola
once), for the Dask executor (a local cluster of 2 worker processes that also run built-in
points in-process), and as before (a new Python process per point, which is still the path
for gem5 points, points with a timeout on Dask, and after a worker crash; measured on at most
200 points, as it is ten times slower).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eidola.profile import write_profile  # noqa: E402
from eidola.profile.synth import synthesize  # noqa: E402
from eidola.results import atomic_write_bytes  # noqa: E402
from eidola.sweep import run as sweep_run  # noqa: E402

OUT = REPO / "bench" / "results" / "sweep.json"
CONFIG = REPO / "configs" / "eidola_8gpu.py"


def timed_sweep(points: int, profile: Path, out: Path, how: str) -> float:
    original = sweep_run._fork_available
    if how == "process per point":
        sweep_run._fork_available = lambda: False  # the process-per-point path
    try:
        t0 = time.perf_counter()
        table = sweep_run.run_sweep(CONFIG, [str(profile)], {"seed": [str(s) for s in range(points)]},
                                    out, workers=2, progress=False,
                                    executor="dask" if how.startswith("dask") else "local")
        wall = time.perf_counter() - t0
    finally:
        sweep_run._fork_available = original
    assert (table["status"] == "ok").all() and len(table) == points
    return wall


def main(argv: list[str]) -> int:
    points = int(argv[0]) if argv else 1000
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        profile = write_profile(synthesize("p2p", 2, 1 << 20), Path(tmp) / "p2p.h5")
        for label, n in (("local, in-process workers", points), ("dask, 2 local workers", points),
                         ("process per point", min(points, 200))):
            wall = timed_sweep(n, profile, Path(tmp) / label.replace(" ", "_").replace(",", ""), label)
            rows[label] = {"points": n, "wall_s": wall, "per_point_ms": 1e3 * wall / n}
            print(f"{label:28s} {n} points in {wall:6.1f} s: {1e3 * wall / n:6.1f} ms per point", flush=True)
    doc = {"inputs": {"profile": "p2p 1 MiB (GPU 0 -> 1)", "topology": "mi300x", "workers": 2,
                      "grid": "seed = 0..points-1"}, "units": {"wall_s": "s", "per_point_ms": "ms"},
           "rows": rows}
    atomic_write_bytes(OUT, (json.dumps(doc, indent=2) + "\n").encode())
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
