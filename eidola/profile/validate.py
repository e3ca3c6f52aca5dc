"""Static checks of a profile: problems a replay would trip over, found before running it.

Why static: a deadlock found by the engine after minutes of simulation, or a peer index out of
range found by the C++ core, is a poor way to learn that an importer or a hand-written CSV was
wrong. These checks read the file in bounded chunks (so they run on tens of millions of ops)
and report one precise line per problem: GPU, stream, op index and what is wrong. Identical
per-op problems on one stream are reported once with a count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from eidola.errors import EidolaError
from eidola.params import MAX_TIME_NS
from eidola.profile.io import ProfileReader
from eidola.profile.model import Profile
from eidola.profile.collectives import MULTICAST_PEER
from eidola.profile.schema import KIND_NAMES, OP_DTYPE

_CHUNK = 1 << 20
#: the largest payload one op may carry: the replay core keeps byte counts below 2^56
MAX_OP_BYTES = 1 << 56


def _op_checks(gpu: int, num_gpus: int, num_iterations: int) -> dict[str, Callable[[np.void], str]]:
    """The message of each per-op check (eidola._engine.OP_CHECKS names the checks), given the
    first op that fails it."""
    n = num_gpus
    return {
        "kind": lambda o: f"unknown op kind {int(o['kind'])}",
        "peer": lambda o: f"{KIND_NAMES[int(o['kind'])]} to peer {int(o['peer'])}, outside 0..{n - 1}",
        "self": lambda o: (f"{KIND_NAMES[int(o['kind'])]} with peer {gpu} == its own GPU "
                           "(P2P transfers need another GPU; model local work as compute)"),
        "bytes": lambda o: f"{KIND_NAMES[int(o['kind'])]} of 0 bytes",
        "big": lambda o: (f"{KIND_NAMES[int(o['kind'])]} of {int(o['bytes'])} bytes "
                          "(one op carries less than 2^56)"),
        "dur": lambda o: (f"dur_ns is {float(o['dur_ns'])} (must be finite, >= 0 and "
                          f"<= {MAX_TIME_NS:g} ns)"),
        "t": lambda o: f"t_ns is {float(o['t_ns']):g} (must be finite and within +-{MAX_TIME_NS:g} ns)",
        "sigval": lambda o: f"signal adds a negative value {int(o['value'])} (flags only grow)",
        "flag": lambda o: f"{KIND_NAMES[int(o['kind'])]} on negative flag id {int(o['flag'])}",
        "iter": lambda o: (f"iteration {int(o['iteration'])} but the profile records only "
                           f"{num_iterations} (num_iterations)"),
        "mono": lambda o: (f"t_ns {float(o['t_ns'])} is earlier than the previous op's on this stream "
                           "(recorded start times must not go back in time)"),
        "home": lambda o: (f"wait on the flag of gpu {int(o['peer'])}, outside -1..{n - 1} "
                           "(-1: its own memory)"),
    }


class _Checker:
    """Checks ops chunk by chunk (eidola._engine.OpsChecker: one pass over each chunk's
    records, flag evidence kept as runs); `problems()` words what it found.

    A chunk of one GPU follows that GPU's earlier chunks (the start-time check continues across
    them); GPUs may come in any order.
    """

    def __init__(self, num_gpus: int, num_iterations: int):
        from eidola import _engine  # the compiled core; imported late so `eidola` imports without it

        self.num_gpus = num_gpus
        self.num_iterations = num_iterations
        self._per_op: dict[tuple[str, int, int], list] = {}  # (check, gpu, stream) -> [first, count, text]
        self._bits: dict[str, int] = dict(_engine.OP_CHECKS)
        self._core = _engine.OpsChecker(num_gpus, num_iterations, MAX_TIME_NS, MAX_OP_BYTES,
                                        MULTICAST_PEER, max(KIND_NAMES))

    def _flag_ops(self, check: str, gpu: int, mask: np.ndarray, ops: np.ndarray, base: int,
                  describe: Callable[[np.void], str]) -> None:
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            return
        streams = ops["stream"][idx]
        for s in np.unique(streams):
            sel = idx[streams == s]
            key = (check, gpu, int(s))
            entry = self._per_op.get(key)
            if entry is None:
                self._per_op[key] = [base + int(sel[0]), len(sel), describe(ops[sel[0]])]
            else:
                entry[1] += len(sel)

    def add(self, gpu: int, ops: np.ndarray, base: int) -> None:
        if ops.dtype != OP_DTYPE:
            ops = ops.astype(OP_DTYPE)
        ops = np.ascontiguousarray(ops)
        bits = self._core.add(gpu, ops, base)
        if bits is None:
            return
        for check, describe in _op_checks(gpu, self.num_gpus, self.num_iterations).items():
            self._flag_ops(check, gpu, (bits & self._bits[check]) != 0, ops, base, describe)

    def problems(self, *, flags: bool = True) -> list[str]:
        """Every problem found so far; `flags=False` leaves out the flag-reachability check,
        which is only meaningful once every GPU's ops have been added."""
        out: list[tuple[tuple, str]] = []
        for (check, gpu, stream), (first, count, text) in self._per_op.items():
            more = f" (and {count - 1} more op(s) like it on this stream)" if count > 1 else ""
            out.append(((gpu, stream, first, check), f"gpu {gpu} stream {stream} op {first}: {text}{more}"))
        if flags:
            out.extend(self._flag_problems())
        out.sort(key=lambda x: x[0])
        return [m for _, m in out]

    @property
    def any_op_problem(self) -> bool:
        return bool(self._per_op)

    def _flag_problems(self) -> list[tuple[tuple, str]]:
        failed = self._core.failed_waits()
        out = []
        for g, s, at, fl, it, v, have in zip(*(failed[k].tolist() for k in
                                               ("gpu", "stream", "op", "flag", "iteration", "need", "have"))):
            when = f" in iteration {it}" if self.num_iterations > 1 else ""
            why = (f"signals to gpu {g} flag {fl} add up to only {have}" if have
                   else f"no signal ever targets gpu {g} flag {fl}")
            out.append(((g, s, at, "wait"),
                        f"gpu {g} stream {s} op {at}: waits for flag {fl} >= {v}{when}, "
                        f"but {why}; the wait can never complete"))
        return out


