"""Build and run a gem5 system from an eidola Topology and a profile.

Per GPU: an EidolonGPU on a NoncoherentXBar (its local fabric), an EidolaSyncMon (flags and the
watch table) in front of an EidolaMemory (the HBM as address-interleaved channels, the built-in
engine's timing). Per switch: a
NoncoherentXBar whose forwarding latency is the switch latency. Per direction of every link:
an EidolaLink with the link's bandwidth and latency (gem5's SerialLink charges write
acknowledgements the write's size; see src_cc/gem5/eidola_link.hh), carrying the address
ranges of the GPUs routed through it (eidola.topology.routing: the built-in engine's routes). Crossbars are wide
and 1 GHz so that they add no bandwidth limit of their own. With `--network garnet` the links and
switches are a Garnet network instead (eidola.gem5.garnet), reached through a bridge per GPU.
"""

from __future__ import annotations

import json
import time
from argparse import Namespace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eidola.errors import EidolaError
from eidola.params import RunParams
from eidola.topology import Topology
from eidola.topology.routing import destinations_per_channel

if TYPE_CHECKING:
    from eidola.gem5.garnet_plan import GarnetPlan

MEM_BASE = 0x1_0000_0000       # GPU 0's region starts at 4 GiB
REGION = 0x4000_0000           # 1 GiB per GPU
DATA_SIZE = REGION // 2        # data window: profile byte offsets wrap inside it
FLAG_OFFSET = REGION // 2      # flags: 8 bytes each
WATCH_OFFSET = 3 * REGION // 4 # SyncMon watch registers: 8 bytes per flag
WINDOW = REGION // 4
XBAR_WIDTH = 1 << 16           # bytes per 1 GHz cycle: no bandwidth limit of its own
MAX_MEM_SERIES_ROWS = 4096     # GPU x memory channel series kept up to this many rows


def _region(g: int) -> int:
    return MEM_BASE + g * REGION


