"""Collectives across nodes: NCCL's trees, the NVLS tree, node-local multicast, the tuner."""

from __future__ import annotations

import numpy as np
import pytest

from eidola.engine import run
from eidola.params import RunParams
from eidola.profile.collectives import binary_tree, double_binary_tree
from eidola.profile.schema import OpKind
from eidola.profile.synth import synthesize
from eidola.topology import build_topology

MiB = 1 << 20
FAST = RunParams(sync="syncmon", packet_bytes=64 * 1024, max_outstanding=4096,
                 max_outstanding_bytes=0, series=False)


def _fat_tree(n: int):
    return build_topology("fat_tree", n, link_bw_gbps=18 * 20.6, gpus_per_node=8, nic_bw_gbps=50.0)


def test_binary_tree_is_nccls_illustrated_tree_of_14_ranks() -> None:
    # nccl src/graph/trees.cc draws this tree: 0-8, 8-(4, 12), 4-(2, 6), 12-(10, 13), ...
    expected = {0: (-1, [8]), 8: (0, [4, 12]), 4: (8, [2, 6]), 12: (8, [10, 13]),
                2: (4, [1, 3]), 6: (4, [5, 7]), 10: (12, [9, 11]), 13: (12, []), 1: (2, [])}
    for rank, (parent, kids) in expected.items():
        assert binary_tree(14, rank) == (parent, kids)


@pytest.mark.parametrize("n", [2, 3, 4, 7, 8, 13])
def test_double_binary_tree_is_two_spanning_trees_with_interiors_apart(n: int) -> None:
    for parents, kids in double_binary_tree(n):
        assert parents.count(-1) == 1  # one root
        assert sorted(c for ks in kids for c in ks) == sorted(r for r in range(n) if parents[r] >= 0)
        for r in range(n):
            assert all(parents[c] == r for c in kids[r])
    (_, k0), (_, k1) = double_binary_tree(n)
    if n % 2 == 0:  # mirrored: no rank has children in both trees
        assert not any(k0[r] and k1[r] for r in range(n))


