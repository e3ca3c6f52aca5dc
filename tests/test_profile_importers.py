"""Importers against the shared real Kineto traces, the Iris fixture and CSV tables."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from eidola.errors import EidolaError
from eidola.profile import OpKind, read_profile, validate_ops, write_profile
from eidola.profile.importers import import_profile

DATA = Path(__file__).parent / "data"
TWO_RANK = "kineto/allreduce_broadcast_2rank_rank0.json.gz"
MIXED0 = "kineto/mixed_128rank_rank0.json.gz"
MIXED1 = "kineto/mixed_128rank_rank1.json.gz"


def written(prof) -> int:
    return sum(int(o["bytes"][o["kind"] == OpKind.WRITE].sum()) for o in prof.ops)


# -- Kineto: the real traces ------------------------------------------------------------------

def test_two_rank_trace_gives_2_gpus_and_3_recorded_iterations(shared_traces: Path, tmp_path: Path) -> None:
    prof = import_profile("kineto", [shared_traces / TWO_RANK])
    assert prof.num_gpus == 2
    # ProfilerStep#4..#6, 7 collectives each: every step is its own recorded iteration
    assert prof.num_iterations == 3 and prof.attrs["collectives"] == 7
    p = prof.attrs["parameters"]
    assert [it["step"] for it in p["iterations"]] == [4, 5, 6]
    assert [it["collectives"] for it in p["iterations"]] == [7, 7, 7]
    assert p["collective_counts"] == {"allreduce": 15, "broadcast": 6}
    assert p["size_sources"] == {"kernel args": 21}
    assert prof.attrs["source_files"][0]["name"] == Path(TWO_RANK).name
    assert len(prof.attrs["source_files"][0]["sha256"]) == 64
    assert validate_ops(prof) == []
    # sizes from 'In msg nelems' x dtype
    sizes = p["bytes_by_collective"]
    assert len(sizes) == 21 and 6637568 * 4 in sizes
    # the compute gaps are kept as compute ops, times are monotone per iteration on one stream
    for ops in prof.ops:
        assert set(ops["iteration"]) == {0, 1, 2}
        for it in range(3):
            mine = ops[ops["iteration"] == it]
            assert (mine["kind"] == OpKind.COMPUTE).sum() >= 5
            assert np.all(np.diff(mine["t_ns"]) >= 0)
        assert set(ops["stream"]) == {0}
    # each iteration keeps its own recorded span
    spans = [it["span_ns"] for it in p["iterations"]]
    assert len(set(spans)) == 3 and all(s > 0 for s in spans)
    out = write_profile(prof, tmp_path / "k.h5")
    assert read_profile(out).num_iterations == 3


def test_two_rank_bytes_follow_the_collective_conventions(shared_traces: Path) -> None:
    prof = import_profile("kineto", [shared_traces / TWO_RANK])
    p = prof.attrs["parameters"]
    assert p["algorithms"] == {"allreduce:ring": 15, "broadcast:ring": 6}  # *_RING_LL kernels
    # n = 2: all-reduce writes 2(n-1)S = 2S, broadcast (n-1)S = S
    # (the trace's kernel args tell which collective each size belongs to)
    raw = json.loads(gzip.open(shared_traces / TWO_RANK).read())
    total = 0
    for e in raw["traceEvents"]:
        if e.get("cat") == "kernel" and "nccl" in e.get("name", ""):
            s = e["args"]["In msg nelems"] * {"Float": 4, "Long": 8}[e["args"]["dtype"]]
            total += 2 * s if "AllReduce" in e["name"] else s
    assert written(prof) == total


def test_128_rank_trace_takes_sizes_from_cpu_ops(shared_traces: Path) -> None:
    prof = import_profile("kineto", [shared_traces / MIXED0])
    assert prof.num_gpus == 128
    assert prof.num_iterations == 2  # ProfilerStep#551, #552
    p = prof.attrs["parameters"]
    assert sum(it["collectives"] for it in p["iterations"]) == 10  # the 10 SendRecv kernels
    assert p["collective_counts"] == {"allgather": 2, "allreduce": 4, "alltoall": 4}
    assert set(p["size_sources"]) == {"nccl:all_reduce", "nccl:all_to_all", "nccl:_all_gather_base"}
    # nccl:all_reduce Input Dims [[19618307]] float
    assert 19618307 * 4 in p["bytes_by_collective"]
    # _all_gather_base: c10d gives output 1 GiB for an input of 16 MiB: a group of 64 ranks,
    # played by both halves of the 128-rank job
    assert 1 << 30 in p["bytes_by_collective"] and p["replicated_groups"] == 2
    assert prof.num_ops < 1_000_000


def test_gpus_option_caps_the_expansion(shared_traces: Path) -> None:
    prof = import_profile("kineto", [shared_traces / MIXED0], gpus=8)
    assert prof.num_gpus == 8
    assert validate_ops(prof) == []
    assert {int(p) for o in prof.ops for p in o["peer"][o["peer"] >= 0]} <= set(range(8))


def test_the_shared_128_rank_pair_imports_matched_by_time(shared_traces: Path) -> None:
    prof = import_profile("kineto", [shared_traces / MIXED0, shared_traces / MIXED1])
    p = prof.attrs["parameters"]
    assert p["alignment"] == "time" and p["rank_mismatch_count"] == 0
    assert p["calls_per_rank"] == {"0": 10, "1": 10}
    # 5 calls both files recorded (their kernels overlap in time), 5 + 5 only one of them did
    assert sum(it["collectives"] for it in p["iterations"]) == 15
    assert validate_ops(prof) == []


def test_two_files_of_one_job_merge_with_their_own_gaps(shared_traces: Path, tmp_path: Path) -> None:
    doc = json.loads(gzip.open(shared_traces / TWO_RANK).read())
    doc["distributedInfo"]["rank"] = 1
    colls = sorted((e for e in doc["traceEvents"] if e.get("cat") == "kernel"
                    and "nccl" in e.get("name", "")), key=lambda e: e["ts"])
    for e in colls[1:]:
        e["ts"] += 0.5  # rank 1 reaches its second and later collectives 0.5 us later
    rank1 = tmp_path / "rank1.json"
    rank1.write_text(json.dumps(doc))
    prof = import_profile("kineto", [shared_traces / TWO_RANK, rank1])
    p = prof.attrs["parameters"]
    assert prof.num_gpus == 2 and p["alignment"] == "time" and p["filled_records"] == 0
    assert sum(it["collectives"] for it in p["iterations"]) == 21
    first = [o[(o["kind"] == OpKind.COMPUTE) & (o["iteration"] == 0)]["dur_ns"] for o in prof.ops]
    assert first[1][0] == pytest.approx(first[0][0] + 500.0)
    assert validate_ops(prof) == []
    assert [f["name"] for f in prof.attrs["source_files"]] == [Path(TWO_RANK).name, "rank1.json"]


def test_rank_files_that_disagree_name_the_collective(shared_traces: Path, tmp_path: Path) -> None:
    doc = json.loads(gzip.open(shared_traces / TWO_RANK).read())
    doc["distributedInfo"]["rank"] = 1
    colls = sorted((e for e in doc["traceEvents"] if e.get("cat") == "kernel"
                    and "nccl" in e.get("name", "")), key=lambda e: e["ts"])
    colls[3]["args"]["In msg nelems"] += 1
    rank1 = tmp_path / "rank1.json"
    rank1.write_text(json.dumps(doc))
    with pytest.raises(EidolaError) as err:
        import_profile("kineto", [shared_traces / TWO_RANK, rank1])
    msg = str(err.value)
    assert "collective 3 (" in msg and "rank 0:" in msg and "rank 1:" in msg
    assert "--allow-rank-mismatch" in msg and "\n" not in msg
    prof = import_profile("kineto", [shared_traces / TWO_RANK, rank1], allow_rank_mismatch=True)
    assert prof.attrs["parameters"]["rank_mismatch_count"] == 1


# -- Kineto: hand-made traces for the error paths -----------------------------------------------

def _kernel(name: str, ts: float, args: dict) -> dict:
    return {"ph": "X", "cat": "kernel", "name": name, "pid": 0, "tid": 7, "ts": ts, "dur": 10.0,
            "args": args}


def _trace(tmp_path: Path, events: list, name: str = "t.json", **top) -> Path:
    p = tmp_path / name
    p.write_text(json.dumps({"traceEvents": events, **top}))
    return p


def test_missing_size_names_the_collective_unless_default_size(tmp_path: Path) -> None:
    k = _kernel("ncclKernel_AllReduce_RING_LL_Sum_float(ncclDevComm*, unsigned long, ncclWork*)",
                1000.5, {"External id": 5, "correlation": 9})
    path = _trace(tmp_path, [k], distributedInfo={"rank": 0, "world_size": 4})
    with pytest.raises(EidolaError) as err:
        import_profile("kineto", [path])
    msg = str(err.value)
    assert "ncclKernel_AllReduce_RING_LL_Sum_float" in msg and "ts 1000.500 us" in msg
    assert "In msg nelems" in msg and "--default-size" in msg and "\n" not in msg
    prof = import_profile("kineto", [path], default_size=1 << 20)
    assert prof.num_gpus == 4 and prof.attrs["collectives"] == 1
    assert written(prof) == 2 * 3 * (1 << 20)
    assert prof.attrs["parameters"]["size_sources"] == {"--default-size": 1}


def test_unknown_group_size_needs_gpus(tmp_path: Path) -> None:
    k = _kernel("ncclKernel_AllReduce_RING_LL_Sum_int8_t(x)", 5.0,
                {"In msg nelems": 1024, "Out msg nelems": 1024, "dtype": "Byte"})
    path = _trace(tmp_path, [k])
    with pytest.raises(EidolaError, match="group size unknown.*--gpus N"):
        import_profile("kineto", [path])
    prof = import_profile("kineto", [path], gpus=4)
    assert prof.num_gpus == 4 and written(prof) == 2 * 3 * 1024  # all-reduce: 2(n-1) x S


def test_all_gather_group_size_from_its_output_to_input_ratio(tmp_path: Path) -> None:
    k = _kernel("ncclKernel_AllGather_RING_LL_Sum_int8_t(x)", 5.0,
                {"In msg nelems": 256, "Out msg nelems": 1024, "dtype": "Byte"})
    prof = import_profile("kineto", [_trace(tmp_path, [k])])
    assert prof.num_gpus == 4 and written(prof) == 3 * 1024  # all-gather: (n-1) x output


def test_trace_without_collectives_is_an_error(tmp_path: Path) -> None:
    path = _trace(tmp_path, [_kernel("volta_sgemm_128x64_nn", 0, {}),
                             {"ph": "X", "cat": "user_annotation", "name": "nccl:all_reduce",
                              "ts": 0, "dur": 1, "pid": 1, "tid": 1, "args": {}}])
    with pytest.raises(EidolaError, match="no NCCL/RCCL collective kernels.*1 CPU-side nccl"):
        import_profile("kineto", [path])


@pytest.mark.parametrize("content, needle", [
    (b"", "empty file"), (b"{\"traceEvents\": [", "not valid JSON"), (b"   \n", "empty trace"),
    (b"[1, 2]", "no NCCL"), (b"{\"a\": 1}", "traceEvents"),
])
def test_broken_json_is_a_clear_error(tmp_path: Path, content: bytes, needle: str) -> None:
    p = tmp_path / "bad.json"
    p.write_bytes(content)
    with pytest.raises(EidolaError) as err:
        import_profile("kineto", [p])
    assert needle in str(err.value) and str(p) in str(err.value)


def test_gzip_detected_by_content(tmp_path: Path) -> None:
    k = _kernel("ncclKernel_Broadcast_RING_LL_Sum_int8_t(x)", 0, {
        "Collective name": "broadcast", "In msg nelems": 1000, "Out msg nelems": 1000,
        "dtype": "Float", "Group size": 3, "Process Group Ranks": "[0, 1, 2]"})
    p = tmp_path / "trace.json.gz"
    p.write_bytes(gzip.compress(json.dumps({"traceEvents": [k]}).encode()))
    prof = import_profile("kineto", [p])
    assert prof.num_gpus == 3 and written(prof) == 2 * 4000  # broadcast: (n-1) S


# -- Iris ---------------------------------------------------------------------------------------

def test_iris_fixture_maps_events_to_ops() -> None:
    prof = import_profile("iris", [DATA / "iris_gemm_rs_2rank.json"])
    assert prof.num_gpus == 2 and prof.attrs["importer"] == "iris"
    assert validate_ops(prof) == []
    g0, g1 = prof.ops
    # rank 0: XCC0_CU0 -> stream 0, XCC0_CU1 -> stream 1; ticks are 10 ns from the first event
    s0 = g0[g0["stream"] == 0]
    assert list(s0["kind"]) == [OpKind.COMPUTE, OpKind.WRITE, OpKind.SIGNAL, OpKind.WAIT,
                                OpKind.COMPUTE]
    assert list(s0["t_ns"]) == [100.0, 600.0, 810.0, 820.0, 1130.0]
    assert s0["dur_ns"][0] == 500.0
    w = s0[1]
    assert (w["peer"], w["bytes"], w["addr"]) == (1, 8192, 0x10000)  # offset in the symmetric heap
    sig = s0[2]
    assert (sig["peer"], sig["flag"], sig["value"]) == (1, 0, 1)
    # the wait has no recorded value: both of rank 1's signals had arrived when it ended
    assert (s0[3]["flag"], s0[3]["value"]) == (0, 2)
    assert set(g1["stream"]) == {0, 1, 2}
    w1 = g1[g1["kind"] == OpKind.WAIT]
    assert (w1["flag"][0], w1["value"][0]) == (0, 2)  # taken from args.value
    read = g1[g1["kind"] == OpKind.READ]
    assert len(read) == 1 and (read["peer"][0], read["bytes"][0]) == (0, 4096)
    # the local store, barriers and the instant 'marker' are dropped; wg_fetch (timed) is compute
    dropped = prof.attrs["parameters"]["events_dropped"]
    assert dropped["barriers"] == 2 and dropped["instant_unknown"] == 1
    assert dropped["local_transfers"] == 2
    assert prof.num_ops == 8 + 10


def test_iris_gpus_override_and_errors(tmp_path: Path) -> None:
    prof = import_profile("iris", [DATA / "iris_gemm_rs_2rank.json"], gpus=4)
    assert prof.num_gpus == 4 and len(prof.ops[3]) == 0
    with pytest.raises(EidolaError, match="too small"):
        import_profile("iris", [DATA / "iris_gemm_rs_2rank.json"], gpus=1)
    empty = tmp_path / "e.json"
    empty.write_text(json.dumps({"traceEvents": [{"name": "barrier", "ph": "i", "ts": 1, "pid": 0}]}))
    with pytest.raises(EidolaError, match="no usable Iris events"):
        import_profile("iris", [empty])


# -- CSV ----------------------------------------------------------------------------------------

CSV_OK = """# handshake: GPU 0 computes, writes 4 KiB to GPU 1 and signals; GPU 1 waits
gpu,stream,kind,t_ns,dur_ns,peer,bytes,flag,value,addr
0,0,compute,0,1000,,,,,
0,0,write,1000,,1,4096,,,64
0,0,signal,1100,,1,,0,,
1,0,wait,0,,,,0,1,
1,1,compute,0,500,,,,,
"""


def test_csv_import(tmp_path: Path) -> None:
    p = tmp_path / "ops.csv"
    p.write_text(CSV_OK)
    prof = import_profile("csv", [p])
    assert prof.num_gpus == 2
    g0, g1 = prof.ops
    assert list(g0["kind"]) == [OpKind.COMPUTE, OpKind.WRITE, OpKind.SIGNAL]
    assert (g0["bytes"][1], g0["addr"][1], g0["peer"][1]) == (4096, 64, 1)
    assert g0["value"][2] == 1  # empty signal value means 1
    assert list(g1["stream"]) == [0, 1]
    assert validate_ops(prof) == []


def test_csv_without_times_gets_estimated_times(tmp_path: Path) -> None:
    p = tmp_path / "ops.csv"
    p.write_text("gpu,stream,kind,t_ns,dur_ns,peer,bytes,flag,value\n"
                 "0,0,compute,,100,,,,\n0,0,compute,,50,,,,\n")
    prof = import_profile("csv", [p])
    assert list(prof.ops[0]["t_ns"]) == [0.0, 100.0]


@pytest.mark.parametrize("body, line, column, needle", [
    ("0,0,write,0,,1,,,", 2, "bytes", "empty, but this op kind needs it"),
    ("0,0,teleport,0,,,,,", 2, "kind", "unknown op kind 'teleport'"),
    ("0,0,compute,0,1,,,,\n0,0,compute,zero,1,,,,", 3, "t_ns", "'zero' is not a number"),
    ("0,0,signal,0,,1,,-2,1", 2, "flag", "must be >= 0"),
    ("0,0,compute,0,-5,,,,", 2, "dur_ns", "must be >= 0"),
    ("0,0.5,compute,0,1,,,,", 2, "stream", "not an integer"),
    ("0,0,compute,0,1,,,,\n0,0,compute,,1,,,,", 3, "t_ns", "empty here but given"),
])
def test_csv_errors_name_file_line_and_column(tmp_path: Path, body, line, column, needle) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("gpu,stream,kind,t_ns,dur_ns,peer,bytes,flag,value\n" + body + "\n")
    with pytest.raises(EidolaError) as err:
        import_profile("csv", [p])
    msg = str(err.value)
    assert str(p) in msg and f"field '{column}'" in msg and f"line {line}" in msg and needle in msg


def test_csv_header_problems(tmp_path: Path) -> None:
    p = tmp_path / "h.csv"
    p.write_text("gpu,stream,kind,t_ns,dur_ns,peer,bytes,flag\n0,0,compute,0,1,,,\n")
    with pytest.raises(EidolaError, match="missing column.*value"):
        import_profile("csv", [p])
    p.write_text("gpu,stream,kind,t_ns,dur_ns,peer,bytes,flag,value,colour\n")
    with pytest.raises(EidolaError, match="unknown column 'colour'"):
        import_profile("csv", [p])
    p.write_text("gpu,stream,kind,t_ns,dur_ns,peer,bytes,flag,value\n0,0\n")
    with pytest.raises(EidolaError, match="line 2: 2 cells"):
        import_profile("csv", [p])


def test_unknown_format_and_misplaced_option(tmp_path: Path) -> None:
    p = tmp_path / "ops.csv"
    p.write_text(CSV_OK)
    with pytest.raises(EidolaError, match="field 'format'.*unknown import format 'parquet'"):
        import_profile("parquet", [p])
    with pytest.raises(EidolaError, match="field 'default_size'"):
        import_profile("csv", [p], default_size=10)


@pytest.mark.parametrize("cell, column", [("1e23", "bytes"), ("9223372036854775808", "value")])
def test_csv_integers_beyond_exact_range_are_errors(tmp_path: Path, cell: str, column: str) -> None:
    header = "gpu,stream,kind,peer,flag,value,bytes,t_ns,dur_ns\n"
    body = (f"0,0,write,1,,,{cell if column == 'bytes' else 64},0,0\n0,0,signal,1,0,1,,0,0\n"
            f"1,0,wait,,0,{cell if column == 'value' else 1},,0,0\n")
    p = tmp_path / "t.csv"
    p.write_text(header + body)
    with pytest.raises(EidolaError, match=f"field '{column}'.*beyond 2\\^53"):
        import_profile("csv", [p])
