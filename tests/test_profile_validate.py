"""validate_profile: one precise line per problem, none for good profiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eidola.profile import OpKind, Profile, empty_ops, validate_profile, write_profile
from eidola.profile.synth import synthesize


def ops_of(*rows: dict) -> np.ndarray:
    o = empty_ops(len(rows))
    for i, r in enumerate(rows):
        for k, v in r.items():
            o[k][i] = v
    return o


def test_shipped_style_profiles_are_clean(tmp_path: Path) -> None:
    for kind in ("allreduce", "gemm-rs", "p2p"):
        path = write_profile(synthesize(kind, gpus=4, size_bytes=1 << 20), tmp_path / f"{kind}.h5")
        assert validate_profile(path) == []


def test_unreachable_wait_names_gpu_stream_flag_and_value(tmp_path: Path) -> None:
    prof = synthesize("allreduce", gpus=4, size_bytes=1 << 20)
    ops = prof.ops[2]
    last = len(ops) - 1
    assert ops["kind"][last] == OpKind.WAIT
    ops["value"][last] = 5  # only one signal ever reaches this flag
    flag = int(ops["flag"][last])
    problems = validate_profile(write_profile(prof, tmp_path / "broken.h5"))
    assert len(problems) == 1
    msg = problems[0]
    assert msg.startswith(f"gpu 2 stream 0 op {last}: waits for flag {flag} >= 5")
    assert f"signals to gpu 2 flag {flag} add up to only 1" in msg


def test_each_kind_of_problem_is_reported(tmp_path: Path) -> None:
    g0 = ops_of(
        {"kind": OpKind.WRITE, "peer": 7, "bytes": 10, "t_ns": 0},        # peer out of range
        {"kind": OpKind.WRITE, "peer": 0, "bytes": 10, "t_ns": 1},        # write to itself
        {"kind": OpKind.WRITE, "peer": 1, "bytes": 0, "t_ns": 2},         # zero bytes
        {"kind": OpKind.COMPUTE, "dur_ns": -3, "t_ns": 3},                # negative duration
        {"kind": OpKind.SIGNAL, "peer": 1, "flag": 0, "value": -1, "t_ns": 4},  # negative signal
        {"kind": OpKind.COMPUTE, "dur_ns": 1, "t_ns": 2},                 # time goes back
        {"kind": OpKind.WAIT, "flag": 3, "value": 1, "t_ns": 9, "stream": 1},  # nobody signals
    )
    g1 = ops_of({"kind": 9, "t_ns": 0})                                   # unknown kind
    prof = Profile(num_gpus=2, ops=[g0, g1], attrs={"name": "bad"})
    problems = validate_profile(write_profile(prof, tmp_path / "bad.h5"))
    text = "\n".join(problems)
    assert "gpu 0 stream 0 op 0: write to peer 7, outside 0..1" in text
    assert "gpu 0 stream 0 op 1: write with peer 0 == its own GPU" in text
    assert "gpu 0 stream 0 op 2: write of 0 bytes" in text
    assert "gpu 0 stream 0 op 3: dur_ns is -3.0" in text
    assert "gpu 0 stream 0 op 4: signal adds a negative value -1" in text
    assert "gpu 0 stream 0 op 5: t_ns 2.0 is earlier than the previous op's" in text
    assert "gpu 0 stream 1 op 6: waits for flag 3 >= 1, but no signal ever targets gpu 0 flag 3" in text
    assert "gpu 1 stream 0 op 0: unknown op kind 9" in text
    assert len(problems) == 8


def test_repeated_problems_on_a_stream_are_counted_not_repeated(tmp_path: Path) -> None:
    rows = [{"kind": OpKind.WRITE, "peer": 1, "bytes": 0, "t_ns": i} for i in range(1000)]
    prof = Profile(num_gpus=2, ops=[ops_of(*rows), empty_ops(0)], attrs={})
    problems = validate_profile(write_profile(prof, tmp_path / "z.h5"))
    assert problems == ["gpu 0 stream 0 op 0: write of 0 bytes (and 999 more op(s) like it on "
                        "this stream)"]


def test_iterations_are_checked_separately(tmp_path: Path) -> None:
    prof = synthesize("allreduce", gpus=2, size_bytes=4096, iterations=2)
    assert validate_profile(write_profile(prof, tmp_path / "ok.h5")) == []
    ops = prof.ops[0]
    # drop iteration 1's signals on GPU 0: GPU 1's iteration-1 waits become unreachable
    keep = ~((ops["iteration"] == 1) & (ops["kind"] == OpKind.SIGNAL))
    prof.ops[0] = ops[keep]
    problems = validate_profile(write_profile(prof, tmp_path / "bad.h5"))
    assert problems and all("in iteration 1" in p and p.startswith("gpu 1 ") for p in problems)


def test_monotonicity_is_checked_across_read_chunks(tmp_path: Path, monkeypatch) -> None:
    import eidola.profile.validate as v
    monkeypatch.setattr(v, "_CHUNK", 3)
    rows = [{"kind": OpKind.COMPUTE, "dur_ns": 1, "t_ns": t} for t in (0, 1, 2, 1.5, 4, 5)]
    prof = Profile(num_gpus=1, ops=[ops_of(*rows)], attrs={})
    problems = validate_profile(write_profile(prof, tmp_path / "m.h5"))
    assert len(problems) == 1 and problems[0].startswith("gpu 0 stream 0 op 3: t_ns 1.5")


@pytest.mark.parametrize("kind", ["allreduce", "alltoall", "gemm-ag"])
def test_validate_large_profile_in_bounded_chunks(tmp_path: Path, kind: str, monkeypatch) -> None:
    import eidola.profile.validate as v
    monkeypatch.setattr(v, "_CHUNK", 1000)
    prof = synthesize(kind, gpus=16, size_bytes=64 << 20)
    assert validate_profile(write_profile(prof, tmp_path / "l.h5")) == []


# -- one set of rules: what validate reports, run refuses before simulating ----------------------

def _pair() -> list:
    import numpy as np  # noqa: F401  (local: keeps this block self-contained)
    from eidola.profile.schema import OpKind, empty_ops

    a = empty_ops(2)
    a["kind"] = [OpKind.WRITE, OpKind.SIGNAL]
    a["peer"] = 1
    a["bytes"][0] = 4096
    a["flag"][1], a["value"][1] = 0, 1
    b = empty_ops(1)
    b["kind"], b["flag"], b["value"] = OpKind.WAIT, 0, 1
    return [a, b]


@pytest.mark.parametrize("change, needle", [
    (lambda o, v: o[0]["bytes"].__setitem__(0, 1 << 57), "(one op carries less than 2^56)"),
    (lambda o, v: o[0]["dur_ns"].__setitem__(0, 1e18), "dur_ns is 1e+18"),
    (lambda o, v: o[0]["t_ns"].__setitem__(0, -1e15), "t_ns is -1e+15"),
    (lambda o, v: o[0]["peer"].__setitem__(0, 5), "write to peer 5, outside 0..1"),
    (lambda o, v: o[0]["peer"].__setitem__(0, 0), "== its own GPU"),
    (lambda o, v: o[0]["bytes"].__setitem__(0, 0), "write of 0 bytes"),
    (lambda o, v: v.update(straggler_slowdown=-3.0), "variability straggler_slowdown is -3.0"),
    (lambda o, v: v.update(straggler_slowdown=float("inf")), "variability straggler_slowdown is inf"),
    (lambda o, v: v.update(compute_cv=float("nan")), "variability compute_cv is nan"),
    (lambda o, v: v.update(straggler_prob=1.5), "variability straggler_prob is 1.5"),
])
def test_run_refuses_what_validate_reports(tmp_path, change, needle) -> None:
    from eidola.engine import run
    from eidola.errors import EidolaError
    from eidola.params import RunParams
    from eidola.profile import Profile, validate_profile, write_profile
    from eidola.topology import build_topology

    ops, var = _pair(), {}
    change(ops, var)
    path = write_profile(Profile(num_gpus=2, ops=ops, attrs={"name": "bad"}, variability=var),
                         tmp_path / "bad.h5")
    problems = validate_profile(path)
    assert any(needle in p for p in problems), problems
    # the 8-GPU topology would have a GPU 5: the profile's own GPU count is what counts
    with pytest.raises(EidolaError, match="cannot be replayed") as err:
        run(path, build_topology("mi300x"), RunParams(series=False))
    assert needle in str(err.value) or len(problems) > 1


@pytest.mark.parametrize("num_gpus", [4, (1 << 17) + 1])  # packed keys, and the wide fallback
def test_flag_reachability_sums_signals_per_gpu_and_flag(num_gpus: int) -> None:
    from eidola.profile.schema import OpKind, empty_ops
    from eidola.profile.validate import _Checker

    waiter = empty_ops(2)
    waiter["kind"] = OpKind.WAIT
    waiter["peer"] = -1
    waiter["flag"] = [5, 6]
    waiter["value"] = [2, 1]
    signaller = empty_ops(2)
    signaller["kind"] = OpKind.SIGNAL
    signaller["peer"] = 0
    signaller["flag"] = 5
    signaller["value"] = 1
    c = _Checker(num_gpus, 1)
    c.add(0, waiter, 0)
    c.add(1, signaller[:1], 0)
    problems = c.problems()
    assert any("flag 5 >= 2" in p and "add up to only 1" in p for p in problems)
    assert any("flag 6" in p and "no signal ever targets gpu 0 flag 6" in p for p in problems)
    c = _Checker(num_gpus, 1)
    c.add(0, waiter[:1], 0)
    c.add(1, signaller, 0)  # two signals of 1 reach the awaited 2
    assert c.problems() == []


def _unreachable_waits_by_brute_force(num_gpus: int, ops: list[np.ndarray]) -> set[tuple[int, int, int, int]]:
    """(home, stream, op, flag) of each wait no signals satisfy, one op at a time in Python:
    of the waits of one GPU on one (iteration, home, stream, flag), the highest threshold,
    the latest of equal ones."""
    sums: dict[tuple[int, int, int], int] = {}
    for o in ops:
        for r in o:
            if r["kind"] in (OpKind.SIGNAL, OpKind.SIGNAL_NBI) and r["flag"] >= 0 and r["value"] > 0:
                homes = range(num_gpus) if r["peer"] == -2 else [int(r["peer"])] if 0 <= r["peer"] < num_gpus else []
                for h in homes:
                    key = (int(r["iteration"]), h, int(r["flag"]))
                    sums[key] = sums.get(key, 0) + int(r["value"])
    worst: dict[tuple, tuple[int, int]] = {}  # group -> (threshold, op)
    for g, o in enumerate(ops):
        for i, r in enumerate(o):
            if r["kind"] == OpKind.WAIT and -1 <= r["peer"] < num_gpus and r["flag"] >= 0 and r["value"] > 0:
                home = int(r["peer"]) if r["peer"] >= 0 else g
                group = (g, int(r["iteration"]), home, int(r["stream"]), int(r["flag"]))
                if group not in worst or int(r["value"]) >= worst[group][0]:
                    worst[group] = (int(r["value"]), i)
    return {(home, stream, op, flag) for (g, it, home, stream, flag), (need, op) in worst.items()
            if sums.get((it, home, flag), 0) < need}


@pytest.mark.parametrize("seed", range(6))
def test_flag_check_matches_a_brute_force_count(seed: int) -> None:
    """The checker keeps signals and waits as runs of consecutive flags: random schedules with
    runs, gaps, repeats, multicast and remote waits must settle like a plain count."""
    from eidola.profile.validate import _Checker

    rng = np.random.default_rng(seed)
    num_gpus = 5
    ops = []
    for g in range(num_gpus):
        n = 300
        o = empty_ops(n)
        o["kind"] = rng.choice([OpKind.SIGNAL, OpKind.SIGNAL_NBI, OpKind.WAIT, OpKind.COMPUTE], n)
        # mostly runs of consecutive flags, now and then a jump back or a repeat
        o["flag"] = np.cumsum(rng.choice([1, 1, 1, 0, -3], n)) % 40
        o["value"] = rng.choice([1, 1, 1, 2, 0], n)
        o["peer"] = np.where(o["kind"] == OpKind.WAIT, rng.choice([-1, -1, -1, 0, 3], n),
                             rng.choice([(g + 1) % num_gpus, (g + 2) % num_gpus, -2], n))
        o["stream"] = rng.choice([0, 0, 1], n)
        o["iteration"] = rng.choice([0, 0, 0, 1], n)
        o["t_ns"] = 0.0
        ops.append(o)
    c = _Checker(num_gpus, 2)
    for g, o in enumerate(ops):
        c.add(g, o, 0)
    failed = c._core.failed_waits()
    got = set(zip(failed["gpu"].tolist(), failed["stream"].tolist(), failed["op"].tolist(), failed["flag"].tolist()))
    expected = _unreachable_waits_by_brute_force(num_gpus, ops)
    assert expected, "the random schedule should leave some waits unsatisfied"
    assert got == expected
