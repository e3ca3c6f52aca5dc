"""gem5 checkpoints of an Eidola run: take one at a simulated time, restore a run from one.

gem5 saves each SimObject's state (for Eidola: the eidolons' replay state, flags, link and
memory timing; src_cc/gem5/checkpoint.hh) but not what built the system. A restore has to
build the same system, so the checkpoint directory also holds the run's identity: the resolved
run parameters, the topology (with a digest of every link), the gem5 network options and the
profile's SHA-256. A restore that would build anything else is refused in one line naming what
differs, instead of failing deep inside gem5 or continuing another run.

Everything here except `take` runs without gem5, so the checks are tested in CI.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import sys
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eidola.errors import EidolaError
from eidola.results import sha256_file

if TYPE_CHECKING:
    from eidola.params import RunParams
    from eidola.topology import Topology

IDENTITY_FILE = "eidola_run.json"
GEM5_FILE = "m5.cpt"
# Bumped whenever the C++ state words or this identity change meaning.
CHECKPOINT_FORMAT = 1
TICKS_PER_NS = 1000  # Eidola runs gem5 at its default 1 THz tick (1 tick = 1 ps)
MAX_TICK = 2**63 - 1  # m5.simulate() takes a signed 64-bit tick count


@dataclass(frozen=True)
class CheckpointRequest:
    """What a run asked for: a checkpoint at `at_ns` (into `directory`, or gem5's outdir when
    None) and/or a restore from `restore`."""

    at_ns: float | None = None
    directory: Path | None = None
    restore: Path | None = None

    @property
    def active(self) -> bool:
        return self.at_ns is not None or self.restore is not None


def is_checkpoint(path: Path) -> bool:
    return (path / GEM5_FILE).is_file() and (path / IDENTITY_FILE).is_file()


def request_from_args(args: Namespace) -> CheckpointRequest:
    """The checkpoint options, checked before anything is built. Raises EidolaError."""
    at = getattr(args, "checkpoint_at", None)
    directory = getattr(args, "checkpoint_dir", None)
    restore = getattr(args, "restore", None)
    if at is not None and not (math.isfinite(at) and at > 0):
        raise EidolaError(f"must be a simulated time after 0 ns, got {at}", field="checkpoint_at")
    if at is not None and at * TICKS_PER_NS >= MAX_TICK:
        raise EidolaError(f"{at} ns is beyond gem5's last tick ({MAX_TICK / TICKS_PER_NS:.3g} ns)",
                          field="checkpoint_at")
    if directory is not None and at is None:
        raise EidolaError("needs --checkpoint-at (when to take the checkpoint)", field="checkpoint_dir")
    if directory is not None:
        from eidola.runner import check_output_path

        directory = Path(directory)
        check_output_path(directory, "checkpoint_dir", directory=True)
        if directory.is_dir() and any(directory.iterdir()) and not is_checkpoint(directory):
            raise EidolaError("exists and is not an Eidola checkpoint; pick another directory (it would "
                              "be replaced)", path=directory, field="checkpoint_dir")
    if restore is not None:
        restore = Path(restore)
        if not restore.is_dir():
            raise EidolaError("no such checkpoint directory", path=restore, field="restore")
        if not is_checkpoint(restore):
            missing = GEM5_FILE if not (restore / GEM5_FILE).is_file() else IDENTITY_FILE
            raise EidolaError(f"is not an Eidola checkpoint ({missing} is missing)", path=restore, field="restore")
        if directory is not None and directory.resolve() == restore.resolve():
            raise EidolaError("is the checkpoint being restored; write the new one elsewhere",
                              path=directory, field="checkpoint_dir")
    return CheckpointRequest(at_ns=at, directory=directory, restore=restore)


def run_identity(args: Namespace, topology: Topology, params: RunParams) -> dict[str, Any]:
    """What the simulated system is, as JSON values: the resolved run parameters, the topology
    (its description and a digest of every link), the gem5 network options and the profile's
    digest (its path may differ between the run that saved and the one that restores).
    Resolved values, not the command line: an option given at its default value is the same
    system, and a preset whose numbers changed between versions is not."""
    network = {k: v for k, v in sorted(vars(args).items()) if k == "network" or k.startswith("garnet_")}
    ident = {
        "profile_sha256": sha256_file(args.profile),
        "params": params.to_dict(),
        "topology": {**{k: v for k, v in topology.to_dict().items() if k != "links"},  # in the digest
                     # readable first: a restore with another link rate names the rate
                     "link_bw_gbps": sorted({float(b) for b in topology.links["bw_gbps"]}),
                     "link_latency_ns": sorted({float(x) for x in topology.links["latency_ns"]}),
                     "links_sha256": hashlib.sha256(np.ascontiguousarray(topology.links).tobytes()).hexdigest()},
        "network": network,
        "trace": getattr(args, "trace", None) is not None,  # the replay keeps a timeline or not
    }
    return json.loads(json.dumps(ident, default=str))  # exactly what the file will hold


# What a difference is reported by first: what the user sets before what is derived from it
# (the outstanding window follows from the link rate).
_SECTION_ORDER = ("profile_sha256", "topology", "network", "trace", "params")


def _first_difference(saved: Any, now: Any, path: str = "") -> tuple[str, Any, Any] | None:
    if isinstance(saved, dict) and isinstance(now, dict):
        keys = sorted(set(saved) | set(now),
                      key=lambda k: (_SECTION_ORDER.index(k) if not path and k in _SECTION_ORDER else 99, k))
        for key in keys:
            found = _first_difference(saved.get(key), now.get(key), f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    return None if saved == now else (path, saved, now)


def check_restore(restore: Path, identity: dict[str, Any]) -> dict[str, Any]:
    """The saved identity of `restore`, after checking this run builds the same system."""
    path = Path(restore) / IDENTITY_FILE
    try:
        saved = json.loads(path.read_text())
        if not isinstance(saved, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise EidolaError(f"cannot be read: {exc}", path=path, field="restore") from None
    if saved.get("format") != CHECKPOINT_FORMAT:
        raise EidolaError(f"was written in checkpoint format {saved.get('format')!r}; this Eidola reads "
                          f"format {CHECKPOINT_FORMAT}", path=path, field="restore")
    model = saved.get("model")
    if not isinstance(model, dict):
        raise EidolaError("has no run description ('model')", path=path, field="restore")
    found = _first_difference(model, identity)
    if found is not None:
        where, was, now = found
        if where == "profile_sha256":
            raise EidolaError("was taken with another profile (its SHA-256 differs)", path=restore,
                              field="restore")
        def short(v: Any) -> str:
            text = repr(v)
            return text if len(text) <= 60 else text[:57] + "..."

        raise EidolaError(f"was taken with {where} = {short(was)}; this run has {short(now)} (a restore "
                          "must build the same system)", path=restore, field="restore")
    return saved


def install(partial: Path, final: Path) -> None:
    """Put the complete checkpoint `partial` at `final`, replacing an older checkpoint there:
    `final` is at no moment a mix of the two (it is briefly absent; if the second rename fails,
    the older checkpoint is put back)."""
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    if final.exists():
        print(f"note: replacing the earlier checkpoint in {final}", file=sys.stderr)
        os.replace(final, old)
    try:
        os.replace(partial, final)
    except OSError:
        if old.exists():
            os.replace(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)


def take(m5: Any, final: Path | None, identity: dict[str, Any], requested_at_ns: float) -> dict[str, Any]:
    """Drain gem5, write the checkpoint and its identity, install it; returns what the summary
    reports. `final` None: gem5's convention, <gem5 outdir>/cpt.<tick>."""
    staging_parent = Path(final).resolve().parent if final is not None else Path(m5.options.outdir)
    partial = staging_parent / f".eidola-checkpoint.partial-{os.getpid()}"
    target = Path(final) if final is not None else None
    try:
        staging_parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(partial, ignore_errors=True)
        m5.checkpoint(str(partial))  # drains first: the checkpoint's time is when that finished
        tick = int(m5.curTick())
        target = target if target is not None else staging_parent / f"cpt.{tick}"
        if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not is_checkpoint(target))):
            raise EidolaError("exists and is not an Eidola checkpoint; it was left as it is and no "
                              "checkpoint was written", path=target, field="checkpoint_dir")
        record = {"format": CHECKPOINT_FORMAT, "taken_at_ns": tick / TICKS_PER_NS,
                  "requested_at_ns": requested_at_ns, "model": identity}
        (partial / IDENTITY_FILE).write_text(json.dumps(record, indent=1) + "\n")
        install(partial, target)
    except OSError as exc:
        raise EidolaError(f"the checkpoint could not be written: {exc.strerror or exc}",
                          path=target or staging_parent, field="checkpoint_dir") from None
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(partial)
    return {"dir": str(target), "requested_at_ns": requested_at_ns, "taken_at_ns": tick / TICKS_PER_NS}


