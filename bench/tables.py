"""Markdown tables of validation points, shared by bench/validate_hardware.py and
bench/validate_multinode.py: one table per system, sizes down, curves across, each cell
"measured / Eidola (error)" in GB/s of nccl-tests bus bandwidth."""

from __future__ import annotations

MiB = 1 << 20


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
