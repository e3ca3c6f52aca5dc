"""What every config runs: parse the shared arguments, pick the backend, write the results.

`configs/*.py` call `config_main(...)` with their own defaults; the same file therefore runs
under plain Python and `eidola run` (built-in engine) and under `gem5.opt` (gem5 backend).
Arguments are parsed with argparse (stdlib) so a config also works inside gem5's embedded
Python with nothing but this package on the path.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
from pathlib import Path
from typing import Any, Sequence

from eidola.errors import EidolaError
from eidola.params import RunParams, size_arg
from eidola.topology import TOPOLOGY_NAMES, Topology, build_topology
from eidola.gem5.garnet_plan import (GARNET_BUFFERS_PER_DATA_VC, GARNET_VCS_PER_VNET, NETWORK_CHOICES,
                                     NVLINK_FLIT_BYTES, NVLINK_MAX_PAYLOAD_BYTES)


def in_gem5() -> bool:
    """True inside gem5's embedded interpreter (where the `m5` package is importable)."""
    if "m5" in sys.modules or "_m5" in sys.modules:
        return True
    try:
        import _m5  # noqa: F401  (only gem5 provides it)
    except ImportError:
        return False
    return True


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (no usage dump) and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {self.prog}: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def build_parser(defaults: dict[str, Any] | None = None, prog: str | None = None) -> argparse.ArgumentParser:
    d = {"topology": "mi300x", **(defaults or {})}
    p = _OneLineParser(prog=prog, description="Replay a traffic profile on a modelled "
                                "GPU interconnect (built-in engine, or gem5 under gem5.opt).")
    p.add_argument("--profile", default=d.get("profile"), help="profile file (.h5)")
    p.add_argument("--topology", default=d["topology"], choices=TOPOLOGY_NAMES)
    p.add_argument("--gpus", type=int, default=d.get("gpus"), help="GPUs in the topology (default: preset's, else the profile's)")
    p.add_argument("--link-bw", type=float, default=d.get("link_bw"), metavar="GBPS", help="link payload bandwidth per direction, GB/s")
    p.add_argument("--link-latency", type=float, default=d.get("link_latency"), metavar="NS", help="link latency, ns")
    p.add_argument("--switch-latency", type=float, default=d.get("switch_latency"), metavar="NS")
    p.add_argument("--hbm-bw", type=float, default=d.get("hbm_bw"), metavar="GBPS", help="per-GPU memory bandwidth, GB/s")
    p.add_argument("--mem-latency", type=float, default=d.get("mem_latency"), metavar="NS")
    p.add_argument("--syncmon-latency", type=float, default=d.get("syncmon_latency"), metavar="NS", help="waiter<->monitor, one way")
    p.add_argument("--nic-bw", type=float, default=d.get("nic_bw"), metavar="GBPS", help="multinode: NIC bandwidth")
    p.add_argument("--nic-latency", type=float, default=d.get("nic_latency"), metavar="NS")
    p.add_argument("--gpus-per-node", type=int, default=d.get("gpus_per_node"))
    p.add_argument("--switch-radix", type=int, default=d.get("switch_radix"), metavar="PORTS",
                   help="fat_tree / rail_optimized: ports per leaf and spine switch (default 64)")
    p.add_argument("--oversubscription", type=float, default=d.get("oversubscription"), metavar="R",
                   help="fat_tree / rail_optimized: leaf down : up bandwidth, >= 1 (default 1)")
    p.add_argument("--mem-channels", type=int, default=d.get("mem_channels"), metavar="N", help="address-interleaved memory channels per GPU (default: preset's; generic topologies 1)")
    p.add_argument("--mem-interleave", type=size_arg, default=d.get("mem_interleave"), metavar="BYTES", help="bytes per channel before the next (power of two; default 256)")
    p.add_argument("--syncmon-entries", type=int, default=d.get("syncmon_entries"), metavar="N", help="SyncMon watch-table entries per GPU, 0 = unlimited (default: one per compute unit of the preset's GPU)")
    RunParams.add_arguments(p, d)  # every run parameter, from its one definition
    g = p.add_argument_group("gem5 network (under gem5.opt)")
    g.add_argument("--network", choices=NETWORK_CHOICES, default=d.get("network", "classic"),
                   help="classic: gem5 crossbars and Eidola links; garnet: Garnet routers, flits, "
                   "virtual channels and credits (a gem5 built with the Garnet_standalone protocol) "
                   "(default %(default)s)")
    g.add_argument("--garnet-flit-bytes", type=int, default=d.get("garnet_flit_bytes", NVLINK_FLIT_BYTES),
                   metavar="BYTES", help="flit width; the network clock is link bandwidth / flit "
                   "(default %(default)s, NVLink's flit)")
    g.add_argument("--garnet-vcs", type=int, default=d.get("garnet_vcs", GARNET_VCS_PER_VNET), metavar="N",
                   help="virtual channels per virtual network (default %(default)s, Garnet's)")
    g.add_argument("--garnet-vc-buffer", type=int, default=d.get("garnet_vc_buffer", GARNET_BUFFERS_PER_DATA_VC),
                   metavar="FLITS", help="flits per virtual channel (default %(default)s, Garnet's)")
    g.add_argument("--garnet-message-bytes", type=size_arg, default=d.get("garnet_message_bytes",
                   NVLINK_MAX_PAYLOAD_BYTES), metavar="BYTES", help="payload of one data message "
                   "(default %(default)s, NVLink's largest)")
    c = p.add_argument_group("gem5 checkpoints (under gem5.opt)")
    c.add_argument("--checkpoint-at", type=float, default=None, metavar="NS",
                   help="take a gem5 checkpoint at this simulated time, then run on to the end (SyncMon "
                   "registrations held then are dropped and re-sent: docs/gem5.md)")
    c.add_argument("--checkpoint-dir", type=Path, default=None, metavar="DIR",
                   help="where the checkpoint goes (default: <gem5 outdir>/cpt.<tick>)")
    c.add_argument("--restore", type=Path, default=None, metavar="DIR",
                   help="continue from a checkpoint taken with the same options and profile")
    p.add_argument("--outdir", type=Path, default=d.get("outdir"), help="where summary.json and results.h5 go")
    p.add_argument("--quiet", action="store_true")
    return p


