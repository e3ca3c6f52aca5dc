"""All-to-all as NCCL/RCCL run it (eidola.profile.p2p): the p2p layout the libraries print at
init, how one send is striped and which protocol it runs, and the traffic that results."""

from __future__ import annotations

import numpy as np
import pytest

from eidola.engine import run
from eidola.errors import EidolaError
from eidola.params import RunParams
from eidola.profile.p2p import P2pPlan, p2p_plan
from eidola.profile.schema import OpKind
from eidola.profile.synth import synthesize
from eidola.topology import build_topology

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
FAST = RunParams(sync="syncmon", packet_bytes=64 * 1024, max_outstanding=4096, series=False)


def written(prof) -> int:
    return sum(int(o["bytes"][o["kind"] == OpKind.WRITE].sum()) for o in prof.ops)


def test_nvswitch_layouts_match_what_nccl_prints_at_init() -> None:
    # NCCL init logs: 8x H100 "24 coll channels, ... 32 p2p channels, 32 p2p channels per peer";
    # 8x GB200 over MNNVL "32 coll channels, ... 32 p2p channels, 32 p2p channels per peer"
    h100 = p2p_plan("nccl", ranks=8, nodes=1, comm_channels=24, link_gbps=18 * 20.6,
                    link_unit_gbps=20.6)
    gb200 = p2p_plan("nccl", ranks=8, nodes=1, comm_channels=32, link_gbps=18 * 40.1,
                     link_unit_gbps=40.1)
    for plan in (h100, gb200):
        assert (plan.p2p_channels, plan.per_peer, plan.chunk_bytes) == (32, 32, 512 * KiB)
        assert plan.min_per_op == 4  # 4 channels x 8 ranks fill the 32 p2p channels


def test_a_send_widens_with_its_size_and_small_sends_run_ll() -> None:
    plan = P2pPlan("nccl", ranks=8, nodes=1, p2p_channels=32, per_peer=32, chunk_bytes=512 * KiB)
    assert plan.op(16 * KiB) == (1, "ll", 32 * KiB)       # one channel, under 16 KiB per channel
    assert plan.op(64 * KiB)[:2] == (1, "simple")
    assert plan.op(128 * MiB)[:2] == (8, "simple")          # 4 parts of 32 MiB > 16 MiB: doubled
    assert plan.op(8 * GiB)[0] == 32                          # capped at the per-peer count
    assert plan.concurrent_ops(8) == 32                       # 32 / 8 channels x 8 per batch


def test_across_nodes_the_network_sets_the_channels_and_the_chunk() -> None:
    plan = p2p_plan("nccl", ranks=16, nodes=2, comm_channels=16, link_gbps=18 * 20.6,
                    link_unit_gbps=20.6, nic_gbps=50.0)
    assert plan.per_peer == 4 and plan.chunk_bytes == 128 * KiB  # ceil(50 / 14) channels
    assert plan.op(32 * KiB, network=True)[2] == 32 * KiB        # below one chunk: a quarter
    assert plan.op(32 * KiB, network=False)[2] == 128 * KiB      # a peer on the same node: not cut
    arm = p2p_plan("nccl", ranks=16, nodes=2, comm_channels=16, link_gbps=18 * 40.1,
                   link_unit_gbps=40.1, nic_gbps=50.0, arm_blackwell=True)
    assert arm.chunk_bytes == 256 * KiB


def test_rccl_doubles_its_xgmi_channels_on_one_node() -> None:
    plan = p2p_plan("rccl", ranks=8, nodes=1, comm_channels=64, link_gbps=48.0,
                    link_unit_gbps=48.0)
    assert plan.per_peer == 8  # 4 per xGMI link, doubled on a single gfx942/gfx950 node


@pytest.mark.parametrize("system,library,n", [("h100", "nccl", 8), ("mi300x", "rccl", 8),
                                              ("b200", "nccl", 4)])
def test_library_alltoall_moves_exactly_the_blocks(system: str, library: str, n: int) -> None:
    size = 64 * MiB + 12_345  # blocks that do not divide evenly
    prof = synthesize("alltoall", n, size, library=library, system=system)
    assert written(prof) == (n - 1) * size  # every rank sends all blocks but its own
    for g, ops in enumerate(prof.ops):  # writes go to every other GPU, never to itself
        peers = set(ops["peer"][ops["kind"] == OpKind.WRITE].tolist())
        assert peers == set(range(n)) - {g}


