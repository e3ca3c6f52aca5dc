"""Figures of docs/validation.md §3: published nccl-tests / rccl-tests curves against Eidola, one
panel per system (GPU model x GPUs x nodes), from the results of bench/validate_hardware.py and
bench/validate_multinode.py (no simulation here).

    python bench/plot_hardware.py   # reads bench/results/validation_{hardware,multinode}.json,
                                    # writes docs/img/validation_hardware.png and
                                    # docs/img/validation_multinode.png
"""

from __future__ import annotations

import io
import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from eidola.results import atomic_write_bytes  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FIGURES = [  # (results, figure, what the panels show)
    (REPO / "bench" / "results" / "validation_hardware.json",
     REPO / "docs" / "img" / "validation_hardware.png", "one node"),
    (REPO / "bench" / "results" / "validation_multinode.json",
     REPO / "docs" / "img" / "validation_multinode.png", "across nodes (8 GPUs per node)"),
]
COLL = {"allreduce": "AR", "allgather": "AG", "reducescatter": "RS", "alltoall": "A2A"}


def panels(points: list[dict]) -> dict[str, list[dict]]:
    """Points grouped per system: GPU model, GPU count (and nodes)."""
    out: dict[str, list[dict]] = {}
    for p in points:
        nodes = p["gpus"] // p.get("gpus_per_node", p["gpus"])
        key = f"{p['gpus']}x {p['system'].upper()}" + (f" ({nodes} nodes)" if nodes > 1 else "")
        out.setdefault(key, []).append(p)
    return out


def draw(results: Path, figure: Path, scope: str) -> None:
    data = json.loads(results.read_text())
    groups = panels(data["points"])
    cols = 3
    rows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.0 * rows), constrained_layout=True,
                             squeeze=False)
    for ax, (title, pts) in zip(axes.flat, groups.items()):
        for i, ds in enumerate(dict.fromkeys(p["dataset"] for p in pts)):
            sel = sorted((p for p in pts if p["dataset"] == ds), key=lambda p: p["size_bytes"])
            x = [p["size_bytes"] / 2**20 for p in sel]
            c = f"C{i % 10}"
            style = "-" if len(sel) > 1 else ""
            label = f"{COLL.get(sel[0].get('collective', 'allreduce'), '')} {ds}"
            ax.plot(x, [p["measured_gbps"] for p in sel], "o" + style, color=c, ms=4,
                    label=f"{label} (measured)")
            ax.plot(x, [p["eidola_gbps"] for p in sel], "s--" if style else "s", color=c, ms=4,
                    mfc="none", label="Eidola")
        ax.axvline(16, color="0.6", lw=0.8, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("size per GPU (MiB)")
        ax.set_ylabel("bus bandwidth (GB/s, nccl-tests busbw)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    s = data["summary"]
    fig.suptitle(f"Eidola (library models, the library tuner's choice) against published curves, "
                 f"{scope}: geomean |error| {100 * s['geomean_abs_error_ge_16MiB']:.1f}% over "
                 f"{s.get('points_ge_16MiB', s.get('points'))} points >= 16 MiB (dotted line); "
                 "measured solid, Eidola dashed", fontsize=10)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100)
    atomic_write_bytes(figure, png.getvalue())
    print(f"wrote {figure}")


def main() -> int:
    found = False
    for results, figure, scope in FIGURES:
        if not results.exists():
            print(f"note: {results}: not found; run the matching bench/validate_*.py first",
                  file=sys.stderr)
            continue
        draw(results, figure, scope)
        found = True
    return 0 if found else 2


if __name__ == "__main__":
    raise SystemExit(main())
