"""Kineto traces as PyTorch writes them, built by hand: linking, peers, splits, steps, ranks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from eidola.cli import main as cli_main
from eidola.engine import run
from eidola.errors import EidolaError
from eidola.params import RunParams
from eidola.profile import OpKind, validate_ops
from eidola.profile.importers import import_profile
from eidola.topology import build_topology


def _op(name: str, ts: float, dur: float, args: dict, cat: str = "cpu_op", tid: int = 1) -> dict:
    return {"ph": "X", "cat": cat, "name": name, "pid": 100, "tid": tid, "ts": ts, "dur": dur,
            "args": args}


def _launch(ts: float, corr: int, name: str = "cudaLaunchKernel", ext: int = 900, tid: int = 1) -> dict:
    return {"ph": "X", "cat": "cuda_runtime", "name": name, "pid": 100, "tid": tid, "ts": ts,
            "dur": 5.0, "args": {"correlation": corr, "External id": ext}}


def _kernel(name: str, ts: float, dur: float, corr: int, stream: int = 7) -> dict:
    # External id deliberately unrelated to any CPU op: only correlation + nesting link it
    return {"ph": "X", "cat": "kernel", "name": name, "pid": 0, "tid": stream, "ts": ts,
            "dur": dur, "args": {"correlation": corr, "External id": 10_000 + corr}}


def _write(tmp: Path, name: str, events: list, rank: int = 0, world: int = 4) -> Path:
    p = tmp / name
    p.write_text(json.dumps({"distributedInfo": {"rank": rank, "world_size": world},
                             "traceEvents": events}))
    return p


def _bytes_to(prof, src: int) -> dict[int, int]:
    ops = prof.ops[src]
    w = ops[ops["kind"] == OpKind.WRITE]
    return {int(p): int(w["bytes"][w["peer"] == p].sum()) for p in np.unique(w["peer"])}


@pytest.mark.parametrize("launch", ["cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernelEx",
                                    "hipLaunchKernel", "hipExtLaunchKernel", "hipModuleLaunchKernel"])
@pytest.mark.parametrize("kernel", ["ncclKernel_SendRecv_RING_SIMPLE_Sum_int8_t(ncclDevComm*)",
                                    "ncclDevKernel_SendRecv(ncclDevKernelArgsStorage<4096ul>)",
                                    "ncclDevKernel_Generic_4(ncclDevKernelArgsStorage<4096ul>)"])
def test_all_to_all_sized_by_the_annotation_enclosing_the_launch(tmp_path: Path, launch: str,
                                                                 kernel: str) -> None:
    # record_param_comms ⊃ nccl:all_to_all ⊃ launch -> correlation -> SendRecv kernel
    events = [
        _op("record_param_comms", 100.0, 50.0, {
            "Collective name": "all_to_all", "dtype": "Float", "In msg nelems": 1024,
            "Out msg nelems": 1024, "Group size": 4, "In split size": "[100, 200, 300, 424]",
            "Out split size": "[256, 256, 256, 256]", "External id": 1}),
        _op("nccl:all_to_all", 105.0, 40.0, {"External id": 2}, cat="user_annotation"),
        _launch(120.0, 77, launch),
        _kernel(kernel, 200.0, 30.0, 77),
    ]
    prof = import_profile("kineto", [_write(tmp_path, "t.json", events)])
    p = prof.attrs["parameters"]
    assert p["collective_counts"] == {"alltoall": 1}
    assert p["size_sources"] == {"record_param_comms": 1}
    # rank 0 sends its recorded split to each peer (4-byte floats); its own block stays home
    assert _bytes_to(prof, 0) == {1: 800, 2: 1200, 3: 1696}
    # rank 1 (not recorded) sends what rank 0 sends to the peer at the same distance
    assert _bytes_to(prof, 1) == {2: 800, 3: 1200, 0: 1696}
    assert validate_ops(prof) == []


def test_unlinked_kernel_names_why_and_offers_a_per_kind_default(tmp_path: Path) -> None:
    events = [_launch(120.0, 77), _kernel("ncclDevKernel_AllGather_RING_LL(x)", 200.0, 30.0, 77)]
    path = _write(tmp_path, "t.json", events)
    with pytest.raises(EidolaError) as err:
        import_profile("kineto", [path])
    msg = str(err.value)
    assert "ncclDevKernel_AllGather_RING_LL" in msg and "no communication op on the launching " \
        "thread encloses the launch" in msg and "--default-size allgather=SIZE" in msg
    with pytest.raises(EidolaError, match="allgather=SIZE"):
        import_profile("kineto", [path], default_size={"allreduce": 1 << 20})
    prof = import_profile("kineto", [path], default_size={"allgather": 4096})
    assert sum(_bytes_to(prof, g).get((g + 1) % 4, 0) for g in range(4)) == 3 * 4096


def test_send_and_recv_peers_from_the_annotation_and_process_group(tmp_path: Path) -> None:
    # pipeline stage ranks 4 and 5 of an 8-rank job; nccl:send names group-local ranks
    pg = {"Process Group Ranks": "[4, 5]", "Group size": 2}

    def side(coll: str, note: str, t: float, corr: int, kernel_ts: float, dur: float) -> list:
        return [_op("record_param_comms", t, 50.0, {"Collective name": coll, "dtype": "BFloat16",
                                                    "In msg nelems": 2048, "Out msg nelems": 2048,
                                                    **pg}),
                _op(note, t + 10, 30.0, {}, cat="user_annotation"),
                _launch(t + 20, corr),
                _kernel("ncclDevKernel_SendRecv(x)", kernel_ts, dur, corr)]

    send = side("send", "nccl:send 0->1", 100.0, 5, 200.0, 40.0)
    recv = side("recv", "nccl:recv 1<-0", 101.0, 6, 195.0, 50.0)
    f4 = _write(tmp_path, "rank4.json", send, rank=4, world=8)
    f5 = _write(tmp_path, "rank5.json", recv, rank=5, world=8)
    prof = import_profile("kineto", [f4, f5])
    p = prof.attrs["parameters"]
    assert prof.num_gpus == 8 and p["collective_counts"] == {"p2p": 2}
    assert sum(it["collectives"] for it in p["iterations"]) == 1  # send and recv: one transfer
    assert _bytes_to(prof, 4) == {5: 4096}
    assert all(len(prof.ops[g]) == 0 for g in (0, 1, 2, 3, 6, 7))
    waits = prof.ops[5][prof.ops[5]["kind"] == OpKind.WAIT]
    assert len(waits) == 1
    assert validate_ops(prof) == []


def test_profiler_steps_become_recorded_iterations_and_seed_picks_one(tmp_path: Path) -> None:
    events = []
    for step, (t0, gap) in enumerate(((0.0, 10.0), (1000.0, 400.0))):
        events.append(_op(f"ProfilerStep#{7 + step}", t0, 900.0, {}, cat="user_annotation"))
        for j in range(2):  # two all-reduces per step, `gap` us of compute between them
            ts = t0 + 100.0 + j * (50.0 + gap)
            corr = 10 * step + j
            events += [_op("nccl:all_reduce", ts - 20, 10.0, {"Input Dims": [[262144]],
                                                              "Input type": ["float"]},
                           cat="user_annotation"),
                       _launch(ts - 15, corr),
                       _kernel("ncclKernel_AllReduce_RING_LL_Sum_float(x)", ts, 50.0, corr)]
    prof = import_profile("kineto", [_write(tmp_path, "t.json", events, world=2)])
    assert prof.num_iterations == 2
    assert [it["step"] for it in prof.attrs["parameters"]["iterations"]] == [7, 8]
    comp = [prof.ops[0][(prof.ops[0]["kind"] == OpKind.COMPUTE) & (prof.ops[0]["iteration"] == i)]
            for i in (0, 1)]
    assert comp[0]["dur_ns"].sum() == pytest.approx(10_000.0)
    assert comp[1]["dur_ns"].sum() == pytest.approx(400_000.0)
    topo = build_topology("ring", 2)
    spans = [run(prof, topo, RunParams(seed=s, series=False)).summary["makespan_ns"] for s in (0, 1, 2)]
    assert spans[1] - spans[0] > 300_000.0   # seed 1 replays step 8 with its longer gap
    assert spans[2] == spans[0]              # seed 2 = iteration 0 again


def test_unsupported_kinds_are_counted_and_left_out(tmp_path: Path) -> None:
    events = [
        _op("record_param_comms", 100.0, 50.0, {"Collective name": "reduce", "dtype": "Float",
                                                "In msg nelems": 16, "Out msg nelems": 16}),
        _launch(120.0, 1), _kernel("ncclKernel_Reduce_RING_LL_Sum_float(x)", 200.0, 5.0, 1),
        _op("record_param_comms", 300.0, 50.0, {"Collective name": "allreduce", "dtype": "Float",
                                                "In msg nelems": 16, "Out msg nelems": 16}),
        _launch(320.0, 2), _kernel("ncclKernel_AllReduce_RING_LL_Sum_float(x)", 400.0, 5.0, 2),
    ]
    path = _write(tmp_path, "t.json", events)
    out = tmp_path / "t.h5"
    r = CliRunner().invoke(cli_main, ["profile", "import", "kineto", str(path), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "note: left out (not modelled): 1 reduce" in r.output
    assert json.loads(CliRunner().invoke(cli_main, ["profile", "info", str(out), "--json"]).output)[
        "parameters"]["collective_counts"] == {"allreduce": 1}


def test_a_directory_of_rank_files_and_sequence_numbers(tmp_path: Path) -> None:
    d = tmp_path / "job"
    d.mkdir()
    for rank, (t_a, t_b) in enumerate(((100.0, 500.0), (520.0, 90.0))):
        # with Seq recorded, matching ignores time: rank 1 ran the two calls in other windows
        events = []
        for seq, t, size in ((1, t_a, 1024), (2, t_b, 4096)):
            events += [_op("record_param_comms", t - 30, 20.0, {
                "Collective name": "allreduce", "dtype": "Float", "In msg nelems": size,
                "Out msg nelems": size, "Group size": 2, "Seq": seq}),
                _launch(t - 20, seq), _kernel("ncclDevKernel_AllReduce_Sum_f32_RING_LL(x)", t, 5.0, seq)]
        _write(d, f"rank{rank}.json", events, rank=rank, world=2)
    prof = import_profile("kineto", [d])
    p = prof.attrs["parameters"]
    assert p["alignment"] == "seq" and p["filled_records"] == 0
    assert sorted(p["bytes_by_collective"]) == [4096, 16384]
    bad = json.loads((d / "rank1.json").read_text())
    bad["traceEvents"][0]["args"]["In msg nelems"] = 1000
    (d / "rank1.json").write_text(json.dumps(bad))
    with pytest.raises(EidolaError) as err:
        import_profile("kineto", [d])
    msg = str(err.value)
    assert "allreduce over 2 ranks" in msg and "rank 0: 4096 B" in msg and "rank 1: 4000 B" in msg


def test_one_grouped_call_launching_several_kernels_shares_its_size(tmp_path: Path) -> None:
    events = [
        _op("record_param_comms", 100.0, 100.0, {"Collective name": "allreduce_coalesced",
                                                 "dtype": "Float", "In msg nelems": 3000,
                                                 "Out msg nelems": 3000}),
        _launch(120.0, 1), _launch(150.0, 2),
        _kernel("ncclKernel_AllReduce_RING_LL_Sum_float(x)", 300.0, 5.0, 1),
        _kernel("ncclKernel_AllReduce_RING_LL_Sum_float(x)", 310.0, 5.0, 2),
    ]
    prof = import_profile("kineto", [_write(tmp_path, "t.json", events, world=2)])
    assert prof.attrs["parameters"]["bytes_by_collective"] == [6000, 6000]


@pytest.mark.parametrize("top, args, field", [
    ({"rank": 5, "world_size": 2}, {"In msg nelems": 10, "dtype": "Float"}, "distributedInfo.rank"),
    ({"rank": 0, "world_size": 2}, {"In msg nelems": 10, "dtype": "Float",
                                    "Process Group Ranks": "[0, -3]"}, "Process Group Ranks"),
    ({"rank": 0, "world_size": 2}, {"In msg nelems": 2 ** 60, "dtype": "Float"}, "In msg nelems"),
])
def test_impossible_ranks_and_sizes_are_one_line_errors(tmp_path: Path, top: dict, args: dict,
                                                        field: str) -> None:
    k = _kernel("ncclKernel_AllReduce_RING_LL_Sum_float(x)", 1.0, 1.0, 1)
    k["args"].update(args)
    p = tmp_path / "t.json"
    p.write_text(json.dumps({"distributedInfo": top, "traceEvents": [k]}))
    out = tmp_path / "t.h5"
    r = CliRunner().invoke(cli_main, ["profile", "import", "kineto", str(p), "-o", str(out)])
    assert r.exit_code != 0 and f"field '{field}'" in r.output and "Traceback" not in r.output
    assert r.output.count("\n") == 1 and not out.exists()


def test_complete_rank_files_whose_clocks_disagree_are_matched_by_order(tmp_path: Path) -> None:
    # two hosts whose clocks are 40 us apart: the same two all-reduces never overlap in time,
    # but both files hold the same calls, so NCCL's order rule matches them
    files = []
    for rank, shift in ((0, 0.0), (1, 40.0)):
        events = []
        for i, (t, size) in enumerate(((100.0, 1024), (200.0, 4096))):
            events += [_op("record_param_comms", t + shift - 30, 20.0, {
                "Collective name": "allreduce", "dtype": "Float", "In msg nelems": size,
                "Out msg nelems": size, "Group size": 2}),
                _launch(t + shift - 20, i + 1), _kernel("ncclDevKernel_AllReduce_Sum_f32_RING_LL(x)",
                                                         t + shift, 10.0, i + 1)]
        files.append(_write(tmp_path, f"rank{rank}.json", events, rank=rank, world=2))
    prof = import_profile("kineto", files)
    p = prof.attrs["parameters"]
    assert p["alignment"] == "order" and p["filled_records"] == 0
    assert p["bytes_by_collective"] == [4096, 16384]