def simulate(m5: Any, request: CheckpointRequest, identity: dict[str, Any], quiet: bool) -> tuple[Any, dict[str, Any]]:
    """Run an instantiated gem5 system to its end, taking the checkpoint `request` asks for on
    the way; returns gem5's exit event and what summary.json reports under gem5.checkpoint."""
    info: dict[str, Any] = {}
    if request.restore is not None:
        info["restored_from"] = str(request.restore)
        info["restored_at_ns"] = m5.curTick() / TICKS_PER_NS
        if not quiet:
            print(f"restored from {request.restore} (t = {info['restored_at_ns']} ns)", file=sys.stderr)
    if request.at_ns is None:
        return m5.simulate(), info
    at_tick = round(request.at_ns * TICKS_PER_NS)
    if at_tick <= m5.curTick():
        raise EidolaError(f"{request.at_ns} ns is not after the restored checkpoint's time "
                          f"({m5.curTick() / TICKS_PER_NS} ns)", field="checkpoint_at")
    event = m5.simulate(at_tick - m5.curTick())
    if event.getCause() == "simulate() limit reached":
        info["taken"] = take(m5, request.directory, identity, request.at_ns)
        if not quiet:
            print(f"checkpoint written: {info['taken']['dir']} (t = {info['taken']['taken_at_ns']} ns)",
                  file=sys.stderr)
        return m5.simulate(), info
    if event.getCause() == "eidola: all GPUs done":
        info["taken"] = None
        print(f"note: no checkpoint: the run ended at {m5.curTick() / TICKS_PER_NS} ns, before "
              f"--checkpoint-at {request.at_ns}", file=sys.stderr)
    return event, info
