"""The built-in engine against the gem5 backend on the same profiles and topologies.

    EIDOLA_GEM5=/path/to/gem5.opt python bench/compare_gem5.py
    # writes bench/results/compare_gem5.json and prints the table of docs/validation.md §2

Each case runs one config twice, under plain Python (built-in engine) and under gem5.opt, with
`--sync syncmon` unless the case says otherwise, and compares makespan, bytes written, polling
reads and SyncMon overflows. gem5 is not part of
this repository: build it as docs/gem5.md says and point EIDOLA_GEM5 at the binary.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OUT = REPO / "bench" / "results" / "compare_gem5.json"
P = REPO / "profiles"
CASES = [  # (label, config, extra arguments)
    ("p2p_2gpu.h5 (mi300x)", "eidola_8gpu.py", ["--profile", str(P / "p2p_2gpu.h5")]),
    ("allreduce_8gpu.h5 (mi300x)", "eidola_8gpu.py", ["--profile", str(P / "allreduce_8gpu.h5")]),
    ("gemm_rs_8gpu.h5 (mi300x, 4 streams per GPU)", "eidola_8gpu.py", ["--profile", str(P / "gemm_rs_8gpu.h5")]),
    ("kineto_2rank.h5 (mi300x, imported trace)", "eidola_8gpu.py", ["--profile", str(P / "kineto_2rank.h5")]),
    ("allreduce_8gpu.h5 on h100 (switch)", "eidola_8gpu.py",
     ["--profile", str(P / "allreduce_8gpu.h5"), "--topology", "h100"]),
    ("64-GPU multinode ring all-reduce, 64 MiB", "eidola_64gpu_multinode.py", ["--profile", "{ar64}"]),
    ("all-reduce 64 MiB, RCCL model (7 disjoint rings), mi300x", "eidola_8gpu.py", ["--profile", "{rccl}"]),
    ("all-reduce 64 MiB, NCCL model, LL128, h100", "eidola_8gpu.py",
     ["--profile", "{nccl}", "--topology", "h100"]),
    ("gemm-rs 64 MiB, tile flags signal_nbi, mi300x", "eidola_8gpu.py", ["--profile", "{gnbi}"]),
    ("all-reduce 64 MiB, NCCL NVLS (switch multicast), h100", "eidola_8gpu.py",
     ["--profile", "{nvls}", "--topology", "h100"]),
    ("p2p 4 MiB, 16 KiB link buffers, 2 us links", "eidola_8gpu.py",
     ["--profile", "{p2p4}", "--topology", "fully_connected", "--gpus", "2", "--link-bw", "100",
      "--link-latency", "2000", "--buffer", "16KiB"]),
    # the synchronization model: 304 workgroups per GPU, 128 memory channels, SyncMon limits
    ("gemm-rs 8192^3 shape, polling 20 ns, mi300x", "eidola_8gpu.py",
     ["--profile", str(P / "gemm_rs_8192_mi300x.h5"), "--sync", "polling", "--poll-interval", "20"]),
    ("gemm-rs 8192^3 shape, SyncMon 304 entries, mi300x", "eidola_8gpu.py",
     ["--profile", str(P / "gemm_rs_8192_mi300x.h5")]),
    ("gemm-rs 8192^3 shape, SyncMon 16 entries, mi300x", "eidola_8gpu.py",
     ["--profile", str(P / "gemm_rs_8192_mi300x.h5"), "--syncmon-entries", "16"]),
    ("gemm-rs 8192^3 shape, SyncMon wake on change, mi300x", "eidola_8gpu.py",
     ["--profile", str(P / "gemm_rs_8192_mi300x.h5"), "--syncmon-wake", "change"]),
]


def run_case(tmp: Path, gem5: str | None, config: str, args: list[str]) -> tuple[dict, float, float]:
    """(summary.json, wall seconds, peak RSS MiB) of one run in a child process."""
    out = tmp / ("gem5" if gem5 else "builtin")
    cmd = [sys.executable, str(REPO / "configs" / config)] if not gem5 else \
        [gem5, "-q", f"--outdir={tmp / 'm5out'}", str(REPO / "configs" / config)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *site.getsitepackages()])
    t = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([*cmd, "--outdir", str(out), "--quiet", "--sync", "syncmon", *args],
                                stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=tmp)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} failed: {err.read().decode()[-2000:]}")
    return json.loads((out / "summary.json").read_text()), time.perf_counter() - t, usage.ru_maxrss / 1024


def main() -> int:
    gem5 = os.environ.get("EIDOLA_GEM5")
    if not gem5 or not Path(gem5).exists():
        print("error: EIDOLA_GEM5 is not set to a gem5.opt built with EXTRAS=<repo>/src_cc "
              "(see docs/gem5.md)", file=sys.stderr)
        return 2
    from eidola.profile import write_profile
    from eidola.results import atomic_write_bytes
    from eidola.profile.synth import synthesize

    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        made = {"ar64": synthesize("allreduce", 64, 64 << 20, chunk_bytes=1 << 20),
                "rccl": synthesize("allreduce", 8, 64 << 20, library="rccl"),
                "nccl": synthesize("allreduce", 8, 64 << 20, library="nccl", proto="ll128"),
                "gnbi": synthesize("gemm-rs", 8, 64 << 20, signal="nbi"),
                "nvls": synthesize("allreduce", 8, 64 << 20, algo="nvls", library="nccl"),
                "p2p4": synthesize("p2p", 2, 4 << 20)}
        for key, prof in made.items():
            write_profile(prof, tmp / f"{key}.h5")
        for label, config, args in CASES:
            for key in made:
                args = [a.replace("{" + key + "}", str(tmp / f"{key}.h5")) for a in args]
            (tmp / label[:8].replace(" ", "_")).mkdir(exist_ok=True)
            case = tmp / label[:8].replace(" ", "_")
            g, g_s, g_rss = run_case(case, gem5, config, args)
            b, b_s, b_rss = run_case(case, None, config, args)
            rows.append({"case": label, "gem5_ns": g["makespan_ns"], "builtin_ns": b["makespan_ns"],
                         "difference": g["makespan_ns"] / b["makespan_ns"] - 1,
                         "gem5_bytes": g.get("bytes_written"), "builtin_bytes": b.get("bytes_written"),
                         "gem5_polling_reads": g.get("polling_reads"), "builtin_polling_reads": b.get("polling_reads"),
                         "gem5_syncmon_overflows": g.get("syncmon_overflows"),
                         "builtin_syncmon_overflows": b.get("syncmon_overflows"),
                         "packets": g.get("packets"), "gpus": len(g.get("gpu_finish_ns", [])),
                         "gem5_sim_s": g.get("wall_seconds"), "builtin_sim_s": b.get("wall_seconds"),
                         "gem5_packets_per_s": g["packets"] / g["wall_seconds"] if g.get("wall_seconds") else None,
                         "builtin_packets_per_s": b["packets"] / b["wall_seconds"] if b.get("wall_seconds") else None,
                         "gem5_process_s": round(g_s, 2), "builtin_process_s": round(b_s, 2),
                         "gem5_peak_rss_mib": round(g_rss, 1), "builtin_peak_rss_mib": round(b_rss, 1)})
    atomic_write_bytes(OUT, json.dumps({"units": {"time": "ns", "wall": "s"}, "sync": "syncmon",
                                        "rows": rows}, indent=1).encode())
    print("| profile | gem5 | built-in | difference | polls gem5 / built-in | overflows gem5 / built-in |\n"
          "| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['case']} | {r['gem5_ns']:,.0f} ns | {r['builtin_ns']:,.0f} ns | {100 * r['difference']:+.1f}% | "
              f"{r['gem5_polling_reads']:,} / {r['builtin_polling_reads']:,} | "
              f"{r['gem5_syncmon_overflows']} / {r['builtin_syncmon_overflows']} |")
    print(f"worst |difference|: {100 * max(abs(r['difference']) for r in rows):.1f}%")
    print("\n| case | packets | gem5 packets/s | built-in packets/s | ratio | gem5 peak RSS |\n"
          "| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        if r["gem5_packets_per_s"] and r["builtin_packets_per_s"]:
            print(f"| {r['case']} | {r['packets']:,} | {r['gem5_packets_per_s'] / 1e3:,.0f} k | "
                  f"{r['builtin_packets_per_s'] / 1e6:,.2f} M | "
                  f"{r['builtin_packets_per_s'] / r['gem5_packets_per_s']:.1f}x | {r['gem5_peak_rss_mib']:.0f} MiB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
