"""Multi-hop traffic around wrap-around links completes (bubble flow control on rings)."""

from __future__ import annotations

import numpy as np
import pytest

from eidola.engine import run
from eidola.params import RunParams
from eidola.profile.synth import synthesize
from eidola.topology import build_topology
from eidola.topology.routing import channel_rings


@pytest.mark.parametrize("topology, gpus", [("ring", 8), ("ring", 5), ("torus2d", 16)])
@pytest.mark.parametrize("packet_bytes", [4096, 65536])
def test_all_to_all_around_rings_finishes(topology: str, gpus: int, packet_bytes: int) -> None:
    # 1 MiB per GPU fills every relay buffer of a ring: without a bubble reserved on ring
    # entry the wrap-around dependency deadlocked here (8-GPU ring, 4 KiB packets)
    prof = synthesize("alltoall", gpus, 1 << 20)
    res = run(prof, build_topology(topology, gpus), RunParams(packet_bytes=packet_bytes, series=False))
    s = res.summary
    assert s["makespan_ns"] > 0
    sent = sum(int(o["bytes"][o["kind"] == 1].sum()) for o in prof.ops)
    assert s["bytes_written"] == sent


def test_channel_rings_tag_each_direction_of_each_ring() -> None:
    ring = build_topology("ring", 6)
    r = channel_rings(ring)
    assert set(r.tolist()) == {0, 1}  # clockwise and counter-clockwise
    ch = ring.channels()
    forward = ch["dst"] == (ch["src"] + 1) % 6
    assert len(set(r[forward].tolist())) == 1 and len(set(r[~forward].tolist())) == 1
    assert r[forward][0] != r[~forward][0]
    torus = build_topology("torus2d", 16)  # 4 x 4: 4 rows + 4 columns, two directions each
    assert len(set(channel_rings(torus).tolist())) == 16
    assert (channel_rings(build_topology("switch", 8)) == -1).all()