def topology_from_args(args: argparse.Namespace, profile_gpus: int) -> Topology:
    gpus = args.gpus
    from eidola.topology.presets import PRESETS

    if gpus is None and args.topology not in PRESETS:
        gpus = profile_gpus
    topo = build_topology(args.topology, gpus, link_bw_gbps=args.link_bw,
                          link_latency_ns=args.link_latency, switch_latency_ns=args.switch_latency,
                          hbm_bw_gbps=args.hbm_bw, mem_latency_ns=args.mem_latency,
                          syncmon_latency_ns=args.syncmon_latency, nic_bw_gbps=args.nic_bw,
                          nic_latency_ns=args.nic_latency, gpus_per_node=args.gpus_per_node,
                          switch_radix=args.switch_radix, oversubscription=args.oversubscription,
                          mem_channels=args.mem_channels, mem_interleave_bytes=args.mem_interleave,
                          syncmon_entries=args.syncmon_entries)
    return topo


def params_from_args(args: argparse.Namespace) -> RunParams:
    return RunParams.from_args(args)


def check_output_path(path: Path, field: str, *, directory: bool) -> None:
    """Before simulating: `path` can be created or replaced as a file or a directory. A run that
    would fail only when writing its results wastes the simulation."""
    path = Path(path)
    if path.exists() and path.is_dir() != directory:
        raise EidolaError(f"exists and is {'a file' if directory else 'a directory'}", path=path, field=field)
    parent = path.parent if not path.exists() else path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise EidolaError(f"cannot be created: {parent} is a file", path=path, field=field)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise EidolaError(f"cannot be written: {parent} is not writable", path=path, field=field)


