"""Library models (NCCL/RCCL): protocol wire bytes, fixed costs, ring layouts, and the
published curves they are validated against (docs/validation.md, section 3)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from eidola.engine import run
from eidola.errors import EidolaError
from eidola.params import RunParams
from eidola.profile.library import NCCL_HOPPER, WIRE_FACTOR, disjoint_rings
from eidola.profile.schema import OpKind
from eidola.profile.synth import synthesize
from eidola.topology import build_topology

REPO = Path(__file__).resolve().parents[1]
MiB, GiB = 1 << 20, 1 << 30
FAST = RunParams(sync="syncmon", packet_bytes=64 * 1024, max_outstanding=4096, series=False)


def written(prof) -> int:
    return sum(int(o["bytes"][o["kind"] == OpKind.WRITE].sum()) for o in prof.ops)


@pytest.mark.parametrize("proto", ["simple", "ll128", "ll"])
def test_protocol_puts_its_flag_overhead_on_the_wire(proto: str) -> None:
    n, size = 4, 8 * MiB
    prof = synthesize("allreduce", n, size, proto=proto)
    writes = sum(int((o["kind"] == OpKind.WRITE).sum()) for o in prof.ops)
    exact = 2 * (n - 1) * size * WIRE_FACTOR[proto]
    assert exact <= written(prof) <= exact + writes  # each write rounds up by under one byte


@pytest.mark.parametrize("proto,kind", [("simple", OpKind.SIGNAL), ("ll128", OpKind.SIGNAL_NBI),
                                        ("ll", OpKind.SIGNAL_NBI)])
def test_inline_flag_protocols_signal_without_a_fence(proto: str, kind: OpKind) -> None:
    prof = synthesize("allreduce", 4, MiB, proto=proto)
    kinds = np.concatenate([o["kind"] for o in prof.ops])
    assert np.any(kinds == kind) and not np.any(kinds == ({OpKind.SIGNAL, OpKind.SIGNAL_NBI} - {kind}).pop())


def test_nccl_ll_is_capped_at_its_tuner_bandwidth() -> None:
    n, size = 4, 256 * MiB
    res = run(synthesize("allreduce", n, size, library="nccl", proto="ll"), build_topology("h100", n), FAST)
    busbw = 2 * (n - 1) / n * size / res.summary["makespan_ns"]
    assert 0.8 * NCCL_HOPPER.max_busbw_gbps["ll"] < busbw <= NCCL_HOPPER.max_busbw_gbps["ll"]


def test_library_latencies_sit_on_the_critical_path() -> None:
    n, size = 4, 64 * 1024
    topo = build_topology("h100", n)
    bare = run(synthesize("allreduce", n, size, proto="simple", streams=24), topo, FAST)
    nccl = run(synthesize("allreduce", n, size, library="nccl"), topo, FAST)
    expected = NCCL_HOPPER.launch_ns("ring", "simple") + 2 * (n - 1) * NCCL_HOPPER.step_ns("ring", "simple")
    added = nccl.summary["makespan_ns"] - bare.summary["makespan_ns"]
    assert added == pytest.approx(expected, rel=0.02)


def test_rccl_rings_use_every_xgmi_link_and_one_order_uses_one() -> None:
    n, size = 8, 64 * MiB
    topo = build_topology("mi300x")
    ch = topo.channels()
    spread = run(synthesize("allreduce", n, size, library="rccl"), topo, FAST).raw["channel_bytes"]
    assert np.all(spread > 0) and len(spread) == n * (n - 1)
    assert spread.max() / spread.min() < 1.01  # 7 edge-disjoint rings: equal load on all 56
    single = run(synthesize("allreduce", n, size, proto="simple", streams=7), topo, FAST).raw["channel_bytes"]
    used = ch[single > 0]
    assert len(used) == n and np.all((used["dst"] - used["src"]) % n == 1)


@pytest.mark.parametrize("n", [3, 5, 8, 9])
def test_disjoint_rings_are_hamiltonian_and_share_no_edge(n: int) -> None:
    rings = disjoint_rings(n, n - 1)
    assert len(rings) == n - 1 and all(sorted(r) == list(range(n)) for r in rings)
    edges = [(r[i], r[(i + 1) % n]) for r in rings for i in range(n)]
    assert len(set(edges)) == n * (n - 1)


def test_disjoint_rings_fall_back_to_valid_rings_where_no_decomposition_exists() -> None:
    rings = disjoint_rings(4, 3)  # the complete digraph on 4 nodes has no such decomposition
    assert len(rings) == 3 and all(sorted(r) == [0, 1, 2, 3] for r in rings)


@pytest.mark.parametrize("kwargs,field", [
    (dict(kind="alltoall", proto="ll"), "proto"),
    (dict(kind="allreduce", algo="direct", proto="ll"), "proto"),
    (dict(kind="allreduce", algo="nvls", proto="ll128"), "proto"),
    (dict(kind="allreduce", algo="nvls", library="rccl"), "library"),
    (dict(kind="allreduce", library="mpich"), "library"),
    (dict(kind="allreduce", proto="ll64"), "proto"),
])
def test_library_misuse_names_the_field(kwargs: dict, field: str) -> None:
    kind = kwargs.pop("kind")
    with pytest.raises(EidolaError) as err:
        synthesize(kind, 8, MiB, **kwargs)
    assert f"'{field}'" in str(err.value) and "\n" not in str(err.value)


def reference_rows() -> list[dict]:
    return list(csv.DictReader((REPO / "bench" / "reference" / "busbw.csv").open()))


def test_every_reference_curve_says_where_it_comes_from() -> None:
    sources = json.loads((REPO / "bench" / "reference" / "sources.json").read_text())
    rows = reference_rows()
    assert {r["dataset"] for r in rows} == set(sources)
    assert all(int(r["size_bytes"]) > 0 and float(r["busbw_gbps"]) > 0 for r in rows)
    assert all(sources[d]["source"] and sources[d]["hardware"] for d in sources)


@pytest.mark.parametrize("dataset,system,algo,library", [
    ("mi300x8-rccl-aac", "mi300x", "ring", "rccl"),
    ("mi300x8-rccl-amd", "mi300x", "ring", "rccl"),
    ("h100x4-nccl-nvls", "h100", "nvls", "nccl"),
    ("h100x4-nccl-ring", "h100", "ring", "nccl"),
])
def test_large_allreduce_is_within_ten_percent_of_the_published_curve(dataset, system, algo, library) -> None:
    row = next(r for r in reference_rows() if r["dataset"] == dataset and int(r["size_bytes"]) == GiB)
    n = int(row["gpus"])
    res = run(synthesize("allreduce", n, GiB, algo=algo, library=library), build_topology(system, n), FAST)
    busbw = 2 * (n - 1) / n * GiB / res.summary["makespan_ns"]
    assert busbw == pytest.approx(float(row["busbw_gbps"]), rel=0.10)


def test_recorded_collectives_of_the_shared_trace_carry_protocol_and_duration() -> None:
    trace = REPO.parent / "shared" / "traces" / "kineto" / "allreduce_broadcast_2rank_rank0.json.gz"
    if not trace.exists():
        pytest.skip(f"shared trace not present at {trace}")
    from eidola.profile.importers.kineto import recorded_collectives

    colls = recorded_collectives(trace)
    assert len(colls) == 21
    assert {c["coll"] for c in colls} == {"allreduce", "broadcast"}
    assert all(c["proto"] == "ll" and c["dur_us"] > 0 and c["ranks"] == [0, 1] for c in colls)


def test_rail_rings_visit_every_gpu_and_spread_node_crossings_over_the_rails() -> None:
    from eidola.profile.library import rail_rings

    n, g, channels = 32, 8, 24
    rings = rail_rings(n, g, channels)
    assert rings.shape == (channels, n)
    assert all(sorted(r) == list(range(n)) for r in rings.tolist())
    # the GPU each channel leaves node 0 from: every local index equally often
    exits = [int(r[g - 1]) % g for r in rings]
    assert sorted(exits) == sorted(list(range(g)) * (channels // g))
    # every channel crosses between consecutive nodes onto the same local index (one rail)
    for r in rings:
        entries = {int(r[k * g]) % g for k in range(n // g)}
        assert len(entries) == 1


def test_multinode_ring_uses_every_nic_not_one() -> None:
    n, g = 16, 8
    topo = build_topology("fat_tree", n, link_bw_gbps=18 * 20.6, gpus_per_node=g, nic_bw_gbps=50.0)
    spread = run(synthesize("allreduce", n, 64 * MiB, algo="ring", library="nccl", proto="simple",
                            gpus_per_node=g), topo, FAST)
    one = run(synthesize("allreduce", n, 64 * MiB, algo="ring", library="nccl", proto="simple"),
              topo, FAST)
    # 8 NICs per node against one: the spread ring is several times faster
    assert one.summary["makespan_ns"] > 3 * spread.summary["makespan_ns"]


def test_node_crossing_hops_signal_behind_their_data_and_nvlink_hops_fence() -> None:
    from eidola.profile.schema import OpKind

    prof = synthesize("allreduce", 16, 16 * MiB, algo="ring", library="nccl", proto="simple",
                      gpus_per_node=8)
    kinds_by_cross = {True: set(), False: set()}
    for g, ops in enumerate(prof.ops):
        sig = ops[(ops["kind"] == OpKind.SIGNAL) | (ops["kind"] == OpKind.SIGNAL_NBI)]
        for k, peer in zip(sig["kind"].tolist(), sig["peer"].tolist()):
            kinds_by_cross[g // 8 != peer // 8].add(int(k))
    assert kinds_by_cross[True] == {int(OpKind.SIGNAL_NBI)}
    assert kinds_by_cross[False] == {int(OpKind.SIGNAL)}
