"""Published multi-node nccl-tests curves against Eidola (ring all-reduce across nodes).

    python bench/validate_multinode.py   # writes bench/results/validation_multinode.json and
                                         # prints the table of docs/validation.md, section 3b

Reference points: bench/reference/multinode_busbw.csv, sources in
bench/reference/multinode_sources.json (collected from public nccl-tests output; every number
copied as printed, out-of-place busbw).

Compared here: curves whose source forces NCCL_ALGO=Ring, because Ring is the multi-node
algorithm Eidola generates (`synth allreduce --algo ring --library nccl --gpus-per-node 8`:
NCCL's Hopper constants, 24 channels spread over the rails, eidola.profile.library.rail_rings).
The fabric is the two-tier `fat_tree` with H100 nodes inside (NVSwitch at NCCL's 18 x 20.6
GB/s) and one 400 Gb/s NIC per GPU (50 GB/s, ConnectX-7 line rate). Curves run with NCCL's
default choice (tree / NVLS tree at these sizes) are listed with the algorithm Eidola lacks.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eidola.engine import run  # noqa: E402
from eidola.params import RunParams  # noqa: E402
from eidola.profile.synth import synthesize  # noqa: E402
from eidola.results import atomic_write_bytes  # noqa: E402
from eidola.topology import build_topology  # noqa: E402

REFERENCE = REPO / "bench" / "reference" / "multinode_busbw.csv"
SOURCES = REPO / "bench" / "reference" / "multinode_sources.json"
OUT = REPO / "bench" / "results" / "validation_multinode.json"
MiB = 1 << 20
GEOMEAN_FROM = 16 * MiB
NVLINK_GBPS = 18 * 20.6  # NCCL topo.h SM90_NVLINK_BW x 18 links (the h100 preset)
NIC_GBPS = 50.0  # 400 Gb/s ConnectX-7 / Quantum-2 NDR port
PARAMS = RunParams(sync="syncmon", packet_bytes=64 * 1024, max_outstanding=4096,
                   max_outstanding_bytes=0, series=False)


def bus_bandwidth(n: int, g: int, size: int) -> float:
    prof = synthesize("allreduce", n, size, algo="ring", library="nccl", proto="simple",
                      gpus_per_node=g)
    topo = build_topology("fat_tree", n, link_bw_gbps=NVLINK_GBPS, gpus_per_node=g,
                          nic_bw_gbps=NIC_GBPS)
    res = run(prof, topo, PARAMS)
    return 2 * (n - 1) / n * size / float(res.summary["makespan_ns"])


def main() -> int:
    rows = list(csv.DictReader(REFERENCE.open()))
    sources = json.loads(SOURCES.read_text())
    t0 = time.perf_counter()
    points, skipped = [], {}
    for r in rows:
        if r["collective"] != "allreduce" or r["algo"] != "ring":
            skipped.setdefault(r["dataset"], f"{r['collective']}, NCCL_ALGO {r['algo']}")
            continue
        n, g, size = int(r["gpus"]), int(r["gpus_per_node"]), int(r["size_bytes"])
        if size < GEOMEAN_FROM:
            continue
        measured = float(r["busbw_gbps"])
        eidola = bus_bandwidth(n, g, size)
        points.append({"dataset": r["dataset"], "gpus": n, "gpus_per_node": g, "size_bytes": size,
                       "measured_gbps": measured, "eidola_gbps": eidola,
                       "error": eidola / measured - 1.0})
    per = {}
    for ds in dict.fromkeys(p["dataset"] for p in points):
        errs = [abs(p["error"]) for p in points if p["dataset"] == ds]
        per[ds] = {"points_ge_16MiB": len(errs),
                   "geomean_abs_error": math.exp(sum(math.log(max(e, 1e-6)) for e in errs) / len(errs)),
                   **sources.get(ds, {})}
    summary = {"points": len(points), "wall_s": round(time.perf_counter() - t0, 1),
               "not_compared": skipped,
               "fabric": {"topology": "fat_tree", "link_bw_gbps": NVLINK_GBPS, "nic_bw_gbps": NIC_GBPS,
                          "gpus_per_node": 8},
               "units": {"bandwidth": "GB/s (nccl-tests busbw)", "size": "bytes", "error": "fraction"}}
    atomic_write_bytes(OUT, json.dumps({"summary": summary, "datasets": per, "points": points},
                                       indent=1, sort_keys=True).encode())
    print("| curve | size | measured GB/s | Eidola GB/s | error |\n| --- | --- | --- | --- | --- |")
    for p in points:
        print(f"| {p['dataset']} | {p['size_bytes'] // MiB} MiB | {p['measured_gbps']:.1f} | "
              f"{p['eidola_gbps']:.1f} | {100 * p['error']:+.1f}% |")
    for ds, d in per.items():
        print(f"\n{ds}: geomean |error| {100 * d['geomean_abs_error']:.1f}% over {d['points_ge_16MiB']} sizes")
    print("\nnot compared (algorithm Eidola does not generate yet):")
    for ds, why in skipped.items():
        print(f"- {ds}: {why}")
    print(f"\n{len(points)} simulations in {summary['wall_s']} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
