"""All-to-all as the libraries run it, against the bare schedule, on one node and across nodes.

    python bench/bench_alltoall.py    # writes bench/results/alltoall.json, prints a table

One node: 8 GPUs of each preset, 1 GiB per GPU, `synth alltoall --library nccl|rccl` (the
library's send/recv schedule, eidola.profile.p2p) and the bare schedule (one stream visiting
the peers in turn), with the bound the links set: (n-1)/n x S over one GPU's payload rate out
(one NVSwitch port; 7 xGMI links on a mesh). Across nodes: 2 x 8 H100 over a two-tier
`fat_tree` and a `rail_optimized` fabric, one 400 Gb/s NIC per GPU (50 GB/s), NCCL's schedule;
the bound there is the NIC: half of what a GPU sends leaves its node, so bus bandwidth
<= (n-1)/n x S / (S/2 / 50 GB/s) = 93.75 GB/s. Run parameters: bench/tables.PARAMS (64 KiB
packets, SyncMon). Bandwidths are nccl-tests bus bandwidth, GB/s.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eidola.engine import run  # noqa: E402
from eidola.profile.synth import synthesize  # noqa: E402
from eidola.results import atomic_write_bytes  # noqa: E402
from eidola.topology import build_topology  # noqa: E402
from eidola.topology.presets import PRESETS, preset_defaults  # noqa: E402
from tables import PARAMS, bus_factor  # noqa: E402

OUT = REPO / "bench" / "results" / "alltoall.json"
GiB = 1 << 30
ONE_NODE = (("h100", "nccl"), ("b200", "nccl"), ("mi300x", "rccl"), ("mi355x", "rccl"))
ACROSS = ("fat_tree", "rail_optimized")
NIC_GBPS = 50.0


def busbw(prof, topo) -> tuple[float, float]:
    t0 = time.perf_counter()
    res = run(prof, topo, PARAMS)
    n = prof.num_gpus
    size = int(prof.attrs["parameters"]["size_bytes"])
    return bus_factor("alltoall", n) * size / float(res.summary["makespan_ns"]), \
        time.perf_counter() - t0


def main() -> int:
    rows = []
    for system, library in ONE_NODE:
        defaults, fabric = PRESETS[system]
        out_gbps = defaults.link_bw_gbps * (7 if fabric != "switch" else 1)
        topo = build_topology(system, 8)
        lib_bw, lib_s = busbw(synthesize("alltoall", 8, GiB, library=library, system=system), topo)
        bare_bw, _ = busbw(synthesize("alltoall", 8, GiB), topo)
        rows.append({"case": f"8x {system}, {library}", "size_bytes": GiB, "library_gbps": lib_bw,
                     "bare_gbps": bare_bw, "bound_gbps": out_gbps, "wall_s": lib_s})
    for fabric in ACROSS:
        for size in (GiB // 2, 4 * GiB):
            topo = build_topology(fabric, 16, link_bw_gbps=preset_defaults("h100").link_bw_gbps,
                                  gpus_per_node=8, nic_bw_gbps=NIC_GBPS)
            prof = synthesize("alltoall", 16, size, library="nccl", system="h100", gpus_per_node=8)
            bw, s = busbw(prof, topo)
            rows.append({"case": f"2 x 8 h100, nccl, {fabric}", "size_bytes": size,
                         "library_gbps": bw, "bare_gbps": None,
                         "bound_gbps": 15 / 16 * NIC_GBPS * 2, "wall_s": s})
    doc = {"rows": rows, "run_params": {"packet_bytes": PARAMS.packet_bytes, "sync": PARAMS.sync},
           "units": {"bandwidth": "GB/s (nccl-tests busbw)", "size": "bytes", "wall": "s"}}
    atomic_write_bytes(OUT, json.dumps(doc, indent=1).encode())
    print("| case | size | library schedule | bare schedule | bound |\n| --- | --- | --- | --- | --- |")
    for r in rows:
        bare = "" if r["bare_gbps"] is None else f"{r['bare_gbps']:.1f}"
        print(f"| {r['case']} | {r['size_bytes'] / GiB:g} GiB | {r['library_gbps']:.1f} | {bare} | "
              f"{r['bound_gbps']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
