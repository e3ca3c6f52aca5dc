"""Results of one run, the same for both backends: `summary.json` (small, JSON, units in key
names) and `results.h5` (bulk series). Files are written atomically: a reader never sees a
half-written file, and a failed run leaves the outdir as it was."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np

from eidola import __version__
from eidola.params import RunParams
from eidola.topology import Topology

UNITS = {
    "makespan_ns": "ns", "gpu_finish_ns": "ns", "bytes_written": "bytes", "bytes_read": "bytes",
    "packets": "count",
    "polling_reads": "count", "polling_bytes": "bytes", "syncmon_notifications": "count",
    "events": "count", "wall_seconds": "s", "load_seconds": "s", "simulate_seconds": "s",
    "events_per_second": "events/s (simulate_seconds)", "wakeup_latency_ns": "ns", "write_latency_ns": "ns",
    "bus_bandwidth_gbps": "GB/s (10^9 bytes/s)", "algo_bandwidth_gbps": "GB/s (10^9 bytes/s)",
    "gpu_stall_ns": "ns",
    "polling_reads_remote": "count", "fallback_polls": "count", "recheck_polls": "count",
    "syncmon_registrations": "count", "syncmon_overflows": "count", "syncmon_peak_entries": "count",
    "syncmon_spurious_wakeups": "count", "syncmon_message_bytes": "bytes",
    "mem_channel_peak_util": "fraction of the busiest channel's time busy (0..1)",
}

#: Memory channels whose utilization series results.h5 keeps (the busiest ones).
TOP_MEM_CHANNELS = 16


def _count(raw: dict[str, Any], key: str, reduce=np.sum) -> int:
    """A per-GPU counter summed (or maxed); 0 when the backend does not report it."""
    v = raw.get(key)
    return int(reduce(v)) if v is not None and len(v) else 0


def _mem_channels(raw: dict[str, Any], makespan_ns: float) -> dict[str, Any]:
    """The busiest memory channel over the whole run: utilization = bytes / (bw x makespan)."""
    mb = raw.get("mem_channel_bytes")
    bw = float(raw.get("mem_channel_bw_gbps", 0.0))
    if mb is None or mb.size == 0 or bw <= 0 or makespan_ns <= 0:
        return {"mem_channel_peak_util": 0.0, "mem_channel_busiest": None}
    g, c = np.unravel_index(int(np.argmax(mb)), mb.shape)
    return {"mem_channel_peak_util": float(mb[g, c]) / (bw * makespan_ns),
            "mem_channel_busiest": {"gpu": int(g), "channel": int(c), "bytes": int(mb[g, c]),
                                    "channel_bw_gbps": bw}}


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _latency(h: dict[str, Any]) -> dict[str, float]:
    return {k: float(h[f"{k}_ns"]) if k != "count" else int(h["count"])
            for k in ("count", "mean", "p50", "p99", "max")}


def _parameters(profile_attrs: dict[str, Any]) -> dict[str, Any]:
    """The profile's `parameters` attribute as a dict (it may arrive as JSON text)."""
    params = profile_attrs.get("parameters") or {}
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            params = {}
    return params if isinstance(params, dict) else {}


def _bandwidths(profile_attrs: dict[str, Any], num_gpus: int, makespan_ns: float) -> dict[str, float]:
    """nccl-tests style algorithm and bus bandwidth for collective profiles (GB/s)."""
    kind = str(profile_attrs.get("kind", ""))
    params = _parameters(profile_attrs)
    size = params.get("size_bytes")
    if not size or makespan_ns <= 0:
        return {}
    n = num_gpus
    factor = {"allreduce": 2 * (n - 1) / n, "reducescatter": (n - 1) / n, "allgather": (n - 1) / n,
              "alltoall": (n - 1) / n, "p2p": 1.0}.get(kind)
    if factor is None:
        return {}
    algo = float(size) / makespan_ns  # bytes/ns == GB/s
    return {"algo_bandwidth_gbps": algo, "bus_bandwidth_gbps": algo * factor}