def test_library_alltoall_drives_every_mesh_link_where_the_bare_schedule_drives_one() -> None:
    topo = build_topology("mi300x", 8)
    size = 64 * MiB
    lib_t = run(synthesize("alltoall", 8, size, library="rccl"), topo, FAST).summary["makespan_ns"]
    bare_t = run(synthesize("alltoall", 8, size), topo, FAST).summary["makespan_ns"]
    # all 7 peers at once over 7 links against one peer at a time
    assert bare_t / lib_t > 5
    busbw = 7 / 8 * size / lib_t
    assert busbw <= 7 * 48.0 * 1.001  # never above the links' payload rate


def test_ll_sends_put_their_flags_on_the_wire_and_do_not_fence() -> None:
    prof = synthesize("alltoall", 8, 8 * 8 * KiB, library="nccl")  # 8 KiB per peer: LL
    ops = prof.ops[0]
    w = ops[ops["kind"] == OpKind.WRITE]
    assert int(w["bytes"].sum()) == 7 * 8 * KiB * 2           # LL: 8-byte lines, half flags
    assert not np.any(ops["kind"] == OpKind.SIGNAL)
    assert np.any(ops["kind"] == OpKind.SIGNAL_NBI)
    assert prof.attrs["parameters"]["p2p"]["channels_per_send"] == 1


def test_simple_sends_signal_each_chunk_and_the_receiver_waits_for_each() -> None:
    prof = synthesize("alltoall", 4, 4 * 4 * MiB, library="nccl", system="b200")  # 4 MiB a peer
    ops = prof.ops[1]
    sig = ops[ops["kind"] == OpKind.SIGNAL]
    wait = ops[ops["kind"] == OpKind.WAIT]
    chunks = int(np.sum(ops["kind"] == OpKind.WRITE))
    assert len(sig) == chunks and chunks >= 3 * 8             # 512 KiB chunks, 3 peers
    assert len(wait) == chunks                                # symmetric: one wait per chunk in
    assert set(np.unique(sig["peer"])) == {0, 2, 3}


def test_alltoall_proto_forcing_is_limited_to_turning_ll_off() -> None:
    prof = synthesize("alltoall", 8, 8 * 8 * KiB, library="nccl", proto="simple")
    ops = prof.ops[0]
    assert not np.any(ops["kind"] == OpKind.SIGNAL_NBI) and prof.attrs["parameters"]["p2p"]["ll_disabled"]
    for kwargs, field in ((dict(proto="ll128"), "proto"), (dict(proto="ll"), "proto"),
                          (dict(streams=4), "streams")):
        with pytest.raises(EidolaError) as err:
            synthesize("alltoall", 8, MiB, library="nccl", **kwargs)
        assert f"'{field}'" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(EidolaError) as err:
        synthesize("alltoall", 8, MiB, proto="simple")
    assert "'proto'" in str(err.value)


def test_large_alltoall_lanes_bound_the_streams_per_gpu() -> None:
    # 128 ranks over 16 nodes: NCCL runs p2p_channels / channels x 8 sends at once per rank
    prof = synthesize("alltoall", 128, 128 * MiB, library="nccl", gpus_per_node=8)
    p = prof.attrs["parameters"]["p2p"]
    assert p["nodes"] == 16 and p["concurrent_sends"] <= 127
    assert max(int(o["stream"].max()) for o in prof.ops) + 1 <= 2 * p["concurrent_sends"] * p["per_peer"]
    # node crossings signal behind their data (network transport), NVLink ones fence
    ops = prof.ops[0]
    sig_peer = ops["peer"][np.isin(ops["kind"], (OpKind.SIGNAL, OpKind.SIGNAL_NBI))]
    kinds = ops["kind"][np.isin(ops["kind"], (OpKind.SIGNAL, OpKind.SIGNAL_NBI))]
    assert np.all(kinds[sig_peer >= 8] == OpKind.SIGNAL_NBI)
    assert np.all(kinds[sig_peer < 8] == OpKind.SIGNAL)


