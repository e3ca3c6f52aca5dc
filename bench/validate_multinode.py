"""Published multi-node nccl-tests curves against Eidola.

    python bench/validate_multinode.py   # writes bench/results/validation_multinode.json and
                                         # prints the tables of docs/validation.md, section 3b

Reference points: bench/reference/multinode_busbw.csv, where each curve comes from in
bench/reference/multinode_sources.json (public nccl-tests output; every number copied as
printed, out-of-place busbw).

Every point runs what NCCL would run (eidola.profile.tuner through `synth --algo auto
--gpus-per-node 8 --library nccl --system SYSTEM`: ring or NVLS tree across nodes; NCCL_ALGO
in the source restricts the choice the same way) on a two-tier `fat_tree` of nodes of the
system's preset (NVSwitch at NCCL's NVLink figure) with one 400 Gb/s NIC per GPU (50 GB/s,
ConnectX-7 / Quantum-2 NDR port rate). Curves over GCP's TCP-based GPUDirect (TCPX/TCPXO) are
listed but not compared: that transport's costs are not modelled.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eidola.engine import run  # noqa: E402
from eidola.profile.synth import synthesize, tuned_algorithm  # noqa: E402
from eidola.results import atomic_write_bytes  # noqa: E402
from eidola.topology import build_topology  # noqa: E402
from tables import GEOMEAN_FROM, PARAMS, bus_factor, geomean, per_system_tables  # noqa: E402
from eidola.topology.presets import preset_defaults  # noqa: E402

REFERENCE = REPO / "bench" / "reference" / "multinode_busbw.csv"
SOURCES = REPO / "bench" / "reference" / "multinode_sources.json"
OUT = REPO / "bench" / "results" / "validation_multinode.json"
MiB = 1 << 20
NIC_GBPS = 50.0  # 400 Gb/s ConnectX-7 / Quantum-2 NDR port


def simulate(coll: str, system: str, n: int, g: int, size: int, algo: str) -> tuple[float, str]:
    """(busbw GB/s, algo/proto run) of one collective as NCCL would run it (an all-to-all:
    NCCL's send/recv rules, eidola.profile.p2p, not its tuner)."""
    if coll == "alltoall":
        a, p = "direct", None
    else:
        a, p, _ = tuned_algorithm(coll, n, size, "nccl", None, system,
                                  None if algo == "auto" else (algo,), gpus_per_node=g)
    prof = synthesize(coll, n, size, algo=a, library="nccl", proto=p, gpus_per_node=g,
                      system=system)
    topo = build_topology("fat_tree", n, link_bw_gbps=preset_defaults(system).link_bw_gbps,
                          gpus_per_node=g, nic_bw_gbps=NIC_GBPS)
    res = run(prof, topo, PARAMS)
    return bus_factor(coll, n) * size / float(res.summary["makespan_ns"]), f"{a}-{p or 'p2p'}"


def main() -> int:
    rows = list(csv.DictReader(REFERENCE.open()))
    sources = json.loads(SOURCES.read_text())
    t0 = time.perf_counter()
    points, skipped = [], {}
    for r in rows:
        if "tcpx" in r["dataset"]:
            skipped[r["dataset"]] = "GCP GPUDirect-TCPX/TCPXO transport (TCP offload) not modelled"
            continue
        n, g, size = int(r["gpus"]), int(r["gpus_per_node"]), int(r["size_bytes"])
        if size < GEOMEAN_FROM:
            continue
        measured = float(r["busbw_gbps"])
        eidola, choice = simulate(r["collective"], r["system"], n, g, size, r["algo"])
        points.append({"dataset": r["dataset"], "collective": r["collective"], "system": r["system"],
                       "gpus": n, "gpus_per_node": g, "algo": r["algo"], "size_bytes": size,
                       "measured_gbps": measured, "eidola_gbps": eidola, "eidola_choice": choice,
                       "error": eidola / measured - 1.0})
        print(f"{r['dataset']} {size // MiB} MiB: {measured:.1f} vs {eidola:.1f} ({choice})",
              file=sys.stderr, flush=True)
    per = {}
    for ds in dict.fromkeys(p["dataset"] for p in points):
        errs = [p["error"] for p in points if p["dataset"] == ds]
        per[ds] = {"points_ge_16MiB": len(errs), "geomean_abs_error": geomean(errs),
                   **sources.get(ds, {})}
    summary = {"points": len(points), "wall_s": round(time.perf_counter() - t0, 1),
               "geomean_abs_error_ge_16MiB": geomean([p["error"] for p in points]),
               "not_compared": skipped,
               "fabric": {"topology": "fat_tree", "nic_bw_gbps": NIC_GBPS,
                          "link_bw_gbps": "the system preset's"},
               "run_params": {"sync": PARAMS.sync, "packet_bytes": PARAMS.packet_bytes},
               "units": {"bandwidth": "GB/s (nccl-tests busbw)", "size": "bytes", "error": "fraction"}}
    atomic_write_bytes(OUT, json.dumps({"summary": summary, "datasets": per, "points": points},
                                       indent=1, sort_keys=True).encode())
    print("| curve | size | measured GB/s | Eidola GB/s (choice) | error |\n| --- | --- | --- | --- | --- |")
    for p in points:
        print(f"| {p['dataset']} | {p['size_bytes'] // MiB} MiB | {p['measured_gbps']:.1f} | "
              f"{p['eidola_gbps']:.1f} ({p['eidola_choice']}) | {100 * p['error']:+.1f}% |")
    print("\n| curve | sizes >= 16 MiB | geomean abs error |\n| --- | --- | --- |")
    for ds, d in per.items():
        print(f"| {ds} | {d['points_ge_16MiB']} | {100 * d['geomean_abs_error']:.1f}% |")
    print(f"| **all** | {len(points)} | **{100 * summary['geomean_abs_error_ge_16MiB']:.1f}%** |")
    print("\n" + per_system_tables(points))
    print("\nnot compared:")
    for ds, why in skipped.items():
        print(f"- {ds}: {why}")
    print(f"\n{len(points)} simulations in {summary['wall_s']} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
