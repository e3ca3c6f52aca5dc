"""Static checks of a profile: problems a replay would trip over, found before running it.

Why static: a deadlock found by the engine after minutes of simulation, or a peer index out of
range found by the C++ core, is a poor way to learn that an importer or a hand-written CSV was
wrong. These checks read the file in bounded chunks (so they run on tens of millions of ops)
and report one precise line per problem: GPU, stream, op index and what is wrong. Identical
per-op problems on one stream are reported once with a count.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from eidola.errors import EidolaError
from eidola.params import MAX_TIME_NS
from eidola.profile.io import ProfileReader
from eidola.profile.model import Profile
from eidola.profile.collectives import MULTICAST_PEER
from eidola.profile.schema import KIND_NAMES, SIGNAL_KINDS, OpKind

_CHUNK = 1 << 20
#: the largest payload one op may carry: the replay core keeps byte counts below 2^56
MAX_OP_BYTES = 1 << 56


def _strictly_increasing(keys: list[np.ndarray]) -> bool:
    """Whether the rows' key tuples strictly increase (lexicographic, first key primary)."""
    if len(keys[0]) < 2:
        return True
    greater = np.zeros(len(keys[0]) - 1, dtype=bool)
    equal = np.ones(len(keys[0]) - 1, dtype=bool)
    for k in keys:
        later, earlier = k[1:], k[:-1]
        greater |= equal & (later > earlier)
        equal &= later == earlier
    return bool(greater.all())


def _group_reduce(keys: list[np.ndarray], values: np.ndarray, how: str,
                  extra: np.ndarray | None = None):
    """Group rows by the tuple of `keys`; sum or max `values` (max also returns `extra` at it)."""
    if len(values) == 0:
        return [k[:0] for k in keys], values[:0], (None if extra is None else extra[:0])
    if _strictly_increasing(keys):  # every group is one row, already in order (generated
        return keys, values, extra  # profiles: one signal per step and flag): nothing to sort
    if how == "max":
        order = np.lexsort((values, *reversed(keys)))  # last key is primary; values ascending
    else:
        order = np.lexsort(tuple(reversed(keys)))
    ks = [k[order] for k in keys]
    v = values[order]
    change = np.zeros(len(v), dtype=bool)
    change[0] = True
    for k in ks:
        change[1:] |= k[1:] != k[:-1]
    starts = np.flatnonzero(change)
    if how == "sum":
        out = np.add.reduceat(v, starts)
        ex = None
    else:
        ends = np.r_[starts[1:], len(v)] - 1  # last of each group holds the max
        out = v[ends]
        ex = extra[order][ends] if extra is not None else None
        starts = ends
    return [k[starts] for k in ks], out, ex


def _narrow_sig(keys: list[np.ndarray], sums: np.ndarray) -> tuple[np.ndarray, ...]:
    """Signal evidence kept until every GPU is read, in the profile's own widths (iteration
    16 bits, GPU and flag 32): 18 bytes a (gpu, flag) instead of 32, which matters when a run
    checks a 100 M-op profile while the engine loads it."""
    it, gpu, flag = keys
    return it.astype(np.uint16), gpu.astype(np.int32), flag.astype(np.int32), sums


