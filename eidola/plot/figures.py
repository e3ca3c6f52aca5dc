"""Figures from run outdirs and sweep tables; each returns a matplotlib Figure (notebooks) and
`save` writes it atomically (PNG/SVG/PDF from the suffix). Axes carry units; titles carry the
profile and topology that produced the data."""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from eidola.errors import EidolaError  # noqa: E402
from eidola.results import atomic_write_bytes  # noqa: E402


def _run(outdir: str | Path) -> tuple[dict, dict[str, np.ndarray], float]:
    import h5py

    outdir = Path(outdir)
    try:
        summary = json.loads((outdir / "summary.json").read_text())
        with h5py.File(outdir / "results.h5", "r") as f:
            data = {k: f[k][()] for k in ("polling_reads", "link_bytes", "channel_endpoints",
                                          "link_channels") if k in f}
            bin_ns = float(f.attrs.get("time_bin_ns", 0.0))
    except (OSError, ValueError, KeyError) as exc:
        raise EidolaError(f"not a run directory with summary.json and results.h5 ({exc})", path=outdir) from None
    if "polling_reads" not in data:
        raise EidolaError("the run kept no time series (it was run with --no-series)", path=outdir)
    return summary, data, bin_ns


def _label(summary: dict) -> str:
    prof = Path(summary["profile"].get("path") or "profile").name
    return f"{prof} on {summary['topology']['name']} ({summary['topology']['num_gpus']} GPUs)"


