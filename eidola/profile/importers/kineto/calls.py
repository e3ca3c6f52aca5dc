"""From a collective kernel to the call it ran: kind, group, size, peers, step.

Linking (how PyTorch writes it). A kernel's description is looked for in this order, the first
source that names a thing winning for that thing:
1. the kernel's own args (PyTorch >= 2.1 copies ``Collective name``, ``In msg nelems``, ...
   onto NCCL kernels);
2. CPU ops sharing the kernel's ``External id``;
3. the launch with the kernel's ``correlation`` (cudaLaunchKernel, cudaLaunchKernelExC,
   cuLaunchKernel, hipLaunchKernel, hipExtLaunchKernel, ...), then CPU ops sharing the launch's
   ``External id``;
4. communication annotations on the launching thread whose span contains the launch, innermost
   first (``nccl:all_to_all`` ⊃ ``cudaLaunchKernel`` → correlation → ``ncclKernel_SendRecv``).

Sizes follow nccl-tests (see eidola.profile.collectives): all-gather counts its output,
reduce-scatter its input, all-to-all the bytes one rank sends. Element counts come from
``In/Out msg nelems`` × ``dtype`` (record_param_comms), else ``Input Dims`` × ``Input type``;
``c10d::_allgather_base_``, ``_reduce_scatter_base_``, ``alltoall_base_`` and the
``*_coalesced_`` ops list (output, input) in that order, every other op its input first.
"""

from __future__ import annotations

import bisect
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eidola.errors import EidolaError
from eidola.profile.importers.kineto.reader import CommOp, Kernel, RawTrace, num

#: bytes per element of the dtype spellings found in kernel args and CPU-op "Input type"
DTYPE_BYTES: dict[str, int] = {
    "float": 4, "float32": 4, "half": 2, "float16": 2, "bfloat16": 2, "c10::half": 2,
    "c10::bfloat16": 2, "double": 8, "float64": 8, "int": 4, "int32": 4, "long": 8,
    "int64": 8, "long int": 8, "short": 2, "int16": 2, "byte": 1, "uint8": 1,
    "unsigned char": 1, "char": 1, "int8": 1, "signed char": 1, "bool": 1, "uint16": 2,
    "uint32": 4, "unsigned int": 4, "uint64": 8, "complexfloat": 8, "complexhalf": 4,
    "complexdouble": 16, "float8_e4m3fn": 1, "float8_e5m2": 1, "float8_e4m3fnuz": 1,
    "float8_e5m2fnuz": 1, "c10::float8_e4m3fn": 1, "c10::float8_e5m2": 1,
}
#: kinds the importer turns into traffic ("p2p": a send or a recv with a known peer)
SUPPORTED = ("allreduce", "reducescatter", "allgather", "alltoall", "broadcast", "sendrecv", "p2p")
#: kinds recognised but not modelled: counted and left out, stated in provenance
UNSUPPORTED = ("reduce", "gather", "scatter")

_KERNEL_RE = re.compile(r"(?:nccl|rccl|msccl)(?:Dev)?Kernel_([A-Za-z]+)", re.IGNORECASE)
_SEND_RE = re.compile(r"^(?:nccl|rccl):send\s+(\d+)\s*->\s*(\d+)")
_RECV_RE = re.compile(r"^(?:nccl|rccl):recv\s+(\d+)\s*<-\s*(\d+)")
#: c10d ops whose first two tensors are (output, input)
_OUT_IN_OPS = ("c10d::_allgather_base_", "c10d::_reduce_scatter_base_", "c10d::alltoall_base_",
               "c10d::allgather_into_tensor_coalesced_", "c10d::reduce_scatter_tensor_coalesced_")
#: the largest size an op can carry (the replay core's limit on an op's bytes)
MAX_BYTES = 1 << 56
#: how many enclosing annotations to consider above a launch (c10d ⊃ record_param_comms ⊃ nccl:*)
_MAX_NESTING = 8


def norm_kind(text: str) -> str | None:
    """'all_reduce', '_all_gather_base', 'AllReduce', 'send', 'alltoallv' -> canonical kind."""
    k = re.sub(r"[^a-z]", "", text.lower())
    for prefix, kind in (("allreduce", "allreduce"), ("reducescatter", "reducescatter"),
                         ("allgather", "allgather"), ("alltoall", "alltoall"),
                         ("broadcast", "broadcast"), ("sendrecv", "sendrecv"),
                         ("barrier", "allreduce")):
        if k.startswith(prefix):
            return kind
    if k in ("send", "recv", "isend", "irecv"):
        return "p2p"
    for prefix in UNSUPPORTED:
        if k.startswith(prefix):
            return prefix
    return None