def build(topo: Topology, params: RunParams, profile: str, header: dict[str, Any],
          garnet: GarnetPlan | None = None):
    """The gem5 system; `garnet` replaces the classic links and switches by a Garnet network."""
    import m5.objects as mo  # noqa: PLC0415 (gem5 only)

    n = topo.num_gpus
    var = header.get("variability", {})
    origin = 0.0
    if params.replay == "timed":  # the same zero as the built-in engine: the earliest start
        from eidola.gem5 import profile_time_origin

        origin = profile_time_origin(profile, params.seed % max(1, int(header.get("num_iterations", 1))))
    system = mo.System()
    system.clk_domain = mo.SrcClockDomain(clock="1GHz", voltage_domain=mo.VoltageDomain())
    system.mem_mode = "timing"
    system.mem_ranges = [mo.AddrRange(_region(g), size=REGION) for g in range(n)]

    # time series as the built-in engine keeps them (each object at its own bin width; the
    # glue folds them to one)
    run_params = {**params.gem5_params(), "max_bins": params.max_bins}  # the one run specification
    series = {k: run_params[k] for k in ("series", "time_bin", "max_bins")}
    # memory channels get series up to the built-in engine's row limit
    # (EngineConfig::max_mem_series_rows in src_cc/core/network/net_engine.hh)
    mem_rows_kept = n * topo.mem_channels <= MAX_MEM_SERIES_ROWS

    def xbar(latency_ns: float = 0.0):
        cycles = int(round(latency_ns))
        # A switch's latency is paid both ways, as the built-in engine's acknowledgements pay it.
        return mo.NoncoherentXBar(width=XBAR_WIDTH, frontend_latency=0, forward_latency=cycles,
                                  response_latency=cycles)

    fabrics = [xbar() for _ in range(n)]
    switches = [] if garnet else [xbar(topo.switch_latency_ns) for _ in range(topo.num_switches)]
    # Parent each object before another names it as a parameter: gem5 would otherwise adopt it
    # as that object's child (memories are named by monitors, monitors by eidolons).
    system.mems = [mo.EidolaMemory(range=mo.AddrRange(_region(g), size=REGION),
                                   bandwidth_gbps=topo.hbm_bw_gbps, latency_ns=topo.mem_latency_ns,
                                   channels=topo.mem_channels, interleave_bytes=topo.mem_interleave_bytes,
                                   flag_stride_bytes=params.flag_stride_bytes, flag_offset=FLAG_OFFSET,
                                   window_size=WINDOW,
                                   **{**series, "series": params.series and mem_rows_kept})
                   for g in range(n)]
    mems = list(system.mems)
    system.syncmons = [mo.EidolaSyncMon(gpu_id=g, flag_base=_region(g) + FLAG_OFFSET,
                                        watch_base=_region(g) + WATCH_OFFSET, window_size=WINDOW,
                                        latency=f"{topo.syncmon_latency_ns}ns", memory=mems[g],
                                        check_bytes=params.poll_bytes, entries=topo.syncmon_entries,
                                        wake_on=params.syncmon_wake)
                       for g in range(n)]
    mons = list(system.syncmons)
    # NVLS: the switch a GPU's multicast goes through is its first switch neighbour (the rule
    # of the built-in engine); each such switch gets a multicast engine with its own window
    channels = topo.channels()
    mcast_switch: dict[int, int] = {}  # (none under Garnet: multicast ops are refused before)
    for src, dst in zip(channels["src"].tolist(), channels["dst"].tolist()):
        if garnet is None and src < n and dst >= n and src not in mcast_switch:
            mcast_switch[src] = dst
    window0 = n + topo.num_switches  # GPU g's multicast window: _region(window0 + g)
    eidolons = []
    for g in range(n):
        mem, mon = mems[g], mons[g]
        eid = mo.EidolonGPU(gpu_id=g, num_gpus=n, profile=str(profile),
                            profile_gpus=int(header["num_gpus"]), syncmon=mon,
                            **run_params, num_iterations=int(header.get("num_iterations", 1)),
                            compute_cv=float(var.get("compute_cv", 0.0)),
                            straggler_prob=float(var.get("straggler_prob", 0.0)),
                            straggler_slowdown=float(var.get("straggler_slowdown", 1.0)),
                            time_origin_ns=origin, mem_base=MEM_BASE, mem_stride=REGION,
                            data_size=DATA_SIZE, flag_offset=FLAG_OFFSET,
                            watch_offset=WATCH_OFFSET,
                            mcast_base=_region(window0 + g) if g in mcast_switch else 0)
        eid.port = fabrics[g].cpu_side_ports
        fabrics[g].mem_side_ports = mon.cpu_side_port
        mon.mem_side_port = mem.port
        eidolons.append(eid)

    if garnet is not None:
        from eidola.gem5.garnet import build_network

        system.fabrics, system.eidolons = fabrics, eidolons
        network = build_network(system, garnet, fabrics, lambda g: mo.AddrRange(_region(g), size=REGION),
                                MEM_BASE, REGION)
        return system, eidolons, network
    nodes = fabrics + switches
    dests = destinations_per_channel(topo)
    multicasts = []
    for sw in sorted(set(mcast_switch.values())):
        group = [g for g in range(n) if mcast_switch.get(g) == sw]
        mc = mo.EidolaMulticast(windows=[mo.AddrRange(_region(window0 + g), size=REGION)
                                         for g in group],
                                members=[_region(g) for g in group])
        for i in range(len(group)):  # one port pair per member: crossbar layers per port
            nodes[sw].mem_side_ports = mc.cpu_side_ports[i]
            mc.mem_side_ports[i] = nodes[sw].cpu_side_ports
        multicasts.append(mc)
    # one serializer per wire direction, shared by that direction's requests and the opposite
    # link's responses (channels 2i and 2i+1 are the two directions of link i)
    system.wires = [mo.EidolaWire(bandwidth_gbps=float(channels["bw_gbps"][c]),
                                  latency_ns=float(channels["latency_ns"][c]), **series)
                    for c in range(len(channels))]
    wires = list(system.wires)
    links = []
    for c in range(len(channels)):
        src, dst = int(channels["src"][c]), int(channels["dst"][c])
        up = src < n and mcast_switch.get(src) == dst  # this GPU's way to its multicast engine
        if not dests[c] and not up:
            continue  # a direction no route uses
        ranges = [mo.AddrRange(_region(d), size=REGION) for d in dests[c]]
        if up:
            ranges.append(mo.AddrRange(_region(window0 + src), size=REGION))
        link = mo.EidolaLink(ranges=ranges, wire=wires[c], reverse_wire=wires[c ^ 1],
                             buffer_bytes=f"{int(params.buffer_bytes or 0)}B")
        nodes[int(channels["src"][c])].mem_side_ports = link.cpu_side_port
        link.mem_side_port = nodes[int(channels["dst"][c])].cpu_side_ports
        links.append(link)
    for name, objs in (("fabrics", fabrics), ("switches", switches), ("eidolons", eidolons),
                       ("links", links), ("multicasts", multicasts)):
        if objs:  # gem5 cannot take an empty list as a child vector
            setattr(system, name, objs)
    return system, eidolons, None


