"""The raw result of one run: what each host hands to `eidola.results`, field by field.

Why one schema: the built-in engine and gem5 used to assemble summary.json each in their own
way, and gem5 reached into private helpers to do it. Now both fill the same fields (the
per-GPU ones by one C++ filler, src_cc/python/raw_result.hh, from the core's own records),
`check` holds each host to them, and `eidola.results.build_summary` / `write_run` are the only
code that turns them into summary.json and results.h5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RawField:
    """One field: its shape (in words), unit, meaning, and whether every run must have it."""

    name: str
    shape: str      # "scalar", "gpu", "gpu x mem channel", "channel", "channel x bin", ...
    unit: str
    meaning: str
    required: bool = True


_GPU_COUNTS = (
    ("gpu_bytes_written", "bytes", "payload bytes the GPU wrote to peers (multicast counted once)"),
    ("gpu_bytes_read", "bytes", "payload bytes the GPU read from peers"),
    ("gpu_packets", "count", "write, read and signal packets the GPU sent"),
    ("gpu_polling_reads", "count", "flag polls the GPU issued"),
    ("gpu_polling_reads_remote", "count", "of those, polls of a flag in another GPU's memory"),
    ("gpu_fallback_polls", "count", "polls of waiters a full SyncMon table refused"),
    ("gpu_recheck_polls", "count", "re-reads after a wake on change (--syncmon-wake change)"),
    ("gpu_notifications", "count", "SyncMon notifications the GPU received"),
    ("gpu_registrations_sent", "count", "SyncMon registrations the GPU sent"),
    ("gpu_refusals", "count", "registrations refused because the table was full"),
    ("gpu_spurious_wakeups", "count", "wakes whose re-read found the flag still short"),
    ("gpu_straggler", "0/1", "1 if the GPU was drawn as a straggler"),
    ("syncmon_registrations", "count", "entries the SyncMon at this GPU took"),
    ("syncmon_overflows", "count", "registrations the SyncMon at this GPU refused"),
    ("syncmon_peak_entries", "count", "most entries the SyncMon at this GPU held at once"),
)

FIELDS: tuple[RawField, ...] = (
    RawField("events", "scalar", "count", "simulation events (built-in: engine events; gem5: "
             "packets plus polls, gem5 does not count its own events here)"),
    RawField("notifications", "scalar", "count", "SyncMon notifications delivered"),
    RawField("gpu_finish_ns", "gpu", "ns", "when the GPU's last stream finished"),
    RawField("gpu_stall_ns", "gpu", "ns", "stream time blocked on waits and windows, summed over streams"),
    *(RawField(n, "gpu", u, m) for n, u, m in _GPU_COUNTS),
    RawField("mem_channel_bytes", "gpu x mem channel", "bytes", "bytes each HBM channel served"),
    RawField("mem_channel_bw_gbps", "scalar", "GB/s", "bandwidth of one HBM channel"),
    RawField("channel_bytes", "channel", "bytes", "bytes that crossed each topology channel"),
    RawField("peer_traffic", "pair rows: src, dst, bytes, packets", "bytes, count",
             "payload and packets per (source GPU, destination GPU) pair that carried any"),
    RawField("write_latency", "histogram", "ns", "packet issue to acknowledgement"),
    RawField("wakeup_latency", "histogram", "ns", "flag satisfiable (or wait start) to the stream resuming"),
    RawField("time_bin_ns", "scalar", "ns", "width of one series bin", required=False),
    RawField("link_bytes_series", "channel x bin", "bytes", "bytes that crossed each channel per bin",
             required=False),
    RawField("polling_series", "gpu x bin", "count", "polls each GPU issued per bin", required=False),
    RawField("mem_channel_series", "gpu*mem channel x bin", "bytes", "bytes each HBM channel "
             "served per bin (absent when there are too many channels)", required=False),
    RawField("trace", "op rows: gpu, stream, op, kind, start_ns, end_ns", "ns",
             "per-op timeline (--trace)", required=False),
)

_HIST_KEYS = ("count", "mean_ns", "p50_ns", "p99_ns", "max_ns", "min_ns", "bucket_lo_ns",
              "bucket_hi_ns", "bucket_count")


def check(raw: dict[str, Any], *, num_gpus: int, num_channels: int, backend: str) -> None:
    """Raise RuntimeError when a host's raw result breaks the schema (a bug, not bad input)."""

    def fail(problem: str) -> None:
        raise RuntimeError(f"{backend} raw result: {problem}")

    for f in FIELDS:
        if f.name not in raw:
            if f.required:
                fail(f"missing field '{f.name}'")
            continue
        v = raw[f.name]
        if f.shape == "gpu" and len(np.asarray(v)) < num_gpus:
            fail(f"'{f.name}' has {len(np.asarray(v))} entries for {num_gpus} GPUs")
        if f.shape in ("channel", "channel x bin") and len(np.asarray(v)) != num_channels:
            fail(f"'{f.name}' has {len(np.asarray(v))} rows for {num_channels} channels")
        if f.shape == "histogram" and any(k not in v for k in _HIST_KEYS):
            fail(f"histogram '{f.name}' lacks {[k for k in _HIST_KEYS if k not in v]}")
    series = [k for k in ("link_bytes_series", "polling_series") if k in raw]
    if series and "time_bin_ns" not in raw:
        fail("series without time_bin_ns")
    widths = {np.asarray(raw[k]).shape[1] for k in series + ["mem_channel_series"] if k in raw}
    if len(widths) > 1:
        fail(f"series of different lengths {sorted(widths)}")


def fold_series(rows: list[np.ndarray], bin_ns: list[float]) -> tuple[np.ndarray, float]:
    """Rows binned at different widths (each a power-of-two multiple of the narrowest, as
    gem5's per-object series are) summed into the widest width, padded to one length."""
    if not rows:
        return np.zeros((0, 1), dtype=np.uint64), 0.0
    width = max(bin_ns)
    folded = []
    for row, w in zip(rows, bin_ns):
        factor = int(round(width / w))
        if factor < 1 or abs(factor * w - width) > 1e-9 * width:
            raise RuntimeError(f"series bin {w} ns does not divide {width} ns")
        row = np.asarray(row, dtype=np.uint64)
        pad = (-len(row)) % factor
        row = np.concatenate([row, np.zeros(pad, dtype=np.uint64)])
        folded.append(row.reshape(-1, factor).sum(axis=1, dtype=np.uint64))
    bins = max(1, max(len(r) for r in folded))
    out = np.zeros((len(folded), bins), dtype=np.uint64)
    for i, r in enumerate(folded):
        out[i, :len(r)] = r
    return out, width
