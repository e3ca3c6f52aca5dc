"""gem5's Garnet network against gem5's classic network on the same runs, and what only Garnet shows.

    EIDOLA_GEM5_GARNET=/path/to/build/Garnet_standalone/gem5.opt python bench/compare_garnet.py [--quick]
    # writes bench/results/compare_garnet.json and prints the tables of docs/gem5.md ("Garnet")

Part 1 (agreement): each case runs once with `--network classic` and once with `--network garnet`
on the same binary, `--sync syncmon`; makespans, bytes and the simulator's speed (wall seconds,
Garnet flits per wall second from gem5's stats) are compared.

Part 2 (the experiment): an 8-GPU all-to-all on the h100 switch preset under Garnet with 1, 2,
4 (Garnet's default) and 8 virtual channels per virtual network of 4 flits, and 4 and 1 VCs of
1 flit, next to the classic network (which has no VCs or credits and gives one answer), and the
same settings on a single stream (a 2-GPU p2p of the same size) to tell what the all-to-all's
contention adds to a VC's own turnaround.
gem5 is not part of this repository: build it as docs/gem5.md says.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import site
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OUT = REPO / "bench" / "results" / "compare_garnet.json"


def profiles(tmp: Path, quick: bool) -> dict[str, Path]:
    from eidola.profile import write_profile
    from eidola.profile.synth import synthesize

    size = (4 if quick else 16) << 20
    made = {
        "p2p": synthesize("p2p", gpus=2, size_bytes=size),
        "ar_nccl": synthesize("allreduce", 8, size, library="nccl", algo="ring"),
        "ar_rccl": synthesize("allreduce", 8, size, library="rccl", algo="ring"),
        "a2a": synthesize("alltoall", 8, size),
        "p2p_h100": synthesize("p2p", gpus=2, size_bytes=size),
    }
    out = {}
    for name, prof in made.items():
        out[name] = tmp / f"{name}.h5"
        write_profile(prof, out[name])
    return out


def run(gem5: str, tmp: Path, label: str, args: list[str]) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *site.getsitepackages()])
    out, m5out = tmp / label, tmp / f"{label}.m5out"
    t0 = time.perf_counter()
    proc = subprocess.run([gem5, "-q", f"--outdir={m5out}", str(REPO / "configs" / "eidola_8gpu.py"),
                           "--outdir", str(out), "--quiet", "--sync", "syncmon", *args],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{label}: gem5 failed: {proc.stderr.strip().splitlines()[-1:]}")
    summary = json.loads((out / "summary.json").read_text())
    stats = (m5out / "stats.txt").read_text()
    flits = re.search(r"^system\.ruby\.network\.flits_received::total\s+(\d+)", stats, re.M)
    latency = re.search(r"^system\.ruby\.network\.average_flit_latency\s+([\d.]+)", stats, re.M)
    return {"makespan_ns": summary["makespan_ns"], "bytes_written": summary["bytes_written"],
            "wall_s": round(wall, 2), "sim_seconds": summary.get("wall_seconds"),
            "flits": int(flits.group(1)) if flits else None,
            "avg_flit_latency_ticks": float(latency.group(1)) if latency else None,
            "garnet": summary["gem5"].get("garnet")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 MiB instead of 16 MiB")
    a = ap.parse_args()
    gem5 = os.environ.get("EIDOLA_GEM5_GARNET")
    if not gem5:
        raise SystemExit("set EIDOLA_GEM5_GARNET to a build/Garnet_standalone/gem5.opt built with "
                         "EXTRAS=<repo>/src_cc (docs/gem5.md)")
    result: dict = {"command": "EIDOLA_GEM5_GARNET=... python bench/compare_garnet.py"
                    + (" --quick" if a.quick else ""), "agreement": [], "experiment": []}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        prof = profiles(tmp, a.quick)
        size = "4 MiB" if a.quick else "16 MiB"
        cases = [
            (f"p2p {size}, switch 100 GB/s, 250 ns links", ["--profile", str(prof["p2p"]), "--topology",
             "switch", "--gpus", "2", "--link-bw", "100"]),
            (f"8-GPU ring all-reduce {size}, NCCL model, h100 (NVSwitch)", ["--profile", str(prof["ar_nccl"]),
             "--topology", "h100"]),
            (f"8-GPU all-reduce {size}, RCCL model (7 rings), mi300x (xGMI mesh)", ["--profile",
             str(prof["ar_rccl"]), "--topology", "mi300x"]),
            (f"8-GPU all-to-all {size}, h100", ["--profile", str(prof["a2a"]), "--topology", "h100"]),
        ]
        print("| case | classic | Garnet | difference | classic wall | Garnet wall | Garnet flits/s |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for i, (label, args) in enumerate(cases):
            c = run(gem5, tmp, f"c{i}", args)
            g = run(gem5, tmp, f"g{i}", [*args, "--network", "garnet"])
            diff = g["makespan_ns"] / c["makespan_ns"] - 1
            rate = g["flits"] / g["wall_s"] if g["flits"] else None
            result["agreement"].append({"case": label, "args": args, "classic": c, "garnet": g,
                                        "difference": diff, "garnet_flits_per_wall_s": rate})
            print(f"| {label} | {c['makespan_ns']:,.0f} ns | {g['makespan_ns']:,.0f} ns | {diff:+.1%} | "
                  f"{c['wall_s']} s | {g['wall_s']} s | {rate or 0:,.0f} |")
        a2a = ["--profile", str(prof["a2a"]), "--topology", "h100"]
        one = ["--profile", str(prof["p2p_h100"]), "--topology", "h100", "--gpus", "2"]
        classic = result["agreement"][-1]["classic"]
        classic_one = run(gem5, tmp, "x_one_classic", one)
        print(f"\nh100, {size}: classic all-to-all {classic['makespan_ns']:,.0f} ns, classic single stream "
              f"(p2p) {classic_one['makespan_ns']:,.0f} ns")
        print("| VCs per vnet | flits per VC | all-to-all | vs classic | single stream | vs classic |")
        print("| --- | --- | --- | --- | --- | --- |")
        for vcs, depth in (("1", "4"), ("2", "4"), ("4", "4"), ("8", "4"), ("4", "1"), ("1", "1")):
            knobs = ["--network", "garnet", "--garnet-vcs", vcs, "--garnet-vc-buffer", depth]
            g = run(gem5, tmp, f"x{vcs}_{depth}", [*a2a, *knobs])
            p = run(gem5, tmp, f"x{vcs}_{depth}_one", [*one, *knobs])
            ratio, ratio_one = g["makespan_ns"] / classic["makespan_ns"], p["makespan_ns"] / classic_one["makespan_ns"]
            result["experiment"].append({"vcs": int(vcs), "vc_buffer_flits": int(depth), "alltoall": g,
                                         "alltoall_vs_classic": ratio, "single_stream": p,
                                         "single_stream_vs_classic": ratio_one})
            print(f"| {vcs} | {depth} | {g['makespan_ns']:,.0f} ns | {ratio:.2f}x | {p['makespan_ns']:,.0f} ns | "
                  f"{ratio_one:.2f}x |")
        result["experiment_classic"] = {"alltoall": classic, "single_stream": classic_one}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = OUT.with_suffix(".tmp")
    tmp_out.write_text(json.dumps(result, indent=1))
    tmp_out.replace(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