def gem5_unsupported(args: Namespace, params: RunParams) -> str | None:
    """The first option the gem5 backend would silently ignore, or None.

    Why: a result that looks like it honoured an option (multipath routing) but did not is a
    wrong answer; refusing says what to do instead.
    """
    if getattr(args, "topology", None) in ("fat_tree", "rail_optimized"):
        return f"--topology {args.topology} (multipath ECMP routing)"
    return None


def run_in_gem5(args: Namespace, topo: Topology, params: RunParams) -> dict[str, Any]:
    import m5  # noqa: PLC0415 (gem5 only)
    from m5.objects import Root  # noqa: PLC0415

    from eidola.gem5 import profile_header

    unsupported = gem5_unsupported(args, params)
    if unsupported:
        raise EidolaError(f"{unsupported} is not modelled by the gem5 backend yet; run the config "
                          "with python (built-in engine) for it",
                          field=unsupported.lstrip("-").split()[0])
    header = profile_header(args.profile)
    if params.max_outstanding_bytes is None:  # auto, as the built-in engine resolves it
        from dataclasses import replace

        from eidola.topology.routing import stream_window_bytes

        params = replace(params, max_outstanding_bytes=stream_window_bytes(topo, params.packet_bytes))
    garnet = garnet_plan_from_args(args, topo)
    if garnet is not None:
        from eidola.gem5 import profile_summary

        if int(profile_summary(args.profile).get("multicast_ops", 0)):
            raise EidolaError("has multicast (NVLS) ops, which --network garnet does not carry yet "
                              "(switch-side multicast exists in the classic network only)",
                              path=args.profile, field="network")
    from eidola.gem5 import checkpoint as ckpt

    request = ckpt.request_from_args(args)
    if request.active and garnet is not None:
        raise EidolaError("checkpoints are not supported with --network garnet (Ruby's network state is "
                          "not saved); use the classic network", field="network")
    identity = ckpt.run_identity(args, topo, params) if request.active else {}
    if request.restore is not None:
        ckpt.check_restore(request.restore, identity)
    system, eidolons, network = build(topo, params, args.profile, header, garnet)
    root = Root(full_system=False, system=system)
    m5.instantiate(str(request.restore) if request.restore is not None else None)
    t0 = time.perf_counter()
    event, checkpoints = ckpt.simulate(m5, request, identity, quiet=args.quiet)
    wall = time.perf_counter() - t0
    cause = event.getCause()
    if cause == "eidola: deadlock":
        stuck = []
        for e in eidolons:
            for line in e.stuck().splitlines():
                g, s, f, a, v = line.split()
                stuck.append(f"gpu {g} stream {s} waits for flag {f} >= {a} (value {v})")
        raise EidolaError(f"deadlock: {len(stuck)} stream(s) can never proceed: " + "; ".join(stuck[:6]),
                          path=args.profile)
    if cause != "eidola: all GPUs done":
        raise EidolaError(f"gem5 stopped early: {cause}", path=args.profile)
    m5.stats.dump()
    outdir = Path(args.outdir) if args.outdir else Path(m5.options.outdir)
    return _write_results(args, topo, params, header, system, eidolons, wall, cause, outdir,
                          garnet=(garnet, network) if garnet is not None else None,
                          checkpoints=checkpoints)


