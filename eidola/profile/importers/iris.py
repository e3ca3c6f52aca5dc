"""AMD Iris device-side traces -> profile, event for event.

Why op for op: an Iris trace already records the P2P traffic (each put/get/atomic of each
workgroup, with target rank, payload size and address), unlike a Kineto trace. We map events to
ops, turn addresses into flag ids and buffer offsets, and keep the recorded times.

Format (Iris ``tracing.export``; Chrome/Perfetto JSON, ``metadata.schema_version`` "1.1"):
events with ``name``, ``ph`` ("X" with ``dur``, or "i"), ``ts``/``dur`` in raw
``s_memrealtime`` cycles (100 MHz: 10 ns per cycle), ``pid`` = rank, ``tid`` = ``XCC<x>_CU<c>``,
and ``args`` with ``target_rank``, ``payload_size``, ``address`` (hex string), ``op_index``.
The mapping is documented in docs/profile-format.md ("Iris importer").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from eidola.errors import EidolaError
from eidola.profile.importers._common import load_json, source_files, stem, trace_events
from eidola.profile.model import Profile
from eidola.profile.schema import OpKind, empty_ops

WRITE_NAMES = ("put", "store", "copy")
READ_NAMES = ("get", "load", "fetch")
IGNORED_NAMES = ("barrier",)
DEFAULT_CYCLE_NS = 10.0  # s_memrealtime runs at 100 MHz
_CATS = {"write": 0, "read": 1, "signal": 2, "wait": 3, "compute": 4, "ignore": 5}


def _cycle_ns(meta: dict[str, Any]) -> float:
    """ns per trace time unit, from metadata.time_unit ('... @ 100MHz', 'ns', 'us')."""
    unit = str(meta.get("time_unit", "")).lower()
    m = re.search(r"([\d.]+)\s*mhz", unit)
    if m and float(m.group(1)) > 0:
        return 1000.0 / float(m.group(1))
    if "cycle" in unit or not unit:
        return DEFAULT_CYCLE_NS
    if unit.strip() in ("ns", "nanoseconds"):
        return 1.0
    if unit.strip() in ("us", "microseconds"):
        return 1000.0
    return DEFAULT_CYCLE_NS


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            return None
    return None


def _rank(pid: Any) -> int | None:
    r = _int(pid)
    if r is None and isinstance(pid, str):
        m = re.search(r"(\d+)\s*$", pid)
        r = int(m.group(1)) if m else None
    return r


def _tid_key(tid: Any) -> tuple:
    """Natural order of 'XCC<x>_CU<c>' names: by XCC, then CU, numerically."""
    s = str(tid)
    return tuple(int(x) if x.isdigit() else x for x in re.split(r"(\d+)", s))


def import_iris(paths: list[Path], *, gpus: int | None = None, name: str | None = None) -> Profile:
    """Import Iris device-side trace(s) (per-rank files or one merged file)."""
    rows: dict[str, list] = {k: [] for k in ("rank", "tid", "ts", "dur", "cat", "target",
                                             "bytes", "addr", "value", "op_index", "order")}
    world = 0
    heap_bases: dict[int, int] = {}
    dropped = {"zero_bytes": 0, "local_transfers": 0, "waits_without_address": 0,
               "barriers": 0, "instant_unknown": 0}
    cycle = None
    order = 0
    for path in paths:
        doc = load_json(path)
        events = trace_events(doc, path)
        meta = doc.get("metadata") if isinstance(doc, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        c = _cycle_ns(meta)
        if cycle is not None and c != cycle:
            raise EidolaError(f"time unit {meta.get('time_unit')!r} differs from the first file's",
                              path=path, field="metadata.time_unit")
        cycle = c
        if isinstance(meta.get("world_size"), int):
            world = max(world, meta["world_size"])
        hb = meta.get("heap_bases")
        if isinstance(hb, list):
            for r, b in enumerate(hb):
                if _int(b) is not None:
                    heap_bases[r] = _int(b)  # type: ignore[assignment]
        for i, e in enumerate(events):
            ph = e.get("ph", "X")
            if ph == "M":
                continue
            nm = str(e.get("name", "")).lower()
            args = e.get("args") if isinstance(e.get("args"), dict) else {}
            rank = _rank(e.get("pid"))
            ts = e.get("ts")
            if rank is None or not isinstance(ts, (int, float)):
                raise EidolaError(f"event {i} ({nm or '?'}): needs an integer 'pid' (rank) and a "
                                  "numeric 'ts'", path=path, field="traceEvents")
            dur = e.get("dur", 0) if ph == "X" else 0
            dur = float(dur) if isinstance(dur, (int, float)) and dur > 0 else 0.0
            target = _int(args.get("target_rank"))
            size = _int(args.get("payload_size")) or 0
            addr = _int(args.get("address"))
            sig_keys = ("value", "increment")  # atomic_cas' 'expected' is not an increment
            wait_keys = ("value", "expected", "threshold")
            keys = wait_keys if (nm == "wait" or nm.endswith("_wait")) else sig_keys
            value = next((_int(args[k]) for k in keys if _int(args.get(k)) is not None), None)
            if nm in WRITE_NAMES or nm in READ_NAMES:
                cat = "write" if nm in WRITE_NAMES else "read"
                if target is None or target == rank:
                    dropped["local_transfers"] += 1
                    cat = "compute" if dur > 0 else "ignore"
                elif size <= 0:
                    dropped["zero_bytes"] += 1
                    cat = "ignore"
            elif nm.startswith("atomic"):
                cat = "signal"
                if target is None:
                    target = rank
                if addr is None:
                    raise EidolaError(f"event {i} ({nm}): an atomic needs args.address (the flag)",
                                      path=path, field="address")
            elif nm == "wait" or nm.endswith("_wait"):
                cat = "wait" if addr is not None else "ignore"
                if addr is None:
                    dropped["waits_without_address"] += 1
            elif nm in IGNORED_NAMES:
                cat = "ignore"
                dropped["barriers"] += 1
            else:
                cat = "compute" if dur > 0 else "ignore"
                if dur <= 0:
                    dropped["instant_unknown"] += 1
            if cat == "ignore":
                continue
            rows["rank"].append(rank)
            rows["tid"].append(str(e.get("tid", "")))
            rows["ts"].append(float(ts))
            rows["dur"].append(dur)
            rows["cat"].append(_CATS[cat])
            rows["target"].append(-1 if target is None else target)
            rows["bytes"].append(size)
            rows["addr"].append(-1 if addr is None else addr)
            rows["value"].append(-1 if value is None else value)
            rows["op_index"].append(_int(args.get("op_index")) or 0)
            rows["order"].append(order)
            order += 1
    if not rows["rank"]:
        raise EidolaError("no usable Iris events (put/get/store/load/atomic_*/wait or timed "
                          "compute)", path=paths[0])
    cycle = cycle or DEFAULT_CYCLE_NS
    rank = np.array(rows["rank"], dtype=np.int64)
    ts = np.array(rows["ts"], dtype=np.float64)
    dur = np.array(rows["dur"], dtype=np.float64)
    cat = np.array(rows["cat"], dtype=np.int64)
    target = np.array(rows["target"], dtype=np.int64)
    nbytes = np.array(rows["bytes"], dtype=np.int64)
    addr = np.array(rows["addr"], dtype=np.int64)
    value = np.array(rows["value"], dtype=np.int64)
    op_index = np.array(rows["op_index"], dtype=np.int64)
    order_a = np.array(rows["order"], dtype=np.int64)
    if (rank < 0).any():
        raise EidolaError("negative rank in 'pid'", path=paths[0], field="pid")

    need = int(max(rank.max(), target.max())) + 1
    n = max(world, need)
    if gpus is not None:
        if gpus < need:
            raise EidolaError(f"--gpus {gpus} is too small: the trace uses ranks up to {need - 1}",
                              field="gpus")
        n = gpus

    # symmetric-heap offsets: address - heap base of the recording rank (when known)
    base = np.array([heap_bases.get(int(r), 0) for r in range(n)], dtype=np.int64)
    off = np.where(addr >= 0, addr - base[rank], -1)

    t0 = ts.min()
    t_ns = (ts - t0) * cycle
    dur_ns = dur * cycle
    end_ns = t_ns + dur_ns

    # flags: (owner, offset) -> dense id per owner, in address order
    is_sig = cat == _CATS["signal"]
    is_wait = cat == _CATS["wait"]
    owner = np.where(is_sig, target, rank)
    flag = np.full(len(cat), -1, dtype=np.int64)
    fsel = is_sig | is_wait
    if fsel.any():
        pairs = np.stack([owner[fsel], off[fsel]], axis=1)
        uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        first_of_owner = np.searchsorted(uniq[:, 0], uniq[:, 0], side="left")
        flag[fsel] = (np.arange(len(uniq)) - first_of_owner)[inv]
    sig_val = np.where(value > 0, value, 1)
    # waits without a recorded value: the signals that had arrived when the wait ended
    wait_val = value.copy()
    wsel = np.flatnonzero(is_wait & (value <= 0))
    if len(wsel):
        sidx = np.flatnonzero(is_sig)
        skey = owner[sidx] * (1 << 31) + flag[sidx]
        srt = np.lexsort((t_ns[sidx], skey))
        skey_s, st_s, sv_s = skey[srt], t_ns[sidx][srt], sig_val[sidx][srt]
        csum = np.cumsum(sv_s)
        for w in wsel:
            key = rank[w] * (1 << 31) + flag[w]
            lo, hi = np.searchsorted(skey_s, key, "left"), np.searchsorted(skey_s, key, "right")
            if lo == hi:
                wait_val[w] = 1
                continue
            k = lo + np.searchsorted(st_s[lo:hi], end_ns[w], side="right")
            got = csum[k - 1] - (csum[lo - 1] if lo > 0 else 0) if k > lo else 0
            wait_val[w] = max(1, int(got))

    # streams: per rank, tids in natural order
    stream = np.zeros(len(cat), dtype=np.int64)
    tids = np.array(rows["tid"], dtype=object)
    for r in np.unique(rank):
        sel = np.flatnonzero(rank == r)
        names = sorted(set(tids[sel]), key=_tid_key)
        ids = {t: i for i, t in enumerate(names)}
        stream[sel] = [ids[t] for t in tids[sel]]

    kind = np.select([cat == _CATS["write"], cat == _CATS["read"], is_sig, is_wait],
                     [OpKind.WRITE, OpKind.READ, OpKind.SIGNAL, OpKind.WAIT], OpKind.COMPUTE)
    ops_all = empty_ops(len(cat))
    ops_all["t_ns"] = t_ns
    ops_all["dur_ns"] = dur_ns
    ops_all["kind"] = kind
    ops_all["stream"] = stream
    xfer = (kind == OpKind.WRITE) | (kind == OpKind.READ)
    ops_all["peer"] = np.where(xfer | is_sig, target, -1)
    ops_all["bytes"] = np.where(xfer, nbytes, 0)
    ops_all["addr"] = np.where(xfer & (off >= 0), off, 0)
    ops_all["flag"] = flag
    ops_all["value"] = np.where(is_sig, sig_val, np.where(is_wait, wait_val, 0))
    ops: list[np.ndarray] = []
    for g in range(n):
        sel = np.flatnonzero(rank == g)
        o = np.lexsort((order_a[sel], op_index[sel], ts[sel], stream[sel]))
        ops.append(ops_all[sel[o]])
    params = {
        "files": [p.name for p in paths],
        "cycle_ns": cycle,
        "world_size": world or None,
        "gpus": n,
        "heap_bases_known": bool(heap_bases),
        "events_imported": int(len(cat)),
        "events_dropped": dropped,
    }
    attrs = {
        "name": name or stem(paths[0]),
        "kind": "iris",
        "importer": "iris",
        "source_files": source_files(list(paths)),
        "collectives": 0,
        "num_iterations": 1,
        "parameters": params,
    }
    return Profile(num_gpus=n, ops=ops, attrs=attrs, variability={})
