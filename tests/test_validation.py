"""A few closed-form points of docs/validation.md, checked on every test run (fast)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from validate_closed_forms import closed_form_ns, measure  # noqa: E402

from eidola.topology import build_topology  # noqa: E402


@pytest.mark.parametrize("kind,n,size", [("p2p", 2, 4096), ("p2p", 2, 1 << 20), ("p2p", 2, 64 << 20),
                                         ("allreduce", 4, 1 << 16), ("allreduce", 4, 64 << 20),
                                         ("reducescatter", 4, 16 << 20), ("allgather", 4, 16 << 20)])
@pytest.mark.parametrize("topology,hops", [("ring", 1), ("switch", 2)])
def test_uncontended_runs_match_alpha_beta_within_one_percent(kind: str, n: int, size: int,
                                                              topology: str, hops: int) -> None:
    topo = build_topology(topology, n, link_bw_gbps=100, link_latency_ns=400, switch_latency_ns=150)
    assert measure(kind, n, size, topo) == pytest.approx(closed_form_ns(kind, n, size, topo, hops), rel=0.01)
