"""Profiles generated one GPU at a time, for runs too large to hold every op array at once.

Why: a 4096-GPU ring all-reduce has ~100 M ops; the vectorised generators build all GPUs
together (fast, but several hundred bytes of temporaries per op). A `LazyProfile` instead
hands the engine one GPU's OP_DTYPE array at a time, which the core converts and drops, so
peak memory is the core's compact ops plus one GPU's array.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from eidola.profile.model import DEFAULT_VARIABILITY


@dataclass(frozen=True)
class LazyProfile:
    """A profile whose GPUs' ops are made on demand by `gpu_ops(g)`; the engine accepts it."""

    num_gpus: int
    num_ops: int
    gpu_ops: Callable[[int], np.ndarray]
    attrs: dict[str, Any] = field(default_factory=dict)
    variability: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_VARIABILITY))
    time_origin_ns: float = 0.0


def lazy_synthesized(kind: str, gpus: int, size_bytes: int, **options: Any) -> LazyProfile:
    """`synthesize(kind, gpus, size_bytes, **options)` handed to the engine a GPU at a time.

    The ops come from the same generator as `eidola profile synth` (built a slice of GPUs at a
    time, as `write_synthesized` does), so an in-memory run of any size needs the core's
    compact ops plus one slice, not every GPU's numpy array. Only what `synth.streamable`
    accepts (ring collectives, the hierarchical all-reduce, one iteration) can be built a slice
    at a time; anything else is built whole once.
    """
    from eidola.profile.synth import STREAM_OPS_PER_SLICE, streamable, synthesize

    n = int(gpus)
    if not streamable(kind, options.get("algo"), options.get("iterations", 1)):
        whole = synthesize(kind, n, size_bytes, **options)
        return LazyProfile(num_gpus=n, num_ops=int(whole.num_ops), gpu_ops=lambda g: whole.ops[g],
                           attrs=whole.attrs, variability=dict(whole.variability),
                           time_origin_ns=float(getattr(whole, "time_origin_ns", 0.0)))
    first = synthesize(kind, n, size_bytes, only_gpus=np.arange(min(n, 1)), **options)
    per_gpu = max(1, len(first.ops[0]))
    slice_gpus = max(1, STREAM_OPS_PER_SLICE // per_gpu)
    cache: dict[str, Any] = {"lo": -1, "part": None}

    def gpu_ops(g: int) -> np.ndarray:
        lo = (g // slice_gpus) * slice_gpus
        if cache["lo"] != lo:
            cache["part"] = synthesize(kind, n, size_bytes,
                                       only_gpus=np.arange(lo, min(n, lo + slice_gpus)), **options)
            cache["lo"] = lo
        return cache["part"].ops[g]

    if options.get("algo") in ("ring", "hierarchical", None):
        num_ops = per_gpu * n  # these builders give every GPU the same op count
    else:  # tree roots and leaves differ: count once, a slice at a time
        num_ops = sum(len(ops) for lo in range(0, n, slice_gpus)
                      for ops in synthesize(kind, n, size_bytes, only_gpus=np.arange(
                          lo, min(n, lo + slice_gpus)), **options).ops[lo:lo + slice_gpus])
    return LazyProfile(num_gpus=n, num_ops=num_ops, gpu_ops=gpu_ops, attrs=dict(first.attrs),
                       variability=dict(first.variability))
