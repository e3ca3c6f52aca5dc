"""One pass over a Kineto trace file, keeping only what the importer needs.

Why streaming: a real training trace can be hundreds of megabytes of JSON; `json.load` would
hold every event as a Python dict (roughly 10x the file size). This reader parses with ijson's
C backend and keeps, per event kind the importer uses, only compact fields:
- collective kernels (GPU events of category ``kernel`` whose name mentions nccl/rccl), with
  their args: the only kernels that become traffic;
- kernel launches (runtime/driver events named ``*Launch*``: cudaLaunchKernel,
  cudaLaunchKernelExC, cuLaunchKernel(Ex), hipLaunchKernel, hipExtLaunchKernel,
  hipModuleLaunchKernel, ...) as three numbers each in flat arrays: correlation, time, thread;
- CPU-side communication events (``nccl:*``, ``rccl:*``, ``record_param_comms``,
  ``c10d::*``, ``ProcessGroupNCCL::*``) with their args;
- profiler steps (``ProfilerStep#N``).
Memory is then bounded by the number of kernel launches (24 B each) plus the communication
events, not by the file size. The peak for the shared traces is measured by
bench/bench_import.py.
"""

from __future__ import annotations

import gzip
import re
import zlib
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import ijson
import numpy as np

from eidola.errors import EidolaError
from eidola.profile.importers._common import check_input

_CHUNK_BYTES = 1 << 20
_COMM_KERNEL_RE = re.compile(r"nccl|rccl|msccl", re.IGNORECASE)  # MSCCL: RCCL's custom algorithms
_COMM_OP_RE = re.compile(r"^(nccl:|rccl:|record_param_comms$|c10d::|ProcessGroupNCCL::)")
_STEP_RE = re.compile(r"^ProfilerStep#(\d+)$")
_CPU_CATS = ("cpu_op", "user_annotation", "operator", "python_function", "")


