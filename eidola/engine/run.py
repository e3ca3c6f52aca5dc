"""Run a profile on the built-in engine (C++ core + discrete-event network, eidola._engine).

Why a thin layer: the replay rules live in C++ (shared with gem5); this module only turns a
Profile and a Topology into the arrays the core takes, and the core's arrays into a RunResult.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from eidola.errors import EidolaError
from eidola.params import RunParams
from eidola.profile import Profile, open_profile
from eidola.topology.routing import channel_rings, stream_window_bytes
from eidola.profile.streaming import LazyProfile
from eidola.profile.validate import ReplayGate
from eidola.topology import Topology


class DeadlockError(EidolaError):
    """Nothing could progress while streams still waited on flags."""


@dataclass
class RunResult:
    """Everything one run produced: `summary` (JSON-ready) plus bulk numpy series."""

    summary: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)  # the core's arrays (series, histograms, trace)
    topology: Topology = field(repr=False)

    @property
    def makespan_ns(self) -> float:
        return float(self.summary["makespan_ns"])


def _network(topology: Topology, params: RunParams) -> dict[str, Any]:
    ch = topology.channels()
    return {
        "num_gpus": topology.num_gpus,
        "num_nodes": topology.num_nodes,
        "channel_src": ch["src"], "channel_dst": ch["dst"],
        "channel_bw_gbps": ch["bw_gbps"], "channel_latency_ns": ch["latency_ns"],
        "channel_ring": channel_rings(topology),
        "channel_arbitrate_flows": (ch["src"] < topology.num_gpus) & np.isin(ch["dst"], topology.nic_nodes()),
        "ecmp": bool(topology.ecmp), "ecmp_seed": int(params.seed),
        "gpus_forward": bool(topology.gpus_forward),
        "node_latency_ns": topology.node_latency_ns(),
        "hbm_bw_gbps": topology.hbm_bw_gbps,
        "mem_latency_ns": topology.mem_latency_ns,
        "syncmon_latency_ns": topology.syncmon_latency_ns,
        "mem_channels": topology.mem_channels,
        "mem_interleave_bytes": topology.mem_interleave_bytes,
        "syncmon_entries": topology.syncmon_entries,
        "buffer_bytes": params.buffer_bytes,
    }


def _time_origin_ns(chunks: Iterable[np.ndarray], iteration: int, num_iterations: int) -> float:
    """Earliest recorded start among the replayed iteration's ops (timed replay's zero)."""
    best = np.inf
    for ops in chunks:
        sel = ops["t_ns"] if num_iterations <= 1 else ops["t_ns"][ops["iteration"] == iteration]
        if len(sel):
            best = min(best, float(sel.min()))
    return 0.0 if best == np.inf else best


#: progress callback: (simulated ns, events, ops done, ops total), called every 2^20 events
Progress = Callable[[float, int, int, int], None]


def run(profile: Profile | LazyProfile | str | Path, topology: Topology, params: RunParams,
        *, max_events: int = 0, progress: Progress | None = None) -> RunResult:
    """Replay `profile` (in memory, or a file streamed GPU by GPU) on `topology`.

    `progress`, if given, is called now and then during the run (see `Progress`); an exception
    it raises stops the run and propagates. Raises EidolaError on bad input and DeadlockError
    when waits can never be satisfied.
    """
    from eidola import interrupts

    def hook(sim_ns: float, events: int, done: int, total: int) -> None:
        interrupts.raise_if_requested()
        if progress is not None:
            progress(sim_ns, events, done, total)

    extra = {"progress": hook}
    if isinstance(profile, LazyProfile):  # made by a generator: nothing to check
        return _run(profile.num_gpus, profile.attrs, profile.variability, lambda g: iter(()),
                    profile.gpu_ops, profile.num_ops, topology, params, max_events, None,
                    origin=profile.time_origin_ns, extra=extra)
    # One set of rules with `eidola profile validate`, applied while the ops are handed over:
    # a file is read (and decompressed) once, and a bad profile is refused before simulating.
    if isinstance(profile, (str, Path)):
        with open_profile(profile) as reader:
            gate = ReplayGate(reader.num_gpus, int(reader.attrs.get("num_iterations", 1) or 1),
                              dict(reader.variability), Path(profile))
            return _run(reader.num_gpus, reader.attrs, reader.variability,
                        lambda g: reader.iter_ops(g), reader.read_ops,
                        sum(reader.num_ops(g) for g in range(reader.num_gpus)),
                        topology, params, max_events, Path(profile), extra=extra, gate=gate)
    gate = ReplayGate(profile.num_gpus, profile.num_iterations, profile.variability)
    return _run(profile.num_gpus, profile.attrs, profile.variability,
                lambda g: iter([profile.ops[g]]), lambda g: profile.ops[g], profile.num_ops,
                topology, params, max_events, None, extra=extra, gate=gate)


def _run(num_gpus: int, attrs: dict[str, Any], variability: dict[str, float],
         chunks_of: Callable[[int], Iterator[np.ndarray]], ops_of: Callable[[int], np.ndarray],
         num_ops: int, topology: Topology, params: RunParams, max_events: int,
         source: Path | None, origin: float | None = None,
         extra: dict[str, Any] | None = None, gate: ReplayGate | None = None) -> RunResult:
    from eidola import _engine  # the compiled core; imported late so `eidola` imports without it
    from eidola.results import ProfileMeta, build_summary

    if num_gpus > topology.num_gpus:
        raise EidolaError(f"profile has {num_gpus} GPUs but topology '{topology.name}' has "
                          f"only {topology.num_gpus}", path=source, field="num_gpus")
    _check_memory(num_gpus, num_ops, topology, params)
    if params.max_outstanding_bytes is None:  # auto: resolved here so the summary shows it
        params = replace(params, max_outstanding_bytes=stream_window_bytes(topology, params.packet_bytes))
    num_iterations = int(attrs.get("num_iterations", 1) or 1)
    iteration = params.seed % num_iterations
    if origin is None and params.replay != "timed":
        origin = 0.0  # only timed replay uses recorded start times: skip a pass over the ops
    if origin is None:
        origin = _time_origin_ns((c for g in range(num_gpus) for c in chunks_of(g)), iteration,
                                 num_iterations)
    config = {
        **params.to_dict(),
        "num_gpus": num_gpus,
        "num_iterations": num_iterations,
        "compute_cv": float(variability.get("compute_cv", 0.0)),
        "straggler_prob": float(variability.get("straggler_prob", 0.0)),
        "straggler_slowdown": float(variability.get("straggler_slowdown", 1.0)),
        "time_origin_ns": origin,
        "max_events": max_events,
        **(extra or {}),
    }
    def feed() -> Iterator[np.ndarray]:
        """Each GPU's ops in turn; the gate's last check runs when the core asks past the
        last GPU, so a refused profile never starts simulating."""
        from eidola import interrupts

        for g in range(num_gpus):
            ops = np.ascontiguousarray(ops_of(g))
            yield ops if gate is None else gate.checked(g, ops)
        if gate is not None:
            gate.finish()
        interrupts.raise_if_requested()  # a stop that came while the checks ran in library code

    ops = feed()
    t0 = time.perf_counter()
    try:
        raw = _engine.run(ops, _network(topology, params), config)
    except ValueError as exc:
        raise EidolaError(str(exc), path=source) from None
    wall = time.perf_counter() - t0
    if raw["deadlock"]:
        raise DeadlockError(_deadlock_message(raw["stuck"]), path=source)
    if raw["event_limit"]:  # a partial run is not a result
        raise EidolaError(f"stopped after {int(raw['events']):,} events (max_events) before every "
                          "GPU finished", path=source, field="max_events")
    meta = ProfileMeta(num_gpus=num_gpus, num_ops=num_ops, attrs=attrs)
    summary = build_summary(backend="builtin", raw=raw, topology=topology, params=params,
                            profile=meta, profile_path=source, wall_seconds=wall)
    return RunResult(summary=summary, raw=raw, topology=topology)


def _check_memory(num_gpus: int, num_ops: int, topology: Topology, params: RunParams) -> None:
    """Refuse a run whose fixed-size state cannot fit, before building it.

    Counted: the replayed ops (the core keeps a 40-byte record each), every directed link
    (queues and credit state: about 200 bytes), with --series the time series (8 bytes per bin
    per link and per GPU), and with --trace the per-op timeline (48 bytes an op). Packets in flight are bounded by the windows and
    buffers and left out.
    """
    from eidola.memory import check_fits, gib

    channels = 2 * len(topology.links)
    series = (channels + topology.num_gpus) * params.max_bins * 8 if params.series else 0
    need = 40 * num_ops + 200 * channels + series + (48 * num_ops if params.trace else 0)
    hint = ("--no-series drops the per-link time series (" + gib(series) + ")" if series > need / 2
            else "use fewer GPUs or a smaller profile")
    check_fits(need, f"this run ({num_ops:,} ops, {channels:,} directed links, {topology.num_gpus} GPUs)",
               hint, field="gpus")


def _deadlock_message(stuck: dict[str, np.ndarray], show: int = 6) -> str:
    n = len(stuck["gpu"])
    if n == 0:  # no stream waits on a flag: ops are held up inside the network itself
        return ("deadlock: streams still have work but no event can happen (packets wait for "
                "link buffer space that is never freed); try a larger --buffer")
    parts = [f"gpu {g} stream {s} waits for flag {f} >= {a} (value {v})"
             for g, s, f, a, v in zip(stuck["gpu"][:show], stuck["stream"][:show], stuck["flag"][:show],
                                      stuck["awaited"][:show], stuck["value"][:show])]
    more = f"; and {n - show} more" if n > show else ""
    return f"deadlock: {n} stream(s) can never proceed: " + "; ".join(parts) + more