def garnet_plan_from_args(args: Namespace, topo: Topology) -> GarnetPlan | None:
    """The Garnet plan `--network garnet` asks for (None: the classic network)."""
    if getattr(args, "network", "classic") != "garnet":
        return None
    from eidola.gem5.garnet_plan import plan, spec_from_args

    return plan(topo, spec_from_args(args))


def _write_results(args: Namespace, topo: Topology, params: RunParams, header: dict[str, Any],
                   system: Any, eidolons: list[Any], wall: float, cause: str, outdir: Path,
                   garnet: tuple[GarnetPlan, dict[str, Any]] | None = None,
                   checkpoints: dict[str, Any] | None = None) -> dict[str, Any]:
    """summary.json, results.h5 and the --trace timeline of a finished gem5 run, through the
    same schema (eidola.raw) and writers as the built-in engine's."""
    import m5  # noqa: PLC0415 (gem5 only)
    from _m5 import eidola_profile  # type: ignore[import-not-found]

    from eidola.gem5 import profile_summary
    from eidola.raw import fold_series
    from eidola.results import ProfileMeta, build_summary, write_run

    cc = lambda objs: [o.getCCObject() for o in objs]  # noqa: E731
    wires = [] if garnet else cc(system.wires)
    raw = dict(eidola_profile.raw(cc(eidolons), cc(system.syncmons), cc(system.mems), wires,
                                  bool(params.trace)))
    if garnet:  # the Garnet links' flits stand for the wires' bytes (no per-link series)
        from eidola.gem5.garnet import channel_bytes

        raw["channel_bytes"] = channel_bytes(garnet[1], garnet[0])
    for key in ("mem_channel_bytes", "channel_bytes"):
        raw[key] = np.asarray(raw[key])
    pieces = raw.pop("gem5_series")
    links, polls, mem = (list(pieces[f"{k}_rows"]) for k in ("link", "poll", "mem"))
    if links and polls:  # one bin width for every row, as the built-in engine's series share
        rows, width = fold_series(links + polls + mem, [*pieces["link_bin_ns"], *pieces["poll_bin_ns"],
                                                        *pieces["mem_bin_ns"]])
        raw["link_bytes_series"] = rows[:len(links)]
        raw["polling_series"] = rows[len(links):len(links) + len(polls)]
        if mem:
            raw["mem_channel_series"] = rows[len(links) + len(polls):]
        raw["time_bin_ns"] = width
    pg = int(header["num_gpus"])
    meta = ProfileMeta(num_gpus=pg, num_ops=int(profile_summary(args.profile)["num_ops"]),
                       attrs={"name": header.get("name"), "kind": header.get("kind"),
                              "importer": header.get("importer"),
                              "parameters": header.get("parameters_json") or "{}"})
    summary = build_summary(backend="gem5", raw=raw, topology=topo, params=params, profile=meta,
                            profile_path=args.profile, wall_seconds=wall)
    summary["gem5"] = {"outdir": m5.options.outdir, "exit_cause": cause, "sim_ticks": int(m5.curTick()),
                       "network": "garnet" if garnet else "classic"}
    if garnet:
        summary["gem5"]["garnet"] = garnet[0].describe()
    if checkpoints:
        summary["gem5"]["checkpoint"] = checkpoints
    if getattr(args, "trace", None) is not None:
        from types import SimpleNamespace

        from eidola.trace import write_trace

        write_trace(args.trace, SimpleNamespace(raw=raw, topology=topo, summary=summary))
    write_run(outdir, summary, raw, topo, store=eidola_profile.write_h5)
    summary["outdir"] = str(outdir)
    return summary