def dtype_bytes(name: Any) -> int | None:
    if not isinstance(name, str):
        return None
    return DTYPE_BYTES.get(name.strip().lower())


def parse_int_list(value: Any) -> list[int] | None:
    """[1, 2] or "[1, 2]" -> [1, 2]; anything else None."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                       and float(x).is_integer() for x in value):
        return [int(x) for x in value]
    return None


@dataclass
class Call:
    """One collective (or one send/recv) as one rank recorded it. Times in microseconds."""

    kind: str
    ranks: tuple[int, ...]        # global ranks of the group; p2p: (src, dst)
    size: int                     # bytes, nccl-tests convention; p2p: bytes moved
    rank: int                     # the recording rank
    ts_us: float
    dur_us: float
    stream: int                   # the file's collective stream, numbered from 0
    step: int | None              # ProfilerStep number, None when the trace has no steps
    kernel: str
    size_source: str
    algo: str = "ring"
    proto: str | None = None
    splits: tuple[int, ...] | None = None   # alltoall: bytes this rank sends to each member
    root: int = 0                 # broadcast: index of the root in `ranks`
    seq: int | None = None        # the process group's sequence number ("Seq"), if recorded
    pg: str | None = None         # process group name, if recorded

    @property
    def end_us(self) -> float:
        return self.ts_us + self.dur_us

    @property
    def match_key(self) -> tuple:
        """What two ranks' records of the same call share."""
        return (self.kind, self.ranks)


@dataclass
class Evidence:
    source: str
    name: str
    args: dict[str, Any]
    op_index: int = -1            # the op's position in the file (-1: the kernel itself)


@dataclass
class RankCalls:
    """The calls one file recorded, with what the file says about the job."""

    path: Path
    rank: int | None
    world: int | None
    calls: list[Call]
    skipped: Counter
    first_kernel_us: float
    last_kernel_end_us: float
    steps: list[int]
    num_streams: int


class _Linker:
    def __init__(self, raw: RawTrace):
        self.raw = raw
        self.by_ext: dict[int, list[CommOp]] = defaultdict(list)
        self.by_thread: dict[int, list[CommOp]] = defaultdict(list)
        for op in raw.comm_ops:
            ext = op.args.get("External id")
            if isinstance(ext, int):
                self.by_ext[ext].append(op)
            self.by_thread[op.thread].append(op)
        self.starts = {t: [o.ts_us for o in ops] for t, ops in self.by_thread.items()}

    def evidence(self, k: Kernel) -> tuple[list[Evidence], str, float | None]:
        """Evidence for `k`, a sentence on how it was linked, and its launch time (us)."""
        out = [Evidence("kernel args", k.name, k.args)]
        seen: set[int] = set()
        how: list[str] = []

        def add(op: CommOp, source: str) -> None:
            if op.index not in seen:
                seen.add(op.index)
                out.append(Evidence(source, op.name, op.args, op.index))

        ext = k.args.get("External id")
        if isinstance(ext, int):
            for op in self.by_ext.get(ext, ()):
                add(op, f"{op.name} (External id {ext})")
            if ext not in self.by_ext:
                how.append(f"its External id {ext} matches no communication op")
        launch = self.raw.launch_of(k.args.get("correlation"))
        launch_ts = None
        if launch is None:
            how.append(f"no kernel launch has its correlation {k.args.get('correlation')}")
        else:
            launch_ts, thread, lext = launch
            if lext is not None:
                for op in self.by_ext.get(lext, ()):
                    add(op, f"{op.name} (External id {lext} of the launch)")
            ops = self.by_thread.get(thread, [])
            hi = bisect.bisect_right(self.starts.get(thread, []), launch_ts)
            enclosing = [o for o in ops[max(0, hi - 64):hi] if o.end_us >= launch_ts]
            for op in sorted(enclosing, key=lambda o: -o.ts_us)[:_MAX_NESTING]:
                add(op, f"{op.name} (enclosing the launch at {launch_ts:.3f} us)")
            if not enclosing:
                how.append(f"no communication op on the launching thread encloses the launch at "
                           f"{launch_ts:.3f} us")
        return out, "; ".join(how), launch_ts