def num(x: Any) -> float | None:
    """`x` as a finite float, or None."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


@dataclass
class Kernel:
    """A collective kernel as recorded (times in microseconds, the trace's unit)."""

    name: str
    ts_us: float
    dur_us: float
    device: Any          # Kineto's pid of GPU events: the device
    stream: Any          # Kineto's tid of GPU events: the stream
    args: dict[str, Any]
    index: int           # position in the file, for messages


@dataclass
class CommOp:
    """A CPU-side communication event (annotation or operator)."""

    name: str
    ts_us: float
    end_us: float
    thread: int          # index into RawTrace.threads
    args: dict[str, Any]
    index: int


@dataclass
class Step:
    number: int          # N of ProfilerStep#N
    ts_us: float
    end_us: float


@dataclass
class RawTrace:
    """What one Kineto file holds that the importer uses."""

    path: Path
    distributed: dict[str, Any]
    kernels: list[Kernel] = field(default_factory=list)
    comm_ops: list[CommOp] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    threads: dict[tuple[Any, Any], int] = field(default_factory=dict)
    first_kernel_us: float = float("inf")
    last_kernel_end_us: float = float("-inf")
    num_kernels: int = 0
    num_events: int = 0
    # launches, sorted by correlation after reading
    launch_corr: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    launch_ts_us: np.ndarray = field(default_factory=lambda: np.zeros(0))
    launch_thread: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    launch_ext: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def launch_of(self, correlation: Any) -> tuple[float, int, int | None] | None:
        """(time in us, thread index, External id or None) of the launch with `correlation`."""
        c = _as_int(correlation)
        if c is None or len(self.launch_corr) == 0:
            return None
        i = int(np.searchsorted(self.launch_corr, c))
        if i >= len(self.launch_corr) or self.launch_corr[i] != c:
            return None
        ext = int(self.launch_ext[i])
        return float(self.launch_ts_us[i]), int(self.launch_thread[i]), (None if ext < 0 else ext)


def _as_int(x: Any) -> int | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return x
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return None


class _Collector:
    def __init__(self, path: Path):
        self.raw = RawTrace(path=path, distributed={})
        self._corr = array("q")
        self._ts = array("d")
        self._thread = array("q")
        self._ext = array("q")

    def thread_id(self, pid: Any, tid: Any) -> int:
        key = (pid, tid)
        t = self.raw.threads.get(key)
        if t is None:
            t = self.raw.threads[key] = len(self.raw.threads)
        return t

    def add(self, e: Any) -> None:
        raw = self.raw
        raw.num_events += 1
        if not isinstance(e, dict):
            return
        ph = e.get("ph", "X")
        if ph not in ("X", None):
            return
        ts = num(e.get("ts"))
        if ts is None:
            return
        dur = max(0.0, num(e.get("dur")) or 0.0)
        cat = str(e.get("cat", "")).lower()
        name = e.get("name")
        name = name if isinstance(name, str) else str(name or "")
        args = e.get("args")
        args = args if isinstance(args, dict) else {}
        if cat == "kernel":
            raw.num_kernels += 1
            raw.first_kernel_us = min(raw.first_kernel_us, ts)
            raw.last_kernel_end_us = max(raw.last_kernel_end_us, ts + dur)
            if _COMM_KERNEL_RE.search(name):
                raw.kernels.append(Kernel(name, ts, dur, e.get("pid"), e.get("tid"), args,
                                          raw.num_events - 1))
        elif ("runtime" in cat or "driver" in cat) and "launch" in name.lower():
            corr = _as_int(args.get("correlation"))
            if corr is not None:
                ext = _as_int(args.get("External id"))
                self._corr.append(corr)
                self._ts.append(ts)
                self._thread.append(self.thread_id(e.get("pid"), e.get("tid")))
                self._ext.append(-1 if ext is None else ext)
        elif cat in _CPU_CATS:
            m = _STEP_RE.match(name)
            if m:
                raw.steps.append(Step(int(m.group(1)), ts, ts + dur))
            elif _COMM_OP_RE.match(name):
                raw.comm_ops.append(CommOp(name, ts, ts + dur, self.thread_id(e.get("pid"), e.get("tid")),
                                           args, raw.num_events - 1))

    def finish(self) -> RawTrace:
        raw = self.raw
        corr = np.frombuffer(self._corr, dtype=np.int64) if len(self._corr) else np.zeros(0, np.int64)
        order = np.argsort(corr, kind="stable")
        raw.launch_corr = corr[order]
        raw.launch_ts_us = (np.frombuffer(self._ts, dtype=np.float64) if len(self._ts) else np.zeros(0))[order]
        raw.launch_thread = (np.frombuffer(self._thread, dtype=np.int64) if len(self._thread)
                             else np.zeros(0, np.int64))[order]
        raw.launch_ext = (np.frombuffer(self._ext, dtype=np.int64) if len(self._ext)
                          else np.zeros(0, np.int64))[order]
        raw.kernels.sort(key=lambda k: (k.ts_us, k.index))
        raw.comm_ops.sort(key=lambda o: (o.thread, o.ts_us, -o.end_us))
        raw.steps.sort(key=lambda s: s.ts_us)
        return raw


def _open(path: Path) -> BinaryIO:
    with open(path, "rb") as f:
        head = f.read(2)
    return gzip.open(path, "rb") if head == b"\x1f\x8b" else open(path, "rb")  # type: ignore[return-value]


def _first_byte(path: Path) -> bytes:
    with _open(path) as f:
        while True:
            block = f.read(4096)
            if not block:
                return b""
            stripped = block.lstrip()
            if stripped:
                return stripped[:1]


def read_trace(path: Path) -> RawTrace:
    """Stream `path` (.json or gzip, recognised by content) into a RawTrace."""
    check_input(path)
    col = _Collector(path)
    try:
        first = _first_byte(path)
        if not first:
            raise EidolaError("empty trace (no JSON document)", path=path)
        if first not in (b"{", b"["):
            raise EidolaError("not a JSON trace (expected an object with 'traceEvents' or an "
                              "array of events)", path=path)
        events: list[Any] = ijson.sendable_list()
        dist: list[Any] = ijson.sendable_list()
        prefix = "traceEvents.item" if first == b"{" else "item"
        ev_coro = ijson.items_coro(events, prefix, use_float=True)
        dist_coro = ijson.items_coro(dist, "distributedInfo", use_float=True) if first == b"{" else None
        with _open(path) as f:
            while True:
                chunk = f.read(_CHUNK_BYTES)
                if not chunk:
                    break
                ev_coro.send(chunk)
                for e in events:
                    col.add(e)
                del events[:]
                if dist_coro is not None:
                    dist_coro.send(chunk)
                    if dist:
                        col.raw.distributed = dist[0] if isinstance(dist[0], dict) else {}
                        dist_coro = None  # found: stop parsing the document twice
        ev_coro.close()
        for e in events:
            col.add(e)
        if dist_coro is not None:
            dist_coro.close()
            if dist and isinstance(dist[0], dict):
                col.raw.distributed = dist[0]
    except EidolaError:
        raise
    except (OSError, EOFError, zlib.error) as exc:
        raise EidolaError(f"cannot read: {exc}", path=path) from None
    except UnicodeDecodeError:
        raise EidolaError("not a JSON text file (binary content)", path=path) from None
    except (RecursionError, MemoryError):
        raise EidolaError(f"event {col.raw.num_events}: too deeply nested or too large to read",
                          path=path, field="traceEvents") from None
    except ijson.JSONError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "premature" in msg.lower():
            msg = f"truncated ({msg})"
        raise EidolaError(f"not valid JSON: {msg}", path=path) from None
    if col.raw.num_events == 0:
        raise EidolaError("no trace events (expected an object with a 'traceEvents' list, or an "
                          "array of events)", path=path, field="traceEvents")
    return col.finish()
