"""Chakra ET import on execution traces written here (Chakra itself is not on PyPI)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from eidola.cli import main as cli_main
from eidola.engine import run
from eidola.errors import EidolaError
from eidola.params import RunParams
from eidola.profile import OpKind, validate_ops
from eidola.profile.importers import import_profile
from eidola.profile.importers.chakra import CommType, EtNode, NodeType, read_et, write_et
from eidola.profile.synth import synthesize
from eidola.topology import build_topology

GiB = 1 << 30
FAST = RunParams(sync="syncmon", packet_bytes=1 << 20, max_outstanding=64, series=False)


def coll(i: int, ctype: CommType, size: int, deps=(), pg: str | None = None) -> EtNode:
    attrs = {"is_cpu_op": False, "comm_type": int(ctype), "comm_size": size}
    if pg is not None:
        attrs["pg_name"] = pg
    return EtNode(i, ctype.name, NodeType.COMM_COLL_NODE, data_deps=list(deps), attrs=attrs)


def comp(i: int, us: int, deps=()) -> EtNode:
    return EtNode(i, f"comp{i}", NodeType.COMP_NODE, data_deps=list(deps), duration_micros=us,
                  attrs={"is_cpu_op": False})


def write_job(tmp: Path, prefix: str, per_rank: dict[int, list[EtNode]]) -> Path:
    for r, nodes in per_rank.items():
        write_et(tmp / f"{prefix}.{r}.et", nodes)
    return tmp / prefix


def test_hand_encoded_bytes_decode_as_chakra_defines_them(tmp_path: Path) -> None:
    # wire format written out by hand: varint length, GlobalMetadata{version=1:"0.0.4"},
    # then Node{id=1:67, name=2:"ALL_REDUCE", type=3:7, attr=10:{name=1:"comm_size", int64_val=9:1024}}
    attr = b"\x0a\x09comm_size" + b"\x48\x80\x08"
    node = b"\x08\x43" + b"\x12\x0aALL_REDUCE" + b"\x18\x07" + b"\x52" + bytes([len(attr)]) + attr
    meta = b"\x0a\x050.0.4"
    p = tmp_path / "x.0.et"
    p.write_bytes(bytes([len(meta)]) + meta + bytes([len(node)]) + node)
    info, nodes = read_et(p)
    assert info["version"] == "0.0.4"
    assert len(nodes) == 1 and nodes[0].id == 67 and nodes[0].type == NodeType.COMM_COLL_NODE
    assert nodes[0].attrs == {"comm_size": 1024}
    # and our writer produces exactly those bytes for the same node
    write_et(tmp_path / "y.0.et", [EtNode(67, "ALL_REDUCE", NodeType.COMM_COLL_NODE,
                                          attrs={"comm_size": 1024})])
    assert (tmp_path / "y.0.et").read_bytes() == p.read_bytes()


def test_1gib_all_reduce_et_lands_on_synth_allreduce(tmp_path: Path) -> None:
    prefix = write_job(tmp_path, "ar", {r: [coll(1, CommType.ALL_REDUCE, GiB)] for r in range(8)})
    prof = import_profile("chakra", [prefix])
    assert prof.num_gpus == 8 and prof.attrs["collectives"] == 1
    assert validate_ops(prof) == []
    topo = build_topology("ring", 8)
    et = run(prof, topo, FAST).summary["makespan_ns"]
    ref = run(synthesize("allreduce", 8, GiB, algo="ring"), topo, FAST).summary["makespan_ns"]
    assert et == pytest.approx(ref, rel=0.10)


def test_dependencies_become_stream_order_and_local_flags(tmp_path: Path) -> None:
    # comp 1 -> all-gather 2 -> comp 3; comp 4 independent of everything
    nodes = [comp(1, 10), coll(2, CommType.ALL_GATHER, 4096, deps=[1]), comp(3, 20, deps=[2]),
             comp(4, 5)]
    prof = import_profile("chakra", [write_job(tmp_path, "dep", {0: nodes, 1: nodes})])
    ops = prof.ops[0]
    s0, s1 = ops[ops["stream"] == 0], ops[ops["stream"] == 1]
    # compute stream: comp1, signal(comp1 done) to itself, comp4, wait(all-gather done), comp3
    assert list(s0["kind"]) == [OpKind.COMPUTE, OpKind.SIGNAL, OpKind.COMPUTE, OpKind.WAIT, OpKind.COMPUTE]
    assert list(s0["dur_ns"][[0, 2, 4]]) == [10_000.0, 5_000.0, 20_000.0]
    assert s0["peer"][1] == 0  # local flag
    # communication stream: waits for comp1, runs the all-gather, signals its completion
    assert s1["kind"][0] == OpKind.WAIT and s1["flag"][0] == s0["flag"][1]
    assert s1["kind"][-1] == OpKind.SIGNAL and s1["peer"][-1] == 0 and s1["flag"][-1] == s0["flag"][3]
    # all-gather comm_size is each rank's input (ASTRA-sim): each GPU receives the other's 4096 B
    w = s1[s1["kind"] == OpKind.WRITE]
    assert int(w["bytes"].sum()) == 4096 and set(w["peer"]) == {1}
    assert validate_ops(prof) == []
    res = run(prof, build_topology("ring", 2), FAST)
    assert res.summary["makespan_ns"] > 30_000.0  # comp1 + comp3 are on the critical path


def test_send_recv_matched_by_tag_and_groups_by_pg_name(tmp_path: Path) -> None:
    send = EtNode(1, "send", NodeType.COMM_SEND_NODE,
                  attrs={"comm_dst": 1, "comm_tag": 5, "comm_size": 1 << 20})
    recv = EtNode(1, "recv", NodeType.COMM_RECV_NODE,
                  attrs={"comm_src": 0, "comm_tag": 5, "comm_size": 1 << 20})
    job = {0: [send, coll(2, CommType.ALL_REDUCE, 8192, deps=[1], pg="7")],
           1: [recv, coll(2, CommType.ALL_REDUCE, 8192, deps=[1], pg="7")],
           2: [coll(2, CommType.ALL_REDUCE, 8192, pg="8")],
           3: [coll(2, CommType.ALL_REDUCE, 8192, pg="8")]}
    prof = import_profile("chakra", [write_job(tmp_path, "pp", job)])
    p = prof.attrs["parameters"]
    assert p["process_groups"] == {"7": [0, 1], "8": [2, 3]} and p["transfers"] == 1
    w0 = prof.ops[0][prof.ops[0]["kind"] == OpKind.WRITE]
    assert int(w0["bytes"][w0["peer"] == 1].sum()) == (1 << 20) + 8192  # the send + the ring
    assert all(int(prof.ops[g]["peer"].max()) in (2, 3) for g in (2, 3))
    assert validate_ops(prof) == []
    run(prof, build_topology("ring", 4), FAST)  # completes: every wait has its signal


def test_unsupported_nodes_are_reported_by_type_and_count(tmp_path: Path) -> None:
    nodes = [EtNode(1, "load", NodeType.MEM_LOAD_NODE, attrs={"tensor_size": 64}),
             coll(2, CommType.BARRIER, 0), comp(3, 4, deps=[1, 2]),
             EtNode(4, "meta", NodeType.METADATA_NODE)]
    prefix = write_job(tmp_path, "u", {0: nodes, 1: nodes})
    out = tmp_path / "u.h5"
    r = CliRunner().invoke(cli_main, ["profile", "import", "chakra", str(prefix), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "unsupported node types left out: 2 COMM_COLL_NODE BARRIER, 2 MEM_LOAD_NODE" in r.output
    # the directory form finds the same files
    r2 = CliRunner().invoke(cli_main, ["profile", "import", "chakra", str(tmp_path), "-o",
                                       str(tmp_path / "d.h5")])
    assert r2.exit_code == 0, r2.output


@pytest.mark.parametrize("case, needle", [
    ("truncated", "runs past the end of the file"),
    ("garbage", "not a Chakra"),
    ("missing_rank", "ranks [1] of 0..2 have no ET file"),
    ("cycle", "dependency cycle among nodes [1, 2]"),
    ("dangling", "depends on node 99, which is not in the file"),
    ("recv_alone", "has no matching send node"),
    ("sizes", "different comm_size on its ranks"),
    ("no_size", "--default-size allreduce=SIZE"),
])
def test_bad_ets_are_one_line_errors(tmp_path: Path, case: str, needle: str) -> None:
    ok = [coll(1, CommType.ALL_REDUCE, 1024)]
    job: dict[int, list[EtNode]] = {0: ok, 1: ok}
    if case == "missing_rank":
        job = {0: ok, 2: ok}
    elif case == "cycle":
        job = {0: [comp(1, 1, deps=[2]), comp(2, 1, deps=[1])]}
    elif case == "dangling":
        job = {0: [comp(1, 1, deps=[99])]}
    elif case == "recv_alone":
        job = {0: [], 1: [EtNode(1, "r", NodeType.COMM_RECV_NODE,
                                 attrs={"comm_src": 0, "comm_tag": 1, "comm_size": 8})]}
    elif case == "sizes":
        job = {0: ok, 1: [coll(1, CommType.ALL_REDUCE, 2048)]}
    elif case == "no_size":
        job = {0: [EtNode(1, "ar", NodeType.COMM_COLL_NODE, attrs={"comm_type": 0})]}
    prefix = write_job(tmp_path, "bad", job)
    if case == "truncated":
        f = tmp_path / "bad.1.et"
        f.write_bytes(f.read_bytes()[:-3])
    elif case == "garbage":
        (tmp_path / "bad.1.et").write_bytes(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")
    r = CliRunner().invoke(cli_main, ["profile", "import", "chakra", str(prefix), "-o",
                                      str(tmp_path / "o.h5")])
    assert r.exit_code != 0 and needle in r.output, r.output
    assert r.output.count("\n") == 1 and "Traceback" not in r.output
    assert not (tmp_path / "o.h5").exists()
    if case == "no_size":
        prof = import_profile("chakra", [prefix], default_size={"allreduce": 4096})
        assert prof.attrs["parameters"]["bytes_by_collective"] == [4096]


def test_written_ets_round_trip(tmp_path: Path) -> None:
    nodes = [comp(1, 7), coll(2, CommType.ALL_TO_ALL, 1 << 16, deps=[1], pg="3"),
             EtNode(3, "s", NodeType.COMM_SEND_NODE, ctrl_deps=[2],
                    attrs={"comm_dst": 1, "comm_tag": 9, "comm_size": 10, "involved_dim": [True, False]})]
    write_et(tmp_path / "rt.0.et", nodes)
    _, back = read_et(tmp_path / "rt.0.et")
    assert back == nodes
