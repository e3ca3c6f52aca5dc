"""Profiles handed to the engine a slice of GPUs at a time equal the whole build, op for op."""

from __future__ import annotations

import numpy as np
import pytest

from eidola.engine import run
from eidola.params import RunParams
from eidola.profile import streaming
from eidola.profile.streaming import lazy_synthesized
from eidola.profile.synth import synthesize
from eidola.topology import build_topology

FIELDS = ("kind", "peer", "bytes", "addr", "flag", "value", "stream", "seq")


@pytest.mark.parametrize("kind,n,size,opts", [
    ("allreduce", 2, 1 << 20, dict(algo="ring")),
    ("allreduce", 5, 1_000_003, dict(algo="ring", library="nccl")),
    ("reducescatter", 8, 1 << 24, dict(algo="ring")),
    ("allreduce", 16, 1 << 24, dict(algo="hierarchical", gpus_per_node=4)),
    ("alltoall", 4, 1 << 20, {}),
    ("allreduce", 24, 5_000_003, dict(algo="nvls-tree", gpus_per_node=8, library="nccl")),
])
def test_lazy_profile_matches_the_whole_build(kind, n, size, opts, monkeypatch) -> None:
    import eidola.profile.synth as synth

    monkeypatch.setattr(synth, "STREAM_OPS_PER_SLICE", 64)  # many slices even for small cases
    lazy = lazy_synthesized(kind, n, size, **opts)
    full = synthesize(kind, n, size, **opts)
    assert lazy.num_ops == full.num_ops
    for g in range(n):
        a, b = lazy.gpu_ops(g), full.ops[g]
        for f in FIELDS:
            if f in a.dtype.names:
                np.testing.assert_array_equal(a[f], b[f], err_msg=f"gpu {g} field {f}")


def test_lazy_and_in_memory_profiles_replay_identically() -> None:
    topo = build_topology("ring", 8, link_bw_gbps=100)
    params = RunParams(packet_bytes=1 << 20, sync="syncmon", series=False)
    a = run(lazy_synthesized("allreduce", 8, 1 << 26, algo="ring"), topo, params).summary
    b = run(synthesize("allreduce", gpus=8, size_bytes=1 << 26, algo="ring"), topo, params).summary
    for key in ("makespan_ns", "bytes_written", "packets", "events", "gpu_finish_ns"):
        assert a[key] == b[key]


def test_the_bench_only_ring_helper_is_gone() -> None:
    assert not hasattr(streaming, "ring_allreduce")
