"""Synthetic profiles: collectives and fused GEMM kernels, generated instead of recorded.

Why: sweeps need profiles of any size and GPU count, with known byte totals, long before (or
without) a real trace. `synthesize` builds the ops vectorised (a 512-GPU ring all-reduce is
~1.5M ops in about a second), lays out nominal start times (eidola.profile.timeline), and
records every option in the ``parameters`` attribute so the file says how it was made.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from eidola.errors import EidolaError
from eidola.profile import collectives as coll
from eidola.profile import gemm
from eidola.profile.concurrent import concurrent_profile
from eidola.profile.gemm_shape import GemmShape, gemm_shape
from eidola.profile import library as lib
from eidola.profile import p2p
from eidola.profile.model import Profile, stream_major
from eidola.profile.schema import OpKind, empty_ops
from eidola.profile.table import OpTable
from eidola.profile.timeline import (NOMINAL_LATENCY_NS, NOMINAL_LINK_GBPS, estimate_times,
                                     estimate_times_of_gpus)
from eidola.profile.units import format_size

#: kind -> algorithms it accepts (first = default; empty: no --algo)
KINDS: dict[str, tuple[str, ...]] = {
    "p2p": (),
    "allreduce": ("ring", "direct", "nvls", "hierarchical", "nvls-tree", "tree", "auto"),
    "reducescatter": ("ring", "direct", "auto"),
    "allgather": ("ring", "direct", "auto"),
    "alltoall": ("direct", "auto"),
    "broadcast": ("ring", "direct"),
    "gemm-rs": (),
    "gemm-ag": (),
    "gemm-ar": ("two-shot", "one-shot"),
    "concurrent": ("allreduce", "allgather", "reducescatter", "broadcast"),
}
GEMM_KINDS = ("gemm-rs", "gemm-ag", "gemm-ar")
DEFAULT_COMPUTE_NS_PER_TILE = 10_000.0
DEFAULT_GEMM_STREAMS = 4
DEFAULT_TILES_PER_SHARD = 16
MAX_ITERATIONS = 65535  # the iteration column is uint16


def _check_kind(kind: str, algo: str | None) -> tuple[str, str | None]:
    k = kind.strip().lower().replace("_", "-")
    k = {"all-reduce": "allreduce", "reduce-scatter": "reducescatter", "all-gather": "allgather",
         "all-to-all": "alltoall", "gemm-reducescatter": "gemm-rs", "gemm-allgather": "gemm-ag",
         "gemmrs": "gemm-rs", "gemmag": "gemm-ag", "gemm-allreduce": "gemm-ar",
         "gemmar": "gemm-ar"}.get(k, k)
    if k not in KINDS:
        raise EidolaError(f"unknown profile kind {kind!r}; choose one of {', '.join(KINDS)}",
                          field="kind")
    algos = KINDS[k]
    if algo is None:
        return k, (algos[0] if algos else None)
    a = {"rs-ag": "two-shot", "twoshot": "two-shot", "oneshot": "one-shot"}.get(
        algo.strip().lower().replace("_", "-"), algo.strip().lower().replace("_", "-"))
    if not algos:
        raise EidolaError(f"kind {k!r} has no algorithm choice (got {algo!r})", field="algo")
    if a not in algos:
        raise EidolaError(f"unknown algorithm {algo!r} for {k}; choose one of {', '.join(algos)}",
                          field="algo")
    return k, a


def _number(value: Any, field: str, *, lo: float | None = None, hi: float | None = None,
            integer: bool = False, lo_open: bool = False) -> Any:
    try:
        v = int(value) if integer else float(value)
        if integer and float(value) != v:
            raise ValueError
    except (TypeError, ValueError):
        raise EidolaError(f"expected {'an integer' if integer else 'a number'}, got {value!r}",
                          field=field) from None
    if not integer and not math.isfinite(v):
        raise EidolaError(f"must be finite, got {value!r}", field=field)
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise EidolaError(f"must be {'>' if lo_open else '>='} {lo:g}, got {value!r}", field=field)
    if hi is not None and v > hi:
        raise EidolaError(f"must be <= {hi:g}, got {value!r}", field=field)
    return v


def lognormal_multipliers(rng: np.random.Generator, cv: float, n: int) -> np.ndarray:
    """Mean-1 lognormal factors with coefficient of variation `cv` (all ones when cv == 0)."""
    if cv <= 0 or n == 0:
        return np.ones(n)
    sigma = math.sqrt(math.log1p(cv * cv))
    return rng.lognormal(mean=-0.5 * sigma * sigma, sigma=sigma, size=n)


def synthesize(kind: str, gpus: int, size_bytes: int | None, algo: str | None = None, seed: int = 0,
               chunk_bytes: int | None = None, tile_bytes: int | None = None,
               compute_ns_per_tile: float | None = None, streams: int | None = None,
               reduce_ns_per_byte: float = 0.0, jitter: float = 0.0,
               straggler_prob: float = 0.0, straggler_slowdown: float = 1.0,
               iterations: int = 1, name: str | None = None,
               link_gbps: float = NOMINAL_LINK_GBPS,
               latency_ns: float = NOMINAL_LATENCY_NS,
               compute_cv: float | None = None, library: str | None = None,
               proto: str | None = None, signal: str = "release", gpu: str | None = None,
               gemm_m: int | None = None, gemm_n: int | None = None, gemm_k: int | None = None,
               dtype: str = "bf16", gemm_tile: str | None = None,
               workgroups: int | None = None, tile_order: str | None = None,
               comm_m: int | None = None, comm_n: int | None = None,
               gemm_workgroups: int | None = None, only_gpus: np.ndarray | None = None,
               gpus_per_node: int | None = None, system: str | None = None,
               pxn: bool = False) -> Profile:
    """Generate a profile of `kind` on `gpus` GPUs moving `size_bytes` (nccl-tests convention).

    kinds: p2p, allreduce, reducescatter, allgather, alltoall, broadcast (algo ring|direct
    where it applies), gemm-rs, gemm-ag. `chunk_bytes` slices collective writes, `tile_bytes`
    and `compute_ns_per_tile` shape the GEMM kinds, `streams` is the number of channels (ring),
    peer streams (direct) or workgroups (GEMM; default 4). `jitter`, `straggler_prob` and
    `straggler_slowdown` go to ``/variability`` for the engine to apply per run; with
    `iterations` > 1 they are instead sampled (seeded by `seed`) and baked into each recorded
    iteration, and ``/variability`` stays neutral so they are not applied twice.
    `compute_cv` is another name for `jitter` (the ``/variability`` attribute it sets).
    `library` (nccl, rccl) adds that library's launch and per-step latencies, channel count and
    ring layout to ring and nvls collectives, and makes an all-to-all the library's send/recv
    schedule (every peer at once, channels and LL/Simple per send, FIFO slots: eidola.profile.
    p2p; `gpus_per_node` then places the ranks on nodes); `proto` (simple, ll128, ll) sets the
    bytes on the wire per payload byte and the default chunk (eidola.profile.library). Without either the
    collective is the bare algorithm: exact bytes, no fixed costs. `signal` (gemm kinds):
    "release" tile flags wait for the tile's acknowledgement first (fence + flag store);
    "nbi" sends them ordered behind the tile without waiting (NVSHMEM putmem_signal_nbi).
    Shape form of the gemm kinds: `gpu` (eidola.topology.gpus), `gemm_m/n/k`, `dtype`,
    `gemm_tile` ("256x256") and `workgroups` (default: the GPU's compute units) derive the
    size, tile, per-tile time and streams (eidola.profile.gemm_shape); `size_bytes` is then
    not needed. `tile_order` (gemm-rs, gemm-ar two-shot): "staggered" (owner's own tile last,
    reduced after the tile loop; default with --size) or "aligned" (every GPU visits tiles in
    the same order, the owner reduces right away; default for the shape form).
    `pxn` (ring across nodes, `gpus_per_node`): hops between nodes that change rail go over
    NVLink to the sender node's GPU on the receiver's rail first and leave from its NIC (NCCL's
    PXN), so a rail-optimized fabric carries every node crossing on one rail; it costs one
    NVLink hop per crossing (the ring's NVLink bound becomes the port rate).
    `algo="auto"` (all-reduce, all-gather, reduce-scatter with `library`) runs what the
    library's own tuner picks on `system` (a preset; default h100 for nccl, mi300x for rccl):
    eidola.profile.tuner. The choice and every estimate it compared go to the parameters.
    """
    if compute_cv is not None:
        if jitter and float(jitter) != float(compute_cv):
            raise EidolaError(f"jitter={jitter} and compute_cv={compute_cv} disagree (they are "
                              "the same parameter)", field="jitter")
        jitter = compute_cv
    kind, algo = _check_kind(kind, algo)
    n = _number(gpus, "gpus", lo=2, hi=1 << 20, integer=True)
    if kind == "concurrent":  # a GEMM next to a collective in one kernel (eidola.profile.concurrent)
        if gpu is None:
            raise EidolaError("concurrent needs a GEMM shape: --gpu --m --n --k", field="gpu")
        return concurrent_profile(n, gpu=gpu, m=gemm_m, n_cols=gemm_n, k=gemm_k, dtype=dtype,
                                  tile=gemm_tile, collective=algo, comm_m=comm_m, comm_n=comm_n,
                                  gemm_workgroups=gemm_workgroups, workgroups=workgroups,
                                  link_gbps=_number(link_gbps, "link_gbps", lo=0, lo_open=True),
                                  latency_ns=_number(latency_ns, "latency_ns", lo=0), name=name)
    if comm_m is not None or comm_n is not None or gemm_workgroups is not None:
        raise EidolaError("applies to the concurrent kind", field="comm-m")
    shape = _shape_form(kind, n, gpu, gemm_m, gemm_n, gemm_k, dtype, gemm_tile, workgroups, streams,
                        size_bytes, tile_bytes, compute_ns_per_tile)
    if shape is not None:
        size_bytes, tile_bytes = shape.size_bytes, shape.tile_bytes
        compute_ns_per_tile, streams = shape.compute_ns_per_tile, shape.workgroups
        if not reduce_ns_per_byte:
            reduce_ns_per_byte = shape.reduce_ns_per_byte
    if size_bytes is None:
        raise EidolaError("missing option --size", field="size")
    ordered = kind == "gemm-rs" or (kind == "gemm-ar" and algo == "two-shot")
    if tile_order is not None and not ordered:
        raise EidolaError("applies to gemm-rs and gemm-ar --algo two-shot", field="tile-order")
    if tile_order is None:
        tile_order = "aligned" if shape is not None else "staggered"
    tile_order = str(tile_order).strip().lower()
    if tile_order not in gemm.TILE_ORDERS:
        raise EidolaError(f"unknown tile order {tile_order!r}; choose {' or '.join(gemm.TILE_ORDERS)}",
                          field="tile-order")
    size = _number(size_bytes, "size", lo=1, integer=True)
    tuned: dict[str, Any] | None = None
    if kind == "alltoall" and algo == "auto":  # no tuner choice: the library's send/recv schedule
        if library is None:
            raise EidolaError("--algo auto needs --library (nccl or rccl): an all-to-all then "
                              "runs that library's send/recv schedule", field="library")
        algo = "direct"
    if algo == "auto":
        algo, proto, tuned = tuned_algorithm(kind, n, size, library, proto, system,
                                             gpus_per_node=gpus_per_node)
        if tuned["nodes"] == 1:
            gpus_per_node = None
    elif system is not None and library is None:
        raise EidolaError("applies with --library or --algo auto (the system whose library "
                          "constants to use)", field="system")
    if system is not None and tuned is None:
        system = _system_name(system)
    if tuned is not None:
        system = tuned["system"]
    seed = _number(seed, "seed", lo=0, integer=True)
    iterations = _number(iterations, "iterations", lo=1, hi=MAX_ITERATIONS, integer=True)
    jitter = _number(jitter, "jitter", lo=0)
    straggler_prob = _number(straggler_prob, "straggler_prob", lo=0, hi=1)
    straggler_slowdown = _number(straggler_slowdown, "straggler_slowdown", lo=0, lo_open=True)
    reduce_ns_per_byte = _number(reduce_ns_per_byte, "reduce_ns_per_byte", lo=0)
    link_gbps = _number(link_gbps, "link_gbps", lo=0, lo_open=True)
    latency_ns = _number(latency_ns, "latency_ns", lo=0)
    is_gemm = kind in GEMM_KINDS
    if chunk_bytes is not None:
        if is_gemm:
            raise EidolaError(f"does not apply to {kind} (writes are whole tiles; use --tile)",
                              field="chunk")
        chunk_bytes = _number(chunk_bytes, "chunk", lo=1, integer=True)
    if not is_gemm:
        for field, v in (("tile", tile_bytes), ("compute_ns", compute_ns_per_tile)):
            if v is not None:
                raise EidolaError(f"applies only to {' and '.join(GEMM_KINDS)}, not {kind}",
                                  field=field)
    signal_kind = _signal_kind(signal)
    if signal_kind != OpKind.SIGNAL and not is_gemm:
        raise EidolaError(f"applies only to {' and '.join(GEMM_KINDS)} (collectives pick their "
                          f"signals from --proto)", field="signal")
    if streams is not None:
        streams = _number(streams, "streams", lo=1, hi=1 << 16, integer=True)
        if kind in ("p2p", "broadcast"):
            raise EidolaError(f"does not apply to {kind} (one stream per GPU)", field="streams")
    user_streams = streams
    model, proto, chunk_bytes, streams = _library_options(kind, algo, library, proto, chunk_bytes,
                                                          streams, system)
    params: dict[str, Any] = {"kind": kind, "algo": algo, "gpus": n, "size_bytes": size,
                              "seed": seed, "iterations": iterations,
                              "reduce_ns_per_byte": reduce_ns_per_byte,
                              "nominal_link_gbps": link_gbps, "nominal_latency_ns": latency_ns}
    if pxn and (algo != "ring" or gpus_per_node is None):
        raise EidolaError("applies to --algo ring with --gpus-per-node (rings across nodes)",
                          field="pxn")
    if gpus_per_node is not None and algo not in ("hierarchical", "ring", "nvls-tree", "tree") \
            and not (kind == "alltoall" and model is not None):
        raise EidolaError("applies to --algo hierarchical, ring, tree and nvls-tree, and to "
                          "an all-to-all with --library", field="gpus-per-node")
    if only_gpus is not None and not streamable(kind, algo, iterations):
        raise ValueError("only_gpus applies to ring all-reduce / reduce-scatter / all-gather "
                         "with one iteration")
    table = OpTable()
    if kind == "p2p":
        coll.p2p(table, 0, 1, size, chunk=chunk_bytes)
    elif kind in ("allreduce", "reducescatter", "allgather"):
        members = np.arange(n)
        streams = streams or 1
        if algo == "ring":
            extra = _ring_extras(model, proto, n, streams)
            if gpus_per_node is not None:  # across nodes: spread the channels over the rails
                g = params["gpus_per_node"] = _node_size(n, gpus_per_node)
                if model is not None and user_streams is None and g < n:
                    # NCCL across nodes: one ring channel per NIC (one NIC per GPU), doubled
                    streams = lib.MULTINODE_RING_CHANNELS_PER_NIC * g
                    extra = _ring_extras(model, proto, n, streams)
                extra["rings"] = lib.rail_rings(n, g, streams)
                extra["gpus_per_node"] = g
                if pxn:  # NCCL's PXN: node crossings relayed onto the receiver's rail
                    extra["relays"] = lib.pxn_relays(extra["rings"], g)
                    params["pxn"] = True
            coll.ring(table, members, size, kind, chunk=chunk_bytes, channels=streams,
                      reduce_ns_per_byte=reduce_ns_per_byte, only=only_gpus, **extra)
        elif algo == "hierarchical":
            g = params["gpus_per_node"] = _node_size(n, gpus_per_node)
            coll.hierarchical_allreduce(table, n, g, size, chunk=chunk_bytes, channels=streams,
                                        reduce_ns_per_byte=reduce_ns_per_byte, only=only_gpus)
        elif algo == "nvls":
            extra = {} if model is None else dict(wire_factor=1.0 / model.nvls_efficiency,
                                                  launch_ns=model.launch_ns("nvls", "simple"))
            coll.nvls(table, members, size, chunk=chunk_bytes, channels=streams, **extra)
        elif algo == "tree":
            g = params["gpus_per_node"] = _node_size(n, gpus_per_node)
            extra = {} if proto is None else dict(wire_factor=lib.WIRE_FACTOR[proto],
                                                  inline_flags=lib.INLINE_FLAGS[proto])
            if model is not None:
                extra["launch_ns"] = model.launch_ns("tree", proto)
                if user_streams is None and g < n:  # as the ring: one channel per NIC, doubled
                    streams = lib.MULTINODE_RING_CHANNELS_PER_NIC * g
            coll.tree_allreduce(table, n, g, size, chunk=chunk_bytes, channels=streams or 2,
                                only=only_gpus, **extra)
        elif algo == "nvls-tree":
            g = params["gpus_per_node"] = _node_size(n, gpus_per_node, least=2)
            extra = {} if model is None else dict(wire_factor=1.0 / model.nvls_efficiency,
                                                  launch_ns=model.launch_ns("nvls", "simple"),
                                                  max_busbw_gbps=lib.nvls_tree_cap(model, g, n // g))
            coll.nvls_tree_allreduce(table, n, g, size, chunk=chunk_bytes, channels=streams or 1,
                                     only=only_gpus, **extra)
        else:
            coll.direct(table, members, size, kind, chunk=chunk_bytes, streams=streams,
                        reduce_ns_per_byte=reduce_ns_per_byte)
    elif kind == "alltoall" and model is not None:
        if gpus_per_node is not None:
            params["gpus_per_node"] = _node_size(n, gpus_per_node)
        plan = _p2p_plan(model, n, gpus_per_node, system, chunk_bytes)
        ll_off = proto == "simple"

        def op_shape(nbytes: int, network: bool = False) -> tuple[int, str, int]:
            ch, pr, ck = plan.op(nbytes, network)
            return (ch, "simple", plan.chunk_bytes) if ll_off and pr == "ll" else (ch, pr, ck)

        coll.p2p_alltoall(table, np.arange(n), size, op_shape=op_shape,
                          concurrent_ops=plan.concurrent_ops, wire_factor=lib.WIRE_FACTOR,
                          inline_flags=lib.INLINE_FLAGS, gpus_per_node=params.get("gpus_per_node"),
                          fifo_steps=p2p.FIFO_STEPS)
        per_peer = max(1, size // n)
        ch, proto, chunk_bytes = op_shape(per_peer, plan.multi_node)  # a send across nodes
        streams = 2 * min(n - 1, plan.concurrent_ops(ch)) * ch
        params["p2p"] = {**plan.provenance, "channels_per_send": ch, "send_bytes": per_peer,
                         "concurrent_sends": min(n - 1, plan.concurrent_ops(ch)),
                         "ll_disabled": ll_off}
    elif kind == "alltoall":
        streams = streams or 1
        coll.direct(table, np.arange(n), size, "alltoall", chunk=chunk_bytes, streams=streams)
    elif kind == "broadcast":
        coll.broadcast(table, np.arange(n), size, algo, chunk=chunk_bytes)
    else:
        streams = streams or DEFAULT_GEMM_STREAMS
        if tile_bytes is None:
            tile_bytes = max(4096, math.ceil(size / n / DEFAULT_TILES_PER_SHARD))
        tile_bytes = _number(tile_bytes, "tile", lo=1, integer=True)
        compute = DEFAULT_COMPUTE_NS_PER_TILE if compute_ns_per_tile is None else compute_ns_per_tile
        compute = _number(compute, "compute_ns", lo=0)
        if kind == "gemm-rs":
            gemm.gemm_rs(table, n, size, tile=tile_bytes, compute_ns=compute, streams=streams,
                         reduce_ns_per_byte=reduce_ns_per_byte, signal=signal_kind, order=tile_order)
        elif kind == "gemm-ar" and algo == "two-shot":
            gemm.gemm_ar_two_shot(table, n, size, tile=tile_bytes, compute_ns=compute, streams=streams,
                                  reduce_ns_per_byte=reduce_ns_per_byte, signal=signal_kind,
                                  order=tile_order)
        elif kind == "gemm-ar":
            gemm.gemm_ar_one_shot(table, n, size, tile=tile_bytes, compute_ns=compute, streams=streams,
                                  reduce_ns_per_byte=reduce_ns_per_byte, signal=signal_kind)
        else:
            gemm.gemm_ag(table, n, size, tile=tile_bytes, compute_ns=compute, streams=streams,
                         signal=signal_kind)
        params.update(tile_bytes=tile_bytes, compute_ns_per_tile=compute, signal=signal)
        if ordered:
            params["tile_order"] = tile_order
        if shape is not None:
            params["gemm_shape"] = shape.provenance
    if model is not None or proto is not None:
        params.update(library=model.name if model else None, proto=proto,
                      library_generation=model.arch if model else None, system=system,
                      library_sources=list(model.sources) if model else [])
    if tuned is not None:
        params["tuner"] = tuned
    params.update(chunk_bytes=chunk_bytes, streams=streams or 1, jitter=jitter,
                  straggler_prob=straggler_prob, straggler_slowdown=straggler_slowdown)
    built, cuts = table.build_all(n)
    base = [built[cuts[g]:cuts[g + 1]] for g in range(n)]  # views of one array
    params["bytes_written_per_iteration"] = table.sum_bytes(OpKind.WRITE)
    if iterations == 1:  # times laid out in place, all GPUs at once
        estimate_times_of_gpus(built, cuts, 0.0, link_gbps, latency_ns)
    ops, variability = _iterations(base, iterations, seed, jitter, straggler_prob,
                                   straggler_slowdown, link_gbps, latency_ns)
    label = f"{kind}-{algo}" if algo else kind
    if tuned is not None:
        label = f"{kind}-auto"
    attrs = {
        "name": name or f"{label}-{n}gpu-{format_size(size).replace(' ', '')}",
        "kind": kind,
        "importer": "synth",
        "source_files": [],
        "collectives": 1,
        "num_iterations": iterations,
        "parameters": params,
    }
    return Profile(num_gpus=n, ops=ops, attrs=attrs, variability=variability)


def _node_size(n: int, gpus_per_node: Any, least: int = 1) -> int:
    """GPUs per node (default 8, as on HGX/DGX and MI300X platforms), checked to split n."""
    g = _number(gpus_per_node if gpus_per_node is not None else 8, "gpus-per-node", lo=least,
                integer=True)
    if n % g:
        raise EidolaError(f"{n} GPUs do not split into nodes of {g}", field="gpus-per-node")
    return g


def streamable(kind: str, algo: str | None, iterations: int = 1) -> bool:
    """Whether `write_synthesized` can build this request a slice of GPUs at a time."""
    return kind in ("allreduce", "reducescatter", "allgather") and int(iterations) == 1 \
        and ((algo or "ring") in ("ring", "hierarchical")
             or (kind == "allreduce" and algo in ("nvls-tree", "tree")))


#: ops built per slice when streaming (bounds the generator's temporaries, ~200 B per op)
STREAM_OPS_PER_SLICE = 1 << 21


def write_synthesized(path: str | Path, kind: str, gpus: int, size_bytes: int | None,
                      **options: Any) -> tuple[Profile, int]:
    """`synthesize` straight into the file at `path`, GPU slice by GPU slice where it can.

    Why: building every GPU's ops at once needs several hundred bytes of temporaries per op, so
    a 4096-GPU ring all-reduce (~100 M ops) does not fit in memory; slices of GPUs keep the
    peak bounded by the slice, whatever the GPU count. The file is the same either way (the
    ring builder makes a GPU's ops identically alone or with the others). Returns a Profile
    with the attributes and variability written (its op arrays empty when streamed) and the
    number of ops written, so that a caller need not read the file back to count them.
    """
    from eidola.profile.io import ProfileWriter, write_profile

    algo = options.get("algo")
    if not streamable(kind, algo, options.get("iterations", 1)):
        prof = synthesize(kind, gpus, size_bytes, **options)
        write_profile(prof, path)
        return prof, prof.num_ops
    n = _number(gpus, "gpus", lo=1, integer=True)
    written = num_ops = 0
    first = synthesize(kind, n, size_bytes, only_gpus=np.arange(min(n, 1)), **options)
    per_gpu = max(1, len(first.ops[0]))
    from eidola.memory import check_fits

    # the replay core keeps ~40 bytes per op: a profile this machine could never replay is
    # refused before hours of writing
    check_fits(40.0 * per_gpu * n, f"replaying this profile ({per_gpu * n:,} ops on {n} GPUs)",
               "use fewer GPUs", field="gpus")
    slice_gpus = max(1, STREAM_OPS_PER_SLICE // per_gpu)
    attrs, variability = dict(first.attrs), dict(first.variability)
    # HDF5 chunks of about one GPU's ops: a 64 Ki-row chunk per small GPU would be padded and
    # compressed whole (most of the writing time at 512 GPUs)
    writer = ProfileWriter(path, n, attrs=attrs, variability=variability,
                           chunk_rows=int(min(max(per_gpu, 1024), 1 << 16)))
    with writer:
        for lo in range(0, n, slice_gpus):
            part = synthesize(kind, n, size_bytes, only_gpus=np.arange(lo, min(n, lo + slice_gpus)),
                              **options)
            written += int(part.attrs["parameters"]["bytes_written_per_iteration"])
            for g in range(lo, min(n, lo + slice_gpus)):
                writer.append(g, part.ops[g], handed_over=True)  # never changed again
                num_ops += len(part.ops[g])
        attrs["parameters"] = {**attrs["parameters"], "bytes_written_per_iteration": written}
        writer.attrs = attrs
    return Profile(num_gpus=n, ops=[empty_ops(0) for _ in range(n)], attrs=attrs,
                   variability=variability), num_ops


def _shape_form(kind: str, n: int, gpu: str | None, m: Any, n_cols: Any, k: Any, dtype: str,
                tile: str | None, workgroups: Any, streams: Any, size_bytes: Any, tile_bytes: Any,
                compute_ns: Any) -> GemmShape | None:
    """The shape form of the gemm kinds (--gpu --m --n --k), or None for the --size form;
    one-line errors for a mix of the two or a shape that cannot be built."""
    if all(v is None for v in (gpu, m, n_cols, k)):
        if workgroups is not None or tile is not None:
            raise EidolaError("applies to the shape form of the gemm kinds (--gpu --m --n --k)",
                              field="workgroups" if workgroups is not None else "tile")
        return None
    if kind not in GEMM_KINDS:
        raise EidolaError(f"--gpu/--m/--n/--k describe a GEMM; {kind} takes --size", field="m")
    missing = [f for f, v in (("gpu", gpu), ("m", m), ("n", n_cols), ("k", k)) if v is None]
    if missing:
        raise EidolaError(f"a GEMM shape needs --gpu, --m, --n and --k (missing --{missing[0]})",
                          field=missing[0])
    if size_bytes is not None or tile_bytes is not None or compute_ns is not None:
        raise EidolaError("give either a shape (--gpu --m --n --k) or --size/--tile/--compute-ns, "
                          "not both", field="size")
    return gemm_shape(kind, n, gpu, m, n_cols, k, dtype, tile, workgroups if workgroups is not None else streams)


def _signal_kind(signal: str) -> OpKind:
    key = str(signal).strip().lower()
    if key not in ("release", "nbi"):
        raise EidolaError(f"unknown signal mode {signal!r}; choose release or nbi", field="signal")
    return OpKind.SIGNAL_NBI if key == "nbi" else OpKind.SIGNAL


def _library_options(kind: str, algo: str | None, library: str | None, proto: str | None,
                     chunk: int | None, streams: int | None, system: str | None = None
                     ) -> tuple[lib.LibraryModel | None, str | None, int | None, int | None]:
    """Resolve --library/--proto into (model, protocol, chunk, streams), or explain the misuse.
    `system` picks the GPU generation's constants (NCCL on b200: Blackwell)."""
    if library is None and proto is None:
        return None, None, chunk, streams
    if kind == "alltoall":  # the library's send/recv schedule (eidola.profile.p2p)
        if library is None:
            raise EidolaError("an all-to-all's protocol is chosen per send by the library: "
                              "give --library (and --proto simple to turn LL off)", field="proto")
        if proto is not None and lib.check_protocol(proto) != "simple":
            raise EidolaError(f"an all-to-all runs LL or Simple per send by size; only "
                              f"--proto simple (LL off, as NCCL_PROTO=Simple) can be forced, "
                              f"got {proto!r}", field="proto")
        if streams is not None:
            raise EidolaError("an all-to-all's channels per send come from the library's rule "
                              "(eidola.profile.p2p); drop --streams or --library", field="streams")
        return lib.library_model(library, system), proto, chunk, None
    if kind not in ("allreduce", "reducescatter", "allgather") or algo not in ("ring", "nvls",
                                                                                 "nvls-tree", "tree"):
        raise EidolaError(f"library and protocol models apply to ring and nvls all-reduce, "
                          f"reduce-scatter and all-gather, not {kind}"
                          + (f" with algo {algo}" if algo else ""),
                          field="library" if library is not None else "proto")
    model = lib.library_model(library, system) if library is not None else None
    proto = lib.check_protocol(proto) if proto is not None else "simple"
    if algo in ("nvls", "nvls-tree"):
        if proto != "simple":
            raise EidolaError(f"NVLS runs the simple protocol only, got {proto!r}", field="proto")
        if model is not None and model.nvls_efficiency <= 0:
            raise EidolaError(f"{model.name} has no NVLS algorithm", field="library")
    if chunk is None:
        chunk = (model.nvls_chunk_bytes if algo in ("nvls", "nvls-tree") and model is not None
                 and model.nvls_chunk_bytes else lib.STEP_BYTES[proto])
    if streams is None and model is not None:
        streams = model.nvls_channels if algo in ("nvls", "nvls-tree") else model.ring_channels
    return model, proto, chunk, streams


#: the system each library's tuner assumes when --system is not given
DEFAULT_SYSTEM = {"nccl": "h100", "rccl": "mi300x"}


def _p2p_plan(model: lib.LibraryModel, n: int, gpus_per_node: int | None, system: str | None,
              chunk: int | None):
    """The library's p2p layout for `n` ranks on `system` nodes (eidola.profile.p2p); `chunk`
    overrides the chunk as NCCL_P2P_*_CHUNKSIZE would."""
    from eidola.topology.presets import PRESETS

    sys_name = _system_name(system or DEFAULT_SYSTEM[model.name])
    defaults, fabric = PRESETS[sys_name]
    g = n if gpus_per_node is None else _node_size(n, gpus_per_node)  # default: one node
    nodes = n // g
    mesh = fabric != "switch"
    unit = defaults.link_bw_gbps if mesh or not model.nvlink_unit_gbps else model.nvlink_unit_gbps
    comm = model.ring_channels if nodes == 1 else lib.MULTINODE_RING_CHANNELS_PER_NIC * g
    if chunk is not None and chunk < 8:
        raise EidolaError(f"an all-to-all's chunk must be at least 8 bytes (a send's smallest part "
                          f"is an eighth of it), got {chunk}", field="chunk")
    plan = p2p.p2p_plan(model.name, ranks=n, nodes=nodes, comm_channels=comm,
                        link_gbps=defaults.link_bw_gbps, link_unit_gbps=unit,
                        nic_gbps=defaults.nic_bw_gbps, nics_per_gpu=1,
                        arm_blackwell=sys_name == "gb200-nvl72")
    return plan if chunk is None else replace(plan, chunk_bytes=int(chunk))


def _system_name(system: str) -> str:
    """A system preset's name, normalised, or the error naming the choices."""
    from eidola.topology.presets import PRESETS, SYSTEM_PRESETS

    key = str(system).strip().lower()
    if key not in PRESETS:
        raise EidolaError(f"unknown system {system!r}; choose one of {', '.join(SYSTEM_PRESETS)}",
                          field="system")
    return key


def tuned_algorithm(kind: str, n: int, size: int, library: str | None, proto: str | None,
                    system: str | None, algos: tuple[str, ...] | None = None, *,
                    gpus_per_node: int | None = None) -> tuple[str, str, dict[str, Any]]:
    """(algo, proto, provenance) the library's tuner picks for this collective on `system`.

    Only algorithms Eidola generates are candidates (ring, and NVLS on an NVLink-SHARP switch),
    further limited to `algos` (as NCCL_ALGO would); when the tuner's overall favourite is
    another one that is recorded, not hidden. With `gpus_per_node` the GPUs are nodes of that
    system joined by one NIC per GPU (the preset's NIC rate): ring, and NVLS tree where the
    switch multicasts or Tree where it does not.
    """
    from eidola.profile import tuner as tun
    from eidola.topology.presets import PRESETS

    if library is None:
        raise EidolaError("--algo auto needs --library (nccl or rccl): the choice is that "
                          "library's tuner", field="library")
    lib_name = lib.library_model(library).name
    sys_name = _system_name(system or DEFAULT_SYSTEM[lib_name])
    model = lib.library_model(lib_name, sys_name)
    defaults, fabric = PRESETS[sys_name]
    g = n if gpus_per_node is None else _number(gpus_per_node, "gpus-per-node", lo=1, integer=True)
    if g > defaults.gpus:
        raise EidolaError(f"a {sys_name} node has at most {defaults.gpus} GPUs, got {g}",
                          field="gpus-per-node" if gpus_per_node is not None else "gpus")
    if n % g:
        raise EidolaError(f"{n} GPUs do not split into nodes of {g}", field="gpus-per-node")
    nodes = n // g
    if nodes > 1 and fabric != "switch":
        raise EidolaError(f"--algo auto across nodes follows NCCL's search over NVSwitch nodes; "
                          f"{sys_name} nodes are a {fabric} mesh: choose --algo ring or tree",
                          field="algo")
    multicast = fabric == "switch" and defaults.multicast and model.nvls_efficiency > 0
    graphs = lib.tuner_graphs(model, n, defaults.link_bw_gbps, switch=fabric == "switch",
                              nvls=multicast, nodes=nodes, nic_gbps=defaults.nic_bw_gbps)
    protos = (lib.check_protocol(proto),) if proto is not None else model.default_protocols
    if nodes > 1:  # NCCL: multi-node NVLS all-gather / reduce-scatter need CollNet (SHARP)
        runnable = (("ring", "nvls_tree") if multicast else ("ring", "tree")) \
            if kind == "allreduce" else ("ring",)
    else:
        runnable = ("ring", "nvls") if multicast and kind == "allreduce" else ("ring",)
    if algos is not None:
        runnable = tuple(a for a in runnable if a in algos)
    ll128 = "ll128" in model.default_protocols or proto == "ll128"
    choice = tun.choose(model.tuner, graphs, kind, n, nodes, size, algos=runnable,
                        protos=protos, ll128=ll128)
    overall = tun.choose(model.tuner, graphs, kind, n, nodes, size, protos=protos, ll128=ll128)
    info: dict[str, Any] = {"system": sys_name, "tuner": model.tuner.name, "nodes": nodes,
                            **choice.provenance(),
                            "graphs": {a: [g.channels, g.bw_intra, g.bw_inter]
                                       for a, g in graphs.items()},
                            "sources": list(model.tuner.sources)}
    if (overall.algo, overall.proto) != (choice.algo, choice.proto):
        info["tuner_favourite_not_generated"] = f"{overall.algo}/{overall.proto}"
    return choice.algo.replace("_", "-"), choice.proto, info


def _ring_extras(model: lib.LibraryModel | None, proto: str | None, n: int,
                 streams: int) -> dict[str, Any]:
    """Keyword arguments of `collectives.ring` that carry the library and protocol model."""
    if proto is None:
        return {}
    extra: dict[str, Any] = {"wire_factor": lib.WIRE_FACTOR[proto],
                             "inline_flags": lib.INLINE_FLAGS[proto]}
    if model is not None:
        extra.update(launch_ns=model.launch_ns("ring", proto), step_ns=model.step_ns("ring", proto),
                     produce_ns_per_byte=model.produce_ns_per_byte(proto, streams))
        if model.ring_layout == "disjoint":
            orders = lib.disjoint_rings(n, min(streams, n - 1))
            extra["rings"] = np.array([orders[c % len(orders)] for c in range(streams)])
    return extra


def _iterations(base: list[np.ndarray], iterations: int, seed: int, cv: float, p: float,
                slowdown: float, link_gbps: float, latency_ns: float
                ) -> tuple[list[np.ndarray], dict[str, float]]:
    """Lay out times; with several iterations, replicate and bake seeded jitter into each."""
    if iterations == 1:  # the caller has laid out the times (estimate_times_of_gpus)
        return base, {"compute_cv": cv, "straggler_prob": p, "straggler_slowdown": slowdown}
    n = len(base)
    per_gpu: list[list[np.ndarray]] = [[] for _ in range(n)]
    start = 0.0
    for it in range(iterations):
        rng = np.random.default_rng(np.random.SeedSequence([seed, it]))
        straggler = rng.random(n) < p
        end = start
        for g, ops in enumerate(base):
            o = ops.copy()
            comp = o["kind"] == OpKind.COMPUTE
            factor = lognormal_multipliers(rng, cv, int(comp.sum()))
            if straggler[g]:
                factor = factor * slowdown
            o["dur_ns"][comp] = o["dur_ns"][comp] * factor
            o["iteration"] = it
            end = max(end, estimate_times(o, start, link_gbps, latency_ns))
            per_gpu[g].append(o)
        start = end
    ops = [stream_major(np.concatenate(parts)) for parts in per_gpu]
    return ops, {"compute_cv": 0.0, "straggler_prob": 0.0, "straggler_slowdown": 1.0}
