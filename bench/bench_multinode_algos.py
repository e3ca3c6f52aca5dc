"""All-reduce algorithms across nodes, side by side: NCCL's Ring (plain and with PXN), Tree and
NVLS tree on 8-GPU H100 nodes, on a fat tree and on a rail-optimized fabric.

    python bench/bench_multinode_algos.py   # writes bench/results/multinode_algos.json, prints a table

1 GiB per GPU, NCCL's Hopper model (`--library nccl`, Simple protocol for Ring and Tree),
NVLink 18 x 20.6 GB/s per GPU, one 50 GB/s NIC per GPU, 64 KiB packets. Asserts nothing.
"""

from __future__ import annotations

import json
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

OUT = REPO / "bench" / "results" / "multinode_algos.json"
PARAMS = RunParams(sync="syncmon", packet_bytes=64 * 1024, max_outstanding=4096,
                   max_outstanding_bytes=0, series=False)
ALGOS = {"ring": dict(algo="ring", proto="simple"), "ring+pxn": dict(algo="ring", proto="simple", pxn=True),
         "tree": dict(algo="tree", proto="simple"), "nvls-tree": dict(algo="nvls-tree")}


def main() -> int:
    rows = []
    print("| nodes | fabric | " + " | ".join(ALGOS) + " |\n| --- | --- |" + " --- |" * len(ALGOS))
    for nodes in (2, 4):
        n = 8 * nodes
        for fabric in ("fat_tree", "rail_optimized"):
            topo = build_topology(fabric, n, link_bw_gbps=18 * 20.6, gpus_per_node=8, nic_bw_gbps=50.0)
            cells = []
            for label, opts in ALGOS.items():
                t = time.perf_counter()
                prof = synthesize("allreduce", n, 1 << 30, library="nccl", gpus_per_node=8, **opts)
                s = run(prof, topo, PARAMS).summary
                rows.append({"nodes": nodes, "gpus": n, "fabric": fabric, "algo": label,
                             "bus_bandwidth_gbps": s["bus_bandwidth_gbps"],
                             "makespan_ns": s["makespan_ns"], "wall_s": time.perf_counter() - t})
                cells.append(f"{s['bus_bandwidth_gbps']:.1f}")
            print(f"| {nodes} | {fabric} | " + " | ".join(cells) + " |", flush=True)
    atomic_write_bytes(OUT, json.dumps({"rows": rows, "size_bytes": 1 << 30,
                                        "units": {"bandwidth": "GB/s (bus bandwidth)", "time": "ns"}},
                                       indent=1).encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
