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
