"""The GPU-at-a-time ring all-reduce equals the vectorised generator, op for op."""

from __future__ import annotations

import numpy as np
import pytest

from eidola.engine import run
from eidola.params import RunParams
from eidola.profile.streaming import ring_allreduce
from eidola.profile.synth import synthesize
from eidola.topology import build_topology

FIELDS = ("kind", "peer", "bytes", "addr", "flag", "value", "stream")


@pytest.mark.parametrize("n,size", [(2, 1 << 20), (5, 1_000_003), (8, 1 << 24)])
def test_lazy_ring_allreduce_matches_synthesize(n: int, size: int) -> None:
    lazy = ring_allreduce(n, size)
    full = synthesize("allreduce", gpus=n, size_bytes=size, algo="ring")
    assert lazy.num_ops == full.num_ops
    for g in range(n):
        a, b = lazy.gpu_ops(g), full.ops[g]
        for f in FIELDS:
            np.testing.assert_array_equal(a[f], b[f], err_msg=f"gpu {g} field {f}")


def test_lazy_and_in_memory_profiles_replay_identically() -> None:
    topo = build_topology("ring", 8, link_bw_gbps=100)
    params = RunParams(packet_bytes=1 << 20, sync="syncmon", series=False)
    a = run(ring_allreduce(8, 1 << 26), topo, params).summary
    b = run(synthesize("allreduce", gpus=8, size_bytes=1 << 26, algo="ring"), topo, params).summary
    for key in ("makespan_ns", "bytes_written", "packets", "events", "gpu_finish_ns"):
        assert a[key] == b[key]
