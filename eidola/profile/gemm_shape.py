"""GEMM kernels from their shape: the tile grid, the workgroups and the time per tile.

Why: a fused GEMM + collective is a persistent kernel with one workgroup per compute unit, so
the number of concurrent waiters (hundreds per GPU) and the time between a tile's flags follow
from the GPU and the GEMM's M, N, K. Hand-picked "4 streams, 10 us per tile" profiles cannot
show what polling does at that scale.

Conventions:
- M x N is the output every GPU computes (its partial sum for reduce-scatter / all-reduce);
  K is the reduction length each GPU runs locally (its shard of K under tensor parallelism).
- gemm-ag: the gathered operand is A (M x K); one input tile is tile_m rows of A, and the
  consumer computes the whole tile_m x N output strip from it.
- Time per output tile: 2 * tile_m * tile_n * K flops at one compute unit's share of the GPU's
  measured GEMM throughput (eidola.topology.gpus: peak dense x max-achievable efficiency).
- Reduction of received partials: (n-1) tiles read at one compute unit's share of HBM
  bandwidth (the reduce is memory-bound).
- Default tile 256 x 256: the BLOCK_SIZE_M/N that ROCm/iris's fused GEMM examples use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eidola.errors import EidolaError
from eidola.topology.gpus import DTYPE_BYTES, GpuSpec, check_dtype, gpu_spec

DEFAULT_TILE = (256, 256)


@dataclass(frozen=True)
class GemmShape:
    """What `synthesize` needs for a shape-derived GEMM kind (sizes in bytes, times in ns)."""

    size_bytes: int           # communicated buffer: M*N (rs, ar) or M*K (ag) elements
    tile_bytes: int
    compute_ns_per_tile: float
    reduce_ns_per_byte: float
    workgroups: int
    provenance: dict[str, Any]


def parse_tile(text: str | None) -> tuple[int, int]:
    if text is None:
        return DEFAULT_TILE
    parts = str(text).lower().replace("*", "x").split("x")
    try:
        m, n = (int(p) for p in parts)
    except ValueError:
        raise EidolaError(f"expected MxN (e.g. 256x256), got {text!r}", field="tile") from None
    if m < 1 or n < 1:
        raise EidolaError(f"tile sides must be positive, got {text!r}", field="tile")
    return m, n


def gemm_shape(kind: str, gpus: int, gpu: str, m: Any, n: Any, k: Any, dtype: str = "bf16",
               tile: str | None = None, workgroups: Any = None) -> GemmShape:
    """Resolve a shape-derived GEMM kernel, or explain in one line why it cannot tile."""
    spec: GpuSpec = gpu_spec(gpu)
    key = check_dtype(dtype)
    dims = {}
    for field, v in (("m", m), ("n", n), ("k", k)):
        try:
            dims[field] = int(v)
            if float(v) != dims[field]:
                raise ValueError
        except (TypeError, ValueError):
            raise EidolaError(f"expected a positive integer, got {v!r}", field=field) from None
        if not 1 <= dims[field] <= 1 << 24:
            raise EidolaError(f"must be 1..16777216, got {v!r}", field=field)
    M, N, K = dims["m"], dims["n"], dims["k"]
    tm, tn = parse_tile(tile)
    if kind == "gemm-ag":
        tn = N  # an input strip feeds the whole tile_m x N output strip
    if M % tm or N % tn:
        raise EidolaError(f"shape {M}x{N} does not tile into {tm}x{tn} tiles", field="tile")
    tiles = (M // tm) * (N // tn)
    if kind == "gemm-ag":
        tiles = M // tm
    if tiles % gpus:
        raise EidolaError(f"{tiles} tiles of {tm}x{tn} do not split evenly over {gpus} GPUs "
                          "(every GPU owns whole tiles)", field="tile")
    wg = spec.compute_units if workgroups is None else workgroups
    try:
        wg = int(wg)
    except (TypeError, ValueError):
        raise EidolaError(f"expected an integer, got {workgroups!r}", field="workgroups") from None
    if not 1 <= wg <= 1 << 16:
        raise EidolaError(f"must be 1..65536, got {wg}", field="workgroups")
    b = DTYPE_BYTES[key]
    if kind == "gemm-ag":
        size, tile_bytes = M * K * b, tm * K * b
        compute = spec.tile_ns(key, tm, N, K)
    else:
        size, tile_bytes = M * N * b, tm * tn * b
        compute = spec.tile_ns(key, tm, tn, K)
    reduce_ns_per_byte = spec.compute_units / spec.hbm_bw_gbps  # one CU's share: ns per byte
    return GemmShape(
        size_bytes=size, tile_bytes=tile_bytes, compute_ns_per_tile=compute,
        reduce_ns_per_byte=reduce_ns_per_byte, workgroups=wg,
        provenance={"gpu": spec.name, "m": M, "n": N, "k": K, "dtype": key, "tile_m": tm,
                    "tile_n": tn, "workgroups": wg, "compute_units": spec.compute_units,
                    "dense_tflops": spec.dense_tflops[key],
                    "gemm_efficiency": spec.gemm_efficiency[key],
                    "hbm_bw_gbps": spec.hbm_bw_gbps, "gpu_sources": list(spec.sources),
                    "compute_ns_per_tile": compute, "reduce_ns_per_byte": reduce_ns_per_byte})
