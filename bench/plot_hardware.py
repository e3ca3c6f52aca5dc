"""Figure of docs/validation.md §3: published all-reduce curves against Eidola, from the results
of bench/validate_hardware.py (no simulation here).

    python bench/plot_hardware.py   # reads bench/results/validation_hardware.json,
                                    # writes docs/img/validation_hardware.png
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from eidola.results import atomic_write_bytes  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "validation_hardware.json"
OUT = REPO / "docs" / "img" / "validation_hardware.png"
PANELS = [  # one panel per system: (title, curves drawn as lines, single points as markers)
    ("4x H100 SXM, NVSwitch, NCCL", ["h100x4-nccl-auto"], ["h100x4-nccl-ring", "h100x4-nccl-nvls"]),
    ("8x H100 SXM, NVSwitch, NCCL (NVLS)",
     ["h100x8-nccl-nvls-azure-ndv5", "h100x8-nccl-nvls-nccltests-issue290"], ["h100x8-nccl-peak"]),
    ("8x H200 SXM, NVSwitch, NCCL (NVLS)", ["h200x8-nccl-nvls-azure-ndv5"], []),
    ("8x MI300X, xGMI mesh, RCCL", ["mi300x8-rccl-aac", "mi300x8-rccl-amd"], []),
]


def main() -> int:
    if not RESULTS.exists():
        print(f"error: {RESULTS}: not found; run bench/validate_hardware.py first", file=sys.stderr)
        return 2
    points = json.loads(RESULTS.read_text())["points"]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.4), constrained_layout=True)
    for ax, (title, lines, marks) in zip(axes.flat, PANELS):
        for i, ds in enumerate(lines):
            sel = sorted((p for p in points if p["dataset"] == ds), key=lambda p: p["size_bytes"])
            x = [p["size_bytes"] / 2**20 for p in sel]
            c = f"C{i}"
            ax.plot(x, [p["measured_gbps"] for p in sel], "o-", color=c, label=f"{ds} measured")
            ax.plot(x, [p["eidola_gbps"] for p in sel], "s--", color=c, mfc="none", label=f"{ds} Eidola")
        for j, ds in enumerate(marks):
            sel = [p for p in points if p["dataset"] == ds]
            c = f"C{j + len(lines)}"
            ax.plot([p["size_bytes"] / 2**20 for p in sel], [p["measured_gbps"] for p in sel], "o",
                    color=c, label=f"{ds} measured")
            ax.plot([p["size_bytes"] / 2**20 for p in sel], [p["eidola_gbps"] for p in sel], "s",
                    color=c, mfc="none", label=f"{ds} Eidola")
        ax.axvline(16, color="0.6", lw=0.8, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("all-reduce size per GPU (MiB)")
        ax.set_ylabel("bus bandwidth (GB/s, nccl-tests busbw)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    s = json.loads(RESULTS.read_text())["summary"]
    fig.suptitle(f"Eidola (library models) against published all-reduce curves: geomean |error| "
                 f"{100 * s['geomean_abs_error_ge_16MiB']:.1f}% over {s['points_ge_16MiB']} points "
                 f">= 16 MiB (dotted line)", fontsize=10)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=110)
    atomic_write_bytes(OUT, png.getvalue())
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
