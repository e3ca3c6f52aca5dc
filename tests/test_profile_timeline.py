"""The fast paths of profile generation give exactly what the plain ones give.

`OpTable.build_all` (records moved whole, packed sort key), `estimate_times_of_gpus` (the C++
kernel, and the numpy 2-D path without it) and `OpTable.sum_bytes` are checked bit for bit
against straightforward references on mixed, irregular inputs.
"""

from __future__ import annotations

import numpy as np
import pytest

import eidola.profile.timeline as timeline
from eidola.profile.schema import OP_DTYPE, OpKind, empty_ops
from eidola.profile.table import OpTable
from eidola.profile.timeline import estimate_times, estimate_times_of_gpus


def _random_gpus(rng: np.random.Generator, sizes: list[int], streams: int) -> tuple[np.ndarray, np.ndarray]:
    """Ops of GPUs of the given sizes, grouped by stream: every kind, up to `streams` streams,
    odd values."""
    ops = empty_ops(sum(sizes))
    ops["kind"] = rng.integers(0, 6, len(ops))
    ops["bytes"] = rng.integers(0, 1 << 22, len(ops))
    dur = rng.exponential(100.0, len(ops))
    dur[rng.random(len(ops)) < 0.05] = -0.0  # a cumsum starting with -0.0 must stay -0.0
    ops["dur_ns"] = dur
    cuts = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=cuts[1:])
    for g in range(len(sizes)):
        ids = np.sort(rng.integers(0, streams, sizes[g]))
        # descending on odd GPUs: a GPU may begin with the stream id the one before ended with
        ops["stream"][cuts[g]:cuts[g + 1]] = ids[::-1] if g % 2 else ids
    return ops, cuts


def _per_gpu(ops: np.ndarray, cuts: np.ndarray, **kw) -> np.ndarray:
    ref = ops.copy()
    for g in range(len(cuts) - 1):
        if cuts[g + 1] > cuts[g]:
            estimate_times(ref[cuts[g]:cuts[g + 1]], **kw)
    return ref


@pytest.mark.parametrize("sizes", [[700] * 9, [300, 0, 1, 700, 700, 0, 2, 5000]])
@pytest.mark.parametrize("streams", [1, 4])
@pytest.mark.parametrize("compiled", [True, False])
def test_estimate_of_many_gpus_equals_one_gpu_at_a_time(monkeypatch, sizes, streams, compiled) -> None:
    rng = np.random.default_rng(len(sizes))
    ops, cuts = _random_gpus(rng, sizes, streams)
    kw = dict(start_ns=12.5, link_gbps=37.0, latency_ns=410.0)
    ref = _per_gpu(ops, cuts, **kw)
    if not compiled:
        monkeypatch.setattr(timeline, "_kernel", lambda: None)
        monkeypatch.setattr("eidola.profile.table.CACHE_ROWS", 2000)  # groups of several GPUs
    got = ops.copy()
    estimate_times_of_gpus(got, cuts, kw["start_ns"], kw["link_gbps"], kw["latency_ns"])
    assert got.tobytes() == ref.tobytes()  # bit for bit, -0.0 and all


def test_compiled_estimate_refuses_bad_offsets() -> None:
    from eidola._engine import estimate_times_of_gpus as kernel

    ops = empty_ops(10)
    with pytest.raises(ValueError, match="cuts"):
        kernel(ops, np.array([0, 11], dtype=np.int64), 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="OP_DTYPE"):
        kernel(np.zeros(10), np.array([0, 10], dtype=np.int64), 0.0, 1.0, 1.0)


def _reference_build(blocks: list[dict], num_gpus: int) -> list[np.ndarray]:
    """One row at a time, sorted by (gpu, stream, seq) with ties in insertion order."""
    rows = []
    for b in blocks:
        shape = np.broadcast_shapes(*(np.shape(v) for v in b.values()))
        cols = {k: np.broadcast_to(np.asarray(v), shape).ravel() for k, v in b.items()}
        for i in range(int(np.prod(shape))):
            rows.append({k: c[i] for k, c in cols.items()})
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["gpu"], rows[i]["stream"], rows[i]["seq"], i))
    out = []
    for g in range(num_gpus):
        mine = [rows[i] for i in order if rows[i]["gpu"] == g]
        ops = empty_ops(len(mine))
        for j, r in enumerate(mine):
            ops[j]["kind"] = r["kind"]
            ops[j]["stream"] = r["stream"]
            ops[j]["bytes"] = r.get("nbytes", 0)
            ops[j]["peer"] = r.get("peer", -1)
            ops[j]["dur_ns"] = r.get("dur_ns", 0.0)
        out.append(ops)
    return out


@pytest.mark.parametrize("big_seq", [False, True])  # True: keys that do not pack (lexsort)
def test_build_moves_whole_records_in_key_order(big_seq) -> None:
    rng = np.random.default_rng(3)
    n = 5
    seq0 = (1 << 25) if big_seq else 0
    blocks = [
        dict(gpu=np.arange(n)[:, None], seq=seq0 + 2 * np.arange(7)[None, :], stream=1,
             kind=int(OpKind.WRITE), nbytes=rng.integers(1, 99, (n, 7)), peer=(np.arange(n)[:, None] + 1) % n),
        dict(gpu=np.arange(n)[:, None], seq=seq0 + 2 * np.arange(7)[None, :] + 1, stream=1,
             kind=int(OpKind.SIGNAL), peer=2),
        dict(gpu=rng.integers(0, n, 40), seq=seq0 + rng.integers(0, 3, 40), stream=rng.integers(0, 3, 40),
             kind=int(OpKind.COMPUTE), dur_ns=rng.random(40)),
        dict(gpu=3, seq=seq0, stream=0, kind=np.array([0, 1, 1]), nbytes=np.array([0, 5, 6])),
    ]
    table = OpTable()
    for b in blocks:
        table.add(**b)
    got = table.build(n)
    ref = _reference_build(blocks, n)
    for g in range(n):
        assert got[g].dtype == OP_DTYPE
        for f in ("kind", "stream", "bytes", "peer", "dur_ns"):
            assert np.array_equal(got[g][f], ref[g][f]), (g, f)
    writes = sum(int(o["bytes"][o["kind"] == OpKind.WRITE].sum()) for o in got)
    assert table.sum_bytes(OpKind.WRITE) == writes > 0
