"""PyTorch profiler (Kineto) traces with NCCL/RCCL collectives -> profile.

Why expansion rather than replay of the trace: a Kineto trace records one rank's kernels, not
the P2P writes inside them. We keep what the trace knows (which collectives ran, their sizes,
groups, kernel start/duration, and the compute time between them) and fill in the traffic of
each collective with the same builders the generator uses (eidola.profile.collectives).

Rules (documented in docs/profile-format.md, "Kineto importer"):
- A collective is a GPU kernel (``cat == "kernel"``) whose name contains nccl/rccl; kernels are
  taken in start-time order.
- Evidence for its type, size and group is looked up in order: the kernel's own args; CPU ops
  sharing its ``External id``; CPU ops sharing the ``External id`` of its launch (the runtime
  event with the same ``correlation``); the innermost ``nccl:*`` CPU op on the launching
  thread whose time span contains the launch. The first evidence that names a thing wins.
- One rank's file is expanded to every rank of each collective's group; several files of one
  job are merged, each giving its own rank's kernel times and compute gaps.
"""

from __future__ import annotations

import bisect
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eidola.errors import EidolaError
from eidola.profile import collectives as coll_ops
from eidola.profile.importers._common import load_json, source_files, stem, trace_events
from eidola.profile.model import Profile
from eidola.profile.schema import OpKind, empty_ops
from eidola.profile.table import OpTable
from eidola.profile.timeline import estimate_times, fit_into

#: bytes per element of the dtype spellings found in kernel args and CPU-op "Input type"
DTYPE_BYTES: dict[str, int] = {
    "float": 4, "float32": 4, "half": 2, "float16": 2, "bfloat16": 2, "c10::half": 2,
    "c10::bfloat16": 2, "double": 8, "float64": 8, "int": 4, "int32": 4, "long": 8,
    "int64": 8, "long int": 8, "short": 2, "int16": 2, "byte": 1, "uint8": 1,
    "unsigned char": 1, "char": 1, "int8": 1, "signed char": 1, "bool": 1, "uint16": 2,
    "uint32": 4, "unsigned int": 4, "uint64": 8, "complexfloat": 8, "complexhalf": 4,
    "complexdouble": 16, "float8_e4m3fn": 1, "float8_e5m2": 1, "float8_e4m3fnuz": 1,
    "float8_e5m2fnuz": 1,
}
SUPPORTED = ("allreduce", "reducescatter", "allgather", "alltoall", "broadcast", "sendrecv")
_KERNEL_RE = re.compile(r"(?:nccl|rccl)(?:Dev)?Kernel_([A-Za-z]+)", re.IGNORECASE)


def _norm_coll(text: str) -> str | None:
    """'all_reduce', 'allreduce', '_all_gather_base', 'AllReduce', ... -> canonical name."""
    k = re.sub(r"[^a-z]", "", text.lower())
    for prefix, name in (("allreduce", "allreduce"), ("reducescatter", "reducescatter"),
                         ("allgather", "allgather"), ("alltoall", "alltoall"),
                         ("broadcast", "broadcast"), ("sendrecv", "sendrecv")):
        if k.startswith(prefix):
            return name
    if k in ("send", "recv"):
        return "sendrecv"
    return None


def _dtype_bytes(name: Any) -> int | None:
    if not isinstance(name, str):
        return None
    return DTYPE_BYTES.get(name.strip().lower())


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


@dataclass
class _Evidence:
    source: str              # e.g. "kernel args", "record_param_comms (External id 12)"
    name: str                # event name
    args: dict[str, Any]


@dataclass
class _Coll:
    coll: str
    size: int
    ranks: tuple[int, ...]
    algo: str
    ts_us: float
    dur_us: float
    kernel: str
    size_source: str
    root: int = 0


@dataclass
class _RankTrace:
    path: Path
    rank: int | None
    world: int | None
    origin_us: float
    colls: list[_Coll] = field(default_factory=list)