class _Checker:
    """Accumulates evidence chunk by chunk; `problems()` turns it into messages."""

    def __init__(self, num_gpus: int, num_iterations: int):
        self.num_gpus = num_gpus
        self.num_iterations = num_iterations
        self._per_op: dict[tuple[str, int, int], list] = {}  # (check, gpu, stream) -> [first, count, text]
        self._last_t: dict[tuple[int, int, int], float] = {}  # (gpu, stream, iteration) -> last t
        self._sig: list[tuple[np.ndarray, ...]] = []
        self._wait: list[tuple[np.ndarray, ...]] = []

    def _flag_ops(self, check: str, gpu: int, mask: np.ndarray, ops: np.ndarray, base: int,
                  describe) -> None:
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
        n = self.num_gpus
        # Each field once into its own contiguous array: the masks below then run on packed
        # 1-8 byte columns instead of striding through 55-byte records (about 2x faster).
        kind = np.ascontiguousarray(ops["kind"])
        peer = np.ascontiguousarray(ops["peer"])
        flag = np.ascontiguousarray(ops["flag"])
        value = np.ascontiguousarray(ops["value"])
        nbytes = np.ascontiguousarray(ops["bytes"])
        iteration = np.ascontiguousarray(ops["iteration"])
        self._flag_ops("kind", gpu, kind > max(KIND_NAMES), ops, base,
                       lambda o: f"unknown op kind {int(o['kind'])}")
        sig = (kind == OpKind.SIGNAL) | (kind == OpKind.SIGNAL_NBI)
        xfer = (kind == OpKind.WRITE) | (kind == OpKind.READ)
        wait = kind == OpKind.WAIT
        remote = xfer | sig
        multicast = remote & (peer == MULTICAST_PEER)  # NVLS: every GPU through the switch
        bad_peer = remote & ~multicast & ((peer < 0) | (peer >= n))
        self._flag_ops("peer", gpu, bad_peer, ops, base,
                       lambda o: f"{KIND_NAMES[int(o['kind'])]} to peer {int(o['peer'])}, outside "
                                 f"0..{n - 1}")
        self._flag_ops("self", gpu, xfer & (peer == gpu), ops, base,
                       lambda o: f"{KIND_NAMES[int(o['kind'])]} with peer {gpu} == its own GPU "
                                 "(P2P transfers need another GPU; model local work as compute)")
        self._flag_ops("bytes", gpu, xfer & (nbytes == 0), ops, base,
                       lambda o: f"{KIND_NAMES[int(o['kind'])]} of 0 bytes")
        self._flag_ops("big", gpu, xfer & (nbytes >= MAX_OP_BYTES), ops, base,
                       lambda o: f"{KIND_NAMES[int(o['kind'])]} of {int(o['bytes'])} bytes "
                                 "(one op carries less than 2^56)")
        dur = np.ascontiguousarray(ops["dur_ns"])
        t = np.ascontiguousarray(ops["t_ns"])
        with np.errstate(invalid="ignore"):
            self._flag_ops("dur", gpu, ~((dur >= 0) & (dur <= MAX_TIME_NS)),  # NaN fails both
                           ops, base, lambda o: f"dur_ns is {float(o['dur_ns'])} (must be finite, "
                                                f">= 0 and <= {MAX_TIME_NS:g} ns)")
            self._flag_ops("t", gpu, ~(np.abs(t) <= MAX_TIME_NS),
                           ops, base, lambda o: f"t_ns is {float(o['t_ns']):g} (must be finite and "
                                                f"within +-{MAX_TIME_NS:g} ns)")
        self._flag_ops("sigval", gpu, sig & (value < 0), ops, base,
                       lambda o: f"signal adds a negative value {int(o['value'])} (flags only grow)")
        self._flag_ops("flag", gpu, (sig | wait) & (flag < 0), ops, base,
                       lambda o: f"{KIND_NAMES[int(o['kind'])]} on negative flag id {int(o['flag'])}")
        self._flag_ops("iter", gpu, iteration >= self.num_iterations, ops, base,
                       lambda o: f"iteration {int(o['iteration'])} but the profile records only "
                                 f"{self.num_iterations} (num_iterations)")
        self._check_monotone(gpu, ops, base, t, iteration)
        # flag reachability evidence
        counted = sig & (flag >= 0) & (value > 0)
        ok_sig = counted & (peer >= 0) & (peer < n)
        mc_sig = counted & (peer == MULTICAST_PEER)
        if mc_sig.any():  # a multicast signal adds to the flag on every GPU
            idx = np.repeat(np.flatnonzero(mc_sig), n)
            to = np.tile(np.arange(n, dtype=np.int64), int(mc_sig.sum()))
            keys, sums, _ = _group_reduce([iteration[idx].astype(np.int64), to,
                                           flag[idx].astype(np.int64)],
                                          value[idx].astype(np.int64), "sum")
            self._sig.append(_narrow_sig(keys, sums))
        if ok_sig.any():
            keys, sums, _ = _group_reduce([iteration[ok_sig].astype(np.int64), peer[ok_sig].astype(np.int64),
                                           flag[ok_sig].astype(np.int64)],
                                          value[ok_sig].astype(np.int64), "sum")
            self._sig.append(_narrow_sig(keys, sums))
        # a wait's flag lives in its own memory (peer -1) or, for pull-style remote waits, in
        # GPU `peer`'s memory
        bad_home = wait & ((peer < -1) | (peer >= n))
        self._flag_ops("home", gpu, bad_home, ops, base,
                       lambda o: f"wait on the flag of gpu {int(o['peer'])}, outside -1..{n - 1} "
                                 "(-1: its own memory)")
        ok_wait = wait & ~bad_home & (flag >= 0) & (value > 0)
        if ok_wait.any():
            idx = np.flatnonzero(ok_wait)
            it = iteration[idx].astype(np.int64)
            home = np.where(peer[idx] >= 0, peer[idx], gpu).astype(np.int64)
            keys, mx, at = _group_reduce(
                [it, home, ops["stream"][idx].astype(np.int64), flag[idx].astype(np.int64)],
                value[idx].astype(np.int64), "max", extra=(idx + base).astype(np.int64))
            it_, home_, stream_, flag_ = keys
            self._wait.append((it_.astype(np.uint16), home_.astype(np.int32),
                               stream_.astype(np.uint32), flag_.astype(np.int32), mx, at))

    def _check_monotone(self, gpu: int, ops: np.ndarray, base: int, t_ns: np.ndarray,
                        iteration: np.ndarray) -> None:
        if len(ops) == 0:
            return
        key = ops["stream"].astype(np.int64) * 65536 + iteration.astype(np.int64)
        if np.all(key[1:] >= key[:-1]):  # already grouped (streams one after another): no sort
            order = np.arange(len(key))
            k, t = key, t_ns
        else:
            order = np.argsort(key, kind="stable")
            k, t = key[order], t_ns[order]
        same = np.r_[False, k[1:] == k[:-1]]
        with np.errstate(invalid="ignore"):
            back = same & np.r_[False, t[1:] < t[:-1]]
        firsts = np.flatnonzero(~same)
        for i in firsts:
            prev = self._last_t.get((gpu, int(ops["stream"][order[i]]), int(ops["iteration"][order[i]])))
            if prev is not None and t[i] < prev:
                back[i] = True
        lasts = np.r_[firsts[1:], len(k)] - 1
        for i in lasts:
            if np.isfinite(t[i]):
                self._last_t[(gpu, int(ops["stream"][order[i]]), int(ops["iteration"][order[i]]))] = float(t[i])
        mask = np.zeros(len(ops), dtype=bool)
        mask[order[back]] = True
        self._flag_ops("mono", gpu, mask, ops, base,
                       lambda o: f"t_ns {float(o['t_ns'])} is earlier than the previous op's on "
                                 "this stream (recorded start times must not go back in time)")

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
        if not self._wait:
            return []
        # Concatenate in the narrow widths and drop the per-chunk lists: a run checks this
        # while the engine holds every op, so this step's peak adds to the engine's memory.
        w_it, w_gpu, w_stream, w_flag, w_val, w_at = (np.concatenate(c) for c in zip(*self._wait))
        self._wait = []
        if self._sig:
            s_it, s_gpu, s_flag, s_sum = (np.concatenate(c) for c in zip(*self._sig))
        else:
            s_it = s_gpu = s_flag = s_sum = np.zeros(0, dtype=np.int64)
        self._sig = []
        if self.num_gpus <= 1 << 17:
            # (iteration, gpu, flag) packed into one uint64: 16 + 17 + 31 bits (flags here are
            # non-negative int32, iterations uint16)
            def key(it: np.ndarray, gpu: np.ndarray, flag: np.ndarray) -> np.ndarray:
                return ((it.astype(np.uint64) << np.uint64(48)) | (gpu.astype(np.uint64) << np.uint64(31))
                        | flag.astype(np.uint64))
            wkey, skey = key(w_it, w_gpu, w_flag), key(s_it, s_gpu, s_flag)
        else:  # compact the flag ids so (iteration, gpu, flag) fits one int64 key
            flags, inv = np.unique(np.r_[w_flag, s_flag], return_inverse=True)
            nf = max(1, len(flags))
            wkey = (w_it.astype(np.int64) * self.num_gpus + w_gpu) * nf + inv[:len(w_flag)]
            skey = (s_it.astype(np.int64) * self.num_gpus + s_gpu) * nf + inv[len(w_flag):]
        del s_it, s_gpu, s_flag
        if not np.all(skey[1:] >= skey[:-1]):  # GPU by GPU to the next one is often sorted already
            order = np.argsort(skey, kind="stable")
            skey, s_sum = skey[order], s_sum[order]
            del order
        if len(skey) > 1 and not np.all(skey[1:] != skey[:-1]):  # signals to one key add up
            starts = np.flatnonzero(np.r_[True, skey[1:] != skey[:-1]])
            skey, s_sum = skey[starts], np.add.reduceat(s_sum, starts)
        if np.array_equal(wkey, skey):  # one wait per signalled flag, in the same order (rings)
            total = s_sum
        else:
            pos = np.searchsorted(skey, wkey)
            found = (pos < len(skey)) & (skey[np.minimum(pos, max(len(skey) - 1, 0))] == wkey) \
                if len(skey) else np.zeros(len(wkey), dtype=bool)
            total = np.where(found, s_sum[np.minimum(pos, max(len(skey) - 1, 0))] if len(skey) else 0, 0)
        bad = np.flatnonzero(total < w_val)
        out = []
        for i in bad:
            it = f" in iteration {int(w_it[i])}" if self.num_iterations > 1 else ""
            g, s, fl, v = int(w_gpu[i]), int(w_stream[i]), int(w_flag[i]), int(w_val[i])
            have = int(total[i])
            why = (f"signals to gpu {g} flag {fl} add up to only {have}" if have
                   else f"no signal ever targets gpu {g} flag {fl}")
            out.append(((g, s, int(w_at[i]), "wait"),
                        f"gpu {g} stream {s} op {int(w_at[i])}: waits for flag {fl} >= {v}{it}, "
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
