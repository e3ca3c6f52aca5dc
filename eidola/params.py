"""Run parameters shared by both backends (built-in engine and gem5): one definition, one
set of defaults, units in every name."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from eidola.errors import EidolaError

SYNC_MODES = ("polling", "syncmon")

#: Largest time any single parameter may take, ns. Times are 64-bit picoseconds inside the core
#: (2^64 ps = 1.8e10 s); 1e12 ns (1000 s) per parameter leaves room for the sums of millions
#: of them, where a larger or infinite value would wrap around or never end.
MAX_TIME_NS = 1e12
#: Largest bandwidth, GB/s: 1e6 GB/s is 1000x any link or memory built; above it, per-byte
#: times round to zero picoseconds.
MAX_BW_GBPS = 1e6


def check_time_ns(value: float, field: str, *, positive: bool = False) -> None:
    """One-line error unless `value` is a finite time in [0 (or > 0), MAX_TIME_NS] ns."""
    ok = isinstance(value, (int, float)) and value == value and (value > 0 if positive else value >= 0) \
        and value <= MAX_TIME_NS
    if not ok:
        raise EidolaError(f"must be a finite time {'>' if positive else '>='} 0 and <= {MAX_TIME_NS:g} ns, "
                          f"got {value!r}", field=field)


def check_bw_gbps(value: float, field: str) -> None:
    """One-line error unless `value` is a finite bandwidth in (0, MAX_BW_GBPS] GB/s."""
    if not (isinstance(value, (int, float)) and 0 < value <= MAX_BW_GBPS):
        raise EidolaError(f"must be a bandwidth > 0 and <= {MAX_BW_GBPS:g} GB/s, got {value!r}", field=field)
#: What a SyncMon notification means. "change": the monitor wakes every waiter of an address
#: on any update and the waiter re-reads the flag (AMD US 12,131,199: resume on a memory access
#: to the monitored address, then re-check); "match": the monitor compares with the awaited
#: value and wakes only satisfied waiters.
SYNCMON_WAKE = ("match", "change")
REPLAY_MODES = ("dependent", "timed")


@dataclass(frozen=True)
class RunParams:
    sync: str = "polling"            # polling | syncmon
    poll_interval_ns: float = 100.0  # start-to-start gap between two polls of one waiter
    packet_bytes: int = 4096         # writes/reads are cut into packets of this size
    max_outstanding: int = 0         # unacknowledged packets per stream; 0 = no count limit
    # unacknowledged payload bytes per stream; None = the GPU's bandwidth-delay product
    # (eidola.topology.routing.stream_window_bytes), 0 = no byte limit
    max_outstanding_bytes: int | None = None
    poll_bytes: int = 64             # memory bytes one polling read costs at the flag's home
    replay: str = "dependent"        # dependent: stream order only; timed: never before t_ns
    compute_scale: float = 1.0       # multiplies every compute duration
    seed: int = 0                    # picks the recorded iteration and draws jitter
    buffer_bytes: int = 0            # per-link input buffer; 0 = auto (about 2x bandwidth-delay)
    time_bin_ns: float = 100.0       # initial time-series bin (doubles to stay within max_bins)
    max_bins: int = 1024
    series: bool = True              # record link-bytes and polling time series
    trace: bool = False              # record a per-op timeline (for --trace)
    syncmon_wake: str = "match"      # match | change (see SYNCMON_WAKE)
    # Fallback polling of waiters the SyncMon refused: the gap doubles from poll_interval_ns up
    # to max(this, poll_interval_ns). Default: the longest single AMD s_sleep, 64 x 7 + 64 =
    # 512 clocks (Vega ISA S_SLEEP, 64 x SIMM16[2:0] + 1..64 clocks; gem5 vega/insts/sopp.cc)
    # at MI300X's 2100 MHz peak engine clock (AMD data sheet) = 243.8 ns.
    poll_backoff_max_ns: float = 512 / 2.1
    flag_stride_bytes: int = 4       # flag f at flag_base + f * stride (Iris: contiguous int32)
    syncmon_register_bytes: int = 16  # a registration message: 8 B address + 8 B value
    syncmon_notify_bytes: int = 8    # a notification or refusal message

    def __post_init__(self) -> None:
        if self.sync not in SYNC_MODES:
            raise EidolaError(f"unknown sync mode '{self.sync}' (polling or syncmon)", field="sync")
        if self.syncmon_wake not in SYNCMON_WAKE:
            raise EidolaError(f"unknown SyncMon wake mode '{self.syncmon_wake}' (change or match)",
                              field="syncmon-wake")
        if self.replay not in REPLAY_MODES:
            raise EidolaError(f"unknown replay mode '{self.replay}' (dependent or timed)", field="replay")
        for field, value, positive in (("poll-interval", self.poll_interval_ns, True),
                                       ("time-bin", self.time_bin_ns, True),
                                       ("poll-backoff-max", self.poll_backoff_max_ns, False)):
            check_time_ns(value, field, positive=positive)
        checks = (("poll-interval", self.poll_interval_ns > 0, "must be positive (ns)"),
                  ("packet-size", 0 < self.packet_bytes < 2**32, "must be between 1 byte and 4 GiB"),
                  ("max-outstanding", 0 <= self.max_outstanding < 2**32, "must be from 0 (no count limit) to 2^32 - 1"),
                  ("max-outstanding-bytes", self.max_outstanding_bytes is None
                   or 0 <= self.max_outstanding_bytes < 2**63, "must be auto or from 0 (no byte limit) up"),
                  ("max-outstanding", self.max_outstanding > 0 or self.max_outstanding_bytes != 0,
                   "cannot be 0 together with --max-outstanding-bytes 0 (nothing would bound a stream)"),
                  ("poll-bytes", self.poll_bytes >= 1, "must be at least 1"),
                  ("compute-scale", 0 <= self.compute_scale <= 1e6, "must be from 0 to 1e6"),
                  ("seed", 0 <= self.seed < 2**64, "must be from 0 to 2^64 - 1"),
                  ("buffer", self.buffer_bytes >= 0, "must not be negative"),
                  ("time-bin", self.time_bin_ns > 0, "must be positive (ns)"),
                  ("max-bins", self.max_bins >= 2, "must be at least 2"),
                  ("poll-backoff-max", self.poll_backoff_max_ns >= 0, "must not be negative (ns)"),
                  ("flag-stride", 1 <= self.flag_stride_bytes <= 2**20, "must be 1 byte to 1 MiB"))
        for field, ok, problem in checks:
            if not ok:
                raise EidolaError(problem, field=field)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