def variability_problems(variability: dict[str, float]) -> list[str]:
    """Problems of a profile's /variability parameters (the engine draws jitter from them)."""
    out = []
    for key, lo, hi in (("compute_cv", 0.0, 100.0), ("straggler_prob", 0.0, 1.0),
                        ("straggler_slowdown", 0.0, 1e6)):
        if key not in variability:
            continue
        try:
            v = float(variability[key])
        except (TypeError, ValueError):
            out.append(f"variability {key} is {variability[key]!r} (must be a number)")
            continue
        low_ok = v > lo if key == "straggler_slowdown" else v >= lo
        if not (np.isfinite(v) and low_ok and v <= hi):
            rng = f"> {lo:g}" if key == "straggler_slowdown" else f">= {lo:g}"
            out.append(f"variability {key} is {v} (must be finite, {rng} and <= {hi:g})")
    return out


def _check(num_gpus: int, num_iterations: int,
           chunks: Iterable[tuple[int, np.ndarray, int]],
           variability: dict[str, float] | None = None) -> list[str]:
    c = _Checker(num_gpus, num_iterations)
    for gpu, ops, base in chunks:
        c.add(gpu, ops, base)
    return variability_problems(variability or {}) + c.problems()


def _refuse(problems: list[str], path: Path | None) -> None:
    more = f" (and {len(problems) - 1} more; see eidola profile validate)" if len(problems) > 1 else ""
    raise EidolaError(f"the profile cannot be replayed: {problems[0]}{more}", path=path)


class ReplayGate:
    """`check_replayable` for ops that are being handed to the engine GPU by GPU.

    Why: a run used to check a profile file in a pass of its own and then read it again for the
    engine; decompressing and checking twice was a third of a large run's whole command. The
    gate checks each GPU's ops as they go past (`checked`), refuses at the first GPU with an
    op-level problem, and checks flag reachability (which needs every GPU) in `finish`, which
    the feeder calls after the last GPU and before the engine starts simulating.
    """

    def __init__(self, num_gpus: int, num_iterations: int, variability: dict[str, float],
                 path: Path | None = None):
        self._path = path
        problems = variability_problems(variability)
        if problems:
            _refuse(problems, path)
        self._checker = _Checker(num_gpus, num_iterations)

    def checked(self, gpu: int, ops: np.ndarray) -> np.ndarray:
        """`ops` of `gpu`, after checking them (raises EidolaError on a problem)."""
        self._checker.add(gpu, ops, 0)
        if self._checker.any_op_problem:
            _refuse(self._checker.problems(flags=False), self._path)
        return ops

    def finish(self) -> None:
        problems = self._checker.problems()
        if problems:
            _refuse(problems, self._path)


def check_replayable(profile: Profile | str | Path) -> None:
    """Raise EidolaError when `profile` has problems `eidola profile validate` reports.

    Why: `run` and `validate` apply one set of rules, so a profile either replays or is refused
    before any simulation, with the first problem in the message.
    """
    if isinstance(profile, Profile):
        problems, path = validate_ops(profile), None
    else:
        problems, path = validate_profile(profile), Path(profile)
    if problems:
        _refuse(problems, path)


def validate_profile(path: str | Path) -> list[str]:
    """Problems found in the profile file at `path` (empty list: none). Reads in chunks.

    Unreadable files raise EidolaError instead: they are not a profile to check.
    """
    with ProfileReader(path) as r:
        def chunks() -> Iterator[tuple[int, np.ndarray, int]]:
            for g in range(r.num_gpus):
                base = 0
                for ops in r.iter_ops(g, _CHUNK):
                    yield g, ops, base
                    base += len(ops)
        return _check(r.num_gpus, int(r.attrs.get("num_iterations", 1)), chunks(),
                      dict(r.variability))


def validate_ops(profile: Profile) -> list[str]:
    """The same checks on an in-memory profile (generators and tests use this)."""
    return _check(profile.num_gpus, profile.num_iterations,
                  ((g, ops, 0) for g, ops in enumerate(profile.ops)), profile.variability)
