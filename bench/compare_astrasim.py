"""The same Chakra ETs on ASTRA-sim (analytical backend) and on Eidola (docs/validation.md §7).

    EIDOLA_ASTRASIM=/path/to/AstraSim_Analytical_Congestion_Aware python bench/compare_astrasim.py
    python bench/compare_astrasim.py        # Eidola only (ASTRA-sim column left empty)

Writes bench/results/astrasim.json and prints a table. The ETs are written by Eidola's own
writer (eidola.profile.importers.chakra.write_et), one file a rank, into a temporary
directory, and imported with `eidola profile import chakra`. Both simulators get an 8-NPU
ring of 50 GB/s per link and 500 ns per hop:
- ASTRA-sim: network ``topology: [Ring]``, bandwidth 50 (its GB/s is 2^30 B/s, see
  astra-network-analytical's NetworkFunction.cpp), latency 500; system config the values of
  its example ``examples/system/native_collectives/Ring_4chunks.json`` (ring collectives,
  4 dataset splits, 10 ns endpoint delay, localBWAware with 1600 GB/s local memory).
- Eidola: the `ring` topology with link_bw_gbps = 50 * 2^30 / 1e9 (the same bytes per second)
  and link_latency_ns = 500, default run parameters (polling, 4 KiB packets).
Cases: single collectives of 64 MiB and 1 GiB, and two small workloads with compute and
dependencies (a dependent chain, and compute independent of a collective, which both should
overlap). ASTRA-sim releases differ in what they accept; a case it rejects is reported with
its error line.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eidola.engine import run  # noqa: E402
from eidola.params import RunParams  # noqa: E402
from eidola.profile.importers import import_profile  # noqa: E402
from eidola.profile.importers.chakra import CommType, EtNode, NodeType, write_et  # noqa: E402
from eidola.results import atomic_write_bytes  # noqa: E402
from eidola.topology import build_topology  # noqa: E402

OUT = REPO / "bench" / "results" / "astrasim.json"
NPUS = 8
BW_GIBPS = 50.0           # ASTRA-sim's "GB/s" is GiB/s
LATENCY_NS = 500.0
MiB, GiB = 1 << 20, 1 << 30

SYSTEM = {  # examples/system/native_collectives/Ring_4chunks.json (astra-sim 518bd51)
    "scheduling-policy": "LIFO", "endpoint-delay": 10, "active-chunks-per-dimension": 1,
    "preferred-dataset-splits": 4, "all-reduce-implementation": ["ring"],
    "all-gather-implementation": ["ring"], "reduce-scatter-implementation": ["ring"],
    "all-to-all-implementation": ["ring"], "collective-optimization": "localBWAware",
    "local-mem-bw": 1600, "boost-mode": 0, "roofline-enabled": 0, "peak-perf": 900,
}


def coll(i: int, ctype: CommType, size: int, deps=()) -> EtNode:
    return EtNode(i, ctype.name, NodeType.COMM_COLL_NODE, data_deps=list(deps),
                  attrs={"is_cpu_op": False, "comm_type": int(ctype), "comm_size": size})


def comp(i: int, us: int, deps=()) -> EtNode:
    return EtNode(i, f"compute_{i}", NodeType.COMP_NODE, data_deps=list(deps), duration_micros=us,
                  attrs={"is_cpu_op": False})


#: (case, nodes of every rank, ASTRA-sim system-config overrides)
CASES: list[tuple[str, list[EtNode], dict]] = [
    ("all-reduce 64 MiB", [coll(1, CommType.ALL_REDUCE, 64 * MiB)], {}),
    ("all-reduce 1 GiB", [coll(1, CommType.ALL_REDUCE, GiB)], {}),
    ("reduce-scatter 64 MiB", [coll(1, CommType.REDUCE_SCATTER, 64 * MiB)], {}),
    ("all-gather 8 MiB in (64 MiB out)", [coll(1, CommType.ALL_GATHER, 8 * MiB)], {}),
    ("all-to-all 64 MiB (ASTRA-sim ring algorithm)", [coll(1, CommType.ALL_TO_ALL, 64 * MiB)], {}),
    ("all-to-all 64 MiB (ASTRA-sim direct algorithm)", [coll(1, CommType.ALL_TO_ALL, 64 * MiB)],
     {"all-to-all-implementation": ["direct"]}),
    ("chain: 500 us, AR 64 MiB, 500 us, AR 64 MiB",
     [comp(1, 500), coll(2, CommType.ALL_REDUCE, 64 * MiB, [1]), comp(3, 500, [2]),
      coll(4, CommType.ALL_REDUCE, 64 * MiB, [3])], {}),
    ("overlap: 3000 us compute beside AR 64 MiB",
     [comp(1, 3000), coll(2, CommType.ALL_REDUCE, 64 * MiB)], {}),
]


def astrasim_ns(binary: str, prefix: Path, work: Path, system: dict) -> tuple[float | None, str]:
    (work / "network.yml").write_text(f"topology: [ Ring ]\nnpus_count: [ {NPUS} ]\n"
                                      f"bandwidth: [ {BW_GIBPS} ]\nlatency: [ {LATENCY_NS} ]\n")
    (work / "system.json").write_text(json.dumps(system))
    (work / "remote.json").write_text(json.dumps({"memory-type": "NO_MEMORY_EXPANSION"}))
    (work / "log").mkdir(exist_ok=True)
    cmd = [binary, f"--workload-configuration={prefix}", "--comm-group-configuration=empty",
           f"--system-configuration={work / 'system.json'}",
           f"--remote-memory-configuration={work / 'remote.json'}",
           f"--network-configuration={work / 'network.yml'}", f"--logging-folder={work / 'log'}"]
    p = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=600)
    text = p.stdout + p.stderr
    ends = [int(x) for x in re.findall(r"sys\[\d+\] finished, (\d+) cycles", text)]
    if p.returncode != 0 or len(ends) != NPUS:
        last = [ln for ln in text.splitlines() if ln.strip()][-1:] or ["(no output)"]
        return None, last[0][-160:]
    return float(max(ends)), ""


def main() -> int:
    binary = os.environ.get("EIDOLA_ASTRASIM")
    topo = build_topology("ring", NPUS, link_bw_gbps=BW_GIBPS * GiB / 1e9, link_latency_ns=LATENCY_NS)
    params = RunParams()
    rows = []
    with tempfile.TemporaryDirectory(prefix="eidola-astrasim-") as tmp:
        for i, (name, nodes, overrides) in enumerate(CASES):
            work = Path(tmp) / f"case{i}"
            work.mkdir()
            prefix = work / "et"
            for r in range(NPUS):
                write_et(work / f"et.{r}.et", nodes)
            prof = import_profile("chakra", [prefix])
            eidola_ns = float(run(prof, topo, params).summary["makespan_ns"])
            system = {**SYSTEM, **overrides}
            astra, err = (astrasim_ns(binary, prefix, work, system) if binary
                          else (None, "EIDOLA_ASTRASIM unset"))
            rows.append({"case": name, "astrasim_overrides": overrides, "eidola_ns": eidola_ns, "astrasim_ns": astra,
                         "eidola_over_astrasim": eidola_ns / astra if astra else None,
                         "astrasim_note": err})
            print(f"{name:50s} eidola {eidola_ns / 1e3:12.1f} us   astra-sim "
                  + (f"{astra / 1e3:12.1f} us   ratio {eidola_ns / astra:.3f}" if astra else f"- ({err})"),
                  flush=True)
    doc = {"inputs": {"npus": NPUS, "topology": "ring", "link_bw": f"{BW_GIBPS} GiB/s",
                      "link_latency_ns": LATENCY_NS, "eidola_params": params.to_dict(),
                      "astrasim_system": SYSTEM, "astrasim_binary": binary},
           "units": "ns", "rows": rows}
    atomic_write_bytes(OUT, (json.dumps(doc, indent=2) + "\n").encode())
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
