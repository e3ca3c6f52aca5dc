"""Flat and hierarchical all-reduce on the scale-out fabrics (docs/engine.md, multi-tier fabrics).

    python bench/bench_fabrics.py     # writes bench/results/fabrics.json, prints a table

64 GPUs in 8 nodes of 8 (node switch at the generic 100 GB/s per GPU, a 50 GB/s NIC per GPU),
a 256 MiB all-reduce as one flat ring over all 64 GPUs and as the hierarchical schedule (ring
reduce-scatter in the node, ring all-reduce per rail across nodes, ring all-gather in the
node), on `multinode` (one leaf), `fat_tree` and `rail_optimized` (two tiers of 64-port
switches, ECMP), default run parameters, seed 0.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eidola.engine import run  # noqa: E402
from eidola.params import RunParams  # noqa: E402
from eidola.profile.synth import synthesize  # noqa: E402
from eidola.results import atomic_write_bytes  # noqa: E402
from eidola.topology import build_topology  # noqa: E402

OUT = REPO / "bench" / "results" / "fabrics.json"
GPUS, SIZE = 64, 256 << 20


def main() -> int:
    rows = []
    profiles = {algo: synthesize("allreduce", GPUS, SIZE, algo=algo) for algo in ("ring", "hierarchical")}
    for topo_name in ("multinode", "fat_tree", "rail_optimized"):
        topo = build_topology(topo_name, GPUS)
        for algo, prof in profiles.items():
            s = run(prof, topo, RunParams(series=False)).summary
            rows.append({"topology": topo_name, "algo": algo, "makespan_ns": s["makespan_ns"],
                         "bus_bandwidth_gbps": s["bus_bandwidth_gbps"], "events": s["events"]})
            print(f"{topo_name:15s} {algo:13s} {s['makespan_ns'] / 1e3:10.1f} us  "
                  f"{s['bus_bandwidth_gbps']:6.1f} GB/s bus bandwidth")
    doc = {"inputs": {"gpus": GPUS, "gpus_per_node": 8, "size_bytes": SIZE,
                      "params": RunParams(series=False).to_dict()},
           "units": {"makespan_ns": "ns", "bus_bandwidth_gbps": "GB/s"}, "rows": rows}
    atomic_write_bytes(OUT, (json.dumps(doc, indent=2) + "\n").encode())
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
