"""Aligned calls -> per-GPU op arrays, one recorded iteration per profiler step.

Why expansion rather than replay of the trace: a Kineto trace records kernels, not the P2P
writes inside them. We keep what the trace knows (which collectives ran, sizes, groups, each
rank's kernel start and duration, the compute time between kernels, the CUDA stream) and fill
in the traffic of each collective with the builders the generator uses
(eidola.profile.collectives), squeezed into the recorded kernel window.

Rules:
- Iterations. Each ``ProfilerStep#N`` with collectives becomes a recorded iteration (a call
  belongs to the step whose CPU span holds its kernel launch). A run with seed s replays
  iteration s mod K, with that step's own timings.
- Every rank. A GPU whose rank recorded the call uses its own record; any other member uses the
  record of the nearest recorded rank (by position in the group; ties to the lower one).
- SPMD groups. A call over an arithmetic-progression group (start, stride, n) that covers only
  part of the world is also played by the other groups of the same shape that partition the
  world (tensor-, data- and pipeline-parallel groups all have this shape), unless a recorded
  rank belongs to that group (its own records then speak for it).
- Streams. Each CUDA stream of collective kernels on a rank is its own Eidola stream, so
  concurrent communicators overlap as recorded; the gap before a kernel on its stream is a
  compute op.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from eidola.profile import collectives as coll_ops
from eidola.profile.importers.kineto.align import Alignment, Instance
from eidola.profile.importers.kineto.calls import Call, RankCalls
from eidola.profile.schema import OpKind, empty_ops
from eidola.profile.table import OpTable
from eidola.profile.timeline import estimate_times, fit_into


@dataclass
class Built:
    ops: list[np.ndarray]
    iterations: list[dict]
    filled_records: int
    replicated_groups: int
    collectives_per_iteration: list[int]


def _replicas(group: tuple[int, ...], world: int) -> list[tuple[int, ...]]:
    """The groups of the same arithmetic shape that partition range(world), `group` first."""
    n = len(group)
    if n < 1 or n >= world:
        return [group]
    stride = group[1] - group[0] if n > 1 else 1
    if stride < 1 or any(group[i + 1] - group[i] != stride for i in range(n - 1)):
        return [group]
    span = n * stride
    if world % span:
        return [group]
    out = [group]
    for q in range(world // span):
        for j in range(stride):
            g = tuple(q * span + j + i * stride for i in range(n))
            if g != group:
                out.append(g)
    return out


def _source(inst: Instance, group: tuple[int, ...], orig: tuple[int, ...], pos: int) -> Call:
    """The record that stands for member `pos` of `group` (a replica of `orig`)."""
    g = group[pos]
    if g in inst.records and group == orig:
        return inst.records[g]
    where = {r: orig.index(r) for r in inst.records if r in orig}
    if not where:  # p2p records whose ranks are (src, dst)
        return inst.records[min(inst.records, key=lambda r: (abs(r - g), r))]
    best = min(where, key=lambda r: (abs(where[r] - pos), where[r]))
    return inst.records[best]


def build_ops(files: list[RankCalls], alignment: Alignment, num_gpus: int, world: int,
              gpus_override: bool, common_clock: bool) -> Built:
    origin = {f.rank: f.first_kernel_us for f in files}
    if common_clock:
        o = min(origin.values())
        origin = {r: o for r in origin}
    recorded = {f.rank for f in files}
    world_group = tuple(range(world))

    def gpus_of(ranks: tuple[int, ...]) -> np.ndarray:
        if ranks == world_group:
            return np.arange(num_gpus)
        if gpus_override:
            return np.array(sorted({r % num_gpus for r in ranks}), dtype=np.int64)
        return np.array(ranks, dtype=np.int64)

    steps = sorted({i.first.step for i in alignment.instances if i.first.step is not None})
    it_of = {s: k for k, s in enumerate(steps)}
    per_gpu: list[list[np.ndarray]] = [[] for _ in range(num_gpus)]
    prev_end: dict[tuple[int, int, int], float] = {}
    flag_base: dict[int, int] = defaultdict(int)
    filled = 0
    replicated = 0
    per_iter_count: Counter = Counter()
    span: dict[int, list[float]] = defaultdict(lambda: [np.inf, -np.inf])
    for inst in alignment.instances:
        c0 = inst.first
        it = it_of.get(c0.step, 0) if steps else 0
        per_iter_count[it] += 1
        groups = [c0.ranks] if c0.kind == "p2p" else _replicas(c0.ranks, world)
        for gi, group in enumerate(groups):
            if gi > 0 and recorded & set(group):
                continue
            replicated += gi > 0
            members = gpus_of(group)
            if len(members) < 2 and c0.kind != "p2p":
                continue
            srcs = [_source(inst, group, c0.ranks, min(p, len(group) - 1)) for p in range(len(members))]
            filled += sum(1 for p, s in enumerate(srcs) if s.rank != (group[p] if p < len(group) else -1))
            table = OpTable()
            fb = flag_base[it]
            if c0.kind in ("allreduce", "reducescatter", "allgather"):
                build = coll_ops.ring if c0.algo == "ring" else coll_ops.direct
                used = build(table, members, c0.size, c0.kind, flag_base=fb)
            elif c0.kind == "alltoall":
                used = coll_ops.direct(table, members, _alltoall_sizes(srcs, group), "alltoall",
                                       flag_base=fb)
            elif c0.kind == "broadcast":
                used = coll_ops.broadcast(table, members, c0.size, c0.algo,
                                          root=c0.root % max(1, len(members)), flag_base=fb)
            elif c0.kind == "p2p":
                if members[0] == members[-1]:
                    continue
                used = coll_ops.p2p(table, int(members[0]), int(members[-1]), c0.size, flag_base=fb)
            else:
                used = coll_ops.sendrecv(table, members, c0.size, flag_base=fb)
            flag_base[it] += used
            built = table.build(num_gpus)
            for p, g in enumerate(members):
                g = int(g)
                s = srcs[p]
                start = (s.ts_us - origin[s.rank]) * 1000.0
                dur = s.dur_us * 1000.0
                key = (g, s.stream, it)
                last = prev_end.get(key)
                if last is not None and start > last:
                    comp = empty_ops(1)
                    comp["kind"] = OpKind.COMPUTE
                    comp["t_ns"] = last
                    comp["dur_ns"] = start - last
                    comp["stream"] = s.stream
                    comp["iteration"] = it
                    per_gpu[g].append(comp)
                start = max(start, last) if last is not None else start
                ops = built[g]
                if len(ops):
                    estimate_times(ops)
                    fit_into(ops, start, dur)
                    ops["stream"] = s.stream
                    ops["iteration"] = it
                    per_gpu[g].append(ops)
                prev_end[key] = start + dur
                span[it][0] = min(span[it][0], start)
                span[it][1] = max(span[it][1], start + dur)
    ops_out = []
    for g in range(num_gpus):
        if per_gpu[g]:
            a = np.concatenate(per_gpu[g])
            a = a[np.argsort(a["stream"], kind="stable")]
        else:
            a = empty_ops(0)
        ops_out.append(a)
    n_it = max(1, len(steps))
    iterations = []
    for k in range(n_it):
        lo, hi = span[k]
        iterations.append({"iteration": k, "step": steps[k] if steps else None,
                           "collectives": int(per_iter_count[k]),
                           "span_ns": float(hi - lo) if np.isfinite(lo) else 0.0})
    return Built(ops_out, iterations, filled, replicated,
                 [int(per_iter_count[k]) for k in range(n_it)])


def _alltoall_sizes(srcs: list[Call], group: tuple[int, ...]) -> np.ndarray:
    """Per-rank send totals, or the (n, n) byte matrix when every source records its splits.

    A row borrowed from another rank is rotated so that each rank sends what its stand-in sends
    to the peer at the same distance.
    """
    n = len(srcs)
    if all(s.splits is not None and len(s.splits) == n for s in srcs):
        m = np.zeros((n, n), dtype=np.int64)
        for p, s in enumerate(srcs):
            row = np.asarray(s.splits, dtype=np.int64)
            sp = s.ranks.index(s.rank) if s.rank in s.ranks else p
            m[p] = np.roll(row, p - sp)
        return m
    return np.array([s.size for s in srcs], dtype=np.int64)
