"""gem5 checkpoints: a run checkpointed mid-way, the same run restored, and the run uninterrupted.

    EIDOLA_GEM5=/path/to/build/NULL/gem5.opt python bench/compare_checkpoint.py
    # writes bench/results/compare_checkpoint.json and prints the table of docs/gem5.md ("Checkpoints")

Per case: one uninterrupted run (W), then for each checkpoint time (a share of W's makespan)
a run that takes the checkpoint there and goes on to the end (A) and a run restored from that
checkpoint (B). Reported: whether A and B agree on every result (summary and every results.h5
array, wall time aside), the drain window (requested time to the time the checkpoint was
written), and A's makespan against W's. The checkpoint itself is a perturbation: draining holds
back every new request until the requests in flight are answered, and SyncMon registrations
held then are dropped and sent again.
gem5 is not part of this repository: build it as docs/gem5.md says.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "bench" / "results" / "compare_checkpoint.json"
SHARES = (0.25, 0.5, 0.75)
BACK_PRESSURED = "GEMM-RS 8 GPU, mi300x, SyncMon, 16 KiB link buffers"
# The back-pressured case also around half time: how much the drain's pause moves it depends on
# the moment it lands (docs/gem5.md, "Checkpoints").
EXTRA_SHARES = {BACK_PRESSURED: (0.45, 0.475, 0.525, 0.55)}
# ... and against other small changes to the same uninterrupted run (the mi300x preset's link
# latency is 250 ns): is the run that sensitive to anything, or to a pause?
NUDGES = {BACK_PRESSURED: (["--link-latency", "249"], ["--link-latency", "251"],
                           ["--compute-scale", "0.9999"], ["--compute-scale", "1.0001"])}


def cases(tmp: Path) -> dict[str, list[str]]:
    from eidola.profile import write_profile
    from eidola.profile.synth import synthesize

    nvls = write_profile(synthesize("allreduce", 8, 16 << 20, algo="nvls", library="nccl"), tmp / "nvls.h5")
    shipped = REPO / "profiles"
    return {
        "all-reduce 8 GPU, mi300x, SyncMon": ["--profile", str(shipped / "allreduce_8gpu.h5"), "--sync", "syncmon"],
        "GEMM-RS 8 GPU, mi300x, polling": ["--profile", str(shipped / "gemm_rs_8gpu.h5"), "--sync", "polling"],
        "NVLS all-reduce 16 MiB, h100, SyncMon": ["--profile", str(nvls), "--topology", "h100", "--sync", "syncmon"],
        BACK_PRESSURED: [
            "--profile", str(shipped / "gemm_rs_8gpu.h5"), "--sync", "syncmon", "--buffer", "16KiB"],
    }


def run(gem5: str, where: Path, args: list[str]) -> tuple[dict, float]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *site.getsitepackages()])
    where.mkdir(parents=True)
    t0 = time.perf_counter()
    proc = subprocess.run([gem5, "-q", f"--outdir={where / 'm5out'}", str(REPO / "configs" / "eidola_8gpu.py"),
                           "--outdir", str(where / "out"), "--quiet", *args],
                          capture_output=True, text=True, env=env, cwd=where)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"gem5 failed in {where}: {proc.stderr[-1500:]}")
    return json.loads((where / "out" / "summary.json").read_text()), wall


def results_of(where: Path, summary: dict) -> tuple[dict, dict]:
    kept = {k: v for k, v in summary.items() if k not in ("wall_seconds", "outdir", "gem5")}
    arrays: dict[str, np.ndarray] = {}
    with h5py.File(where / "out" / "results.h5") as f:
        f.visititems(lambda n, o: arrays.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return kept, arrays


def identical(a: Path, sa: dict, b: Path, sb: dict) -> bool:
    (ka, xa), (kb, xb) = results_of(a, sa), results_of(b, sb)
    return ka == kb and xa.keys() == xb.keys() and all(np.array_equal(xa[n], xb[n]) for n in xa)


def main() -> None:
    gem5 = os.environ.get("EIDOLA_GEM5")
    if not gem5:
        raise SystemExit("set EIDOLA_GEM5 to a gem5.opt built with EXTRAS=<repo>/src_cc (docs/gem5.md)")
    rows: list[dict] = []
    nudges: list[dict] = []
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for label, args in cases(tmp).items():
            key = f"c{len(rows)}"
            whole, wall_w = run(gem5, tmp / key / "whole", args)
            for i, nudge in enumerate(NUDGES.get(label, ())):
                nudged, _ = run(gem5, tmp / key / f"nudge{i}", [*args, *nudge])
                nudges.append({"case": label, "change": " ".join(nudge), "makespan_ns": nudged["makespan_ns"],
                               "vs_uninterrupted": nudged["makespan_ns"] / whole["makespan_ns"] - 1})
                print(f"{label}, uninterrupted with {' '.join(nudge)}: "
                      f"{nudges[-1]['vs_uninterrupted']:+.3%}", flush=True)
            for share in sorted((*SHARES, *EXTRA_SHARES.get(label, ()))):
                at = round(share * whole["makespan_ns"])
                ck = tmp / key / f"ckpt{share}"
                a_dir, b_dir = tmp / key / f"taken{share}", tmp / key / f"restored{share}"
                taken, wall_a = run(gem5, a_dir, [*args, "--checkpoint-at", str(at), "--checkpoint-dir", str(ck)])
                restored, wall_b = run(gem5, b_dir, [*args, "--restore", str(ck)])
                info = taken["gem5"]["checkpoint"]["taken"]
                row = {
                    "case": label, "args": args[2:], "share": share, "requested_at_ns": at,
                    "taken_at_ns": info["taken_at_ns"], "drain_ns": info["taken_at_ns"] - at,
                    "uninterrupted_makespan_ns": whole["makespan_ns"], "checkpointed_makespan_ns": taken["makespan_ns"],
                    "restored_makespan_ns": restored["makespan_ns"],
                    "identical": identical(a_dir, taken, b_dir, restored),
                    "vs_uninterrupted": taken["makespan_ns"] / whole["makespan_ns"] - 1,
                    "checkpoint_bytes": sum(p.stat().st_size for p in ck.iterdir()),
                    "wall_s": {"uninterrupted": wall_w, "checkpointed": wall_a, "restored": wall_b},
                }
                rows.append(row)
                print(f"{label} @ {share:.0%}: drain {row['drain_ns']:.0f} ns, identical={row['identical']}, "
                      f"{row['vs_uninterrupted']:+.3%} vs uninterrupted, checkpoint "
                      f"{row['checkpoint_bytes'] / 1e6:.1f} MB", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"gem5": gem5, "rows": rows, "nudges": nudges}, indent=1) + "\n")
    print("\n| case | checkpoint at | drain window | A = B (every result) | A vs uninterrupted |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['case']} | {r['share']:.1%} ({r['taken_at_ns'] / 1e3:,.1f} us) | {r['drain_ns'] / 1e3:.1f} us | "
              f"{'yes' if r['identical'] else 'NO'} | {r['vs_uninterrupted']:+.2%} |")


if __name__ == "__main__":
    main()