def _sizes_from(args: dict[str, Any]) -> tuple[int | None, int | None]:
    """(input bytes, output bytes) from 'In/Out msg nelems' + 'dtype' or 'Input Dims/type'."""
    in_b = out_b = None
    dt = _dtype_bytes(args.get("dtype"))
    if dt:
        i, o = _num(args.get("In msg nelems")), _num(args.get("Out msg nelems"))
        in_b = int(i) * dt if i and i > 0 else None
        out_b = int(o) * dt if o and o > 0 else None
    if in_b is None:
        dims, types = args.get("Input Dims"), args.get("Input type")
        if isinstance(dims, list) and isinstance(types, list):
            total = 0
            for d, t in zip(dims, types):
                b = _dtype_bytes(t)
                if b is None or not isinstance(d, list) or not d:
                    continue
                if all(isinstance(x, (int, float)) for x in d):
                    total += int(np.prod([int(x) for x in d])) * b
            in_b = total or None
    return in_b, out_b


def _parse_ranks(value: Any) -> tuple[int, ...] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, list) and value and all(isinstance(x, int) for x in value):
        return tuple(value)
    return None


class _TraceIndex:
    """Lookups from a kernel to the CPU-side events that describe it."""

    def __init__(self, events: list[dict[str, Any]]):
        self.by_ext: dict[Any, list[dict]] = defaultdict(list)
        self.launch: dict[Any, dict] = {}
        self.nccl_by_thread: dict[tuple, list[tuple[float, float, dict]]] = defaultdict(list)
        for e in events:
            cat = str(e.get("cat", "")).lower()
            args = e.get("args") or {}
            if not isinstance(args, dict):
                continue
            if cat in ("cpu_op", "user_annotation", "operator", "python_function"):
                if "External id" in args:
                    self.by_ext[args["External id"]].append(e)
                name = str(e.get("name", ""))
                ts, dur = _num(e.get("ts")), _num(e.get("dur"))
                if (name.startswith("nccl:") or name == "record_param_comms") and ts is not None:
                    self.nccl_by_thread[(e.get("pid"), e.get("tid"))].append((ts, ts + (dur or 0), e))
            elif cat in ("cuda_runtime", "cuda_driver", "runtime"):
                if "correlation" in args and "launch" in str(e.get("name", "")).lower():
                    self.launch[args["correlation"]] = e
        for v in self.nccl_by_thread.values():
            v.sort(key=lambda x: x[0])

    def evidence(self, kernel: dict[str, Any]) -> list[_Evidence]:
        args = kernel.get("args") or {}
        out = [_Evidence("kernel args", str(kernel.get("name", "")), args)]
        seen: set[int] = {id(kernel)}

        def add_ext(ext: Any, how: str) -> None:
            for e in self.by_ext.get(ext, ()):
                if id(e) not in seen:
                    seen.add(id(e))
                    out.append(_Evidence(f"{e.get('name')} ({how} {ext})", str(e.get("name", "")),
                                         e.get("args") or {}))

        if "External id" in args:
            add_ext(args["External id"], "External id")
        launch = self.launch.get(args.get("correlation"))
        if launch is not None:
            largs = launch.get("args") or {}
            if "External id" in largs:
                add_ext(largs["External id"], "External id of the launch")
            lts = _num(launch.get("ts"))
            ops = self.nccl_by_thread.get((launch.get("pid"), launch.get("tid")), [])
            if lts is not None and ops:
                hi = bisect.bisect_right([o[0] for o in ops], lts)
                enclosing = [o for o in ops[:hi] if o[1] >= lts]
                for _, _, e in sorted(enclosing, key=lambda o: -o[0]):  # innermost first
                    if id(e) not in seen:
                        seen.add(id(e))
                        out.append(_Evidence(f"{e.get('name')} (enclosing the launch at {lts} us)",
                                             str(e.get("name", "")), e.get("args") or {}))
        return out


def _short(name: str) -> str:
    return name.split("(")[0]


