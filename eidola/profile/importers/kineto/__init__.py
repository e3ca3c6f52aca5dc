"""PyTorch profiler (Kineto) traces with NCCL/RCCL collectives -> profile.

The import runs in four steps, one module each:
- `reader`: one streaming pass over each file, keeping collective kernels, launches,
  communication annotations and profiler steps;
- `calls`: each collective kernel linked to its CPU-side description (External id,
  correlation, nesting on the launching thread) and described: kind, group, size, peers, step;
- `align`: several rank files of one job matched call by call, with a consistency check;
- `build`: the calls expanded into per-GPU ops, one recorded iteration per profiler step,
  unrecorded ranks filled from the nearest recorded rank.
Rules in detail: docs/profile-format.md, "Kineto importer".
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from eidola.errors import EidolaError
from eidola.profile.importers._common import source_files, stem
from eidola.profile.importers.kineto.align import ALIGN_MODES, align
from eidola.profile.importers.kineto.build import build_ops
from eidola.profile.importers.kineto.calls import SUPPORTED, RankCalls, describe_file
from eidola.profile.importers.kineto.reader import read_trace
from eidola.profile.model import Profile
from eidola.profile.variability_fit import fit_records, spans_summary

__all__ = ["import_kineto", "recorded_collectives", "expand_inputs", "ALIGN_MODES"]

_RANK_IN_NAME = re.compile(r"rank[-_]?(\d+)", re.IGNORECASE)


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Files as given; a directory stands for its *.json and *.json.gz files, sorted."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted([*p.glob("*.json"), *p.glob("*.json.gz")])
            if not found:
                raise EidolaError("directory holds no *.json or *.json.gz traces", path=p)
            out.extend(found)
        else:
            out.append(p)
    return out


def _parse_files(paths: list[Path], default_sizes: dict[str, int], gpus: int | None) -> list[RankCalls]:
    files = [describe_file(read_trace(p), default_sizes=default_sizes, world_override=gpus)
             for p in paths]
    for i, f in enumerate(files):
        if f.rank is None:  # no distributedInfo: the rank in the file name, else the position
            m = _RANK_IN_NAME.search(f.path.name)
            f.rank = int(m.group(1)) if m else i
            for c in f.calls:
                c.rank = f.rank
    seen: dict[int, Path] = {}
    for f in files:
        if f.rank in seen:
            raise EidolaError(f"both {seen[f.rank].name} and {f.path.name} are rank {f.rank}",
                              path=f.path, field="distributedInfo.rank")
        seen[f.rank] = f.path  # type: ignore[index]
    worlds = {f.world for f in files if f.world}
    if len(worlds) > 1:
        raise EidolaError(f"the files come from jobs of different sizes (world sizes "
                          f"{sorted(worlds)})", path=files[-1].path, field="distributedInfo.world_size")
    files.sort(key=lambda f: f.rank)  # type: ignore[arg-type,return-value]
    return files


def import_kineto(paths: list[Path], *, default_size: int | dict[str, int] | None = None,
                  gpus: int | None = None, name: str | None = None, align_mode: str = "auto",
                  allow_rank_mismatch: bool = False) -> Profile:
    """Import one or more ranks' Kineto traces of one job (see the module docstring).

    `default_size`: bytes for collectives the trace does not size: one number for every kind,
    or ``{kind: bytes}`` (key ``"*"`` for the rest).
    """
    paths = expand_inputs([Path(p) for p in paths])
    defaults = _default_sizes(default_size)
    files = _parse_files(paths, defaults, gpus)
    alignment = align(files, mode=align_mode, allow_mismatch=allow_rank_mismatch)
    world = max([f.world or 0 for f in files]
                + [max(c.ranks) + 1 for f in files for c in f.calls]
                + [f.rank + 1 for f in files])  # type: ignore[operator]
    N = gpus if gpus else world
    if gpus:
        owners: dict[int, int] = {}
        for f in files:
            g = f.rank % N  # type: ignore[operator]
            if g in owners:
                raise EidolaError(f"with --gpus {N}, ranks {owners[g]} and {f.rank} both map to "
                                  f"GPU {g}", path=f.path, field="gpus")
            owners[g] = f.rank  # type: ignore[assignment]
    common_clock = alignment.mode in ("seq", "time")
    built = build_ops(files, alignment, N, world, bool(gpus), common_clock)

    records = [(c.rank, c.stream, c.kind, c.size, len(c.ranks), c.ts_us * 1e3, c.dur_us * 1e3)
               for f in files for c in f.calls]
    fit = fit_records(records)
    spans = [it["span_ns"] for it in built.iterations]
    skipped = sum((f.skipped for f in files), Counter())
    all_calls = [c for f in files for c in f.calls]
    recorded = [f.rank for f in files]
    params: dict[str, Any] = {
        "files": [f.path.name for f in files],
        "ranks": recorded,
        "world_size": world,
        "gpus": N,
        "default_size": default_size if not isinstance(default_size, dict) else dict(default_size),
        "alignment": alignment.mode,
        "rank_mismatches": alignment.mismatches[:20],
        "rank_mismatch_count": len(alignment.mismatches),
        "fill_rule": ("a GPU whose rank did not record a call uses the record of the nearest "
                      f"recorded rank in the group (recorded ranks: {recorded})"),
        "filled_records": built.filled_records,
        "replicated_groups": built.replicated_groups,
        "collective_counts": dict(sorted(Counter(c.kind for c in all_calls).items())),
        "calls_per_rank": {str(f.rank): len(f.calls) for f in files},
        "algorithms": dict(sorted(Counter(f"{c.kind}:{c.algo}" for c in all_calls).items())),
        "size_sources": dict(sorted(Counter(c.size_source.split(" (")[0] for c in all_calls).items())),
        "skipped_kernels": dict(sorted(skipped.items())),
        "bytes_by_collective": [int(i.first.size) for i in alignment.instances],
        "iterations": built.iterations,
        "iteration_spans": spans_summary(spans),
        "variability_fit": fit,
        "time_origin": ("first GPU kernel of all files (one clock)" if common_clock
                        else "first GPU kernel of each file"),
    }
    attrs = {
        "name": name or stem(paths[0]),
        "kind": "kineto",
        "importer": "kineto",
        "source_files": source_files([f.path for f in files]),
        "collectives": max(built.collectives_per_iteration),
        "num_iterations": len(built.iterations),
        "parameters": params,
    }
    return Profile(num_gpus=N, ops=built.ops, attrs=attrs, variability={})


def _default_sizes(value: int | dict[str, int] | None) -> dict[str, int]:
    if value is None:
        return {}
    if isinstance(value, dict):
        bad = [k for k in value if k != "*" and k not in SUPPORTED]
        if bad:
            raise EidolaError(f"unknown collective kind {bad[0]!r}; kinds: "
                              f"{', '.join(SUPPORTED)}", field="default_size")
        return dict(value)
    return {"*": int(value)}


def recorded_collectives(path: Path, *, default_size: int | None = None,
                         gpus: int | None = None) -> list[dict[str, Any]]:
    """The collective kernels of one rank's trace as recorded: what, how big, how long.

    Why public: validation compares each recorded kernel duration with a simulation of the same
    collective (bench/validate_traces.py). `proto` comes from the kernel name (NCCL names its
    kernels ``ncclKernel_<Coll>_<ALGO>_<PROTO>_...``); None when the name does not say.
    """
    f = describe_file(read_trace(Path(path)), default_sizes=_default_sizes(default_size),
                      world_override=gpus)
    return [{"coll": c.kind, "size_bytes": int(c.size), "ranks": list(c.ranks), "algo": c.algo,
             "proto": c.proto, "start_us": float(c.ts_us - f.first_kernel_us),
             "dur_us": float(c.dur_us), "kernel": c.kernel, "step": c.step,
             "stream": c.stream} for c in f.calls]
