"""Topology shapes, presets and their errors."""

from __future__ import annotations

import numpy as np
import pytest

from eidola.errors import EidolaError
from eidola.topology import build_topology


def degree(topo, node: int) -> int:
    return int(np.sum(topo.links["a"] == node) + np.sum(topo.links["b"] == node))


def test_mi300x_is_a_full_xgmi_mesh_with_payload_rates() -> None:
    t = build_topology("mi300x")
    assert t.num_gpus == 8 and t.num_switches == 0
    assert len(t.links) == 28
    assert all(degree(t, g) == 7 for g in range(8))
    assert set(t.links["bw_gbps"]) == {48.0}  # 75% of the 64 GB/s xGMI line rate
    assert t.hbm_bw_gbps == 5300.0
    assert t.sources


def test_h100_is_nvswitch_with_nvlink4_payload_ports() -> None:
    t = build_topology("h100")
    assert t.num_switches == 1
    assert all(int(l["b"]) == 8 for l in t.links)
    assert t.links["bw_gbps"] == pytest.approx(18 * 20.6)  # 18 NVLink4 links at NCCL's payload rate


def test_overrides_win_over_preset_defaults() -> None:
    t = build_topology("mi300x", link_bw_gbps=32, link_latency_ns=900, hbm_bw_gbps=1000)
    assert set(t.links["bw_gbps"]) == {32.0}
    assert set(t.links["latency_ns"]) == {900.0}
    assert t.to_dict()["params"]["link_bw_gbps"] == 32


@pytest.mark.parametrize("name,n,links", [("ring", 8, 8), ("ring", 2, 1), ("torus2d", 16, 32),
                                          ("fully_connected", 5, 10), ("switch", 6, 6)])
def test_shapes_have_the_expected_links(name: str, n: int, links: int) -> None:
    assert len(build_topology(name, n).links) == links


def test_multinode_gives_every_gpu_a_nic_on_one_leaf() -> None:
    t = build_topology("multinode", 64, gpus_per_node=8)
    leaf = t.num_nodes - 1
    nics = [l for l in t.links if int(l["b"]) == leaf]
    assert len(nics) == 64
    assert t.node_name(leaf) == "leaf"
    assert t.to_dict()["params"]["nodes"] == 8


@pytest.mark.parametrize("kwargs,field", [
    (dict(name="ring", gpus=4, link_bw_gbps=0), "link-bw"),
    (dict(name="ring", gpus=4, link_bw_gbps=-5), "link-bw"),
    (dict(name="ring", gpus=4, link_latency_ns=-1), "link-latency"),
    (dict(name="hypercube", gpus=4), "topology"),
    (dict(name="mi300x", gpus=16), "gpus"),
    (dict(name="multinode", gpus=12, gpus_per_node=8), "gpus-per-node"),
])
def test_bad_topologies_name_the_field(kwargs: dict, field: str) -> None:
    name = kwargs.pop("name")
    gpus = kwargs.pop("gpus")
    with pytest.raises(EidolaError) as err:
        build_topology(name, gpus, **kwargs)
    assert f"'{field}'" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("n", [2, 3, 7, 13])
def test_torus2d_refuses_gpu_counts_without_two_factors(n: int) -> None:
    with pytest.raises(EidolaError, match="do not form a 2-D torus"):
        build_topology("torus2d", n)
    assert build_topology("torus2d", 6).params["rows"] == 2  # 2 x 3 still builds


@pytest.mark.parametrize("name, gpus, fabric_switches", [
    ("mi325x", 8, 0), ("mi355x", 8, 0), ("h200", 8, 1), ("b200", 8, 1), ("gb200-nvl72", 72, 1)])
def test_system_presets_state_line_and_payload_rates_and_memory(name: str, gpus: int,
                                                                fabric_switches: int) -> None:
    from eidola.topology.gpus import GPUS

    t = build_topology(name)
    assert t.num_gpus == gpus and t.num_switches == fabric_switches
    text = " ".join(t.sources)
    assert "line rate" in text and "payload" in text and "memory:" in text
    gpu = "b200" if name == "gb200-nvl72" else name
    assert t.hbm_bw_gbps == GPUS[gpu].hbm_bw_gbps and t.mem_channels == GPUS[gpu].mem_channels
    assert t.syncmon_entries == GPUS[gpu].compute_units


@pytest.mark.parametrize("name", ["fat_tree", "rail_optimized"])
def test_two_tier_fabrics_spread_flows_over_spines_deterministically(name: str) -> None:
    import numpy as np

    from eidola.engine import run
    from eidola.params import RunParams
    from eidola.profile.synth import synthesize

    topo = build_topology(name, 64, switch_radix=16, oversubscription=3.0)
    p = topo.params
    assert (p["leaf_down_ports"], p["leaf_up_ports"]) == (12, 4) and p["spines"] == 4
    assert topo.ecmp and p["rails"] == (8 if name == "rail_optimized" else 0)
    prof = synthesize("alltoall", 64, 8 << 20)
    runs = [run(prof, topo, RunParams(series=False, seed=s)) for s in (0, 0, 1)]
    assert runs[0].summary["makespan_ns"] == runs[1].summary["makespan_ns"]  # same seed, same paths
    ch = topo.channels()
    spine0 = min(i for i, nm in enumerate(topo.node_names) if nm.startswith("spine"))
    up = np.flatnonzero(ch["dst"] >= spine0)  # leaf -> spine channels
    used = {int(ch["dst"][c]) for c in up if runs[0].raw["channel_bytes"][c] > 0}
    assert len(used) == p["spines"]  # every spine carries part of the all-to-all
    assert runs[0].summary["bytes_written"] == sum(int(o["bytes"].sum()) for o in prof.ops)


@pytest.mark.parametrize("kwargs, field", [
    (dict(gpus_per_node=3), "gpus-per-node"), (dict(oversubscription=0.5), "oversubscription"),
    (dict(oversubscription=float("inf")), "oversubscription"), (dict(nic_bw_gbps=0.0), "nic-bw"),
    (dict(switch_radix=1), "switch-radix")])
def test_bad_fabric_overrides_are_one_line_errors(kwargs: dict, field: str) -> None:
    from eidola.errors import EidolaError

    with pytest.raises(EidolaError) as err:
        build_topology("rail_optimized", 16, **kwargs)
    assert err.value.field == field and "\n" not in str(err.value)


def test_a_fabric_larger_than_one_spine_layer_is_refused() -> None:
    from eidola.errors import EidolaError

    with pytest.raises(EidolaError, match="exceed what one spine layer"):
        build_topology("fat_tree", 4096, switch_radix=16)
