"""What bench/validate_hardware.py and bench/validate_multinode.py share: the run parameters,
nccl-tests' bus-bandwidth factor, the error summary, and the markdown tables (one per system,
sizes down, curves across, each cell "measured / Eidola (error)" in GB/s of bus bandwidth)."""

from __future__ import annotations

import math

from eidola.params import RunParams

MiB = 1 << 20
#: errors are summarised from this size up (below it fixed costs the models do not claim dominate)
GEOMEAN_FROM = 16 * MiB
# 4096 packets in flight and no byte window: the libraries keep every channel's FIFO full
PARAMS = RunParams(sync="syncmon", packet_bytes=64 * 1024, max_outstanding=4096,
                   max_outstanding_bytes=0, series=False)


def bus_factor(coll: str, n: int) -> float:
    """nccl-tests' busbw / algbw: 2(n-1)/n for all-reduce, (n-1)/n for the others."""
    return (2.0 if coll == "allreduce" else 1.0) * (n - 1) / n


def geomean(errs: list[float | None]) -> float | None:
    """Geometric mean of |error| (None entries skipped; None if nothing is left)."""
    vals = [abs(e) for e in errs if e is not None]
    return math.exp(sum(math.log(max(e, 1e-6)) for e in vals) / len(vals)) if vals else None


def size_label(b: int) -> str:
    return f"{b // (1 << 30)} GiB" if b >= 1 << 30 and b % (1 << 30) == 0 else f"{b // MiB} MiB"


def per_system_tables(points: list[dict], min_size: int = 16 * MiB) -> str:
    systems: dict[str, list[dict]] = {}
    for p in points:
        if p["size_bytes"] < min_size:
            continue
        nodes = p["gpus"] // p.get("gpus_per_node", p["gpus"])
        key = f"{p['gpus']}x {p['system'].upper()}" + (f", {nodes} nodes" if nodes > 1 else "")
        systems.setdefault(key, []).append(p)
    out = []
    for key, pts in systems.items():
        curves = list(dict.fromkeys(p["dataset"] for p in pts))
        sizes = sorted({p["size_bytes"] for p in pts})
        cell = {(p["dataset"], p["size_bytes"]): p for p in pts}
        out.append(f"**{key}** (measured / Eidola GB/s, error; choice = what ran)\n")
        out.append("| size | " + " | ".join(curves) + " |")
        out.append("| --- |" + " --- |" * len(curves))
        for s in sizes:
            row = []
            for c in curves:
                p = cell.get((c, s))
                row.append("" if p is None else
                           f"{p['measured_gbps']:.0f} / {p['eidola_gbps']:.0f} "
                           f"({100 * p['error']:+.0f}%)")
            out.append(f"| {size_label(s)} | " + " | ".join(row) + " |")
        choices = sorted({p["eidola_choice"] for p in pts})
        out.append(f"\nchoices: {', '.join(choices)}\n")
    return "\n".join(out)