def test_nvls_tree_multicasts_inside_nodes_and_sends_across_on_one_rail() -> None:
    n, g = 32, 8
    prof = synthesize("allreduce", n, 64 * MiB, algo="nvls-tree", library="nccl", gpus_per_node=g)
    for gpu, ops in enumerate(prof.ops):
        writes = ops[ops["kind"] == OpKind.WRITE]
        remote = writes[writes["peer"] >= 0]
        assert len(remote) > 0
        assert set((remote["peer"] % g).tolist()) == {gpu % g}  # same rail
        assert not np.any(remote["peer"] // g == gpu // g)       # always another node
        assert np.any(writes["peer"] == -2) and np.any(ops[ops["kind"] == OpKind.READ]["peer"] == -2)


def test_nvls_tree_multicast_stays_inside_each_node() -> None:
    n, g = 16, 8
    prof = synthesize("allreduce", n, 16 * MiB, algo="nvls-tree", library="nccl", gpus_per_node=g)
    topo = _fat_tree(n)
    res = run(prof, topo, FAST)
    assert res.raw["finished"] and not res.raw["deadlock"]
    ch = topo.channels()
    to_nic = (ch["src"] < n) & (ch["dst"] >= n) & (ch["dst"] != np.asarray(
        [topo.num_gpus + k for k in range(n // g)])[:, None]).all(axis=0)
    # every byte a GPU puts on its NIC is one of its tree writes to another node: a multicast
    # that fanned out to the other node's GPUs would add the node's whole traffic
    sent = sum(int(ops["bytes"][(ops["kind"] == OpKind.WRITE) & (ops["peer"] >= 0)].sum())
               for ops in prof.ops)
    on_nics = int(np.asarray(res.raw["channel_bytes"])[to_nic].sum())
    assert sent <= on_nics <= sent * 1.01


def test_two_nodes_run_the_nvls_tree_faster_than_the_ring_as_the_tuner_expects() -> None:
    n = 16
    big = 1 << 30
    auto = synthesize("allreduce", n, big, algo="auto", library="nccl", system="h100",
                      gpus_per_node=8)
    assert auto.attrs["parameters"]["tuner"]["algo"] == "nvls_tree"  # NCCL >= 2.19 on 2x8 H100
    ring = synthesize("allreduce", n, big, algo="ring", library="nccl", proto="simple",
                      gpus_per_node=8)
    t_tree = run(auto, _fat_tree(n), FAST).summary["makespan_ns"]
    t_ring = run(ring, _fat_tree(n), FAST).summary["makespan_ns"]
    assert t_tree < t_ring
    # NCCL's own per-channel NVLS tree limit on 2 nodes (8 x 57.7 GB/s) bounds the bus bandwidth
    assert 2 * (n - 1) / n * big / t_tree <= 8 * 57.7 * 1.01


def test_pxn_keeps_node_crossings_on_one_rail_and_rail_fabrics_at_full_speed() -> None:
    n, g = 16, 8
    pxn = synthesize("allreduce", n, 64 * MiB, algo="ring", library="nccl", proto="simple",
                     gpus_per_node=g, pxn=True)
    for gpu, ops in enumerate(pxn.ops):
        w = ops[(ops["kind"] == OpKind.WRITE) & (ops["peer"] >= 0)]
        across = w[w["peer"] // g != gpu // g]
        assert np.all(across["peer"] % g == gpu % g)  # every crossing rail-aligned
    direct = synthesize("allreduce", n, 64 * MiB, algo="ring", library="nccl", proto="simple",
                        gpus_per_node=g)
    rails = build_topology("rail_optimized", n, link_bw_gbps=18 * 20.6, gpus_per_node=g,
                           nic_bw_gbps=50.0)
    res_pxn, res_direct = run(pxn, rails, FAST), run(direct, rails, FAST)
    t_tree = run(pxn, _fat_tree(n), FAST).summary["makespan_ns"]
    ch = rails.channels()
    spine0 = rails.num_nodes - rails.params["spines"]
    to_spine = ch["dst"] >= spine0
    # with PXN no byte climbs to a spine (every crossing stays on its rail's leaf); without it
    # the rail-changing crossings do
    assert int(np.asarray(res_pxn.raw["channel_bytes"])[to_spine].sum()) == 0
    assert int(np.asarray(res_direct.raw["channel_bytes"])[to_spine].sum()) > 0
    assert res_pxn.summary["makespan_ns"] == pytest.approx(t_tree, rel=0.02)  # rails cost nothing once aligned


def test_pxn_needs_a_ring_across_nodes() -> None:
    from eidola.errors import EidolaError

    with pytest.raises(EidolaError) as err:
        synthesize("allreduce", 16, MiB, algo="ring", pxn=True)
    assert err.value.field == "pxn"


def test_nccl_tree_moves_2_n_minus_1_buffers_and_spreads_heads_over_the_nics() -> None:
    n, g, size = 16, 8, 256 * MiB
    prof = synthesize("allreduce", n, size, algo="tree", library="nccl", proto="simple",
                      gpus_per_node=g)
    written = sum(int(o["bytes"][o["kind"] == OpKind.WRITE].sum()) for o in prof.ops)
    assert written == 2 * (n - 1) * size  # every tree edge carries the buffer up and down
    senders = {gpu % g for gpu, ops in enumerate(prof.ops)
               for p in ops["peer"][(ops["kind"] == OpKind.WRITE) & (ops["peer"] >= 0)].tolist()
               if p // g != gpu // g}
    assert senders == set(range(g))  # each local GPU heads some channels: every NIC is used
    res = run(prof, _fat_tree(n), FAST)
    # one head per node would leave the tree at one 50 GB/s NIC per node (~100 GB/s busbw)
    assert res.summary["bus_bandwidth_gbps"] > 250


def test_auto_across_mesh_nodes_is_refused_with_a_way_out() -> None:
    from eidola.errors import EidolaError

    with pytest.raises(EidolaError) as err:
        synthesize("allreduce", 16, MiB, algo="auto", library="rccl", system="mi300x",
                   gpus_per_node=8)
    assert err.value.field == "algo" and "tree" in str(err.value)


def test_scale_out_fabrics_route_around_gpus_never_through_them() -> None:
    n, g = 32, 8
    prof = synthesize("alltoall", n, 8 * MiB)
    topo = build_topology("rail_optimized", n, gpus_per_node=g)
    assert topo.gpus_forward is False
    res = run(prof, topo, FAST)
    ch = topo.channels()
    nic0 = n + n // g  # GPUs, then the node switches, then one NIC per GPU
    out_nic = (ch["src"] < n) & (ch["dst"] >= nic0) & (ch["dst"] < nic0 + n)
    into_gpu_from_nic = (ch["dst"] < n) & (ch["src"] >= nic0) & (ch["src"] < nic0 + n)
    # a GPU's NIC carries only the GPU's own writes to other nodes, and brings in only data
    # for that GPU: nothing is relayed between a node switch and a NIC through a GPU
    def to_other_nodes(gpu, o, kind):
        return o[(o["kind"] == kind) & (o["peer"] >= 0) & (o["peer"] // g != gpu // g)]

    # written bytes, and 8 bytes per signal (the flag update travels as a packet)
    cross = sum(int(to_other_nodes(gpu, o, OpKind.WRITE)["bytes"].sum())
                + 8 * len(to_other_nodes(gpu, o, OpKind.SIGNAL)) for gpu, o in enumerate(prof.ops))
    sent = np.asarray(res.raw["channel_bytes"])
    assert int(sent[out_nic].sum()) == cross
    assert int(sent[into_gpu_from_nic].sum()) == cross


def test_a_real_128_rank_trace_runs_on_a_rail_optimized_fabric(tmp_path) -> None:
    from pathlib import Path

    traces = Path(__file__).resolve().parents[2] / "shared" / "traces" / "kineto"
    files = [traces / f"mixed_128rank_rank{r}.json.gz" for r in (0, 1)]
    if not all(f.exists() for f in files):
        pytest.skip(f"shared traces not present in {traces}")
    from eidola.profile.importers import import_profile

    prof = import_profile("kineto", files)
    res = run(prof, build_topology("rail_optimized", 128, gpus_per_node=8), FAST)
    assert res.raw["finished"] and not res.raw["deadlock"]
