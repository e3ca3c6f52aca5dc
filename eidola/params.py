"""Run parameters shared by both backends (built-in engine and gem5): one definition, one
set of defaults, units in every name."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
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


def _spec(default: Any, flag: str, unit: str, help: str, *, parse: str = "value",
          choices: tuple[str, ...] | None = None, gem5: str | None = None) -> Any:
    """A run parameter, described once: its default, the command-line flag that sets it
    (`--x-y`, dest `x_y`), its unit, help text, how the flag's text is parsed ("value": int /
    float / choice as the default's type; "size": 4KiB-style bytes; "window": a size or
    "auto"; "time": ns; "negated": a store_true flag that turns the parameter off; "path": a
    file that turns it on), and the gem5 EidolonGPU parameter it becomes (None: not one)."""
    return field(default=default, metadata={"flag": flag, "unit": unit, "help": help, "parse": parse,
                                            "choices": choices, "gem5": gem5})


@dataclass(frozen=True)
class RunParams:
    """The run specification both hosts read: argparse builds its flags from these fields
    (`add_arguments`, `from_args`), the built-in engine's core requires every field by name
    (no defaults of its own), and the gem5 glue turns them into EidolonGPU parameters
    (`gem5_params`). Validation is `__post_init__`, for both."""

    sync: str = _spec("polling", "--sync", "", "polling: waiters re-read the flag; syncmon: they "
                      "register and are notified", choices=SYNC_MODES, gem5="sync_mode")
    poll_interval_ns: float = _spec(100.0, "--poll-interval", "ns", "start-to-start gap between "
                                    "two polls of one waiter", parse="time", gem5="poll_interval")
    packet_bytes: int = _spec(4096, "--packet-size", "bytes", "writes and reads are cut into "
                              "packets of this size (e.g. 64, 4KiB, 1MiB)", parse="size", gem5="packet_size")
    max_outstanding: int = _spec(0, "--max-outstanding", "packets", "unacknowledged packets per "
                                 "stream (0: no count limit)", gem5="max_outstanding")
    # None = auto: the GPU's bandwidth-delay product (eidola.topology.routing.stream_window_bytes),
    # resolved against the topology before a run; 0 = no byte limit
    max_outstanding_bytes: int | None = _spec(None, "--max-outstanding-bytes", "bytes",
                                              "unacknowledged payload bytes per stream (auto: the "
                                              "GPU's bandwidth-delay product; 0: none)",
                                              parse="window", gem5="max_outstanding_bytes")
    poll_bytes: int = _spec(64, "--poll-bytes", "bytes", "memory bytes one polling read costs at "
                            "the flag's home", gem5="poll_bytes")
    replay: str = _spec("dependent", "--replay", "", "dependent: stream order only; timed: never "
                        "before the recorded start", choices=REPLAY_MODES, gem5="replay_mode")
    compute_scale: float = _spec(1.0, "--compute-scale", "", "multiplies every compute duration",
                                 gem5="compute_scale")
    seed: int = _spec(0, "--seed", "", "picks the recorded iteration and draws jitter", gem5="seed")
    buffer_bytes: int = _spec(0, "--buffer", "bytes", "link input buffer; 0 = auto (about 2x the "
                              "bandwidth-delay product)", parse="size")
    time_bin_ns: float = _spec(100.0, "--time-bin", "ns", "initial time-series bin (doubles to "
                               "stay within max_bins)", parse="time", gem5="time_bin")
    max_bins: int = 1024
    series: bool = _spec(True, "--no-series", "", "skip time series (large sweeps)", parse="negated",
                         gem5="series")
    trace: bool = _spec(False, "--trace", "", "write a Perfetto/Chrome trace JSON to FILE",
                        parse="path", gem5="trace")
    syncmon_wake: str = _spec("match", "--syncmon-wake", "", "change: wake on any update, the "
                              "waiter re-reads; match: wake when the value is reached",
                              choices=SYNCMON_WAKE, gem5="syncmon_wake")
    # Fallback polling of waiters the SyncMon refused: the gap doubles from poll_interval_ns up
    # to max(this, poll_interval_ns). Default: the longest single AMD s_sleep, 64 x 7 + 64 =
    # 512 clocks (Vega ISA S_SLEEP, 64 x SIMM16[2:0] + 1..64 clocks; gem5 vega/insts/sopp.cc)
    # at MI300X's 2100 MHz peak engine clock (AMD data sheet) = 243.8 ns.
    poll_backoff_max_ns: float = _spec(512 / 2.1, "--poll-backoff-max", "ns", "cap of the doubling "
                                       "gap of fallback polls (SyncMon full)", parse="time",
                                       gem5="poll_backoff_max")
    flag_stride_bytes: int = _spec(4, "--flag-stride", "bytes", "bytes between consecutive flags: 4 "
                                   "contiguous int32 (Iris), 8 uint64 (NVSHMEM), 128 one per line",
                                   parse="size")
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

    @staticmethod
    def add_arguments(parser: Any, defaults: dict[str, Any]) -> None:
        """Add a flag per parameter that has one; `defaults` (a config's, keyed by flag dest)
        override the fields' defaults."""
        for f in fields(RunParams):
            meta = f.metadata
            if not meta:
                continue
            dest = _dest(meta)
            parse = meta["parse"]
            if parse == "negated":
                parser.add_argument(meta["flag"], action="store_true", help=meta["help"])
            elif parse == "path":
                from pathlib import Path

                parser.add_argument(meta["flag"], type=Path, default=None, metavar="FILE", help=meta["help"])
            else:
                kind = {"size": size_arg, "window": window_arg, "time": float}.get(
                    parse, type(f.default) if f.default is not None else str)
                metavar = None if meta["choices"] else {"size": "BYTES", "window": "BYTES|auto",
                                                        "time": "NS"}.get(parse, "N" if kind is int else "X")
                unit = f"{meta['unit']}; " if meta["unit"] and metavar in ("N", "X") else ""
                parser.add_argument(meta["flag"], type=None if meta["choices"] else kind,
                                    choices=meta["choices"], default=defaults.get(dest, f.default),
                                    metavar=metavar, help=f"{meta['help']} ({unit}default "
                                    f"{'auto' if f.default is None else '%(default)s'})")

    @classmethod
    def from_args(cls, args: Any) -> RunParams:
        """The run parameters an argparse namespace (from `add_arguments`) asks for."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if not f.metadata:
                continue
            v = getattr(args, _dest(f.metadata))
            parse = f.metadata["parse"]
            values[f.name] = (not v) if parse == "negated" else (v is not None) if parse == "path" else v
        return cls(**values)

    def gem5_params(self) -> dict[str, Any]:
        """EidolonGPU parameters, in gem5's types: times as Latency strings ("100.0ns")."""
        out: dict[str, Any] = {}
        for f in fields(self):
            name = f.metadata.get("gem5") if f.metadata else None
            if name is None:
                continue
            v = getattr(self, f.name)
            out[name] = f"{v}ns" if f.metadata["parse"] == "time" else v
        return out


def _dest(meta: Any) -> str:
    """The argparse attribute a parameter's flag fills (`--poll-interval` -> poll_interval)."""
    return meta["flag"].lstrip("-").replace("-", "_")


def size_arg(text: str) -> int:
    """argparse type for byte sizes (4096, 64KiB, 1MiB)."""
    import argparse

    from eidola.profile.units import parse_size

    try:
        return parse_size(text, field="size")
    except EidolaError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def window_arg(text: str) -> int | None:
    return None if str(text).strip().lower() == "auto" else size_arg(text)