def _parse_file(path: Path, default_size: int | None, gpus: int | None) -> _RankTrace:
    doc = load_json(path)
    events = trace_events(doc, path)
    dist = doc.get("distributedInfo") if isinstance(doc, dict) else None
    dist = dist if isinstance(dist, dict) else {}
    rank = dist.get("rank") if isinstance(dist.get("rank"), int) else None
    world = dist.get("world_size") if isinstance(dist.get("world_size"), int) else None
    world = world or gpus  # --gpus stands in for a world size the trace does not give
    pg_ranks: dict[str, tuple[int, ...]] = {}
    for pg in dist.get("pg_config") or []:
        if isinstance(pg, dict) and _parse_ranks(pg.get("ranks")):
            pg_ranks[str(pg.get("pg_name"))] = _parse_ranks(pg.get("ranks"))  # type: ignore[assignment]

    kernels = [e for e in events if str(e.get("cat", "")).lower() == "kernel"
               and e.get("ph", "X") == "X" and _num(e.get("ts")) is not None]
    colls = sorted((k for k in kernels if re.search(r"nccl|rccl", str(k.get("name", "")), re.I)),
                   key=lambda k: _num(k["ts"]))  # type: ignore[arg-type,return-value]
    if not colls:
        cpu = sum(1 for e in events if str(e.get("name", "")).startswith("nccl:"))
        hint = (f"; it has {cpu} CPU-side nccl:* ops, but GPU kernels are needed for timing "
                "(record with CUDA activity enabled)") if cpu else ""
        raise EidolaError(f"no NCCL/RCCL collective kernels (events with cat 'kernel' and nccl "
                          f"in the name){hint}", path=path)
    origin = min(_num(k["ts"]) for k in kernels)  # type: ignore[type-var]
    index = _TraceIndex(events)
    out = _RankTrace(path=path, rank=rank, world=world, origin_us=float(origin))
    for k in colls:
        out.colls.append(_describe(path, k, index, rank, world, pg_ranks, default_size))
    return out


