"""Synthetic profiles: exact byte totals (nccl-tests conventions), structure, and validity."""

from __future__ import annotations

import time

import numpy as np
import pytest

from eidola.errors import EidolaError
from eidola.profile import OpKind, validate_ops
from eidola.profile.synth import synthesize

MiB = 1 << 20
S = 64 * MiB


def written(prof) -> int:
    return sum(int(o["bytes"][o["kind"] == OpKind.WRITE].sum()) for o in prof.ops)


def written_by_gpu(prof) -> list[int]:
    return [int(o["bytes"][o["kind"] == OpKind.WRITE].sum()) for o in prof.ops]


@pytest.mark.parametrize("algo", ["ring", "direct"])
def test_8gpu_allreduce_writes_2_7_S(algo) -> None:
    prof = synthesize("allreduce", gpus=8, size_bytes=S, algo=algo)
    assert written(prof) == 2 * 7 * S
    assert written_by_gpu(prof) == [2 * 7 * S // 8] * 8  # each GPU 2(n-1)S/n
    assert validate_ops(prof) == []


@pytest.mark.parametrize("kind, algos", [("reducescatter", ["ring", "direct"]),
                                         ("allgather", ["ring", "direct"]),
                                         ("alltoall", ["direct"]),
                                         ("broadcast", ["ring", "direct"])])
@pytest.mark.parametrize("n", [2, 5, 8])
def test_other_collectives_write_n_minus_1_S(kind, algos, n) -> None:
    for algo in algos:
        for size in (S, S + 3):  # uneven shards too
            prof = synthesize(kind, gpus=n, size_bytes=size, algo=algo)
            assert written(prof) == (n - 1) * size, (kind, algo, n, size)
            assert validate_ops(prof) == []


def test_ring_allreduce_structure() -> None:
    n = 4
    prof = synthesize("allreduce", gpus=n, size_bytes=4 * MiB, algo="ring")
    for g, ops in enumerate(prof.ops):
        k = ops["kind"]
        writes = ops[k == OpKind.WRITE]
        assert len(writes) == 2 * (n - 1)
        assert set(writes["peer"]) == {(g + 1) % n}
        assert set(writes["bytes"]) == {MiB}
        sigs = ops[k == OpKind.SIGNAL]
        assert list(sigs["flag"]) == list(range(2 * (n - 1)))  # one flag per step
        waits = ops[k == OpKind.WAIT]
        # before step s (s >= 1) wait for step s-1's flag; the tail waits for the last step
        assert list(waits["flag"]) == list(range(2 * (n - 1)))
        assert (waits["value"] == 1).all()
        assert np.all(np.diff(ops["t_ns"]) >= 0)  # monotone within the (single) stream
        assert ops[0]["kind"] == OpKind.WRITE and ops[-1]["kind"] == OpKind.WAIT


def test_chunking_splits_each_step_into_slices_with_their_own_signal() -> None:
    prof = synthesize("allreduce", gpus=4, size_bytes=4 * MiB, chunk_bytes=256 * 1024)
    ops = prof.ops[0]
    writes = ops[ops["kind"] == OpKind.WRITE]
    assert len(writes) == 2 * 3 * 4 and set(writes["bytes"]) == {256 * 1024}
    assert (ops["kind"] == OpKind.SIGNAL).sum() == len(writes)
    waits = ops[ops["kind"] == OpKind.WAIT]
    assert waits["value"].max() == 4  # slice j of a step waits for value j+1
    assert written(prof) == 2 * 3 * 4 * MiB


def test_reduce_compute_per_received_slice() -> None:
    prof = synthesize("allreduce", gpus=4, size_bytes=4 * MiB, reduce_ns_per_byte=0.5)
    comp = prof.ops[0][prof.ops[0]["kind"] == OpKind.COMPUTE]
    assert len(comp) == 3  # the n-1 reduce-scatter receptions
    assert np.allclose(comp["dur_ns"], MiB * 0.5)
    none = synthesize("allreduce", gpus=4, size_bytes=4 * MiB)
    assert (none.ops[0]["kind"] == OpKind.COMPUTE).sum() == 0


def test_p2p() -> None:
    prof = synthesize("p2p", gpus=2, size_bytes=MiB)
    k0, k1 = prof.ops[0]["kind"], prof.ops[1]["kind"]
    assert list(k0) == [OpKind.WRITE, OpKind.SIGNAL] and list(k1) == [OpKind.WAIT]
    assert prof.ops[0]["bytes"][0] == MiB and prof.ops[0]["peer"][0] == 1


def test_gemm_rs_tiles_streams_and_owner_waits() -> None:
    n, tile = 8, 256 * 1024
    prof = synthesize("gemm-rs", gpus=n, size_bytes=S, tile_bytes=tile, streams=4,
                      compute_ns_per_tile=1234.0)
    tps = S // n // tile
    assert written(prof) == (n - 1) * S
    for g, ops in enumerate(prof.ops):
        k = ops["kind"]
        assert set(ops["stream"]) == {0, 1, 2, 3}
        assert ((k == OpKind.COMPUTE) & (ops["dur_ns"] == 1234.0)).sum() == n * tps
        w = ops[k == OpKind.WRITE]
        assert g not in set(w["peer"]) and len(w) == (n - 1) * tps
        waits = ops[k == OpKind.WAIT]
        assert len(waits) == tps and (waits["value"] == n - 1).all()
        assert len(set(waits["stream"])) == 4  # concurrent waiters
        for s in range(4):
            t = ops["t_ns"][ops["stream"] == s]
            assert np.all(np.diff(t) >= 0)
    assert validate_ops(prof) == []


def test_gemm_ag_consumes_after_waits() -> None:
    prof = synthesize("gemm-ag", gpus=4, size_bytes=S, streams=2)
    assert written(prof) == 3 * S
    assert validate_ops(prof) == []


def test_every_kind_and_option_mix_validates() -> None:
    for kind, algo, extra in [
        ("p2p", None, {"chunk_bytes": 3 * MiB}), ("allreduce", "ring", {"streams": 3, "chunk_bytes": MiB}),
        ("allreduce", "direct", {"streams": 2, "chunk_bytes": MiB, "reduce_ns_per_byte": 0.01}),
        ("reducescatter", "ring", {"reduce_ns_per_byte": 0.01, "chunk_bytes": 5 * MiB}),
        ("allgather", "direct", {"streams": 7}), ("alltoall", None, {"streams": 3}),
        ("broadcast", "ring", {"chunk_bytes": MiB}), ("gemm-rs", None, {"streams": 3}),
        ("gemm-ag", None, {"tile_bytes": MiB}),
    ]:
        for n in (2, 3, 8):
            for size in (S + 1, 7):
                prof = synthesize(kind, gpus=n, size_bytes=size, algo=algo, **extra)
                assert validate_ops(prof) == [], (kind, algo, extra, n, size)


def test_variability_is_stored_for_one_iteration_and_baked_for_several() -> None:
    one = synthesize("gemm-rs", gpus=4, size_bytes=4 * MiB, jitter=0.2, straggler_prob=0.1,
                     straggler_slowdown=2.0)
    assert one.variability == {"compute_cv": 0.2, "straggler_prob": 0.1, "straggler_slowdown": 2.0}
    comp = one.ops[0][one.ops[0]["kind"] == OpKind.COMPUTE]
    assert np.allclose(comp["dur_ns"][comp["dur_ns"] > 0], 10_000.0)  # nominal, not jittered

    many = synthesize("gemm-rs", gpus=4, size_bytes=4 * MiB, jitter=0.2, iterations=3, seed=5)
    assert many.attrs["num_iterations"] == 3
    assert many.variability["compute_cv"] == 0.0
    ops = many.ops[1]
    assert set(ops["iteration"]) == {0, 1, 2}
    durs = [ops["dur_ns"][(ops["iteration"] == i) & (ops["kind"] == OpKind.COMPUTE)
                          & (ops["dur_ns"] > 0)] for i in range(3)]
    assert not np.allclose(durs[0], durs[1])
    assert abs(np.mean(np.concatenate(durs)) / 10_000.0 - 1) < 0.1
    # iterations follow each other in recorded time, and each is a complete copy
    assert ops["t_ns"][ops["iteration"] == 1].min() >= ops["t_ns"][ops["iteration"] == 0].max()
    assert (ops["iteration"] == 0).sum() == (ops["iteration"] == 2).sum()
    assert validate_ops(many) == []
    again = synthesize("gemm-rs", gpus=4, size_bytes=4 * MiB, jitter=0.2, iterations=3, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(many.ops, again.ops))  # seeded


def test_parameters_record_size_for_bandwidth_reporting() -> None:
    prof = synthesize("allreduce", gpus=8, size_bytes=S)
    p = prof.attrs["parameters"]
    assert p["size_bytes"] == S and p["kind"] == "allreduce" and p["algo"] == "ring"
    assert p["bytes_written_per_iteration"] == 14 * S
    assert prof.attrs["collectives"] == 1 and prof.attrs["importer"] == "synth"


@pytest.mark.parametrize("kwargs, field", [
    ({"kind": "allreducex"}, "kind"), ({"algo": "butterfly"}, "algo"), ({"gpus": 1}, "gpus"),
    ({"size_bytes": 0}, "size"), ({"jitter": -1}, "jitter"), ({"straggler_prob": 2}, "straggler_prob"),
    ({"iterations": 0}, "iterations"), ({"tile_bytes": 4096}, "tile"), ({"chunk_bytes": 0}, "chunk"),
    ({"kind": "alltoall", "algo": "ring"}, "algo"), ({"kind": "gemm-rs", "chunk_bytes": 4096}, "chunk"),
])
def test_bad_options_name_their_field(kwargs, field) -> None:
    args = {"kind": "allreduce", "gpus": 8, "size_bytes": S, **kwargs}
    with pytest.raises(EidolaError) as err:
        synthesize(**args)
    assert f"field '{field}'" in str(err.value)


def test_512_gpu_ring_allreduce_is_fast_and_compact() -> None:
    t0 = time.perf_counter()
    prof = synthesize("allreduce", gpus=512, size_bytes=S, algo="ring")
    elapsed = time.perf_counter() - t0
    assert 1_400_000 < prof.num_ops < 1_700_000
    assert written(prof) == 2 * 511 * S
    assert elapsed < 10.0  # about 1 s on an idle core; generous for loaded CI machines


@pytest.mark.parametrize("kw", [
    dict(kind="allreduce", gpus=8, size_bytes=64 << 20, algo="ring", library="rccl"),
    dict(kind="reducescatter", gpus=5, size_bytes=3 << 20, algo="ring", chunk_bytes=100_000),
    dict(kind="allgather", gpus=8, size_bytes=1 << 20, algo="ring", library="nccl", proto="ll128"),
])
def test_streamed_synthesis_writes_exactly_the_in_memory_profile(tmp_path, monkeypatch, kw) -> None:
    import eidola.profile.synth as synth_mod
    from eidola.profile import read_profile

    monkeypatch.setattr(synth_mod, "STREAM_OPS_PER_SLICE", 50)  # many slices of few GPUs
    ref = synth_mod.synthesize(**kw)
    _, num_ops = synth_mod.write_synthesized(tmp_path / "s.h5", **kw)
    got = read_profile(tmp_path / "s.h5")
    assert num_ops == ref.num_ops == got.num_ops  # counted while writing, not read back
    assert all(np.array_equal(a, b) for a, b in zip(ref.ops, got.ops))
    assert got.attrs["parameters"] == ref.attrs["parameters"]


def test_hierarchical_allreduce_moves_node_and_rail_traffic(tmp_path, monkeypatch) -> None:
    import eidola.profile.synth as synth_mod
    from eidola.profile import read_profile, validate_ops

    n, g, size = 32, 8, 64 << 20
    prof = synth_mod.synthesize("allreduce", n, size, algo="hierarchical", gpus_per_node=g)
    assert validate_ops(prof) == []
    # intra-node reduce-scatter + all-gather: 2(g-1)/g S per GPU; the rail all-reduce of a
    # shard S/g over n/g nodes: 2(n/g-1)/(n/g) S/g per GPU
    per_gpu = 2 * (g - 1) * (size // g) + 2 * (n // g - 1) * (size // g // (n // g))
    assert sum(int(o["bytes"][o["kind"] == OpKind.WRITE].sum()) for o in prof.ops) == n * per_gpu
    peers = {int(p) for p in prof.ops[0]["peer"][prof.ops[0]["kind"] == OpKind.WRITE]}
    assert peers == {1, 8}  # its node ring neighbour and its rail ring neighbour
    monkeypatch.setattr(synth_mod, "STREAM_OPS_PER_SLICE", 100)
    synth_mod.write_synthesized(tmp_path / "h.h5", "allreduce", n, size, algo="hierarchical",
                                gpus_per_node=g)
    got = read_profile(tmp_path / "h.h5")
    assert all(np.array_equal(a, b) for a, b in zip(prof.ops, got.ops))
