"""A GEMM and a collective sharing one persistent kernel's workgroups (ROCm/iris "concurrent").

Why: on a GPU running a GEMM next to a collective, the question is how to split the compute
units; the answer depends on how long GEMM tiles take, how the collective's tiles load the
links, and how the workgroups move between the two. ROCm/iris runs both in one persistent
kernel with two work queues (GEMM tiles, collective tiles); `gemm_workgroups` of the grid
start on the GEMM queue, the rest on the collective's, and a workgroup whose queue is empty
takes tiles from the other one. The GEMM and the collective share only the GPU: no flags.

How it becomes a profile: the queues are dynamic, a profile is a fixed op list per stream. The
generator plays the two queues once with nominal tile times (a GEMM tile: its flops at one
compute unit's share of the GPU's measured GEMM throughput; a collective tile: its bytes over
one link at the nominal link bandwidth plus the link latency) and records which workgroup
took which tile in which order; the engine then replays that schedule with real contention.

Collective tiles are 256 x 64 elements (iris's comm_block), fp16; the algorithms are iris's
direct, one-shot ones:
- allgather: every source tile is written to every peer.
- allreduce: rank r owns a contiguous 1/W of the output tiles; for each it reads the tile from
  every peer, sums (memory-bound, at one CU's share of HBM bandwidth) and writes the sum to
  every peer.
- reducescatter: rank r reads its slice (comm_m / W rows) from every peer and sums.
- broadcast: rank 0 writes every tile to every peer; other ranks have no collective work.
Local copies and stores are a compute op of their bytes at one CU's share of HBM bandwidth.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

import numpy as np

from eidola.errors import EidolaError
from eidola.profile.schema import OpKind
from eidola.profile.table import OpTable
from eidola.topology.gpus import DTYPE_BYTES, GpuSpec

COLLECTIVES = ("allgather", "allreduce", "reducescatter", "broadcast")
COMM_TILE = (256, 64)  # elements; iris concurrent's comm_block
COMM_DTYPE_BYTES = 2   # fp16, as the iris corpus


def _schedule(workgroups: int, gemm_workgroups: int, gemm_tiles: int, gemm_ns: float,
              comm_tiles: int, comm_ns: float) -> list[list[tuple[str, int]]]:
    """Play the two work queues with nominal times; per workgroup its ("gemm"|"comm", tile)."""
    queues = {"gemm": [0, gemm_tiles, gemm_ns], "comm": [0, comm_tiles, comm_ns]}
    order: list[list[tuple[str, int]]] = [[] for _ in range(workgroups)]
    ready = [(0.0, w) for w in range(workgroups)]
    heapq.heapify(ready)
    while ready:
        t, w = heapq.heappop(ready)
        home, other = ("gemm", "comm") if w < gemm_workgroups else ("comm", "gemm")
        q = home if queues[home][0] < queues[home][1] else other
        nxt, total, dur = queues[q]
        if nxt >= total:
            continue  # both queues empty: this workgroup is done
        queues[q][0] += 1
        order[w].append((q, nxt))
        heapq.heappush(ready, (t + dur, w))
    return order


def concurrent(table: OpTable, n: int, *, spec: GpuSpec, m: int, n_cols: int, k: int, dtype: str,
               tile: tuple[int, int], collective: str, comm_m: int, comm_n: int,
               gemm_workgroups: int, workgroups: int, link_gbps: float,
               latency_ns: float) -> dict[str, Any]:
    """Add every GPU's ops; returns what the profile's provenance should record."""
    if collective not in COLLECTIVES:
        raise EidolaError(f"unknown collective {collective!r}; choose one of {', '.join(COLLECTIVES)}",
                          field="collective")
    if not 0 <= gemm_workgroups <= workgroups:
        raise EidolaError(f"must be 0..{workgroups} (the workgroups), got {gemm_workgroups}",
                          field="gemm-workgroups")
    for field, v in (("comm-m", comm_m), ("comm-n", comm_n)):
        if not 1 <= v <= 1 << 24:
            raise EidolaError(f"must be 1..16777216, got {v}", field=field)
    bm, bn = tile
    gemm_tiles = math.ceil(m / bm) * math.ceil(n_cols / bn)
    gemm_ns = spec.tile_ns(dtype, bm, bn, k)  # padded tiles cost a full tile on the matrix units
    cm, cn = COMM_TILE
    tile_bytes = cm * cn * COMM_DTYPE_BYTES
    cu_ns_per_byte = spec.compute_units / spec.hbm_bw_gbps  # one CU's share of HBM, ns per byte
    peers = lambda g: [(g + d) % n for d in range(1, n)]  # noqa: E731
    per_tile_remote = {"allgather": n - 1, "allreduce": 2 * (n - 1), "reducescatter": n - 1,
                       "broadcast": n - 1}[collective]
    comm_ns = per_tile_remote * tile_bytes / link_gbps + latency_ns
    src_tiles = math.ceil(comm_m / cm) * math.ceil(comm_n / cn)
    if collective == "reducescatter" and comm_m % n:
        raise EidolaError(f"{comm_m} rows do not split over {n} GPUs", field="comm-m")
    rs_tiles = math.ceil(comm_m // n / cm) * math.ceil(comm_n / cn)
    ar_per_rank = math.ceil(src_tiles / n)
    for g in range(n):
        comm_tiles = {"allgather": src_tiles, "allreduce": max(0, min(ar_per_rank, src_tiles - g * ar_per_rank)),
                      "reducescatter": rs_tiles, "broadcast": src_tiles if g == 0 else 0}[collective]
        order = _schedule(workgroups, gemm_workgroups, gemm_tiles, gemm_ns, comm_tiles, comm_ns)
        rows: dict[str, list] = {key: [] for key in ("stream", "seq", "kind", "peer", "nbytes", "addr", "dur_ns")}

        def op(w: int, kind: OpKind, peer: int = -1, nbytes: int = 0, addr: int = 0, dur: float = 0.0) -> None:
            rows["stream"].append(w)
            rows["seq"].append(len(rows["seq"]))
            rows["kind"].append(int(kind))
            rows["peer"].append(peer)
            rows["nbytes"].append(nbytes)
            rows["addr"].append(addr)
            rows["dur_ns"].append(dur)

        for w, tiles in enumerate(order):
            for q, t in tiles:
                if q == "gemm":
                    op(w, OpKind.COMPUTE, dur=gemm_ns)
                    continue
                base = t * tile_bytes
                if collective in ("allgather", "broadcast"):
                    for p in peers(g):
                        op(w, OpKind.WRITE, p, tile_bytes, g * src_tiles * tile_bytes + base)
                    if collective == "allgather":
                        op(w, OpKind.COMPUTE, dur=2 * tile_bytes * cu_ns_per_byte)  # local copy
                    continue
                owned = (g * ar_per_rank + t) if collective == "allreduce" else (g * rs_tiles + t)
                for p in peers(g):
                    op(w, OpKind.READ, p, tile_bytes, owned * tile_bytes)
                op(w, OpKind.COMPUTE, dur=(n + 1) * tile_bytes * cu_ns_per_byte)  # sum W tiles, store
                if collective == "allreduce":
                    for p in peers(g):
                        op(w, OpKind.WRITE, p, tile_bytes, owned * tile_bytes)
        if rows["seq"]:
            cols = {key: np.asarray(v) for key, v in rows.items()}
            table.add(gpu=g, stream=cols["stream"], seq=cols["seq"], kind=cols["kind"], peer=cols["peer"],
                      nbytes=cols["nbytes"], addr=cols["addr"], dur_ns=cols["dur_ns"])
    return {"collective": collective, "comm_m": comm_m, "comm_n": comm_n, "comm_tile": list(COMM_TILE),
            "comm_dtype_bytes": COMM_DTYPE_BYTES, "gemm_workgroups": gemm_workgroups,
            "workgroups": workgroups, "gemm_tiles_per_gpu": gemm_tiles, "gemm_ns_per_tile": gemm_ns,
            "comm_tiles_source": src_tiles, "nominal_comm_ns_per_tile": comm_ns,
            "dtype_bytes": DTYPE_BYTES[dtype]}


def concurrent_profile(n: int, *, gpu: str, m: Any, n_cols: Any, k: Any, dtype: str, tile: str | None,
                       collective: str, comm_m: Any, comm_n: Any, gemm_workgroups: Any,
                       workgroups: Any, link_gbps: float, latency_ns: float,
                       name: str | None = None) -> "Profile":
    """The whole profile of a `concurrent` kind (see the module docstring)."""
    from eidola.profile.gemm_shape import parse_tile
    from eidola.profile.model import Profile
    from eidola.profile.timeline import estimate_times
    from eidola.topology.gpus import check_dtype, gpu_spec

    spec = gpu_spec(gpu)
    key = check_dtype(dtype)

    def count(v: Any, field: str, default: int | None = None) -> int:
        if v is None:
            if default is None:
                raise EidolaError(f"missing option --{field}", field=field)
            return default
        try:
            out = int(v)
            if float(v) != out:
                raise ValueError
        except (TypeError, ValueError):
            raise EidolaError(f"expected an integer, got {v!r}", field=field) from None
        if not 0 <= out <= 1 << 24:
            raise EidolaError(f"must be 0..16777216, got {v!r}", field=field)
        return out

    M, N, K = (count(v, f) for v, f in ((m, "m"), (n_cols, "n"), (k, "k")))
    if min(M, N, K) < 1:
        raise EidolaError("GEMM sides must be positive", field="m")
    wg = count(workgroups, "workgroups", spec.compute_units)
    if wg < 1:
        raise EidolaError("must be at least 1", field="workgroups")
    gw = count(gemm_workgroups, "gemm-workgroups", wg * 3 // 4)
    table = OpTable()
    info = concurrent(table, n, spec=spec, m=M, n_cols=N, k=K, dtype=key, tile=parse_tile(tile),
                      collective=collective, comm_m=count(comm_m, "comm-m"),
                      comm_n=count(comm_n, "comm-n"), gemm_workgroups=gw, workgroups=wg,
                      link_gbps=link_gbps, latency_ns=latency_ns)
    ops = table.build(n)
    for o in ops:
        estimate_times(o, 0.0, link_gbps, latency_ns)
    bytes_written = int(sum(int(o["bytes"][o["kind"] == OpKind.WRITE].sum()) for o in ops))
    params = {"kind": "concurrent", "algo": collective, "gpus": n, "gpu": spec.name, "m": M, "n": N,
              "k": K, "dtype": key, "tile": list(parse_tile(tile)), **info,
              "nominal_link_gbps": link_gbps, "nominal_latency_ns": latency_ns,
              "gpu_sources": list(spec.sources), "bytes_written_per_iteration": bytes_written,
              "size_bytes": count(comm_m, "comm-m") * count(comm_n, "comm-n") * COMM_DTYPE_BYTES}
    attrs = {"name": name or f"concurrent-{collective}-{n}gpu-{M}x{N}x{K}-gemm{gw}of{wg}",
             "kind": "concurrent", "importer": "synth", "source_files": [], "collectives": 1,
             "num_iterations": 1, "parameters": params}
    return Profile(num_gpus=n, ops=ops, attrs=attrs,
                   variability={"compute_cv": 0.0, "straggler_prob": 0.0, "straggler_slowdown": 1.0})
