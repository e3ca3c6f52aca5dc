"""Run a profile on the built-in engine (C++ core + discrete-event network, eidola._engine).

Why a thin layer: the replay rules live in C++ (shared with gem5); this module only turns a
Profile and a Topology into the arrays the core takes, and the core's arrays into a RunResult.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eidola.errors import EidolaError
from eidola.params import RunParams
from eidola.profile import Profile, read_profile
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
        "node_latency_ns": topology.node_latency_ns(),
        "hbm_bw_gbps": topology.hbm_bw_gbps,
        "mem_latency_ns": topology.mem_latency_ns,
        "syncmon_latency_ns": topology.syncmon_latency_ns,
        "buffer_bytes": params.buffer_bytes,
    }


def _time_origin_ns(profile: Profile, iteration: int, num_iterations: int) -> float:
    starts = []
    for ops in profile.ops:
        if len(ops) == 0:
            continue
        sel = ops["t_ns"] if num_iterations <= 1 else ops["t_ns"][ops["iteration"] == iteration]
        if len(sel):
            starts.append(float(sel.min()))
    return min(starts) if starts else 0.0


def run(profile: Profile | str | Path, topology: Topology, params: RunParams,
        *, max_events: int = 0) -> RunResult:
    """Replay `profile` on `topology`. Raises EidolaError on bad input, DeadlockError if stuck."""
    from eidola import _engine  # the compiled core; imported late so `eidola` imports without it
    from eidola.results import build_summary

    source = profile if isinstance(profile, (str, Path)) else None
    if source is not None:
        profile = read_profile(source)
    assert isinstance(profile, Profile)
    if profile.num_gpus > topology.num_gpus:
        raise EidolaError(f"profile has {profile.num_gpus} GPUs but topology '{topology.name}' has "
                          f"only {topology.num_gpus}", path=source, field="num_gpus")
    var = profile.variability
    num_iterations = int(profile.attrs.get("num_iterations", 1) or 1)
    iteration = params.seed % num_iterations
    config = {
        **params.to_dict(),
        "num_iterations": num_iterations,
        "compute_cv": float(var.get("compute_cv", 0.0)),
        "straggler_prob": float(var.get("straggler_prob", 0.0)),
        "straggler_slowdown": float(var.get("straggler_slowdown", 1.0)),
        "time_origin_ns": _time_origin_ns(profile, iteration, num_iterations),
        "max_events": max_events,
    }
    ops = [np.ascontiguousarray(o) for o in profile.ops]
    t0 = time.perf_counter()
    try:
        raw = _engine.run(ops, _network(topology, params), config)
    except ValueError as exc:
        raise EidolaError(str(exc), path=source) from None
    wall = time.perf_counter() - t0
    if raw["deadlock"]:
        raise DeadlockError(_deadlock_message(raw["stuck"]), path=source)
    summary = build_summary(backend="builtin", raw=raw, topology=topology, params=params,
                            profile=profile, profile_path=source, wall_seconds=wall)
    return RunResult(summary=summary, raw=raw, topology=topology)


def _deadlock_message(stuck: dict[str, np.ndarray], show: int = 6) -> str:
    n = len(stuck["gpu"])
    parts = [f"gpu {g} stream {s} waits for flag {f} >= {a} (value {v})"
             for g, s, f, a, v in zip(stuck["gpu"][:show], stuck["stream"][:show], stuck["flag"][:show],
                                      stuck["awaited"][:show], stuck["value"][:show])]
    more = f"; and {n - show} more" if n > show else ""
    return f"deadlock: {n} stream(s) can never proceed: " + "; ".join(parts) + more
