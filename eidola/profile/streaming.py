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
from eidola.profile.schema import OpKind, empty_ops
from eidola.profile.table import offsets_of, split_even


@dataclass(frozen=True)
class LazyProfile:
    """A profile whose GPUs' ops are made on demand by `gpu_ops(g)`; the engine accepts it."""

    num_gpus: int
    num_ops: int
    gpu_ops: Callable[[int], np.ndarray]
    attrs: dict[str, Any] = field(default_factory=dict)
    variability: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_VARIABILITY))
    time_origin_ns: float = 0.0


def ring_allreduce(gpus: int, size_bytes: int) -> LazyProfile:
    """Ring all-reduce of `size_bytes` (nccl-tests convention), one slice per step.

    The same ops, per GPU and in the same order, as
    ``synthesize("allreduce", gpus, size_bytes, algo="ring")`` without chunking: at step s GPU
    r waits for its step s-1 flag, writes shard (r - s) mod n to r+1 and adds 1 to r+1's
    step-s flag; it ends waiting for its last step's flag. t_ns is the op's index (ns): only
    dependent replay is meaningful for it.
    """
    n = int(gpus)
    steps = 2 * (n - 1)
    shard = split_even(size_bytes, n)
    shard_off = offsets_of(shard)
    s = np.arange(steps)
    per_gpu = 3 * steps if n > 1 else 0

    def gpu_ops(r: int) -> np.ndarray:
        if n < 2:
            return empty_ops(0)
        ops = empty_ops(per_gpu)
        k = (r - s) % n
        base = 3 * s - 1  # each step: wait (steps >= 1), write, signal; the final wait closes
        w_at = base[1:]
        ops["kind"][w_at] = OpKind.WAIT
        ops["flag"][w_at] = s[1:] - 1
        ops["value"][w_at] = 1
        ops["kind"][base + 1] = OpKind.WRITE
        ops["peer"][base + 1] = (r + 1) % n
        ops["bytes"][base + 1] = shard[k]
        ops["addr"][base + 1] = shard_off[k]
        ops["kind"][base + 2] = OpKind.SIGNAL
        ops["peer"][base + 2] = (r + 1) % n
        ops["flag"][base + 2] = s
        ops["value"][base + 2] = 1
        ops["kind"][-1] = OpKind.WAIT
        ops["flag"][-1] = steps - 1
        ops["value"][-1] = 1
        ops["t_ns"] = np.arange(per_gpu, dtype=np.float64)
        return ops

    attrs = {"name": f"allreduce-ring-{n}gpu-lazy", "kind": "allreduce", "num_iterations": 1,
             "collectives": 1, "parameters": {"size_bytes": int(size_bytes), "algo": "ring"}}
    return LazyProfile(num_gpus=n, num_ops=n * per_gpu, gpu_ops=gpu_ops, attrs=attrs)
