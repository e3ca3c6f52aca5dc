"""Recorded collective kernels of a real trace against the same collectives simulated.

    python bench/validate_traces.py [TRACE ...]   # default: the shared 2-rank Kineto trace;
                                                  # writes bench/results/validation_traces.json

For each distinct collective in the trace (kind, size, ranks, NCCL protocol from the kernel
name) this reports the recorded kernel durations (min / median over its occurrences, us) and
the duration Eidola gives the same collective alone on the `h100` preset (NCCL model) and the
`mi300x` preset (RCCL model), with the recorded protocol. All-reduces use the library model;
broadcasts the bare pipelined chain (the library model covers ring all-reduce, reduce-scatter
and all-gather). A recorded kernel also contains time spent waiting for the peer to arrive and
time shared with concurrent compute kernels, so it is an upper bound on the transfer itself;
the "implied busbw" column turns the fastest occurrence into nccl-tests bus bandwidth.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eidola.engine import run  # noqa: E402
from eidola.params import RunParams  # noqa: E402
from eidola.profile.importers.kineto import recorded_collectives  # noqa: E402
from eidola.profile.synth import synthesize  # noqa: E402
from eidola.results import atomic_write_bytes  # noqa: E402
from eidola.topology import build_topology  # noqa: E402

DEFAULT_TRACE = REPO.parent / "shared" / "traces" / "kineto" / "allreduce_broadcast_2rank_rank0.json.gz"
OUT = REPO / "bench" / "results" / "validation_traces.json"
PARAMS = RunParams(sync="syncmon", packet_bytes=16 * 1024, max_outstanding=4096, series=False)
SYSTEMS = (("h100", "nccl"), ("mi300x", "rccl"))


def simulate_us(coll: str, n: int, size: int, proto: str | None, system: str, library: str) -> float:
    if coll == "allreduce":
        prof = synthesize("allreduce", n, size, algo="ring", library=library, proto=proto or "simple")
    else:
        prof = synthesize(coll, n, size)
    return float(run(prof, build_topology(system, n), PARAMS).summary["makespan_ns"]) / 1e3


def busbw(coll: str, n: int, size: int, us: float) -> float:
    factor = 2 * (n - 1) / n if coll == "allreduce" else 1.0  # nccl-tests PERFORMANCE.md
    return factor * size / (us * 1e3)


def main(argv: list[str]) -> int:
    traces = [Path(a) for a in argv] or [DEFAULT_TRACE]
    rows = []
    for trace in traces:
        if not trace.exists():
            print(f"error: {trace}: trace not found", file=sys.stderr)
            return 2
        groups: dict[tuple, list[float]] = {}
        for c in recorded_collectives(trace):
            key = (c["coll"], c["size_bytes"], len(c["ranks"]), c["proto"])
            groups.setdefault(key, []).append(c["dur_us"])
        for (coll, size, n, proto), durs in groups.items():
            row = {"trace": trace.name, "coll": coll, "size_bytes": size, "gpus": n, "proto": proto,
                   "occurrences": len(durs), "recorded_min_us": min(durs),
                   "recorded_median_us": statistics.median(durs),
                   "recorded_busbw_gbps": busbw(coll, n, size, min(durs))}
            for system, library in SYSTEMS:
                us = simulate_us(coll, n, size, proto, system, library)
                row[f"{system}_us"] = us
                row[f"{system}_busbw_gbps"] = busbw(coll, n, size, us)
                row[f"{system}_over_recorded_min"] = us / min(durs)
            rows.append(row)
    atomic_write_bytes(OUT, json.dumps(
        {"units": {"time": "us", "bandwidth": "GB/s (busbw)", "size": "bytes"},
         "run_params": {"sync": PARAMS.sync, "packet_bytes": PARAMS.packet_bytes},
         "rows": rows}, indent=1).encode())
    print("| collective | size | proto | n | recorded min / median us | implied busbw | "
          "h100 (NCCL model) us | mi300x (RCCL model) us |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['coll']} | {r['size_bytes']:,} B | {r['proto']} | {r['occurrences']} | "
              f"{r['recorded_min_us']:.1f} / {r['recorded_median_us']:.1f} | "
              f"{r['recorded_busbw_gbps']:.2f} GB/s | {r['h100_us']:.1f} | {r['mi300x_us']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