def _in_out_bytes(ev: Evidence) -> tuple[int | None, int | None, tuple[int, ...] | None]:
    """(input bytes, output bytes, per-peer input split bytes) one evidence gives."""
    a = ev.args
    in_b = out_b = None
    splits = None
    dt = dtype_bytes(a.get("dtype"))
    if dt:
        i, o = num(a.get("In msg nelems")), num(a.get("Out msg nelems"))
        in_b = int(i) * dt if i is not None and i > 0 else None
        out_b = int(o) * dt if o is not None and o > 0 else None
        sp = parse_int_list(a.get("In split size"))
        if sp:
            splits = tuple(int(x) * dt for x in sp)
    dims, types = a.get("Input Dims"), a.get("Input type")
    if (in_b is None or out_b is None) and isinstance(dims, list) and isinstance(types, list):
        sizes: list[int | None] = []
        for d, t in zip(dims, types):
            b = dtype_bytes(t)
            if (b is not None and isinstance(d, list) and d
                    and all(isinstance(x, (int, float)) and x >= 0 for x in d)):
                sizes.append(int(np.prod([int(x) for x in d], dtype=np.int64)) * b)
            elif isinstance(t, str) and t in ("TensorList", "GenericList"):
                sizes.append(None)
        tensors = [s for s in sizes if s is not None]
        if ev.name in _OUT_IN_OPS and len(sizes) >= 2:
            out_b = out_b or sizes[0] or None
            in_b = in_b or sizes[1] or None
        elif ev.name.startswith(("nccl:", "rccl:", "record_param_comms")) and tensors:
            in_b = in_b or tensors[0] or None
        elif tensors and in_b is None:
            in_b = sum(tensors) or None
    return in_b, out_b, splits


def _group_of(ev: list[Evidence], pg_ranks: dict[str, tuple[int, ...]]
              ) -> tuple[tuple[int, ...] | None, int | None, str | None]:
    """(explicit group ranks or None, group size or None, process group name or None)."""
    ranks = size = pg = None
    for e in ev:
        a = e.args
        if pg is None and a.get("Process Group Name") is not None:
            pg = str(a.get("Process Group Name"))
        if ranks is None:
            ranks = parse_int_list(a.get("Process Group Ranks"))
            ranks = tuple(ranks) if ranks else None
        if ranks is None and pg is not None and pg in pg_ranks:
            ranks = pg_ranks[pg]
        if size is None and isinstance(a.get("Group size"), int) and a["Group size"] > 0:
            size = int(a["Group size"])
        if ranks is None and size:
            start, stride = a.get("Global rank start"), a.get("Global rank stride")
            if isinstance(start, int) and isinstance(stride, int) and start >= 0 and stride >= 1:
                ranks = tuple(start + i * stride for i in range(size))
    return ranks, size, pg