def _describe(path: Path, k: dict[str, Any], index: _TraceIndex, rank: int | None,
              world: int | None, pg_ranks: dict[str, tuple[int, ...]],
              default_size: int | None) -> _Coll:
    name = str(k.get("name", ""))
    ts = float(_num(k.get("ts")))  # type: ignore[arg-type]
    dur = max(0.0, _num(k.get("dur")) or 0.0)
    where = f"collective kernel {_short(name)} at ts {ts:.3f} us"
    ev = index.evidence(k)
    # type
    coll = None
    for e in ev:
        cn = e.args.get("Collective name")
        if isinstance(cn, str) and _norm_coll(cn):
            coll = _norm_coll(cn)
            break
        if e.name.startswith("nccl:") and _norm_coll(e.name[5:]):
            coll = _norm_coll(e.name[5:])
            break
    if coll is None:
        m = _KERNEL_RE.search(name)
        coll = _norm_coll(m.group(1)) if m else None
    if coll is None:
        raise EidolaError(f"{where}: cannot tell which collective it is (no 'Collective name' "
                          "arg, no linked nccl:* CPU op, and the kernel name names none of "
                          f"{', '.join(SUPPORTED)})", path=path)
    # group
    ranks: tuple[int, ...] | None = None
    gsize: int | None = None
    for e in ev:
        ranks = ranks or _parse_ranks(e.args.get("Process Group Ranks"))
        if ranks is None and str(e.args.get("Process Group Name")) in pg_ranks:
            ranks = pg_ranks[str(e.args.get("Process Group Name"))]
        if gsize is None and isinstance(e.args.get("Group size"), int):
            gsize = int(e.args["Group size"])
    if ranks is None:
        n = gsize or world
        if n is None:
            raise EidolaError(f"{where}: group size unknown (no 'Group size' or 'Process Group "
                              "Ranks' arg and no distributedInfo.world_size); pass --gpus N",
                              path=path)
        if world is not None and n < world and rank is not None:
            start = (rank // n) * n  # assume contiguous groups
            ranks = tuple(range(start, start + n))
        else:
            ranks = tuple(range(n))
    n = len(ranks)
    # size (nccl-tests convention, see eidola.profile.collectives)
    size = None
    source = ""
    for e in ev:
        in_b, out_b = _sizes_from(e.args)
        if coll == "allgather":
            size = out_b or (in_b * n if in_b else None)
        elif coll == "reducescatter":
            size = in_b or (out_b * n if out_b else None)
        else:
            size = in_b or out_b
        if size:
            source = e.source
            break
    if not size:
        if default_size is None:
            ext = (k.get("args") or {}).get("External id")
            corr = (k.get("args") or {}).get("correlation")
            raise EidolaError(
                f"{where} ({coll}): message size not found: the kernel has no 'In msg nelems' + "
                f"'dtype' args and no linked CPU op (External id {ext}, correlation {corr}) has "
                "them or 'Input Dims' + 'Input type'; pass --default-size SIZE", path=path)
        size, source = int(default_size), "--default-size"
    upper = name.upper()
    if coll in ("alltoall", "sendrecv"):
        algo = "direct"
    elif any(t in upper for t in ("_TREE", "NVLS", "COLLNET", "_PAT")):
        algo = "direct"
    else:
        algo = "ring"
    root = 0
    for e in ev:
        r = e.args.get("Root rank", e.args.get("root"))
        if isinstance(r, int) and r in ranks:
            root = ranks.index(r)
            break
    return _Coll(coll=coll, size=int(size), ranks=ranks, algo=algo, ts_us=ts, dur_us=dur,
                 kernel=_short(name), size_source=source, root=root)


def _key(c: _Coll) -> tuple[str, tuple[int, ...]]:
    return (c.coll, c.ranks)


def import_kineto(paths: list[Path], *, default_size: int | None = None, gpus: int | None = None,
                  name: str | None = None) -> Profile:
    """Import one or more ranks' Kineto traces of one job (see the module docstring)."""
    traces = [_parse_file(p, default_size, gpus) for p in paths]
    # ranks of the files
    for i, t in enumerate(traces):
        if t.rank is None:
            t.rank = i
    seen: dict[int, Path] = {}
    for t in traces:
        if t.rank in seen:
            raise EidolaError(f"both {seen[t.rank].name} and {t.path.name} are rank {t.rank}",
                              path=t.path, field="distributedInfo.rank")
        seen[t.rank] = t.path  # type: ignore[index]
    traces.sort(key=lambda t: t.rank)  # type: ignore[arg-type,return-value]
    template = traces[0]
    # world size: what distributedInfo says, grown to cover every rank a group or file names
    world = max([t.world or 0 for t in traces]
                + [max(c.ranks) + 1 for t in traces for c in t.colls]
                + [t.rank + 1 for t in traces])  # type: ignore[operator]
    N = gpus if gpus else world
    world_group = tuple(range(world))

    def members_of(ranks: tuple[int, ...]) -> np.ndarray:
        if ranks == world_group:
            return np.arange(N)
        if gpus:
            return np.array(sorted({r % N for r in ranks}), dtype=np.int64)
        return np.array(ranks, dtype=np.int64)

    gpu_of_file: dict[int, _RankTrace] = {}
    for t in traces:
        g = t.rank % N  # type: ignore[operator]
        if g in gpu_of_file:
            raise EidolaError(f"with --gpus {N}, ranks {gpu_of_file[g].rank} and {t.rank} both map "
                              f"to GPU {g}", path=t.path, field="gpus")
        gpu_of_file[g] = t

    # match every file's collectives to the template's by (type, group, occurrence)
    def occurrences(t: _RankTrace) -> dict[tuple, list[_Coll]]:
        d: dict[tuple, list[_Coll]] = defaultdict(list)
        for c in t.colls:
            d[_key(c)].append(c)
        return d

    tocc = occurrences(template)
    matched: dict[int, list[_Coll]] = {}  # file rank -> its collective for each template index
    for t in traces:
        occ = occurrences(t)
        if Counter({k: len(v) for k, v in occ.items()}) != Counter({k: len(v) for k, v in tocc.items()}):
            raise EidolaError(
                f"rank {t.rank} recorded {len(t.colls)} collectives "
                f"({_summary(t.colls)}) but rank {template.rank} recorded {len(template.colls)} "
                f"({_summary(template.colls)}): the files do not cover the same collectives; "
                "import one rank's file alone", path=t.path)
        counters: dict[tuple, int] = defaultdict(int)
        row = []
        for c in template.colls:
            k = _key(c)
            mine = occ[k][counters[k]]
            counters[k] += 1
            if mine.size != c.size and c.coll != "alltoall":
                raise EidolaError(
                    f"{c.coll} number {counters[k]} (over {len(c.ranks)} ranks) moves {mine.size} bytes on "
                    f"rank {t.rank} but {c.size} on rank {template.rank}: the traces do not record "
                    "the same collectives (sampled, or from different steps); import one rank's "
                    "file alone", path=t.path)
            row.append(mine)
        matched[t.rank] = row  # type: ignore[index]

    per_gpu: list[list[np.ndarray]] = [[] for _ in range(N)]
    prev_end = np.zeros(N)
    flag_base = 0
    for i, c in enumerate(template.colls):
        members = members_of(c.ranks)
        starts = np.zeros(len(members))
        durs = np.zeros(len(members))
        sizes = np.zeros(len(members), dtype=np.int64)
        for j, g in enumerate(members):
            src = gpu_of_file.get(int(g), template)
            mine = matched[src.rank][i]  # type: ignore[index]
            starts[j] = (mine.ts_us - src.origin_us) * 1000.0
            durs[j] = mine.dur_us * 1000.0
            sizes[j] = mine.size
        table = OpTable()
        if c.coll in ("allreduce", "reducescatter", "allgather"):
            build = coll_ops.ring if c.algo == "ring" else coll_ops.direct
            used = build(table, members, c.size, c.coll, flag_base=flag_base)
        elif c.coll == "alltoall":
            used = coll_ops.direct(table, members, sizes, "alltoall", flag_base=flag_base)
        elif c.coll == "broadcast":
            used = coll_ops.broadcast(table, members, c.size, c.algo, root=c.root % max(1, len(members)),
                                      flag_base=flag_base)
        else:
            used = coll_ops.sendrecv(table, members, c.size, flag_base=flag_base)
        flag_base += used
        built = table.build(N)
        for j, g in enumerate(members):
            g = int(g)
            gap = starts[j] - prev_end[g]
            if gap > 0:
                comp = empty_ops(1)
                comp["kind"] = OpKind.COMPUTE
                comp["t_ns"] = prev_end[g]
                comp["dur_ns"] = gap
                per_gpu[g].append(comp)
            start = max(starts[j], prev_end[g])
            ops = built[g]
            estimate_times(ops)
            fit_into(ops, start, durs[j])
            per_gpu[g].append(ops)
            prev_end[g] = start + durs[j]
    ops = [np.concatenate(p) if p else empty_ops(0) for p in per_gpu]
    counts = Counter(c.coll for c in template.colls)
    params = {
        "files": [t.path.name for t in traces],
        "ranks": [t.rank for t in traces],
        "template_rank": template.rank,
        "world_size": world,
        "gpus": N,
        "default_size": default_size,
        "collective_counts": dict(sorted(counts.items())),
        "algorithms": dict(sorted(Counter(f"{c.coll}:{c.algo}" for c in template.colls).items())),
        "size_sources": dict(sorted(Counter(c.size_source.split(" (")[0]
                                            for c in template.colls).items())),
        "bytes_by_collective": [c.size for c in template.colls],
        "time_origin": "first GPU kernel of each file",
    }
    attrs = {
        "name": name or stem(paths[0]),
        "kind": "kineto",
        "importer": "kineto",
        "source_files": source_files([t.path for t in traces]),
        "collectives": len(template.colls),
        "num_iterations": 1,
        "parameters": params,
    }
    return Profile(num_gpus=N, ops=ops, attrs=attrs, variability={})


def _summary(colls: list[_Coll]) -> str:
    return ", ".join(f"{v} {k}" for k, v in sorted(Counter(c.coll for c in colls).items()))


def recorded_collectives(path: Path, *, default_size: int | None = None,
                         gpus: int | None = None) -> list[dict[str, Any]]:
    """The collective kernels of one rank's trace as recorded: what, how big, how long.

    Why public: validation compares each recorded kernel duration with a simulation of the same
    collective (bench/validate_traces.py). `proto` comes from the kernel name (NCCL names its
    kernels ``ncclKernel_<Coll>_<ALGO>_<PROTO>_...``); None when the name does not say.
    """
    trace = _parse_file(Path(path), default_size, gpus)
    out = []
    for c in trace.colls:
        m = re.search(r"_(LL128|LL|SIMPLE)_", c.kernel, re.I)
        out.append({"coll": c.coll, "size_bytes": int(c.size), "ranks": list(c.ranks),
                    "algo": c.algo, "proto": m.group(1).lower() if m else None,
                    "start_us": float(c.ts_us - trace.origin_us), "dur_us": float(c.dur_us),
                    "kernel": c.kernel})
    return out
