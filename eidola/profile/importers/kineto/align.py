"""Which records of several rank files are the same call, and whether the ranks agree.

Three rules, tried in this order (`mode="auto"`):
- ``seq``: every record carries its process group's sequence number (``Seq``, PyTorch >= 2.2):
  records with the same (kind, group, seq) are one call. Exact.
- ``time``: the files' clocks cover the same window (one job's ranks log wall-clock time). A
  collective's kernels overlap in time on all its ranks, because no rank's kernel can finish
  before every other rank's kernel has started and contributed: records of the same (kind,
  group) whose [start, end] intervals overlap are one call. This also pairs up files from which
  a profiler sampled different events (the shared 128-rank pair).
- ``order``: the k-th record of a (kind, group) on each rank is the same call, as NCCL requires
  every rank of a communicator to issue its collectives in the same order.

A call that only some files recorded is kept (its other ranks are filled from the nearest
recorded rank when the profile is built). Records matched as one call must agree on their size
(except all-to-all, whose per-rank sizes legitimately differ); a disagreement is an error naming
the call's index, kind, sizes and ranks unless `allow_mismatch`.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field

from eidola.errors import EidolaError
from eidola.profile.importers.kineto.calls import Call, RankCalls

ALIGN_MODES = ("auto", "seq", "time", "order")


@dataclass
class Instance:
    """One call of the job: the records of it that the files hold, by recording rank."""

    records: dict[int, Call] = field(default_factory=dict)

    @property
    def first(self) -> Call:
        return self.records[min(self.records)]

    @property
    def kind(self) -> str:
        return self.first.kind

    @property
    def ranks(self) -> tuple[int, ...]:
        return self.first.ranks


@dataclass
class Alignment:
    instances: list[Instance]
    mode: str
    mismatches: list[str]


def _spans_overlap(files: list[RankCalls]) -> bool:
    lo = max(f.first_kernel_us for f in files)
    hi = min(f.last_kernel_end_us for f in files)
    return hi > lo


def _by_seq(files: list[RankCalls]) -> list[Instance]:
    table: dict[tuple, Instance] = {}
    for f in files:
        for c in f.calls:
            key = (c.match_key, c.seq)
            inst = table.setdefault(key, Instance())
            if f.rank in inst.records:
                raise EidolaError(f"{c.kind} with Seq {c.seq} recorded twice on rank {f.rank}",
                                  path=f.path, field="Seq")
            inst.records[f.rank] = c  # type: ignore[index]
    return list(table.values())


def _by_time(files: list[RankCalls]) -> list[Instance]:
    ref = max(files, key=lambda f: (len(f.calls), -(f.rank or 0)))
    instances = [Instance({ref.rank: c}) for c in ref.calls]  # type: ignore[dict-item]
    for f in files:
        if f is ref:
            continue
        # instances by key, sorted by start, for an interval search
        by_key: dict[tuple, list[Instance]] = defaultdict(list)
        for inst in instances:
            by_key[inst.first.match_key].append(inst)
        starts = {k: [i.first.ts_us for i in v] for k, v in by_key.items()}
        for v in by_key.values():
            v.sort(key=lambda i: i.first.ts_us)
        for k in starts:
            starts[k].sort()
        new: list[Instance] = []
        for c in f.calls:
            cands = by_key.get(c.match_key, [])
            hi = bisect.bisect_right(starts.get(c.match_key, []), c.end_us)
            best, best_ov = None, -1.0
            for inst in cands[max(0, hi - 64):hi]:
                if f.rank in inst.records:
                    continue
                other = inst.first
                ov = min(other.end_us, c.end_us) - max(other.ts_us, c.ts_us)
                if ov >= 0 and ov > best_ov:
                    best, best_ov = inst, ov
            if best is None:
                new.append(Instance({f.rank: c}))  # type: ignore[dict-item]
            else:
                best.records[f.rank] = c  # type: ignore[index]
        instances.extend(new)
    return instances


def _by_order(files: list[RankCalls]) -> list[Instance]:
    table: dict[tuple, list[Instance]] = defaultdict(list)
    order: list[Instance] = []
    for f in files:
        count: dict[tuple, int] = defaultdict(int)
        for c in f.calls:
            k = (c.match_key, c.step)
            j = count[k]
            count[k] += 1
            if j < len(table[k]):
                table[k][j].records[f.rank] = c  # type: ignore[index]
            else:
                inst = Instance({f.rank: c})  # type: ignore[dict-item]
                table[k].append(inst)
                order.append(inst)
    return order


def align(files: list[RankCalls], *, mode: str = "auto", allow_mismatch: bool = False) -> Alignment:
    """Group the files' records into calls (see the module docstring)."""
    if mode not in ALIGN_MODES:
        raise EidolaError(f"unknown alignment {mode!r}; choose one of {', '.join(ALIGN_MODES)}",
                          field="align")
    if len(files) == 1:
        f = files[0]
        return Alignment([Instance({f.rank: c}) for c in f.calls], "single file", [])  # type: ignore[dict-item]
    auto = mode == "auto"
    if auto:
        if all(c.seq is not None for f in files for c in f.calls):
            mode = "seq"
        elif _spans_overlap(files):
            mode = "time"
        else:
            mode = "order"
    if mode == "seq":
        instances = _by_seq(files)
    elif mode == "time":
        instances = _by_time(files)
        if auto and _unmatched_share(instances, files) > 0.5 and _same_counts(files):
            # the clocks overlap but the kernels do not pair up (hosts' clocks apart by more
            # than a kernel): every file holds the same calls, so NCCL's order rule is exact
            mode, instances = "order", _by_order(files)
    else:
        instances = _by_order(files)
    instances.sort(key=lambda i: min(c.ts_us for c in i.records.values()))
    mismatches = _check(instances)
    if mismatches and not allow_mismatch:
        more = f" (and {len(mismatches) - 1} more)" if len(mismatches) > 1 else ""
        raise EidolaError(f"the rank files disagree: {mismatches[0]}{more}; pass "
                          "--allow-rank-mismatch to continue (each recorded rank keeps its own "
                          "size)", path=files[0].path)
    return Alignment(instances, mode, mismatches)


def _unmatched_share(instances: list[Instance], files: list[RankCalls]) -> float:
    """Share of the records of the file with fewest calls that matched no other file's."""
    smallest = min(files, key=lambda f: len(f.calls))
    if not smallest.calls:
        return 0.0
    alone = sum(1 for i in instances if len(i.records) == 1 and smallest.rank in i.records)
    return alone / len(smallest.calls)


def _same_counts(files: list[RankCalls]) -> bool:
    """Whether every file recorded the same number of calls of each (kind, group, step)."""
    def counts(f: RankCalls) -> dict:
        out: dict = defaultdict(int)
        for c in f.calls:
            out[(c.match_key, c.step)] += 1
        return dict(out)
    first = counts(files[0])
    return all(counts(f) == first for f in files[1:])


def _check(instances: list[Instance]) -> list[str]:
    out = []
    for idx, inst in enumerate(instances):
        if inst.kind == "alltoall" or len(inst.records) < 2:
            continue
        sizes = {r: c.size for r, c in sorted(inst.records.items())}
        if len(set(sizes.values())) > 1:
            c = inst.first
            step = f", step {c.step}" if c.step is not None else ""
            what = ", ".join(f"rank {r}: {s} B" for r, s in sizes.items())
            out.append(f"collective {idx} ({inst.kind} over {len(inst.ranks)} ranks{step}) "
                       f"moves different sizes: {what}")
    return out
