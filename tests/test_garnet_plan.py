"""The Garnet form of a topology (eidola.gem5.garnet_plan): clock, cycles, buffers, refusals.

gem5-free: the plan is what `--network garnet` builds inside gem5 (tests/test_gem5.py runs it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eidola.errors import EidolaError
from eidola.gem5.garnet_plan import GarnetSpec, plan
from eidola.topology import build_topology

REPO = Path(__file__).resolve().parents[1]


def test_switch_topology_clock_is_link_bandwidth_over_flit() -> None:
    topo = build_topology("switch", 8, link_bw_gbps=100.0, link_latency_ns=250.0, switch_latency_ns=200.0)
    p = plan(topo, GarnetSpec(flit_bytes=16))
    assert p.period_ps == 160                      # 16 B / 100 GB/s = 0.16 ns
    assert p.effective_bw_gbps == pytest.approx(100.0)
    # the topology's latencies, paid by the receiving bridge: two links and the switch
    assert p.path_latency_ns[0, 5] == pytest.approx(2 * 250 + 200) and p.path_latency_ns[3, 3] == 0
    assert (p.path_latency_ns == p.path_latency_ns.T).all()
    # Garnet's own defaults for VCs and buffers
    assert (p.spec.vcs_per_vnet, p.spec.vc_buffer_flits, p.spec.message_bytes) == (4, 4, 256)


def test_mesh_paths_are_one_link() -> None:
    p = plan(build_topology("mi300x"), GarnetSpec())
    off = ~np.eye(8, dtype=bool)
    assert (p.path_latency_ns[off] == 250.0).all()


def test_period_rounds_to_whole_picoseconds_and_reports_the_bandwidth_it_gives() -> None:
    p = plan(build_topology("h100"), GarnetSpec())
    assert p.period_ps == round(16 * 1000 / 370.8)
    assert p.describe()["effective_link_bw_gbps"] == pytest.approx(16 * 1000 / p.period_ps, rel=1e-4)
    assert abs(p.effective_bw_gbps / 370.8 - 1) < 0.01


def test_explicit_vcs_and_vc_buffer_are_kept() -> None:
    d = plan(build_topology("h100"), GarnetSpec(vc_buffer_flits=1, vcs_per_vnet=2)).describe()
    assert (d["vc_buffer_flits"], d["vcs_per_vnet"]) == (1, 2)


def test_a_gpu_gets_a_node_per_link_and_deals_its_peers_over_them() -> None:
    # xGMI mesh: 7 links per GPU -> 7 network interfaces, one per peer each way, so a GPU
    # injects (and ejects) 7 flits a cycle when it talks to all peers, as its 7 links carry
    p = plan(build_topology("mi300x"), GarnetSpec())
    assert p.ports.tolist() == [7] * 8 and p.node_base.tolist() == [7 * g for g in range(8)]
    for g in range(8):
        peers = [d for d in range(8) if d != g]
        assert sorted(p.send_port(g)[d] for d in peers) == list(range(7))
        received = [p.receive_node(g)[s] for s in peers]
        assert sorted(received) == list(range(7 * g, 7 * g + 7))
        # what a sender addresses is what the receiver expects from it
        assert all(p.address_nodes(s)[g] == p.receive_node(g)[s] for s in peers)
    # a switch topology: one link, one node per GPU
    assert plan(build_topology("h100"), GarnetSpec()).ports.tolist() == [1] * 8


@pytest.mark.parametrize("name, problem", [("gb200-nvl72", "at most 64 GPU ports"),
                                           ("multinode", "one link bandwidth"),
                                           ("ring", "does not route through GPUs")])
def test_topologies_garnet_cannot_carry_yet_are_refused_in_one_line(name: str, problem: str) -> None:
    topo = build_topology(name, 16 if name == "multinode" else 8 if name == "ring" else None)
    with pytest.raises(EidolaError, match=problem) as err:
        plan(topo, GarnetSpec())
    assert "\n" not in str(err.value) and "network" in str(err.value)


@pytest.mark.parametrize("kwargs, field", [({"flit_bytes": 0}, "garnet-flit-bytes"),
                                           ({"vcs_per_vnet": 0}, "garnet-vcs"),
                                           ({"vc_buffer_flits": 0}, "garnet-vc-buffer"),
                                           ({"message_bytes": 3000}, "garnet-message-bytes"),
                                           ({"message_bytes": 16}, "garnet-message-bytes")])
def test_bad_garnet_options_name_their_field(kwargs: dict, field: str) -> None:
    with pytest.raises(EidolaError, match=field):
        GarnetSpec(**kwargs)


def test_builtin_backend_refuses_garnet_with_one_line_and_no_outdir(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(REPO / "configs" / "eidola_8gpu.py"), "--profile",
                           str(REPO / "profiles" / "p2p_2gpu.h5"), "--topology", "h100", "--network",
                           "garnet", "--outdir", str(out)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "gem5" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