def test_sends_beyond_the_concurrency_queue_on_their_lane() -> None:
    from eidola.profile.collectives import p2p_alltoall
    from eidola.profile.library import INLINE_FLAGS, WIRE_FACTOR
    from eidola.profile.table import OpTable

    table = OpTable()
    p2p_alltoall(table, np.arange(8), 8 * MiB, op_shape=lambda b, x: (2, "simple", 256 * KiB),
                 concurrent_ops=lambda ch: 3, wire_factor=WIRE_FACTOR, inline_flags=INLINE_FLAGS)
    ops = table.build(8)[0]
    w = ops[ops["kind"] == OpKind.WRITE]
    assert set(np.unique(w["stream"])) == set(range(3 * 2))       # 3 lanes x 2 parts send
    assert set(np.unique(ops["stream"][ops["kind"] == OpKind.WAIT])) == set(range(6, 12))
    lane0 = w[w["stream"] == 0]
    assert list(dict.fromkeys(lane0["peer"].tolist())) == [1, 4, 7]  # d = 1, 4, 7 in turn


def test_a_send_has_at_most_the_fifo_slots_in_flight() -> None:
    # 128 MiB to the one peer: 16 parts of 8 MiB, 16 chunks of 512 KiB each; 8 FIFO slots
    prof = synthesize("alltoall", 2, 2 * 128 * MiB, library="nccl", system="h100")
    ops = prof.ops[0]
    p = prof.attrs["parameters"]["p2p"]
    chunks = int(np.sum(ops["kind"] == OpKind.WRITE))
    send_streams = set(np.unique(ops["stream"][ops["kind"] == OpKind.WRITE]).tolist())
    credit_waits = ops[(ops["kind"] == OpKind.WAIT) & np.isin(ops["stream"], list(send_streams))]
    per_part = chunks // p["channels_per_send"]
    assert per_part > 8
    assert len(credit_waits) == chunks - 8 * p["channels_per_send"]  # none for the first 8
    for s in send_streams:  # chunk j waits for slot j - 7 back, right before its write
        mine = ops[ops["stream"] == s]
        k = list(mine["kind"])
        first_wait = k.index(OpKind.WAIT)
        assert first_wait == 2 * 8 and k[first_wait + 1] == OpKind.WRITE
        assert mine["value"][first_wait] == 1
    recv = ops[~np.isin(ops["stream"], list(send_streams))]
    handbacks = recv[recv["kind"] == OpKind.SIGNAL_NBI]
    assert len(handbacks) == chunks and set(handbacks["peer"].tolist()) == {1}
    res = run(prof, build_topology("h100", 2), FAST)
    assert res.summary["bytes_written"] == written(prof)


def test_auto_is_the_library_schedule_and_needs_a_library() -> None:
    auto = synthesize("alltoall", 8, 64 * MiB, library="nccl", algo="auto")
    plain = synthesize("alltoall", 8, 64 * MiB, library="nccl")
    assert all(np.array_equal(a, b) for a, b in zip(auto.ops, plain.ops))
    with pytest.raises(EidolaError) as err:
        synthesize("alltoall", 8, 64 * MiB, algo="auto")
    assert "'library'" in str(err.value)


def test_only_sends_that_cross_nodes_get_the_network_chunk_cut() -> None:
    # 100 KiB to each peer on 4 nodes of 8: below one 128 KiB chunk, so NCCL's network
    # transport cuts the chunk to a quarter; NVLink peers of the same node keep it whole
    prof = synthesize("alltoall", 32, 32 * 100 * KiB, library="nccl", gpus_per_node=8)
    ops = prof.ops[0]
    w = ops[ops["kind"] == OpKind.WRITE]
    near = w["bytes"][w["peer"] < 8]
    far = w["bytes"][w["peer"] >= 8]
    assert len(near) == 7 and near.max() == 100 * KiB          # one chunk per NVLink peer
    assert len(far) == 24 * 4 and far.max() <= 32 * KiB        # four quarter chunks per remote peer


def test_a_chunk_below_eight_bytes_is_a_one_line_error() -> None:
    with pytest.raises(EidolaError) as err:
        synthesize("alltoall", 3, 122, library="nccl", chunk_bytes=4)
    assert "'chunk'" in str(err.value) and "\n" not in str(err.value)