def models_of(profile_attrs: dict[str, Any]) -> str:
    """One line on what a profile models: kind, size, algorithm, library, protocol, source.

    Why: a bandwidth means little without knowing whether it is a bare ring or a library's
    schedule (a bare 8-GPU ring uses one link in seven of an MI300X).
    """
    params = _parameters(profile_attrs)
    kind = str(profile_attrs.get("kind") or "?")
    parts = [kind]
    if params.get("size_bytes"):
        from eidola.profile.units import format_size

        parts[0] += f" of {format_size(int(params['size_bytes']))}"
    if params.get("algo"):
        parts.append(f"algorithm {params['algo']}")
    lib = params.get("library")
    parts.append(f"{lib.upper()} library model" if lib else
                 ("no library model (bare schedule)" if params.get("algo") else ""))
    if params.get("proto"):
        parts.append(f"protocol {params['proto']}")
    if profile_attrs.get("importer") not in (None, "", "synth"):
        parts.append(f"imported from a {profile_attrs['importer']} trace")
    return ", ".join(p for p in parts if p)


@dataclass(frozen=True)
class ProfileMeta:
    """What results need to know about the replayed profile, without its ops."""

    num_gpus: int
    num_ops: int
    attrs: dict[str, Any]


def build_summary(*, backend: str, raw: dict[str, Any], topology: Topology, params: RunParams,
                  profile: Any, profile_path: str | Path | None, wall_seconds: float) -> dict[str, Any]:
    """summary.json's dict from a raw result (eidola.raw), whichever host filled it."""
    from eidola import raw as raw_schema

    raw_schema.check(raw, num_gpus=profile.num_gpus, num_channels=len(topology.channels()),
                     backend=backend)
    finish = [float(x) for x in raw["gpu_finish_ns"][: profile.num_gpus]]
    makespan = max(finish) if finish else 0.0
    polling_reads = int(np.sum(raw["gpu_polling_reads"]))
    summary: dict[str, Any] = {
        "backend": backend,
        "makespan_ns": makespan,
        "gpu_finish_ns": finish,
        "bytes_written": int(np.sum(raw["gpu_bytes_written"])),
        "bytes_read": int(np.sum(raw["gpu_bytes_read"])),
        "packets": int(np.sum(raw["gpu_packets"])),
        "polling_reads": polling_reads,
        "polling_bytes": polling_reads * params.poll_bytes,
        "syncmon_notifications": int(raw["notifications"]),
        "events": int(raw["events"]),
        "wall_seconds": float(wall_seconds),
        "wakeup_latency_ns": _latency(raw["wakeup_latency"]),
        "write_latency_ns": _latency(raw["write_latency"]),
        "gpu_stall_ns": [float(x) for x in raw["gpu_stall_ns"][: profile.num_gpus]],
        "stragglers": [int(g) for g in np.flatnonzero(raw["gpu_straggler"][: profile.num_gpus])],
        "polling_reads_remote": _count(raw, "gpu_polling_reads_remote"),
        "fallback_polls": _count(raw, "gpu_fallback_polls"),
        "recheck_polls": _count(raw, "gpu_recheck_polls"),
        "syncmon_registrations": _count(raw, "syncmon_registrations"),
        "syncmon_overflows": _count(raw, "syncmon_overflows"),
        "syncmon_peak_entries": _count(raw, "syncmon_peak_entries", np.max),
        "syncmon_spurious_wakeups": _count(raw, "gpu_spurious_wakeups"),
        "syncmon_message_bytes": (_count(raw, "gpu_registrations_sent") * params.syncmon_register_bytes
                                  + int(raw["notifications"]) * params.syncmon_notify_bytes
                                  + _count(raw, "gpu_refusals") * params.syncmon_notify_bytes),
    }
    if "simulate_seconds" in raw:  # built-in engine: reading the profile apart from simulating
        summary["load_seconds"] = float(raw["load_seconds"])
        summary["simulate_seconds"] = float(raw["simulate_seconds"])
        summary["events_per_second"] = (summary["events"] / summary["simulate_seconds"]
                                        if summary["simulate_seconds"] > 0 else 0.0)
    summary.update(_mem_channels(raw, makespan))
    summary.update(_bandwidths(profile.attrs, profile.num_gpus, makespan))
    summary["topology"] = topology.to_dict()
    summary["params"] = params.to_dict()
    summary["profile"] = {
        "path": str(profile_path) if profile_path else None,
        "sha256": sha256_file(profile_path) if profile_path else None,
        "name": profile.attrs.get("name"),
        "kind": profile.attrs.get("kind"),
        "models": models_of(profile.attrs),
        "num_gpus": profile.num_gpus,
        "num_ops": int(profile.num_ops),
    }
    summary["eidola_version"] = __version__
    summary["units"] = UNITS
    return summary