def _contiguous(rank: int | None, n: int) -> tuple[int, ...]:
    start = ((rank or 0) // n) * n
    return tuple(range(start, start + n))


def _kind_of(k: Kernel, ev: list[Evidence]) -> tuple[str | None, str]:
    """(kind, what named it)."""
    for e in ev:
        cn = e.args.get("Collective name")
        if isinstance(cn, str) and norm_kind(cn):
            return norm_kind(cn), e.source
        if e.name.startswith(("nccl:", "rccl:")) and norm_kind(e.name[5:].split()[0] if e.name[5:].split() else ""):
            return norm_kind(e.name[5:].split()[0]), e.source
        if e.name.startswith("c10d::") and norm_kind(e.name[6:]):
            return norm_kind(e.name[6:]), e.source
    m = _KERNEL_RE.search(k.name)
    kind = norm_kind(m.group(1)) if m else None
    return kind, "the kernel name"


def _p2p_peers(ev: list[Evidence]) -> tuple[int, int] | None:
    """(src, dst) in group-local ranks, from 'nccl:send a->b', 'Src/Dst Rank' or 'Rank'."""
    for e in ev:
        m = _SEND_RE.match(e.name)
        if m:
            return int(m.group(1)), int(m.group(2))
        m = _RECV_RE.match(e.name)
        if m:
            return int(m.group(2)), int(m.group(1))
    for e in ev:
        a = e.args
        src, dst = a.get("Src Rank"), a.get("Dst Rank")
        if isinstance(src, int) and isinstance(dst, int) and src >= 0 and dst >= 0:
            return src, dst
    return None


def _short(name: str) -> str:
    return name.split("(")[0]


def describe_file(raw: RawTrace, *, default_sizes: dict[str, int], world_override: int | None
                  ) -> RankCalls:
    """Every collective kernel of one file as a Call (see the module docstring)."""
    path = raw.path
    dist = raw.distributed
    rank = dist.get("rank") if isinstance(dist.get("rank"), int) else None
    traced_world = dist.get("world_size") if isinstance(dist.get("world_size"), int) else None
    world = traced_world or world_override
    if rank is not None and (rank < 0 or (traced_world is not None and rank >= traced_world)):
        raise EidolaError(f"rank {rank} is outside 0..{(traced_world or 1) - 1} (world_size "
                          f"{traced_world})",
                          path=path, field="distributedInfo.rank")
    pg_ranks: dict[str, tuple[int, ...]] = {}
    for pg in dist.get("pg_config") or []:
        if isinstance(pg, dict):
            r = parse_int_list(pg.get("ranks"))
            if r:
                pg_ranks[str(pg.get("pg_name"))] = tuple(r)
    if not raw.kernels:
        cpu = sum(1 for o in raw.comm_ops if o.name.startswith(("nccl:", "rccl:")))
        hint = (f"; it has {cpu} CPU-side nccl:* ops, but GPU kernels are needed for timing "
                "(record with CUDA/HIP activity enabled)") if cpu else ""
        raise EidolaError(f"no NCCL/RCCL collective kernels (events with cat 'kernel' and nccl "
                          f"in the name){hint}", path=path)
    linker = _Linker(raw)
    streams: dict[tuple, int] = {}
    step_starts = [s.ts_us for s in raw.steps]
    calls: list[Call] = []
    sizing_op: list[int] = []
    skipped: Counter = Counter()
    for k in raw.kernels:
        ev, how, launch_ts = linker.evidence(k)
        where = f"event {k.index} (collective kernel {_short(k.name)} at ts {k.ts_us:.3f} us)"
        kind, kind_src = _kind_of(k, ev)
        if kind is None:
            raise EidolaError(f"{where}: cannot tell which collective it is: no 'Collective name' "
                              "arg, no linked nccl:*/c10d:: op"
                              f"{' (' + how + ')' if how else ''}, and the kernel name names none "
                              f"of {', '.join(SUPPORTED[:-1])}", path=path, field="name")
        if kind in UNSUPPORTED:
            skipped[kind] += 1
            continue
        explicit, gsize, pg = _group_of(ev, pg_ranks)
        in_b = out_b = None
        splits = None
        size_ev = None
        for e in ev:
            i, o, sp = _in_out_bytes(e)
            if in_b is None and i:
                in_b, size_ev = i, size_ev or e
            if out_b is None and o:
                out_b, size_ev = o, size_ev or e
            splits = splits or sp
        # group
        if explicit is not None:
            ranks = explicit
        else:
            n = gsize
            if n is None and in_b and out_b and kind in ("allgather", "reducescatter"):
                big, small = max(in_b, out_b), min(in_b, out_b)
                if big % small == 0 and big // small >= 2 and (world is None or big // small <= world):
                    n = big // small   # the output/input ratio of a gather is the group size
            n = n or world
            if n is None:
                raise EidolaError(f"{where} ({kind}): group size unknown: no 'Group size' or "
                                  "'Process Group Ranks' arg and no distributedInfo.world_size; "
                                  "pass --gpus N", path=path, field="Group size")
            ranks = _contiguous(rank, n) if (world and n < world) else tuple(range(n))
        if (min(ranks) < 0 or len(set(ranks)) != len(ranks)
                or (traced_world and max(ranks) >= traced_world)):
            raise EidolaError(f"{where} ({kind}): group ranks {list(ranks)[:16]} are not distinct "
                              f"ranks of 0..{(traced_world or max(ranks) + 1) - 1}", path=path,
                              field="Process Group Ranks")
        n = len(ranks)
        # size
        if kind == "allgather":
            size = out_b or (in_b * n if in_b else None)
        elif kind == "reducescatter":
            size = in_b or (out_b * n if out_b else None)
        elif kind == "alltoall":
            size = in_b or (sum(splits) if splits else None) or out_b
        else:
            size = in_b or out_b
        if size and size >= MAX_BYTES:
            raise EidolaError(f"{where} ({kind}): {size} bytes is beyond what a collective can "
                              f"move (2^56 B)", path=path, field="In msg nelems")
        source = size_ev.source if (size and size_ev) else ""
        if not size:
            d = default_sizes.get(kind, default_sizes.get("*"))
            if d is None:
                linked = ", ".join(e.source for e in ev[1:]) or "none"
                raise EidolaError(
                    f"{where} ({kind}, named by {kind_src}): message size not found: the kernel "
                    "has no 'In msg nelems' + 'dtype' args and no linked CPU op has them or "
                    f"'Input Dims' + 'Input type' (linked ops: {linked}"
                    f"{'; ' + how if how else ''}); pass --default-size {kind}=SIZE, or "
                    "--default-size SIZE for every kind", path=path, field="size")
            size, source = int(d), "--default-size"
        # peers of a send/recv
        if kind == "p2p":
            peers = _p2p_peers(ev)
            if peers is None:
                kind, ranks = "sendrecv", ranks   # peers not named: a ring shift over the group
            else:
                group = explicit
                if group is None:
                    group = tuple(range(max(world or 0, max(peers) + 1)))
                if max(peers) >= len(group):
                    raise EidolaError(f"{where} (p2p): peer rank {max(peers)} outside its group of "
                                      f"{len(group)}", path=path, field="Dst Rank")
                ranks = (group[peers[0]], group[peers[1]])
        if splits is not None and (kind != "alltoall" or len(splits) != n):
            splits = None
        upper = k.name.upper()
        if kind in ("alltoall", "sendrecv", "p2p"):
            algo = "direct"
        elif any(t in upper for t in ("_TREE", "NVLS", "COLLNET", "_PAT")):
            algo = "direct"
        else:
            algo = "ring"
        proto = None
        m = re.search(r"_(LL128|LL|SIMPLE)(?:_|\(|$)", k.name, re.I)
        if m:
            proto = m.group(1).lower()
        root = 0
        seq = None
        for e in ev:
            r = e.args.get("Root rank", e.args.get("root"))
            if isinstance(r, int) and r in ranks:
                root = ranks.index(r)
                break
        for e in ev:
            s = e.args.get("Seq", e.args.get("seq"))
            if isinstance(s, int):
                seq = s
                break
        skey = (k.device, k.stream)
        if skey not in streams:
            streams[skey] = len(streams)
        t_step = launch_ts if launch_ts is not None else k.ts_us
        step = _step_of(raw, step_starts, t_step)
        calls.append(Call(kind=kind, ranks=tuple(int(r) for r in ranks), size=int(size),
                          rank=rank if rank is not None else -1, ts_us=k.ts_us, dur_us=k.dur_us,
                          stream=streams[skey], step=step, kernel=_short(k.name),
                          size_source=source, algo=algo, proto=proto, splits=splits, root=root,
                          seq=seq, pg=pg))
        sizing_op.append(size_ev.op_index if (size_ev and size_ev.op_index >= 0) else -1 - len(calls))
    _share_grouped_sizes(calls, sizing_op)
    return RankCalls(path=path, rank=rank, world=world, calls=calls, skipped=skipped,
                     first_kernel_us=raw.first_kernel_us, last_kernel_end_us=raw.last_kernel_end_us,
                     steps=sorted({s.number for s in raw.steps}), num_streams=len(streams))


def _step_of(raw: RawTrace, starts: list[float], t: float) -> int | None:
    """The ProfilerStep whose span holds `t`, else the nearest one."""
    if not raw.steps:
        return None
    i = bisect.bisect_right(starts, t) - 1
    if i >= 0 and raw.steps[i].end_us >= t:
        return raw.steps[i].number
    best = min(raw.steps, key=lambda s: min(abs(s.ts_us - t), abs(s.end_us - t)))
    return best.number


def _share_grouped_sizes(calls: list[Call], sizing_op: list[int]) -> None:
    """Kernels sized by the same CPU op (a grouped call launching several kernels) share it."""
    users: dict[int, list[int]] = defaultdict(list)
    for i, op in enumerate(sizing_op):
        if op >= 0:
            users[op].append(i)
    for idx in users.values():
        if len(idx) > 1:
            base, extra = divmod(calls[idx[0]].size, len(idx))
            for j, i in enumerate(idx):
                calls[i].size = base + (1 if j < extra else 0)
                calls[i].size_source += f" (shared by {len(idx)} kernels)"