def run_args(args: argparse.Namespace) -> dict[str, Any]:
    """Run one configuration; returns the summary. Raises EidolaError on bad input."""
    if not args.profile:
        raise EidolaError("no profile given (use --profile FILE.h5)", field="profile")
    if args.outdir is not None:
        check_output_path(args.outdir, "outdir", directory=True)
    if args.trace is not None:
        check_output_path(args.trace, "trace", directory=False)
    if in_gem5():  # h5py must not be loaded inside gem5: the C++ reader answers there
        from eidola.gem5 import profile_header
    else:
        from eidola.profile import profile_header
    header = profile_header(args.profile)
    topo = topology_from_args(args, header["num_gpus"])
    if header["num_gpus"] > topo.num_gpus:
        raise EidolaError(f"profile has {header['num_gpus']} GPUs but topology '{topo.name}' has only "
                          f"{topo.num_gpus}", path=args.profile, field="num_gpus")
    params = params_from_args(args)
    if getattr(args, "network", "classic") == "garnet":
        from eidola.gem5.garnet_plan import plan, spec_from_args

        plan(topo, spec_from_args(args))  # a bad Garnet option is refused before gem5 builds anything
        if not in_gem5():
            raise EidolaError("--network garnet is gem5's flit-level network: run the config under a "
                              "gem5.opt built with the Garnet_standalone protocol (docs/gem5.md)",
                              field="network")
    from eidola.gem5.checkpoint import request_from_args

    if request_from_args(args).active and not in_gem5():
        field = "checkpoint_at" if args.checkpoint_at is not None else "restore"
        raise EidolaError("checkpoints are gem5's: run the config under gem5.opt (the built-in engine "
                          "runs a whole profile in one go)", field=field)
    from eidola import outdir as out

    if in_gem5():
        from eidola.gem5.system import run_in_gem5

        if args.outdir is None:
            return run_in_gem5(args, topo, params)
        with out.reserved(args.outdir):
            return run_in_gem5(args, topo, params)
    with out.reserved(args.outdir or default_outdir(args, params)):
        return _run_builtin(args, topo, params)


class ProgressLine:
    """One self-rewriting stderr line for long runs on a terminal (silent for short ones).

    Shows simulated time, the share of ops done and events, at most twice a second and only
    after the run has taken `after_s` seconds (sweeps and CI pass --quiet or have no terminal).
    """

    def __init__(self, after_s: float = 3.0, every_s: float = 0.5, stream=None) -> None:
        import time as _time

        self._time = _time.monotonic
        self.t0 = self._time()
        self.after_s, self.every_s = after_s, every_s
        self.last = 0.0
        self.shown = False
        self.stream = stream or sys.stderr

    def __call__(self, sim_ns: float, events: int, done: int, total: int) -> None:
        now = self._time()
        if now - self.t0 < self.after_s or now - self.last < self.every_s:
            return
        self.last = now
        share = 100.0 * done / total if total else 0.0
        self.stream.write(f"\r  simulating: {sim_ns / 1e3:,.1f} us simulated, {share:5.1f}% of ops, "
                          f"{events / 1e6:,.1f} M events, {now - self.t0:,.0f} s   ")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def default_outdir(args: argparse.Namespace, params: RunParams) -> Path:
    return Path("out") / f"{Path(args.profile).stem}-{params.sync}"


def _run_builtin(args: argparse.Namespace, topo: Topology, params: RunParams) -> dict[str, Any]:
    from eidola.engine import run
    from eidola.results import write_run

    outdir = args.outdir or default_outdir(args, params)
    show = not args.quiet and sys.stderr.isatty()
    meter = ProgressLine() if show else None
    try:
        result = run(args.profile, topo, params, progress=meter)
    finally:
        if meter is not None:
            meter.close()
    from eidola import interrupts

    interrupts.raise_if_requested()  # a SIGTERM whose exception Python swallowed: write nothing
    if args.trace is not None:
        from eidola.trace import write_trace

        write_trace(args.trace, result)
    write_run(outdir, result.summary, result.raw, topo)
    result.summary["outdir"] = str(outdir)
    return result.summary