def polling_traffic(polling_dir: str | Path, syncmon_dir: str | Path) -> plt.Figure:
    """Polling reads per µs per GPU over time, polling and SyncMon side by side."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, d in zip(axes, (polling_dir, syncmon_dir)):
        s, data, bin_ns = _run(d)
        rate = data["polling_reads"] / (bin_ns / 1e3)  # reads per µs
        t_us = np.arange(rate.shape[1]) * bin_ns / 1e3
        for g in range(min(rate.shape[0], s["topology"]["num_gpus"])):
            ax.plot(t_us, rate[g], label=f"GPU {g}", lw=1)
        ax.set_title(f"sync={s['params']['sync']}: {s['polling_reads']} polling reads")
        ax.set_xlabel("time (µs)")
    axes[0].set_ylabel("polling reads per µs")
    axes[0].legend(fontsize="small", ncol=2)
    fig.suptitle(_label(s))
    fig.tight_layout()
    return fig


def link_heatmap(run_dir: str | Path) -> plt.Figure:
    """Utilization of every link direction over time, and bytes per link direction."""
    s, data, bin_ns = _run(run_dir)
    links = s["topology"].get("links") or []
    rows = data.get("link_channels")
    if rows is None:  # results written before only active channels were kept
        rows = np.arange(data["link_bytes"].shape[0])
    bw = np.repeat([l[2] for l in links], 2)[rows] if links else np.ones(len(rows))
    util = data["link_bytes"] / (bw[:, None] * bin_ns)
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 1]})
    im = a.imshow(util, aspect="auto", origin="lower", interpolation="nearest", vmin=0, vmax=1,
                  extent=(0, util.shape[1] * bin_ns / 1e3, -0.5, util.shape[0] - 0.5))
    a.set_xlabel("time (µs)")
    a.set_ylabel("link direction carrying traffic (row)")
    fig.colorbar(im, ax=a, label="utilization (fraction of link bandwidth)")
    b.barh(np.arange(util.shape[0]), data["link_bytes"].sum(axis=1) / 2**20)
    b.set_yticks(np.arange(util.shape[0]), [str(int(r)) for r in rows], fontsize="x-small")
    b.set_ylabel("channel id")
    b.set_xlabel("MiB carried")
    fig.suptitle(f"Link utilization: {_label(s)}")
    fig.tight_layout()
    return fig


def mem_channel_timeline(*run_dirs: str | Path, top: int = 4) -> plt.Figure:
    """Utilization over time of the busiest memory channels of each run (results.h5
    /mem_channel_util): where polls and data pile onto one channel (a hot spot)."""
    import h5py

    fig, axes = plt.subplots(1, len(run_dirs), figsize=(5.5 * len(run_dirs), 4), sharey=True, squeeze=False)
    for ax, d in zip(axes[0], run_dirs):
        s, _, bin_ns = _run(d)
        with h5py.File(Path(d) / "results.h5", "r") as f:
            if "mem_channel_util" not in f:
                raise EidolaError("the run kept no memory-channel series", path=d)
            util, ids = f["mem_channel_util"][()], f["mem_channel_ids"][()]
        t_us = np.arange(util.shape[1]) * bin_ns / 1e3
        for row in range(min(top, util.shape[0])):
            ax.plot(t_us, util[row], lw=1, label=f"GPU {ids[row][0]} channel {ids[row][1]}")
        ax.set_title(f"sync={s['params']['sync']}: busiest channel {100 * s['mem_channel_peak_util']:.1f}% busy")
        ax.set_xlabel("time (µs)")
        ax.legend(fontsize="small")
    axes[0][0].set_ylabel("memory channel utilization (fraction of its bandwidth)")
    fig.suptitle(f"Busiest memory channels: {_label(s)}")
    fig.tight_layout()
    return fig


def sweep_lines(table: pd.DataFrame | str | Path, x: str, line: str, y: str = "makespan_ns",
                by: list[str] | tuple[str, ...] = ()) -> plt.Figure:
    """A metric against a swept parameter, one line per value of another (e.g. topology, sync),
    one row of panels per combination of the `by` columns (e.g. profile, link_latency).

    Points that share an x value on one line must not differ in anything else: joining them
    into one line would mix e.g. two profiles, so that is an error naming the columns to facet.
    """
    t = pd.read_parquet(table) if not isinstance(table, pd.DataFrame) else table
    t = t[t["status"] == "ok"]
    by = list(by)
    for col in (x, line, y, *by):
        if col not in t:
            raise EidolaError(f"column '{col}' is not in the sweep table", field=col)
    if t.empty:
        raise EidolaError("no successful points in the table", field=y)
    keys = [line, x, *by]
    dup = t.duplicated(subset=keys, keep=False)
    if dup.any():
        clash = t[dup]
        varying = [c for c in t.columns if c not in keys and c not in _RESULT_COLUMNS
                   and clash[c].astype(str).nunique() > 1 and not c.startswith(_RESULT_PREFIXES)]
        raise EidolaError(f"{int(dup.sum())} points share {x} and {line} values but differ in "
                          f"{', '.join(varying[:6]) or 'other columns'}; draw them apart with "
                          f"--by {varying[0] if varying else 'COLUMN'}", field="by")
    metrics = [y] + (["bus_bandwidth_gbps"] if "bus_bandwidth_gbps" in t and y != "bus_bandwidth_gbps" else [])
    facets = list(t.groupby(by, sort=True)) if by else [((), t)]
    fig, axes = plt.subplots(len(facets), len(metrics), figsize=(5.5 * len(metrics), 4 * len(facets)),
                             squeeze=False)
    for row, (fkey, ft) in enumerate(facets):
        fkey = fkey if isinstance(fkey, tuple) else (fkey,)
        title = ", ".join(f"{c}={Path(str(v)).name if c == 'profile' else v}" for c, v in zip(by, fkey))
        for ax, metric in zip(axes[row], metrics):
            for value, grp in ft.groupby(line):
                grp = grp.assign(_x=pd.to_numeric(grp[x], errors="coerce")).sort_values("_x")
                scale = 1e3 if metric.endswith("_ns") else 1.0
                ax.plot(grp["_x"], grp[metric] / scale, marker="o", label=f"{line}={value}")
            unit = "µs" if metric.endswith("_ns") else "GB/s"
            ax.set_xlabel(x)
            ax.set_ylabel(f"{metric.replace('_ns', '').replace('_gbps', '')} ({unit})")
            if title:
                ax.set_title(title, fontsize=9)
            ax.legend()
    profiles = ", ".join(sorted({Path(p).name for p in t["profile"]}))
    fig.suptitle(f"{profiles} on {', '.join(sorted(set(map(str, t['topology']))))}")
    fig.tight_layout()
    return fig


#: sweep-table columns that are results or bookkeeping, never a reason to split a line
_RESULT_COLUMNS = {"point_id", "outdir", "status", "error", "events", "packets", "makespan_ns",
                   "point_wall_seconds", "wall_seconds", "load_seconds", "simulate_seconds",
                   "events_per_second", "eidola_version", "backend", "num_gpus",
                   "topology"}
_RESULT_PREFIXES = ("gpu_", "bytes_", "polling_", "syncmon_", "mem_channel_", "wakeup_",
                    "write_latency", "algo_", "bus_", "fallback_", "recheck_", "registrations",
                    "refusals", "spurious", "stall")


def seed_distribution(table: pd.DataFrame | str | Path, y: str = "makespan_ns") -> plt.Figure:
    """Completion time across seeds (jitter, stragglers): histogram with mean, p5 and p95."""
    t = pd.read_parquet(table) if not isinstance(table, pd.DataFrame) else table
    vals = t.loc[t["status"] == "ok", y].to_numpy() / 1e3
    if len(vals) == 0:
        raise EidolaError("no successful points in the table", field=y)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(vals, bins=min(30, max(5, len(vals) // 2)))
    for q, style in ((5, ":"), (50, "-"), (95, ":")):
        ax.axvline(np.percentile(vals, q), color="k", ls=style, lw=1)
    ax.set_xlabel("completion time (µs)")
    ax.set_ylabel("seeds")
    profiles = ", ".join(sorted({Path(p).name for p in t["profile"]}))
    ax.set_title(f"{profiles}: {len(vals)} seeds, mean {vals.mean():.1f} µs, p95 {np.percentile(vals, 95):.1f} µs")
    fig.tight_layout()
    return fig


def save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("png", "svg", "pdf"):
        raise EidolaError("the output must end in .png, .svg or .pdf", path=path)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path
