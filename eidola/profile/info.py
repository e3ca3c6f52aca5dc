"""What is in a profile file: counts, bytes, time span and provenance.

Why streamed: `eidola profile info` must answer quickly and in bounded memory even for files
with tens of millions of ops, so it reads each GPU in chunks and keeps only running totals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eidola.profile.io import ProfileReader
from eidola.profile.schema import KIND_NAMES, OpKind
from eidola.profile.units import format_ns, format_size

_CHUNK = 1 << 20


def profile_info(path: str | Path) -> dict[str, Any]:
    """A JSON-ready summary of the profile at `path`.

    Keys: ``path``, ``format_version``, ``num_gpus``, ``num_ops``, ``ops_per_gpu``,
    ``ops_by_kind`` (kind name -> count), ``bytes_written`` / ``bytes_read`` (payload bytes of
    write / read ops, all iterations), ``collectives``, ``duration_ns`` (latest ``t_ns + dur_ns``
    minus earliest ``t_ns``), ``num_streams`` (summed over GPUs), ``streams_per_gpu``,
    ``num_iterations``, ``iteration_spans_ns`` (latest end minus earliest start of each
    iteration's ops) and ``iteration_span_cv`` (None with one iteration), plus
    ``bytes_written_per_iteration`` when > 1), ``variability`` and the
    provenance attributes (``name``, ``kind``, ``importer``, ``source_files``, ``parameters``,
    ``eidola_version``, ``created_utc``).
    """
    with ProfileReader(path) as r:
        a = r.attrs
        n_iter = int(a.get("num_iterations", 1))
        kinds = np.zeros(len(KIND_NAMES) + 1, dtype=np.int64)  # last slot: unknown kinds
        written = 0
        read = 0
        per_iter = np.zeros(n_iter, dtype=np.int64)
        it_lo = np.full(n_iter, np.inf)
        it_hi = np.full(n_iter, -np.inf)
        t_min, t_end = np.inf, -np.inf
        ops_per_gpu: list[int] = []
        streams_per_gpu: list[int] = []
        for g in range(r.num_gpus):
            streams: set[int] = set()
            count = 0
            for ops in r.iter_ops(g, _CHUNK):
                count += len(ops)
                k = np.minimum(ops["kind"].astype(np.int64), len(KIND_NAMES))
                kinds += np.bincount(k, minlength=len(kinds))
                w = ops["kind"] == OpKind.WRITE
                written += int(ops["bytes"][w].sum(dtype=np.uint64))
                read += int(ops["bytes"][ops["kind"] == OpKind.READ].sum(dtype=np.uint64))
                if n_iter > 1 and w.any():
                    it = ops["iteration"][w].astype(np.int64)
                    ok = it < n_iter
                    np.add.at(per_iter, it[ok], ops["bytes"][w][ok].astype(np.int64))
                t = ops["t_ns"]
                fin = np.isfinite(t)
                it_all = np.minimum(ops["iteration"].astype(np.int64), n_iter - 1)
                if fin.any():
                    ends = t + np.maximum(ops["dur_ns"], 0.0)
                    np.minimum.at(it_lo, it_all[fin], t[fin])
                    np.maximum.at(it_hi, it_all[fin], ends[fin])
                if fin.any():
                    t_min = min(t_min, float(t[fin].min()))
                    end = t[fin] + np.maximum(ops["dur_ns"][fin], 0.0)
                    t_end = max(t_end, float(np.nanmax(end)))
                streams.update(np.unique(ops["stream"]).tolist())
            ops_per_gpu.append(count)
            streams_per_gpu.append(len(streams))
        by_kind = {KIND_NAMES[i]: int(kinds[i]) for i in sorted(KIND_NAMES)}
        if kinds[-1]:
            by_kind["unknown"] = int(kinds[-1])
        info: dict[str, Any] = {
            "path": str(path),
            "format": a.get("format"),
            "format_version": int(a.get("version", 0)),
            "name": a.get("name"),
            "kind": a.get("kind"),
            "num_gpus": r.num_gpus,
            "num_ops": int(sum(ops_per_gpu)),
            "ops_per_gpu": ops_per_gpu,
            "ops_by_kind": by_kind,
            "bytes_written": written,
            "bytes_read": read,
            "collectives": int(a.get("collectives", 0)),
            "duration_ns": float(t_end - t_min) if np.isfinite(t_min) else 0.0,
            "num_streams": int(sum(streams_per_gpu)),
            "streams_per_gpu": streams_per_gpu,
            "num_iterations": n_iter,
            "time_unit": a.get("time_unit", "ns"),
            "variability": dict(r.variability),
            "importer": a.get("importer"),
            "source_files": a.get("source_files", []),
            "parameters": a.get("parameters", {}),
            "eidola_version": a.get("eidola_version"),
            "created_utc": a.get("created_utc"),
        }
        spans = np.where(np.isfinite(it_lo), it_hi - it_lo, 0.0)
        info["iteration_spans_ns"] = [float(x) for x in spans]
        info["iteration_span_cv"] = (float(np.std(spans, ddof=1) / spans.mean())
                                     if n_iter > 1 and spans.mean() > 0 else None)
        if n_iter > 1:
            info["bytes_written_per_iteration"] = [int(x) for x in per_iter]
        return info


def format_info(info: dict[str, Any]) -> str:
    """The human-readable form of `profile_info` (what `eidola profile info` prints)."""
    lines = [
        f"{info['path']}: {info.get('name') or '-'} (kind {info.get('kind') or '-'}, "
        f"{info.get('format')} v{info['format_version']})",
        f"  GPUs            {info['num_gpus']}",
        f"  streams         {info['num_streams']} total, "
        f"{min(info['streams_per_gpu'], default=0)}..{max(info['streams_per_gpu'], default=0)} per GPU",
        f"  ops             {info['num_ops']:,}  ("
        + ", ".join(f"{k} {v:,}" for k, v in info["ops_by_kind"].items()) + ")",
        f"  bytes written   {format_size(info['bytes_written'])} ({info['bytes_written']:,} B)",
    ]
    if info.get("bytes_read"):
        lines.append(f"  bytes read      {format_size(info['bytes_read'])} ({info['bytes_read']:,} B)")
    lines += [
        f"  collectives     {info['collectives']}",
        f"  recorded span   {format_ns(info['duration_ns'])}",
        f"  iterations      {info['num_iterations']}",
    ]
    spans = info.get("iteration_spans_ns") or []
    if len(spans) > 1:
        shown = ", ".join(format_ns(s) for s in spans[:8]) + (", ..." if len(spans) > 8 else "")
        cv = info.get("iteration_span_cv")
        lines.append(f"  iteration spans {shown} (mean {format_ns(float(np.mean(spans)))}, "
                     f"min {format_ns(min(spans))}, max {format_ns(max(spans))}, CV "
                     f"{cv:.3f})" if cv is not None else f"  iteration spans {shown}")
    fit = (info.get("parameters") or {}).get("variability_fit") or {}
    if fit:
        kinds = ", ".join(f"{k} {v['cv']:.3f} ({v['samples']} kernels)"
                          for k, v in (fit.get("by_kind") or {}).items() if v.get("cv") is not None)
        comp = fit.get("compute_cv")
        lines.append("  recorded CV     compute gaps "
                     + (f"{comp:.3f} ({fit.get('compute_samples')} gaps)" if comp is not None else "-")
                     + (f"; kernels: {kinds}" if kinds else "")
                     + "  (synth --jitter-from uses the compute CV)")
    v = info.get("variability") or {}
    lines.append(f"  variability     compute_cv {v.get('compute_cv', 0):g}, straggler_prob "
                 f"{v.get('straggler_prob', 0):g}, straggler_slowdown {v.get('straggler_slowdown', 1):g}")
    src = ", ".join(s.get("name", "?") for s in info.get("source_files") or []) or "-"
    lines.append(f"  provenance      importer {info.get('importer') or '-'}, sources {src}, "
                 f"eidola {info.get('eidola_version') or '?'}, created {info.get('created_utc') or '?'}")
    params = info.get("parameters") or {}
    if params:
        shown = ", ".join(f"{k}={params[k]}" for k in sorted(params)
                          if params[k] is not None and not isinstance(params[k], (dict, list)))
        lines.append(f"  parameters      {shown}")
    return "\n".join(lines)