def print_summary(s: dict[str, Any]) -> None:
    lat = s["wakeup_latency_ns"]
    lines = [
        f"backend {s['backend']}: {s['profile'].get('path')} on {s['topology']['name']} "
        f"({s['topology']['num_gpus']} GPUs), sync={s['params']['sync']}",
        f"  models              {s['profile'].get('models') or s['profile'].get('kind') or '?'}",
        f"  makespan            {s['makespan_ns']:.1f} ns",
        f"  bytes written       {s['bytes_written']} bytes in {s['packets']} packets",
        f"  polling reads       {s['polling_reads']} ({s['polling_bytes']} bytes)",
        f"  syncmon notifies    {s['syncmon_notifications']}",
        f"  wake-up latency     mean {lat['mean']:.1f} ns, p99 {lat['p99']:.1f} ns over {lat['count']} waits",
    ]
    if "syncmon_registrations" in s:  # the built-in engine's synchronization model
        entries = s["topology"].get("syncmon_entries") or "unlimited"
        lines.append(f"  syncmon table       {s['syncmon_registrations']} registrations, "
                     f"{s['syncmon_overflows']} overflows (peak {s['syncmon_peak_entries']} of {entries} "
                     f"entries), {s['syncmon_spurious_wakeups']} spurious wake-ups, "
                     f"{s['fallback_polls']} fallback polls")
        lines.append(f"  remote polls        {s['polling_reads_remote']}")
        lines.append(f"  busiest mem channel {100 * s['mem_channel_peak_util']:.2f}% busy "
                     f"({s['topology'].get('mem_channels', 1)} channels per GPU)")
    if "bus_bandwidth_gbps" in s:
        lines.append(f"  bus bandwidth       {s['bus_bandwidth_gbps']:.2f} GB/s")
    lines.append(f"  simulated events    {s['events']} in {s['wall_seconds']:.3f} s wall")
    if "simulate_seconds" in s:
        lines.append(f"  of which            {s['load_seconds']:.3f} s reading the profile, "
                     f"{s['simulate_seconds']:.3f} s simulating "
                     f"({s['events_per_second'] / 1e6:.2f} M events/s)")
    if s.get("outdir"):
        lines.append(f"  results             {s['outdir']}/summary.json")
    print("\n".join(lines))


def config_main(defaults: dict[str, Any] | None = None, argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    """Entry point of every config: one-line errors, exit status 2, no traceback."""
    parser = build_parser(defaults, prog=Path(sys.argv[0]).name if sys.argv else None)
    args = parser.parse_args(argv)
    from eidola import interrupts

    interrupts.install()
    try:
        summary = run_args(args)
    except EidolaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except MemoryError as exc:
        from eidola.memory import out_of_memory_message

        print(f"error: {out_of_memory_message(exc)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        interrupts.report_and_exit("no results were written")
    if not args.quiet:
        print_summary(summary)
    return summary


def run_config_file(config: str | Path, argv: Sequence[str]) -> None:
    """`eidola run CONFIG ARGS...`: execute a config file as __main__ with ARGS."""
    path = Path(config)
    if not path.is_file():
        raise EidolaError("config file not found", path=path)
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith(b"\x89HDF") or b"\0" in head:
        raise EidolaError("is not a Python config (a profile? run it as `eidola run "
                          f"configs/eidola_8gpu.py --profile {path}`)", path=path)
    try:
        compile(path.read_bytes(), str(path), "exec")
    except (SyntaxError, ValueError) as exc:
        raise EidolaError(f"is not a valid Python config: {str(exc).splitlines()[0]}", path=path) from None
    old = sys.argv
    sys.argv = [str(path), *argv]
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = old


def _click_run_command():
    import click

    @click.command("run", context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                            "help_option_names": []})
    @click.argument("config", type=click.Path(dir_okay=False))
    @click.argument("config_args", nargs=-1, type=click.UNPROCESSED)
    @click.pass_context
    def run_command(ctx: click.Context, config: str, config_args: tuple[str, ...]) -> None:
        """Run CONFIG (e.g. configs/eidola_8gpu.py) on the built-in engine; arguments pass through
        (try `eidola run configs/eidola_8gpu.py --help`)."""
        if config in ("--help", "-h"):  # help options pass through to configs, so answer here
            click.echo(ctx.get_help())
            return
        run_config_file(config, list(config_args))

    return run_command


run_command = _click_run_command()

__all__ = ["build_parser", "config_main", "run_args", "run_config_file", "in_gem5", "json"]