def sibling_temp(path: Path) -> tuple[int, str]:
    """(fd, name) of a new private temporary file next to `path`, created with O_EXCL and mode
    0666 minus the umask: once renamed over `path` it has the permissions any new file of the
    user gets (mkstemp's 0600 would leave results readable by their owner only)."""
    path = Path(path)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666), str(tmp)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name next to {path}")


@contextlib.contextmanager
def atomic_writer(path: Path, mode: str = "wb", **open_args: Any) -> Iterator[IO[Any]]:
    """A file to write that replaces `path` only when the block ends without error: written
    to a temporary file in the same directory, fsynced and renamed over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = sibling_temp(path)
    try:
        with os.fdopen(fd, mode, **open_args) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        from eidola import interrupts

        interrupts.raise_if_requested()  # a stop request that arrived while writing: discard
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory and rename over the target."""
    with atomic_writer(path) as f:
        f.write(data)


def write_summary(outdir: Path, summary: dict[str, Any]) -> Path:
    path = Path(outdir) / "summary.json"
    atomic_write_bytes(path, (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode())
    return path


#: One entry of a results.h5 layout: (path, array or None for a group, attributes).
LayoutEntry = tuple[str, "np.ndarray | None", dict[str, Any]]


def results_layout(raw: dict[str, Any], topology: Topology,
                   summary: dict[str, Any]) -> tuple[dict[str, Any], list[LayoutEntry]]:
    """What results.h5 holds, as (file attributes, entries): time series, latency histograms
    and (if traced) the per-op timeline. Laid out once here; `write_series_h5` stores it with
    h5py, or inside gem5 with the HDF5 C library (h5py cannot load there)."""
    attrs: dict[str, Any] = {"format": "eidola-results", "version": 1,
                             "summary_json": json.dumps(summary, sort_keys=True)}
    out: list[LayoutEntry] = []
    ch = topology.channels()
    out.append(("channel_endpoints", np.stack([ch["src"], ch["dst"]], axis=1).astype(np.int64),
                {"meaning": "node ids (src, dst); GPUs first, then switches"}))
    out.append(("channel_bytes", np.asarray(raw["channel_bytes"], dtype=np.uint64), {"unit": "bytes"}))
    out.append(("gpu_finish_ns", np.asarray(raw["gpu_finish_ns"], dtype=np.float64), {}))
    pt = raw["peer_traffic"]
    out.append(("peer_traffic", None, {"meaning": "one row per (src GPU, dst GPU) pair: payload "
                                                  "bytes written, packets sent"}))
    for k in ("src", "dst", "bytes", "packets"):
        out.append((f"peer_traffic/{k}", np.asarray(pt[k]), {}))
    if "link_bytes_series" in raw:
        attrs["time_bin_ns"] = float(raw["time_bin_ns"])
        # only the channels that carried bytes: a 100,000-GPU ring replaying a 2-GPU profile
        # would otherwise store gigabytes of zeros
        active = np.flatnonzero(np.asarray(raw["channel_bytes"]) > 0)
        out.append(("link_bytes", np.ascontiguousarray(np.asarray(raw["link_bytes_series"])[active]),
                    {"unit": "bytes per bin, one row per channel in link_channels"}))
        out.append(("link_channels", active.astype(np.int64),
                    {"meaning": "channel ids (rows of channel_endpoints) of the link_bytes rows; "
                                "channels not listed carried nothing"}))
        out.append(("polling_reads", np.asarray(raw["polling_series"]), {"unit": "reads per bin per GPU"}))
        out.extend(_mem_channel_layout(raw))
    for name in ("write_latency", "wakeup_latency"):
        h = raw[name]
        out.append((name, None, {**{k: float(h[k]) for k in ("mean_ns", "p50_ns", "p99_ns", "max_ns", "min_ns")},
                                 "samples": int(h["count"])}))
        out.append((f"{name}/bucket_lo_ns", np.asarray(h["bucket_lo_ns"]), {}))
        out.append((f"{name}/bucket_hi_ns", np.asarray(h["bucket_hi_ns"]), {}))
        out.append((f"{name}/count", np.asarray(h["bucket_count"]), {}))
    if "trace" in raw:
        t = raw["trace"]
        out.append(("trace", None, {}))
        for k in ("gpu", "stream", "op", "kind", "start_ns", "end_ns"):
            out.append((f"trace/{k}", np.asarray(t[k]), {}))
    return attrs, out


def _store_h5py(path: str, attrs: dict[str, Any], entries: list[LayoutEntry]) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        for k, v in attrs.items():
            f.attrs[k] = v
        for name, data, meta in entries:
            obj = f.require_group(name) if data is None else f.create_dataset(name, data=data)
            for k, v in meta.items():
                obj.attrs[k] = v


def write_series_h5(path: Path, raw: dict[str, Any], topology: Topology, summary: dict[str, Any],
                    store=None) -> None:
    """results.h5, atomically: `results_layout` stored by `store(path, attrs, entries)`
    (h5py by default)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    attrs, entries = results_layout(raw, topology, summary)
    fd, tmp = sibling_temp(path)
    os.close(fd)
    try:
        (store or _store_h5py)(tmp, attrs, entries)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mem_channel_layout(raw: dict[str, Any]) -> list[LayoutEntry]:
    """/mem_channel_util: utilization over time of the TOP_MEM_CHANNELS busiest channels."""
    series, mb = raw.get("mem_channel_series"), raw.get("mem_channel_bytes")
    bw = float(raw.get("mem_channel_bw_gbps", 0.0))
    if series is None or mb is None or bw <= 0:
        return []
    flat = mb.reshape(-1)
    top = np.argsort(-flat.astype(np.int64), kind="stable")[:TOP_MEM_CHANNELS]
    top = top[flat[top] > 0]
    bin_ns = float(raw["time_bin_ns"])
    return [("mem_channel_util", series[top].astype(np.float64) / (bw * bin_ns),
             {"unit": "fraction of the channel's bandwidth used per bin (0..1)"}),
            ("mem_channel_ids", np.stack([top // mb.shape[1], top % mb.shape[1]], axis=1).astype(np.int64),
             {"meaning": "(gpu, channel) of each row of mem_channel_util, busiest first"})]


def write_run(outdir: str | Path, summary: dict[str, Any], raw: dict[str, Any] | None,
              topology: Topology, store=None) -> Path:
    """Write results.h5 (if there are series) then summary.json: summary last marks completion.

    The old summary.json goes first, so an interruption never leaves it next to new series.
    """
    from eidola.outdir import begin_writing

    outdir = Path(outdir)
    begin_writing(outdir)
    if raw is not None:
        write_series_h5(outdir / "results.h5", raw, topology, summary, store)
    return write_summary(outdir, summary)
