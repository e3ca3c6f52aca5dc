"""All-reduce at pod scale: NCCL's NVLS tree across 8-GPU H100 nodes on a rail-optimized fabric.

    python bench/bench_scale.py            # 1024 and 4096 GPUs
    python bench/bench_scale.py --full     # also 16384 GPUs (minutes, several GB)
    python bench/bench_scale.py --packets  # 128 GPUs at 1 MiB and 64 KiB packets: how much
                                           # the result depends on the simulation's granularity

Each size runs in a fresh process (its peak RSS is its own): the profile is handed to the engine
a slice of GPUs at a time (`streaming.lazy_synthesized`, the generator of `eidola profile synth
allreduce --algo nvls-tree --library nccl --gpus-per-node 8`), 1 GiB per GPU in 4 MiB chunks,
1 MiB packets, on `rail_optimized` with 256-port switches (64-port ones cannot reach 16384
NICs in two tiers), NVLink 18 x 20.6 GB/s, one 50 GB/s NIC per GPU; the child runs with the
malloc tunables `eidola run` sets (eidola/hugepages.py). Results go to
bench/results/scale.json (atomically) and a table is printed. Asserts nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "bench" / "results" / "scale.json"


def child(n: int, packet_bytes: int = 1 << 20) -> None:
    import resource

    from eidola.engine import run
    from eidola.params import RunParams
    from eidola.profile.streaming import lazy_synthesized
    from eidola.topology import build_topology

    t0 = time.perf_counter()
    prof = lazy_synthesized("allreduce", n, 1 << 30, algo="nvls-tree", library="nccl",
                            gpus_per_node=8, chunk_bytes=4 << 20)
    t_gen = time.perf_counter() - t0
    topo = build_topology("rail_optimized", n, link_bw_gbps=18 * 20.6, gpus_per_node=8,
                          nic_bw_gbps=50.0, switch_radix=256)
    res = run(prof, topo, RunParams(packet_bytes=packet_bytes, sync="syncmon", series=False))
    s = res.summary
    print(json.dumps({"gpus": n, "packet_bytes": packet_bytes, "ops": prof.num_ops, "events": s["events"],
                      "packets": s["packets"], "engine_s": s["wall_seconds"],
                      "events_per_s": s["events"] / s["wall_seconds"],
                      "simulate_s": s["simulate_seconds"], "simulate_events_per_s": s["events_per_second"],
                      "count_s": t_gen, "total_s": time.perf_counter() - t0,
                      "makespan_ns": s["makespan_ns"], "bus_bandwidth_gbps": s["bus_bandwidth_gbps"],
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1 << 20)
        return 0
    if "--packets" in sys.argv:
        runs = [(128, 1 << 20), (128, 64 << 10)]
        out = OUT.with_name("scale_packets.json")
    else:
        runs = [(n, 1 << 20) for n in [1024, 4096] + ([16384] if "--full" in sys.argv else [])]
        out = OUT
    # The malloc tunables `eidola run` restarts itself with (eidola/hugepages.py), so the
    # child's memory behaves as a user's run does.
    from eidola.hugepages import relaunch_env

    child_env = relaunch_env(["eidola", "run"], dict(os.environ)) or dict(os.environ)
    rows = []
    for n, packet_bytes in runs:
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--child", str(n), str(packet_bytes)],
                              capture_output=True, text=True, cwd=REPO, env=child_env)
        if proc.returncode != 0:
            print(f"{n} GPUs failed: {proc.stderr.strip()[-500:]}", file=sys.stderr)
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row["whole_command_s"] = time.perf_counter() - t
        rows.append(row)
        print(f"{n:>6} GPUs, {packet_bytes >> 10} KiB packets: {row['ops']:,} ops, {row['events']:,} events, engine {row['engine_s']:.1f} s "
              f"({row['events_per_s'] / 1e6:.2f} M events/s), whole {row['whole_command_s']:.1f} s, "
              f"peak RSS {row['peak_rss_mib']:.0f} MiB, busbw {row['bus_bandwidth_gbps']:.1f} GB/s",
              flush=True)
    from eidola.results import atomic_write_bytes

    atomic_write_bytes(out, json.dumps({"rows": rows, "units": {"time": "s", "bandwidth": "GB/s",
                                                                 "memory": "MiB"}},
                                       indent=1).encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
